"""Repository conventions that hassfest, HACS and GitHub would otherwise only reveal remotely.

Pure pytest (runs with ``-p no:homeassistant``; Home Assistant is imported as a library only):
- every workflow and local action validates against GitHub's schema, and the CI jobs the project
  promises exist (hassfest, HACS, lint, tests with InfluxDB 2.7, newest Home Assistant);
- hacs.json has only keys HACS accepts; manifest.json key order and pinned requirements;
- brand images have the sizes Home Assistant asks for;
- quality_scale.yaml lists every rule with a status and a reason;
- strings.json equals translations/en.json.

That every key the integration uses at runtime is translated is checked where it is used: the
autouse translation check of tests/integration (tests/integration/translations.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
import json
from pathlib import Path
import re
import struct
import subprocess
import sys
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOMAIN = "ha_ingestor"
INTEGRATION = ROOT / "custom_components" / DOMAIN
PACKAGE = f"custom_components.{DOMAIN}"
WORKFLOWS = ROOT / ".github" / "workflows"
ACTIONS = ROOT / ".github" / "actions"


# --------------------------------------------------------------------------- helpers


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def _strings() -> dict[str, Any]:
    data: dict[str, Any] = _json(INTEGRATION / "strings.json")
    return data


def _check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema with a schema it ships (no network)."""
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _workflow_files() -> list[Path]:
    return sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])


def _action_files() -> list[Path]:
    return sorted([*ACTIONS.glob("*/action.yml"), *ACTIONS.glob("*/action.yaml")])


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


@dataclass
class Job:
    file: Path
    job_id: str
    body: dict[str, Any]

    @property
    def steps(self) -> list[dict[str, Any]]:
        steps: list[dict[str, Any]] = self.body.get("steps") or []
        return steps

    @property
    def where(self) -> str:
        return f"{_rel(self.file)}:{self.job_id}"

    def steps_using(self, action: str) -> list[dict[str, Any]]:
        """Steps whose ``uses`` is ``action`` (``owner/repo[/path]``), any ref."""
        return [s for s in self.steps if str(s.get("uses", "")).split("@")[0] == action]

    def steps_running(self, pattern: str) -> list[dict[str, Any]]:
        """Steps whose ``run`` script matches the regex ``pattern``."""
        return [s for s in self.steps if re.search(pattern, str(s.get("run", "")), re.MULTILINE)]

    def python_versions(self) -> set[str]:
        return {
            str((s.get("with") or {}).get("python-version"))
            for s in self.steps_using("actions/setup-python")
        }


def _jobs() -> list[Job]:
    jobs = []
    for path in _workflow_files():
        workflow = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for job_id, body in (workflow.get("jobs") or {}).items():
            jobs.append(Job(path, job_id, body or {}))
    return jobs


def _single_job(predicate: Callable[[Job], bool], what: str) -> Job:
    found = [job for job in _jobs() if predicate(job)]
    assert found, f"no workflow job {what}"
    assert len(found) == 1, f"several jobs {what}: {[j.where for j in found]}"
    return found[0]


SCRIPT_TEST = r"(^|[\s;&|(])(\./)?scripts/test(\s|$)"
SCRIPT_LINT = r"(^|[\s;&|(])(\./)?scripts/lint(\s|$)"
PYTEST_INTEGRATION = r"pytest\b[^\n]*\stests/integration(/|\s|$)"


# --------------------------------------------------------------------------- workflows


def test_workflows_and_actions_exist() -> None:
    assert _workflow_files(), "no workflow in .github/workflows"
    for job in _jobs():
        assert job.steps, f"{job.where} has no steps"


@pytest.mark.parametrize("path", _workflow_files(), ids=lambda p: p.name)
def test_workflow_matches_github_schema(path: Path) -> None:
    result = _check_jsonschema("vendor.github-workflows", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", _action_files(), ids=lambda p: p.parent.name)
def test_local_action_matches_github_schema(path: Path) -> None:
    result = _check_jsonschema("vendor.github-actions", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    """The schema check is not vacuous: a job without runs-on and a step with both uses and run."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "name: broken\non: push\njobs:\n  job:\n    steps:\n"
        "      - uses: actions/checkout@v6\n        run: echo both\n",
        encoding="utf-8",
    )
    assert _check_jsonschema("vendor.github-workflows", broken).returncode != 0


def test_local_actions_and_scripts_referenced_by_workflows_exist() -> None:
    for job in _jobs():
        for step in job.steps:
            uses = str(step.get("uses", ""))
            if uses.startswith("./"):
                target = ROOT / uses
                assert (target / "action.yml").is_file() or (target / "action.yaml").is_file(), (
                    f"{job.where}: {uses} has no action.yml"
                )
            for script in re.findall(r"(?<![\w/.-])(?:\./)?(scripts/[\w.-]+)", step.get("run", "")):
                path = ROOT / script
                assert path.is_file(), f"{job.where} runs {script}, which does not exist"
                assert path.stat().st_mode & 0o111, f"{script} is not executable"


def test_hassfest_job() -> None:
    job = _single_job(
        lambda j: bool(j.steps_using("home-assistant/actions/hassfest")), "running hassfest"
    )
    (step,) = job.steps_using("home-assistant/actions/hassfest")
    assert step["uses"] == "home-assistant/actions/hassfest@master"
    assert job.steps_using("actions/checkout"), f"{job.where} does not check out the repository"


def test_hacs_job() -> None:
    job = _single_job(lambda j: bool(j.steps_using("hacs/action")), "running HACS validation")
    (step,) = job.steps_using("hacs/action")
    assert step["uses"] == "hacs/action@main"
    assert (step.get("with") or {}).get("category") == "integration"


def test_lint_job() -> None:
    job = _single_job(
        lambda j: bool(j.steps_running(SCRIPT_LINT)) and not j.steps_running(SCRIPT_TEST),
        "running scripts/lint",
    )
    assert job.python_versions() == {"3.13"}, f"{job.where}: lint runs on Python 3.13"


def test_tests_job_runs_scripts_test_with_influxdb_2_7() -> None:
    job = _single_job(lambda j: bool(j.steps_running(SCRIPT_TEST)), "running scripts/test")
    assert job.body.get("runs-on") == "ubuntu-latest"
    # 3.13 for the pinned suites, 3.14 for scripts/test-newest-ha's native run
    assert job.python_versions() == {"3.13", "3.14"}
    _assert_influxdb_service(job)


def test_newest_home_assistant_job() -> None:
    job = _single_job(
        lambda j: "3.14" in j.python_versions() and not j.steps_running(SCRIPT_TEST),
        "on Python 3.14 with an unpinned Home Assistant",
    )
    scripts = "\n".join(str(step.get("run", "")) for step in job.steps)
    installs = [
        line
        for line in scripts.replace("\\\n", " ").splitlines()
        if "pytest-homeassistant-custom-component" in line and re.search(r"\binstall\b", line)
    ]
    assert installs, f"{job.where} does not install pytest-homeassistant-custom-component"
    for line in installs:
        assert not re.search(r"pytest-homeassistant-custom-component\s*[=<>~!]=", line), (
            f"{job.where}: the newest job must not pin the plugin: {line.strip()}"
        )
    assert "requirements_constraints" not in scripts, (
        f"{job.where}: the constraints file pins an old Home Assistant"
    )
    assert not re.search(r"(^|\s)scripts/(test|setup|develop)\b", scripts), (
        f"{job.where}: scripts/* install the pinned environment"
    )
    (step,) = job.steps_running(PYTEST_INTEGRATION)
    run = step["run"]
    assert re.search(r"-W\s*[\"']?error::DeprecationWarning:", run), (
        f"{job.where}: DeprecationWarnings from our code must be errors"
    )
    assert not re.search(r"error::DeprecationWarning[\"']?(\s|$)", run), (
        f"{job.where}: a blanket -W error::DeprecationWarning fails on every library's deprecations"
    )
    _assert_influxdb_service(job)


def _assert_influxdb_service(job: Job) -> None:
    services = job.body.get("services") or {}
    influx = [s for s in services.values() if str(s.get("image", "")) == "influxdb:2.7"]
    assert len(influx) == 1, f"{job.where} needs one influxdb:2.7 service container"
    service = influx[0]
    env = service.get("env") or {}
    assert env.get("DOCKER_INFLUXDB_INIT_MODE") == "setup"
    for key in ("USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"):
        assert env.get(f"DOCKER_INFLUXDB_INIT_{key}"), (
            f"{job.where}: set DOCKER_INFLUXDB_INIT_{key}"
        )
    # influxd's setup refuses passwords shorter than 8 characters.
    assert len(str(env["DOCKER_INFLUXDB_INIT_PASSWORD"])) >= 8
    assert "--health-cmd" in str(service.get("options", "")), f"{job.where}: health-check InfluxDB"
    ports = [str(p) for p in service.get("ports") or []]
    host_ports = {p.split(":")[0] for p in ports if p.endswith(":8086")}
    assert host_ports, f"{job.where}: publish InfluxDB's port 8086"

    step_env: dict[str, Any] = {}
    for step in job.steps_running(rf"{SCRIPT_TEST}|{PYTEST_INTEGRATION}"):
        step_env = {**(job.body.get("env") or {}), **(step.get("env") or {})}
    assert step_env, f"{job.where}: no test step found"
    url = str(step_env.get("INFLUXDB2_URL", ""))
    # pytest-homeassistant-custom-component only lets tests reach 127.0.0.1.
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/?", url)
    assert match, f"{job.where}: INFLUXDB2_URL must be http://127.0.0.1:<port>, not {url!r}"
    assert match.group(1) in host_ports
    assert step_env.get("INFLUXDB2_TOKEN") == env["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert step_env.get("INFLUXDB2_ORG") == env["DOCKER_INFLUXDB_INIT_ORG"]
    assert step_env.get("INFLUXDB2_BUCKET") == env["DOCKER_INFLUXDB_INIT_BUCKET"]


# --------------------------------------------------------------------------- hacs.json, manifest

HACS_KEYS = {
    "name": str,
    "content_in_root": bool,
    "zip_release": bool,
    "filename": str,
    "hide_default_branch": bool,
    "country": (str, list),
    "homeassistant": str,
    "persistent_directory": str,
    "hacs": str,
}  # ("render_readme" is gone: HACS 2 no longer accepts it)


def test_hacs_json() -> None:
    data = _json(ROOT / "hacs.json")
    unknown = set(data) - set(HACS_KEYS)
    assert not unknown, f"hacs.json keys HACS does not accept: {sorted(unknown)}"
    for key, value in data.items():
        assert isinstance(value, HACS_KEYS[key]), f"hacs.json {key}: wrong type {value!r}"
    assert data.get("name"), "hacs.json needs a name"
    assert not data.get("content_in_root"), "the integration lives in custom_components/"
    if data.get("zip_release"):
        assert data.get("filename"), "zip_release needs filename"
    # HACS refuses to install on an older Home Assistant: the oldest the suites pass on, which
    # the README names
    oldest = re.search(
        r"^Requires Home Assistant (\S+) or newer", (ROOT / "README.md").read_text(), re.M
    )
    assert oldest, "the README names the oldest Home Assistant it supports"
    assert data.get("homeassistant") == oldest[1]


PIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9._,-]+\])?==[A-Za-z0-9.+!_-]+")


@pytest.mark.parametrize(
    ("requirement", "pinned"),
    [
        ("influxdb-client==1.24.0", True),
        ("aiohttp[speedups]==3.11.16", True),
        ("influxdb-client>=1.24.0", False),
        ("influxdb-client", False),
        ("influxdb-client==1.*", False),
        ("git+https://github.com/x/y.git", False),
    ],
)
def test_pin_pattern(requirement: str, pinned: bool) -> None:
    """The pin check below is meaningful even while requirements is empty."""
    assert bool(PIN.fullmatch(requirement)) is pinned


def test_manifest() -> None:
    manifest: dict[str, Any] = _json(INTEGRATION / "manifest.json")
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"], f"manifest.json starts with domain, name: {keys}"
    assert keys[2:] == sorted(keys[2:]), f"manifest.json keys after name sorted: {keys[2:]}"
    assert manifest["domain"] == INTEGRATION.name
    for key in ("version", "codeowners", "documentation", "issue_tracker", "iot_class"):
        assert manifest.get(key), f"manifest.json needs {key}"
    for key in ("config_flow", "integration_type", "loggers", "requirements"):
        assert key in manifest, f"manifest.json needs {key}"
    assert manifest["config_flow"] is True
    assert re.fullmatch(r"\d+\.\d+\.\d+([.-]?\w+)?", manifest["version"]), manifest["version"]
    assert all(str(owner).startswith("@") for owner in manifest["codeowners"])
    assert manifest["documentation"].startswith("https://")
    assert manifest["issue_tracker"].startswith("https://")
    assert isinstance(manifest["requirements"], list)
    unpinned = [req for req in manifest["requirements"] if not PIN.fullmatch(req)]
    assert not unpinned, f"manifest.json requirements must be pinned with ==: {unpinned}"


# --------------------------------------------------------------------------- brand images


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{_rel(path)} is not a PNG"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_brand_images() -> None:
    brand = INTEGRATION / "brand"
    assert _png_size(brand / "icon.png") == (256, 256)
    for prefix in ("", "dark_"):
        if (hidpi := brand / f"{prefix}icon@2x.png").exists():
            assert _png_size(hidpi) == (512, 512)
        if (icon := brand / f"{prefix}icon.png").exists():
            assert _png_size(icon) == (256, 256)
        if (logo := brand / f"{prefix}logo.png").exists():
            assert 128 <= min(_png_size(logo)) <= 256
        if (logo2 := brand / f"{prefix}logo@2x.png").exists():
            assert 256 <= min(_png_size(logo2)) <= 512


# --------------------------------------------------------------------------- quality scale

QUALITY_RULES = {
    "bronze": [
        "action-setup",
        "appropriate-polling",
        "brands",
        "common-modules",
        "config-flow",
        "config-flow-test-coverage",
        "dependency-transparency",
        "docs-actions",
        "docs-conditions",
        "docs-high-level-description",
        "docs-installation-instructions",
        "docs-removal-instructions",
        "docs-triggers",
        "entity-event-setup",
        "entity-unique-id",
        "has-entity-name",
        "runtime-data",
        "test-before-configure",
        "test-before-setup",
        "unique-config-entry",
    ],
    "silver": [
        "action-exceptions",
        "config-entry-unloading",
        "docs-configuration-parameters",
        "docs-installation-parameters",
        "entity-unavailable",
        "integration-owner",
        "log-when-unavailable",
        "parallel-updates",
        "reauthentication-flow",
        "test-coverage",
    ],
    "gold": [
        "devices",
        "diagnostics",
        "discovery",
        "discovery-update-info",
        "docs-data-update",
        "docs-examples",
        "docs-known-limitations",
        "docs-supported-devices",
        "docs-supported-functions",
        "docs-troubleshooting",
        "docs-use-cases",
        "dynamic-devices",
        "entity-category",
        "entity-device-class",
        "entity-disabled-by-default",
        "entity-translations",
        "exception-translations",
        "icon-translations",
        "reconfiguration-flow",
        "repair-issues",
        "stale-devices",
    ],
    "platinum": ["async-dependency", "inject-websession", "strict-typing"],
}


def _quality_rules() -> dict[str, dict[str, str]]:
    data = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text(encoding="utf-8"))
    rules: dict[str, dict[str, str]] = {}
    for name, value in data["rules"].items():
        rules[name] = value if isinstance(value, dict) else {"status": value}
    return rules


def test_quality_scale_lists_every_rule_with_a_reason() -> None:
    rules = _quality_rules()
    known = {rule for tier in QUALITY_RULES.values() for rule in tier}
    assert set(rules) == known, (
        f"missing: {sorted(known - set(rules))}, unknown: {sorted(set(rules) - known)}"
    )
    for name, rule in rules.items():
        assert set(rule) <= {"status", "comment"}, f"{name}: unexpected keys {sorted(rule)}"
        assert rule["status"] in {"done", "todo", "exempt"}, f"{name}: {rule['status']!r}"
        # hassfest requires a comment for exempt; this project wants one for every rule.
        assert str(rule.get("comment", "")).strip(), f"{name}: say why in a comment"


# --------------------------------------------------------------------------- translations


def _diff(a: Any, b: Any, path: str = "") -> Iterator[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                yield f"{path}/{key}: only in {'strings.json' if key in a else 'en.json'}"
            else:
                yield from _diff(a[key], b[key], f"{path}/{key}")
    elif a != b:
        yield f"{path}: {a!r} != {b!r}"


def test_every_sensor_and_action_has_an_icon() -> None:
    """The connectivity binary sensor has its device class's icon; the sensors have none of
    their own, and the actions none at all, unless icons.json names one."""
    icons = _json(INTEGRATION / "icons.json")
    sensors = set(_strings()["entity"]["sensor"])
    actions = set(yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8")))
    assert sensors == set(icons["entity"]["sensor"])
    assert actions == set(icons["services"])
    assert all(v["default"].startswith("mdi:") for v in icons["entity"]["sensor"].values())
    assert all(v["service"].startswith("mdi:") for v in icons["services"].values())


def test_strings_json_equals_english_translation() -> None:
    strings = _strings()
    english = _json(INTEGRATION / "translations" / "en.json")
    differences = list(_diff(strings, english))
    assert not differences, "translations/en.json differs from strings.json:\n" + "\n".join(
        differences
    )
