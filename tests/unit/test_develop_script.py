"""scripts/develop --check: HA and InfluxDB start, points land, everything stops.

Runs the real script (real Home Assistant, real InfluxDB 1.6) in a subprocess, with its config dir
under tmp_path and free ports, so a developer's config/ and running instance are not touched.
"""

from __future__ import annotations

import os
from pathlib import Path
import re
import signal
import subprocess

import pytest

from tests.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
MIN_POINTS = 20


def _processes_using(path: Path) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if str(path) in cmdline:
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.mark.timeout(900)
def test_develop_check_starts_ha_and_points_arrive(tmp_path: Path) -> None:
    config = tmp_path / "config"
    repo_config_existed = (ROOT / "config").exists()
    env = {
        **os.environ,
        "DEVELOP_CONFIG_DIR": str(config),
        "HA_PORT": str(free_port()),
        "INFLUXDB_PORT": str(free_port()),
        "DEVELOP_CHECK_POINTS": str(MIN_POINTS),
        "DEVELOP_CHECK_TIMEOUT": "300",
        "DEVELOP_SCREENSHOTS": str(tmp_path / "screenshots"),
    }
    env.pop("DEVELOP_CHECK", None)

    proc = subprocess.Popen(
        [str(ROOT / "scripts" / "develop"), "--check"],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=840)
    except subprocess.TimeoutExpired:
        # TERM, not KILL: the script's trap stops Home Assistant and InfluxDB, which run in
        # sessions of their own and would outlive it.
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
        pytest.fail(f"scripts/develop --check took over 840 s\n{stdout}{stderr}")
    output = stdout + stderr
    log = config / "home-assistant.log"
    context = f"{output}\n--- home-assistant.log (tail) ---\n" + (
        "\n".join(log.read_text(errors="replace").splitlines()[-60:]) if log.exists() else ""
    )

    assert proc.returncode == 0, context
    match = re.search(r"points in home_assistant\.ha_states: (\d+)", output)
    assert match, context
    assert int(match[1]) >= MIN_POINTS, context
    assert "HA Ingestor config entry state: loaded" in output, context
    assert "log error:" not in output, context
    # The card with the entry's real ids, the entities link that filters, and the UI in Chromium.
    assert "/config/entities?domain=ha_ingestor" in output, context
    assert "- entity: sensor.influxdb_home_assistant_127_0_0_1_points_written" in output, context
    assert "browser:" not in output, context  # no problem found on any page
    shots = {p.stem for p in (tmp_path / "screenshots").glob("*.png")}
    assert {"card", "integration", "device", "add-v2-error", "options-event-types"} <= shots

    # The config dir it was given was used: the entry, the symlink to the repo, InfluxDB's data.
    assert (config / ".storage" / "core.config_entries").exists()
    link = config / "custom_components" / "ha_ingestor"
    assert link.resolve() == ROOT / "custom_components" / "ha_ingestor"
    assert (config / "influxdb" / "data" / "home_assistant").is_dir()
    # Everything stopped; the developer's config/ was left alone.
    assert _processes_using(config) == []
    assert (ROOT / "config").exists() == repo_config_existed
