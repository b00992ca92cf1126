"""docker/influxdb/init/10-ha-ingestor.sh, run by bash with a fake `influx` CLI on PATH.

InfluxDB 2.7 cannot run here, and the script talks to it only through the `influx` CLI, which
is not installed either. A fake HTTP API would test the fake's idea of what the CLI sends;
a fake CLI checks what this script is responsible for: the commands, flags and their order,
ID plumbing between calls, the token files and their modes, and re-runs that change nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import stat
import subprocess
import sys

import pytest

from .helpers import DOCKER

SCRIPT = DOCKER / "influxdb" / "init" / "10-ha-ingestor.sh"
FAKE = Path(__file__).with_name("fake_influx_cli.py")
EVENTS_ID = "0123456789abcdef"


@pytest.fixture
def cli(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    influx = bin_dir / "influx"
    influx.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKE}" "$@"\n')
    influx.chmod(0o755)
    # What `influx setup` (DOCKER_INFLUXDB_INIT_*) left behind: the org's events bucket.
    (tmp_path / "state.json").write_text(
        json.dumps({"buckets": {"ha": {"id": EVENTS_ID, "retention": "30d"}},
                    "dbrps": [], "tasks": [], "auths": []})
    )  # fmt: skip
    return tmp_path


def run(tmp: Path, **overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{tmp / 'bin'}:/usr/bin:/bin",
        "FAKE_INFLUX_STATE": str(tmp / "state.json"),
        "FAKE_INFLUX_LOG": str(tmp / "calls.jsonl"),
        "DOCKER_INFLUXDB_INIT_ORG": "home",
        "DOCKER_INFLUXDB_INIT_BUCKET": "ha",
        "DOCKER_INFLUXDB_INIT_RETENTION": "30d",
        "HA_INGESTOR_DATABASE": "home_assistant",
        "HA_INGESTOR_CONTEXT_BUCKET": "ha_context",
        "HA_INGESTOR_CONTEXT_RETENTION": "365d",
        "HA_INGESTOR_CONTEXT_DATABASE": "home_assistant_context",
        "HA_INGESTOR_DOWNSAMPLED_BUCKET": "ha_1h",
        "HA_INGESTOR_DOWNSAMPLED_RETENTION": "1825d",
        "HA_INGESTOR_TOKEN_DIR": str(tmp / "tokens"),
        "TMPDIR": str(tmp / "tmpdir"),
        **overrides,
    }
    env = {k: v for k, v in env.items() if v != "<unset>"}
    (tmp / "tmpdir").mkdir(exist_ok=True)
    return subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def calls(tmp: Path) -> list[dict[str, object]]:
    log = tmp / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def writes(tmp: Path) -> list[dict[str, object]]:
    return [c for c in calls(tmp) if c["command"][-1] == "create"]  # type: ignore[index]


def state(tmp: Path) -> dict[str, object]:
    return json.loads((tmp / "state.json").read_text())


def test_first_start(cli: Path) -> None:
    result = run(cli)
    assert result.returncode == 0, result.stderr
    st = state(cli)
    buckets = st["buckets"]
    assert {k: v["retention"] for k, v in buckets.items()} == {  # type: ignore[union-attr]
        "ha": "30d",
        "ha_context": "365d",
        "ha_1h": "1825d",
    }
    ids = {k: v["id"] for k, v in buckets.items()}  # type: ignore[union-attr]
    assert ids["ha"] == EVENTS_ID  # created by setup, reused, not re-created
    assert {(d["db"], d["rp"], d["bucket_id"], d["default"]) for d in st["dbrps"]} == {  # type: ignore[union-attr]
        ("home_assistant", "autogen", EVENTS_ID, True),
        ("home_assistant_context", "autogen", ids["ha_context"], True),
        ("ha_1h", "autogen", ids["ha_1h"], True),
    }

    [task] = st["tasks"]  # type: ignore[misc]
    flux = task["flux"]
    assert task["name"] == "ha_ingestor_downsample_1h"
    assert 'from(bucket: "ha")' in flux
    assert 'to(bucket: "ha_1h", org: "home")' in flux
    assert "aggregateWindow(every: 1h, fn: mean" in flux
    assert 'r._measurement == "ha_states" and r._field == "value"' in flux

    ha, dash = st["auths"]  # type: ignore[misc]
    assert sorted(ha["read"]) == sorted(ha["write"]) == sorted([EVENTS_ID, ids["ha_context"]])
    assert dash["write"] == []  # the dashboard's token can only read
    assert sorted(dash["read"]) == sorted([EVENTS_ID, ids["ha_context"], ids["ha_1h"]])

    tokens = cli / "tokens"
    assert (tokens / "homeassistant.token").read_text() == ha["token"] + "\n"
    assert (tokens / "dashboard" / "dashboard.token").read_text() == dash["token"] + "\n"
    mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
    assert mode(tokens) == 0o700
    assert mode(tokens / "homeassistant.token") == 0o600
    # Mounted alone into the dashboard (uid 1001 in group 1000): never world-readable.
    assert mode(tokens / "dashboard") == 0o750
    assert mode(tokens / "dashboard" / "dashboard.token") == 0o640
    # Tokens go to files, never to the container log.
    assert ha["token"] not in result.stdout + result.stderr
    assert dash["token"] not in result.stdout + result.stderr
    assert not list(Path("/tmp").glob("tmp*.flux"))


def test_rerun_changes_nothing(cli: Path) -> None:
    assert run(cli).returncode == 0
    before = state(cli)
    created = len(writes(cli))
    result = run(cli)
    assert result.returncode == 0, result.stderr
    assert len(writes(cli)) == created
    assert state(cli) == before


def test_completes_after_a_partial_first_run(cli: Path) -> None:
    # First attempt dies before the tokens (say the container was stopped): no token files.
    st = state(cli)
    st["buckets"]["ha_context"] = {"id": "feedfacefeedface", "retention": "365d"}  # type: ignore[index]
    (cli / "state.json").write_text(json.dumps(st))
    assert run(cli).returncode == 0
    made = [c["opts"]["--name"][0] for c in writes(cli) if c["command"] == ["bucket", "create"]]  # type: ignore[index]
    assert made == ["ha_1h"]
    assert len(state(cli)["auths"]) == 2  # type: ignore[arg-type]


def test_maps_the_database_even_when_the_name_points_elsewhere(cli: Path) -> None:
    # A virtual mapping (2.6+) or an old one sends "home_assistant_context" to another bucket:
    # an explicit mapping to our bucket is still made (InfluxDB lets it override).
    st = state(cli)
    st["dbrps"].append(  # type: ignore[union-attr]
        {"id": "1", "db": "home_assistant_context", "rp": "autogen", "bucket_id": "other",
         "default": True}
    )  # fmt: skip
    # ...while the events bucket's own-name mapping already points at the right bucket.
    st["dbrps"].append(  # type: ignore[union-attr]
        {"id": "2", "db": "home_assistant", "rp": "autogen", "bucket_id": EVENTS_ID,
         "default": True}
    )  # fmt: skip
    (cli / "state.json").write_text(json.dumps(st))
    assert run(cli).returncode == 0
    made = [c["opts"]["--db"][0] for c in writes(cli) if c["command"] == ["v1", "dbrp", "create"]]  # type: ignore[index]
    assert made == ["home_assistant_context", "ha_1h"]


@pytest.mark.parametrize("missing", ["DOCKER_INFLUXDB_INIT_ORG", "DOCKER_INFLUXDB_INIT_BUCKET"])
def test_refuses_to_run_without_setup_variables(cli: Path, missing: str) -> None:
    result = run(cli, **{missing: "<unset>"})
    assert result.returncode != 0
    assert calls(cli) == []


def test_a_failing_cli_call_fails_the_script(cli: Path) -> None:
    # bucket create is refused by the server: the script must stop, not carry on half done.
    _refuse_bucket_create(cli)
    result = run(cli)
    assert result.returncode != 0
    assert not (cli / "tokens" / "homeassistant.token").exists()


def test_script_is_executable_and_mounted_by_compose() -> None:
    assert os.access(SCRIPT, os.X_OK)
    compose = (DOCKER / "docker-compose.yml").read_text()
    assert "./influxdb/init:/docker-entrypoint-initdb.d:ro" in compose


def _refuse_bucket_create(cli: Path) -> None:
    """The server refuses `bucket create` (a bad retention, a quota)."""
    bin_influx = cli / "bin" / "influx"
    real = bin_influx.read_text()
    bin_influx.write_text(
        '#!/bin/sh\nif [ "$1 $2" = "bucket create" ]; then echo "Error: quota" >&2; exit 1; fi\n'
        + real.split("\n", 1)[1]
    )


@pytest.mark.parametrize("first_start", [True, False], ids=["first start", "by hand"])
def test_a_failed_first_start_leaves_nothing_that_blocks_the_next(
    cli: Path, first_start: bool
) -> None:
    """The image's entrypoint deletes the database when a first start fails, but kept the CLI
    profile `influx setup` had written: the next `influx setup` refused its name at every
    restart, and token files for the deleted database stayed. During the first start the
    entrypoint points the CLI at its setup server (INFLUX_HOST); a run by hand keeps both."""
    profile = cli / "influx-configs"
    profile.write_text('[default]\n  url = "http://localhost:9999"\n')
    tokens = cli / "tokens"
    (tokens / "dashboard").mkdir(parents=True)
    for name in ("homeassistant.token", "dashboard/dashboard.token"):
        (tokens / name).write_text("from an earlier attempt\n")
    _refuse_bucket_create(cli)
    env = {"INFLUX_CONFIGS_PATH": str(profile), "INFLUXD_INIT_PORT": "9999"}
    if first_start:
        env["INFLUX_HOST"] = "http://localhost:9999"
    result = run(cli, **env)
    assert result.returncode != 0
    left = {p.name for p in (profile, tokens / "homeassistant.token",
                             tokens / "dashboard" / "dashboard.token") if p.exists()}  # fmt: skip
    if first_start:
        assert left == set()
        assert "first start failed" in result.stderr
    else:
        assert left == {"influx-configs", "homeassistant.token", "dashboard.token"}
