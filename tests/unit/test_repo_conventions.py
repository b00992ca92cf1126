"""Repository conventions that hassfest, HACS and GitHub would otherwise only reveal remotely.

Pure pytest (runs with ``-p no:homeassistant``; Home Assistant is imported as a library only):
- every workflow and local action validates against GitHub's schema, and the CI jobs the project
  promises exist (hassfest, HACS, lint, tests with InfluxDB 2.7, newest Home Assistant);
- hacs.json has only keys HACS accepts; manifest.json key order and pinned requirements;
- brand images have the sizes Home Assistant asks for;
- quality_scale.yaml lists every rule with a valid status, and rules that can be checked
  statically are not marked done without the code behind them;
- strings.json equals translations/en.json, and every translation key the code uses (entity,
  exception, repair issue, selector, config-flow step, error and abort, service) exists in it.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
import enum
import importlib
import json
from pathlib import Path
import re
import struct
import subprocess
import sys
from types import ModuleType
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
    if "homeassistant" in data:
        assert re.fullmatch(r"20\d\d\.\d{1,2}\.\d+", data["homeassistant"]), data["homeassistant"]


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


def _source(name: str) -> str:
    return (INTEGRATION / name).read_text(encoding="utf-8")


def _all_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(INTEGRATION.glob("*.py")))


def _platform_modules() -> list[str]:
    init = _source("__init__.py")
    platforms = re.findall(r"Platform\.([A-Z_]+)", init)
    assert platforms, "no Platform.* in __init__.py"
    return [p.lower() for p in platforms]


def _readme() -> str:
    path = ROOT / "README.md"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _action_setup_evidence() -> bool:
    tree = ast.parse(_source("__init__.py"))
    functions = {
        fn.name: ast.unparse(fn) for fn in tree.body if isinstance(fn, ast.AsyncFunctionDef)
    }
    setup, setup_entry = functions.get("async_setup", ""), functions.get("async_setup_entry", "")
    return "services" in setup and not re.search(r"async_register|setup_services", setup_entry)


def _untranslated_raises() -> list[str]:
    """``raise`` of a Home Assistant exception without a translation_key, as file:line."""
    found = []
    for path in sorted(INTEGRATION.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        ha_exceptions = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
            and node.module
            in {"homeassistant.exceptions", "homeassistant.helpers.update_coordinator"}
            for alias in node.names
            if alias.name[:1].isupper() and alias.name.endswith(("Error", "Failed", "NotReady"))
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Raise)
                and isinstance(node.exc, ast.Call)
                and _call_name(node.exc) in ha_exceptions
                and _keyword(node.exc, "translation_key") is None
            ):
                found.append(f"{path.name}:{node.lineno}")
    return found


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = _json(INTEGRATION / "manifest.json")
    return data


# Rules that can be verified statically: marking one done without this evidence is a false claim.
DONE_EVIDENCE: dict[str, Callable[[], bool]] = {
    "action-setup": _action_setup_evidence,
    "brands": (INTEGRATION / "brand" / "icon.png").is_file,
    "common-modules": lambda: all(
        (INTEGRATION / name).is_file() for name in ("coordinator.py", "entity.py")
    ),
    "config-flow": lambda: _manifest().get("config_flow") is True,
    "config-flow-test-coverage": (ROOT / "tests/integration/test_config_flow.py").is_file,
    "dependency-transparency": lambda: all(PIN.fullmatch(r) for r in _manifest()["requirements"]),
    "diagnostics": lambda: (
        "async_get_config_entry_diagnostics" in _source("diagnostics.py")
        and "async_redact_data" in _source("diagnostics.py")
    ),
    "docs-actions": lambda: f"{DOMAIN}.flush" in _readme(),
    "docs-examples": lambda: "```sql" in _readme() and "```yaml" in _readme(),
    "docs-installation-instructions": lambda: "HACS" in _readme(),
    "docs-known-limitations": lambda: bool(re.search(r"^#+ Known limitations", _readme(), re.M)),
    "docs-removal-instructions": lambda: bool(re.search(r"\b(Remove|Uninstall)", _readme())),
    "docs-troubleshooting": lambda: bool(re.search(r"^#+ Troubleshooting", _readme(), re.M)),
    "has-entity-name": lambda: "_attr_has_entity_name = True" in _all_sources(),
    "integration-owner": lambda: bool(_manifest().get("codeowners")),
    "parallel-updates": lambda: all(
        "PARALLEL_UPDATES" in _source(f"{platform}.py") for platform in _platform_modules()
    ),
    "reauthentication-flow": lambda: "async_step_reauth" in _source("config_flow.py"),
    "reconfiguration-flow": lambda: "async_step_reconfigure" in _source("config_flow.py"),
    "runtime-data": lambda: (
        not re.search(r"hass\.data\[DOMAIN\]|hass\.data\.setdefault\(DOMAIN", _all_sources())
    ),
    "config-entry-unloading": lambda: "async_unload_entry" in _source("__init__.py"),
    "devices": lambda: "DeviceInfo(" in _all_sources(),
    "entity-category": lambda: "_attr_entity_category" in _all_sources(),
    "entity-translations": lambda: "_attr_name" not in _all_sources(),
    "entity-unique-id": lambda: "_attr_unique_id" in _all_sources(),
    "icon-translations": lambda: (
        (INTEGRATION / "icons.json").is_file()
        and not re.search(r"_attr_icon\b|\bicon=", _all_sources())
    ),
    "strict-typing": lambda: "mypy --strict" in (ROOT / "scripts/lint").read_text(),
    "test-coverage": lambda: "--fail-under=95" in (ROOT / "scripts/test").read_text(),
    "unique-config-entry": lambda: "async_set_unique_id" in _source("config_flow.py"),
}
DOCS_RULES = [r for tier in QUALITY_RULES.values() for r in tier if r.startswith("docs-")]


@pytest.mark.parametrize("rule", sorted(DONE_EVIDENCE))
def test_quality_scale_done_claims_have_evidence(rule: str) -> None:
    if _quality_rules()[rule]["status"] == "done":
        assert DONE_EVIDENCE[rule](), f"quality_scale.yaml says {rule} is done; the code disagrees"


def test_quality_scale_exception_translations_claim() -> None:
    if _quality_rules()["exception-translations"]["status"] == "done":
        untranslated = _untranslated_raises()
        assert not untranslated, (
            f"exception-translations is marked done, but these raise without a translation_key: "
            f"{untranslated}"
        )


def test_quality_scale_docs_claims_need_a_readme() -> None:
    done = [r for r in DOCS_RULES if _quality_rules()[r]["status"] == "done"]
    if done:
        assert len(_readme()) > 2000, f"docs rules marked done ({done}) but README.md is a stub"


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


def test_strings_json_equals_english_translation() -> None:
    strings = _strings()
    english = _json(INTEGRATION / "translations" / "en.json")
    differences = list(_diff(strings, english))
    assert not differences, "translations/en.json differs from strings.json:\n" + "\n".join(
        differences
    )


def _import(name: str) -> ModuleType:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module(f"{PACKAGE}.{name}" if name else PACKAGE)


def _get(tree: dict[str, Any], *path: str) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _entity_descriptions(value: Any) -> Iterator[Any]:
    # HA's frozen-dataclass compatibility layer makes isinstance(x, EntityDescription) unreliable.
    if any(cls.__name__ == "EntityDescription" for cls in type(value).__mro__):
        yield value
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _entity_descriptions(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _entity_descriptions(item)


@dataclass
class EntityStrings:
    """What an entity needs from strings.json: a name, placeholders in it, enum states."""

    where: str
    key: str | None
    options: list[str] = field(default_factory=list)
    placeholders: set[str] = field(default_factory=set)


def _class_entities(platform: str, module: ModuleType) -> Iterator[EntityStrings]:
    """Entity classes that set ``_attr_translation_key`` themselves (no description)."""
    path = INTEGRATION / f"{platform}.py"
    namespace = vars(module)
    for cls in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(cls, ast.ClassDef):
            continue
        attrs: dict[str, ast.expr] = {}
        for node in ast.walk(cls):
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    name = target.attr if isinstance(target, ast.Attribute) else None
                    name = target.id if isinstance(target, ast.Name) else name
                    if name and name.startswith("_attr_"):
                        attrs[name] = node.value
        if "_attr_translation_key" not in attrs:
            continue
        where = f"{path.name}:{cls.name}"
        key = _resolve(attrs["_attr_translation_key"], namespace)
        assert isinstance(key, str), f"{where}: translation_key must be a literal or constant"
        entity = EntityStrings(where, key)
        if (options := attrs.get("_attr_options")) is not None:
            resolved = _resolve(options, namespace)
            assert isinstance(resolved, list), f"{where}: _attr_options must be constants"
            entity.options = [str(option) for option in resolved]
        placeholders = attrs.get("_attr_translation_placeholders")
        if isinstance(placeholders, ast.Dict):
            entity.placeholders = {
                str(k.value) for k in placeholders.keys if isinstance(k, ast.Constant)
            }
        yield entity


def _platform_entities(platform: str) -> list[EntityStrings]:
    module = _import(platform)
    found = [
        EntityStrings(
            f"{platform}.py:{d.key}",
            d.translation_key,
            [str(o) for o in (getattr(d, "options", None) or [])],
        )
        for value in vars(module).values()
        for d in _entity_descriptions(value)
    ]
    return found + list(_class_entities(platform, module))


@pytest.mark.parametrize("platform", _platform_modules())
def test_entities_are_translated(platform: str) -> None:
    """Every entity (by description or by class attribute) has a translated name; an enum
    sensor's states and a name's placeholders are there too."""
    entities = _platform_entities(platform)
    assert entities, f"{platform}.py: no entity descriptions or translated entity classes"
    names = _get(_strings(), "entity", platform) or {}
    problems = Problems()
    for entity in entities:
        problems.need(bool(entity.key), f"{entity.where}: no translation_key")
        if not entity.key:
            continue
        name = _get(names, entity.key, "name")
        problems.need(bool(name), f"strings.json lacks entity.{platform}.{entity.key}.name")
        for placeholder in sorted(entity.placeholders):
            problems.need(
                f"{{{placeholder}}}" in str(name),
                f"entity.{platform}.{entity.key}.name lacks the {{{placeholder}}} placeholder",
            )
        for option in entity.options:
            problems.need(
                bool(_get(names, entity.key, "state", option)),
                f"strings.json lacks entity.{platform}.{entity.key}.state.{option}",
            )
    icons = _get(_json(INTEGRATION / "icons.json"), "entity", platform) or {}
    unknown = set(icons) - {entity.key for entity in entities}
    problems.need(not unknown, f"icons.json entity.{platform} keys no entity uses: {unknown}")
    problems.check()


_UNRESOLVED: Any = object()


def _resolve(node: ast.expr, namespace: dict[str, Any]) -> Any:
    """The value of a literal / module constant expression, or _UNRESOLVED."""
    result: Any = _UNRESOLVED
    if isinstance(node, ast.Constant):
        result = node.value
    elif isinstance(node, ast.Name):
        result = namespace.get(node.id, _UNRESOLVED)
    elif isinstance(node, ast.Attribute):
        base = _resolve(node.value, namespace)
        if base is not _UNRESOLVED:
            result = getattr(base, node.attr, _UNRESOLVED)
    elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [_resolve(item, namespace) for item in node.elts]
        if _UNRESOLVED not in items:
            result = items
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in {"list", "tuple", "sorted", "set"}
        and len(node.args) == 1
    ):
        inner = _resolve(node.args[0], namespace)
        if inner is not _UNRESOLVED:
            result = list(inner)
    return result


def _call_name(node: ast.Call) -> str:
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    if isinstance(node.func, ast.Name):
        return node.func.id
    return ""


def _keyword(node: ast.Call, name: str) -> ast.expr | None:
    return next((kw.value for kw in node.keywords if kw.arg == name), None)


def _modules_using(text: str) -> list[str]:
    return sorted(
        p.stem if p.stem != "__init__" else ""
        for p in INTEGRATION.glob("*.py")
        if text in p.read_text(encoding="utf-8")
    )


@dataclass
class Problems:
    items: list[str] = field(default_factory=list)

    def need(self, ok: bool, message: str) -> None:
        if not ok:
            self.items.append(message)

    def check(self) -> None:
        assert not self.items, "\n".join(self.items)


def test_every_translation_key_in_code_exists() -> None:
    """Every ``translation_key=`` in the integration resolves to a string in strings.json.

    Keys that are not literals or module constants are accepted only where another test covers
    them (entity descriptions) or where the module lists its keys as ISSUE_* constants.
    """
    strings = _strings()
    problems = Problems()
    platforms = set(_platform_modules())
    for name in _modules_using("translation_key"):
        module = _import(name)
        namespace = vars(module)
        path = INTEGRATION / f"{name or '__init__'}.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                not isinstance(node, ast.Call)
                or (value := _keyword(node, "translation_key")) is None
            ):
                continue
            where = f"{path.name}:{node.lineno} {_call_name(node)}"
            call = _call_name(node)
            key = _resolve(value, namespace)
            if call.endswith("Description"):
                problems.need(name in platforms, f"{where}: entity description outside a platform")
                if key is not _UNRESOLVED:  # else: test_entity_descriptions_are_translated
                    problems.need(
                        bool(_get(strings, "entity", name, key, "name")),
                        f"{where}: entity.{name}.{key}.name missing",
                    )
            elif call.endswith("UpdateFailed") and key is _UNRESOLVED:
                # Built by a helper that takes the key first (enrichment.failed): every call
                # of it must name an existing exception message.
                helpers = [
                    f.name
                    for f in ast.walk(tree)
                    if isinstance(f, ast.FunctionDef)
                    and f.lineno <= node.lineno <= (f.end_lineno or f.lineno)
                ]
                problems.need(bool(helpers), f"{where}: translation_key must be a literal")
                calls = [
                    c
                    for c in ast.walk(tree)
                    if isinstance(c, ast.Call) and _call_name(c) in helpers
                ]
                problems.need(bool(calls), f"{where}: helper {helpers} is never called")
                for c in calls:
                    first = c.args[0] if c.args else None
                    problems.need(
                        isinstance(first, ast.Constant)
                        and bool(_get(strings, "exceptions", first.value, "message")),
                        f"{path.name}:{c.lineno} {helpers}: exceptions.<key>.message missing",
                    )
            elif call.endswith(("Error", "Exception", "NotReady", "AuthFailed", "UpdateFailed")):
                problems.need(key is not _UNRESOLVED, f"{where}: use a literal translation_key")
                problems.need(
                    key is _UNRESOLVED or bool(_get(strings, "exceptions", key, "message")),
                    f"{where}: exceptions.{key}.message missing",
                )
            elif call == "async_create_issue":
                keys = (
                    [key]
                    if key is not _UNRESOLVED
                    else [v for k, v in namespace.items() if k.startswith("ISSUE_")]
                )
                problems.need(bool(keys), f"{where}: unresolvable key and no ISSUE_* constants")
                for issue in keys:
                    problems.need(
                        bool(_get(strings, "issues", issue, "title")),
                        f"{where}: issues.{issue}.title missing",
                    )
                    # A fixable issue describes itself in its repair flow's steps instead.
                    problems.need(
                        bool(_get(strings, "issues", issue, "description"))
                        or bool(_get(strings, "issues", issue, "fix_flow", "step")),
                        f"{where}: issues.{issue} needs a description or a fix_flow",
                    )
            elif call == "SelectSelectorConfig":
                problems.need(key is not _UNRESOLVED, f"{where}: use a literal translation_key")
                options = _resolve(_keyword(node, "options") or ast.Constant(None), namespace)
                labels = _get(strings, "selector", key, "options") or {}
                problems.need(
                    isinstance(options, list), f"{where}: options must be literal or constants"
                )
                for option in options if isinstance(options, list) else []:
                    problems.need(
                        option in labels, f"{where}: selector.{key}.options.{option} missing"
                    )
            else:
                problems.need(False, f"{where}: translation_key in a call this test does not know")
    problems.check()


# --------------------------------------------------------------------------- config flow strings


def _flow_section(cls: ast.ClassDef) -> str | None:
    bases = [ast.unparse(base) for base in cls.bases]
    if any("OptionsFlow" in base for base in bases):
        return "options"
    if any(base.endswith("ConfigFlow") or "ConfigFlow," in base for base in bases):
        return "config"
    return None


def _str_constants(node: ast.expr) -> Iterator[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield node.value
    elif isinstance(node, ast.IfExp):
        yield from _str_constants(node.body)
        yield from _str_constants(node.orelse)


def _error_keys_from_helpers(cls: ast.ClassDef, namespace: dict[str, Any]) -> set[str]:
    """Form errors a flow computes: strings its ``-> str | None`` helpers return, and the
    values of the package's StrEnums they return as ``.value``, except members the flow maps
    to another key (it names them, e.g. ``CheckError.NOT_FOUND``)."""
    keys: set[str] = set()
    returns_enum_value = False
    for fn in cls.body:
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)) or fn.returns is None:
            continue
        if "str" not in ast.unparse(fn.returns):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Return) and node.value is not None:
                keys.update(_str_constants(node.value))
                if isinstance(node.value, ast.Attribute) and node.value.attr == "value":
                    returns_enum_value = True
    if returns_enum_value:
        source = ast.unparse(cls)
        for obj_name, obj in namespace.items():
            if (
                isinstance(obj, type)
                and issubclass(obj, enum.StrEnum)
                and obj.__module__.startswith(PACKAGE)
            ):
                keys.update(
                    member.value for member in obj if f"{obj_name}.{member.name}" not in source
                )
    return keys


_Function = ast.FunctionDef | ast.AsyncFunctionDef


def _called_function(node: ast.expr, functions: dict[str, _Function]) -> _Function | None:
    """The flow method or module function an (awaited) call expression calls."""
    if isinstance(node, ast.Await):
        node = node.value
    if not isinstance(node, ast.Call):
        return None
    return functions.get(_call_name(node))


def _returned_error_dicts(
    fn: _Function, functions: dict[str, _Function], seen: set[str] | None = None
) -> tuple[set[str], bool]:
    """Error keys in the dict literals a helper returns (following helpers it returns the
    result of), and whether every return could be followed."""
    seen = set() if seen is None else seen
    if fn.name in seen:
        return set(), True
    seen.add(fn.name)
    keys: set[str] = set()
    traced = True
    for node in ast.walk(fn):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        if isinstance(node.value, ast.Dict):
            for value in node.value.values:
                found = list(_str_constants(value))
                keys.update(found)
                traced = traced and bool(found)
        elif (callee := _called_function(node.value, functions)) is not None:
            more, ok = _returned_error_dicts(callee, functions, seen)
            keys.update(more)
            traced = traced and ok
        else:
            traced = False
    return keys, traced


def _config_flow_uses(
    cls: ast.ClassDef,
    namespace: dict[str, Any],
    module_functions: dict[str, _Function],
    problems: Problems,
) -> dict[str, set[str]]:
    """error keys, abort reasons, step ids and menu options a flow class uses."""
    uses: dict[str, set[str]] = {"error": set(), "abort": set(), "step": set(), "menu": set()}
    dynamic_error = False
    functions = {
        **module_functions,
        **{
            fn.name: fn
            for fn in cls.body
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        },
    }
    methods = set(functions) - set(module_functions)

    def errors_from_call(expr: ast.expr, line: int) -> None:
        callee = _called_function(expr, functions)
        keys, traced = _returned_error_dicts(callee, functions) if callee else (set(), False)
        problems.need(traced, f"line {line}: form errors from a call that cannot be traced")
        uses["error"].update(keys)

    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "update"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == "errors"
        ):
            for arg in node.args:
                errors_from_call(arg, node.lineno)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                is_errors_item = (
                    isinstance(target, ast.Subscript)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "errors"
                )
                if is_errors_item:
                    found = list(_str_constants(node.value))
                    uses["error"].update(found)
                    dynamic_error = dynamic_error or not found
                if isinstance(target, ast.Name) and target.id == "errors":
                    if isinstance(node.value, ast.Dict):
                        for item in node.value.values:
                            found = list(_str_constants(item))
                            uses["error"].update(found)
                            dynamic_error = dynamic_error or not found
                    else:
                        errors_from_call(node.value, node.lineno)
        if not isinstance(node, ast.Call):
            continue
        call = _call_name(node)
        if call == "async_abort" and (reason := _keyword(node, "reason")) is not None:
            value = _resolve(reason, namespace)
            problems.need(value is not _UNRESOLVED, f"line {node.lineno}: abort reason literal")
            if value is not _UNRESOLVED:
                uses["abort"].add(value)
        elif call == "_abort_if_unique_id_configured":
            error = _keyword(node, "error")
            uses["abort"].add(
                _resolve(error, namespace) if error is not None else "already_configured"
            )
        elif call == "async_update_reload_and_abort" and _keyword(node, "reason") is None:
            if "async_step_reauth" in methods:
                uses["abort"].add("reauth_successful")
            if "async_step_reconfigure" in methods:
                uses["abort"].add("reconfigure_successful")
        elif call in {"async_show_form", "async_show_menu"}:
            step = _resolve(_keyword(node, "step_id") or ast.Constant(None), namespace)
            if isinstance(step, str):
                uses["step"].add(step)
            menu = _keyword(node, "menu_options")
            if menu is not None:
                options = _resolve(menu, namespace)
                problems.need(isinstance(options, list), f"line {node.lineno}: menu literal")
                if isinstance(options, list) and isinstance(step, str):
                    uses["menu"].update(f"{step}.{option}" for option in options)
                    uses["step"].update(options)
    if dynamic_error:
        helpers = _error_keys_from_helpers(cls, namespace)
        problems.need(bool(helpers), f"{cls.name}: a form error is computed but not traceable")
        uses["error"].update(helpers)
    return uses


def test_config_flow_strings() -> None:
    """Every form error, abort reason, step and menu option of the flows has its string."""
    module = _import("config_flow")
    namespace = vars(module)
    tree = ast.parse(_source("config_flow.py"))
    module_functions = {
        fn.name: fn for fn in tree.body if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    strings = _strings()
    problems = Problems()
    seen_sections = set()
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef)):
        section = _flow_section(cls)
        if section is None:
            continue
        seen_sections.add(section)
        uses = _config_flow_uses(cls, namespace, module_functions, problems)
        for key in sorted(uses["error"]):
            problems.need(bool(_get(strings, section, "error", key)), f"{section}.error.{key}")
        for key in sorted(uses["abort"]):
            problems.need(bool(_get(strings, section, "abort", key)), f"{section}.abort.{key}")
        for key in sorted(uses["step"]):
            problems.need(_get(strings, section, "step", key) is not None, f"{section}.step.{key}")
        for item in sorted(uses["menu"]):
            step, option = item.split(".", 1)
            problems.need(
                bool(_get(strings, section, "step", step, "menu_options", option)),
                f"{section}.step.{step}.menu_options.{option}",
            )
        if section == "config":
            problems.need(bool(uses["error"]), "no config-flow error keys found: parser broken?")
    problems.need(seen_sections == {"config", "options"}, f"flows found: {seen_sections}")
    if problems.items:
        problems.items.insert(0, "strings.json lacks:")
    problems.check()


# --------------------------------------------------------------------------- services


def _registered_services() -> set[str]:
    found: set[str] = set()
    for name in _modules_using("async_register"):
        module = _import(name)
        path = INTEGRATION / f"{name or '__init__'}.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _call_name(node) == "async_register":
                domain, service = (_resolve(arg, vars(module)) for arg in node.args[:2])
                assert isinstance(service, str), f"{path.name}:{node.lineno}: service name"
                if domain == DOMAIN:
                    found.add(service)
    return found


def test_services_are_described_and_translated() -> None:
    described: dict[str, Any] = (
        yaml.safe_load((INTEGRATION / "services.yaml").read_text(encoding="utf-8")) or {}
    )
    registered = _registered_services()
    assert registered, "no service registration found"
    assert registered == set(described), (
        f"registered {sorted(registered)} but services.yaml has {sorted(described)}"
    )
    strings = _strings().get("services") or {}
    icons = _json(INTEGRATION / "icons.json").get("services") or {}
    for service, spec in described.items():
        assert _get(strings, service, "name"), f"strings.json services.{service}.name"
        assert _get(strings, service, "description"), f"strings.json services.{service}.description"
        for field_name in (spec or {}).get("fields") or {}:
            for part in ("name", "description"):
                assert _get(strings, service, "fields", field_name, part), (
                    f"strings.json services.{service}.fields.{field_name}.{part}"
                )
    assert set(icons) <= set(described), f"icons.json services not in services.yaml: {icons}"
