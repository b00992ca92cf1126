"""Helpers for scripts/develop: ports, the config dir, onboarding, and the --check verdict.

Standard library only (runs with the venv's Python but imports nothing from Home Assistant), so
it is fast and cannot be broken by the integration's own imports.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
import importlib.util
import json
import os
from pathlib import Path
import re
import shutil
import socket
import subprocess
import sys
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
INTEGRATION = ROOT / "custom_components" / "ha_ingestor"

DOMAIN = "ha_ingestor"
# The entry scripts/develop owns: its URL follows the InfluxDB port chosen on each run.
DEV_ENTRY_ID = "01JDEVE10PSCR1PTSDEVE10P00"
DATABASE = "home_assistant"
# Its default title (the integration's identity.default_title for the first entry on the host).
DEV_TITLE = f"InfluxDB {DATABASE} (127.0.0.1)"
ENTRY_MINOR_VERSION = 2  # migration.MINOR_VERSION: no unique id, OWM key in the data

# The README's Lovelace card: (platform, entity key, row label). Filtered shows only when non-zero.
CARD_ROWS = (
    ("binary_sensor", "connectivity", "Connectivity"),
    ("sensor", "events_per_minute", "Events per minute"),
    ("sensor", "events_received", "Events received"),
    ("sensor", "points_written", "Points written"),
    ("sensor", "pending", "Pending"),
    ("sensor", "filtered", "Filtered"),
    ("sensor", "dropped", "Dropped"),
    ("sensor", "dead_lettered", "Dead-lettered"),
    ("sensor", "write_latency", "Write latency"),
)
CONDITIONAL_ROWS = {"filtered"}
DEV_USER = os.environ.get("DEVELOP_USER", "dev")
DEV_PASSWORD = os.environ.get("DEVELOP_PASSWORD", "dev")

# Home Assistant 2025.4's storage formats (homeassistant/config_entries.py, onboarding).
CONFIG_ENTRIES_KEY = "core.config_entries"
CONFIG_ENTRIES_VERSION = 1
CONFIG_ENTRIES_MINOR_VERSION = 5
ONBOARDING_VERSION = 4
# Every onboarding step but "user": that one runs through HA's own API once HA is up (creating
# the owner user properly); "core_config" would start met/radio_browser/... which need internet.
ONBOARDING_PRESET = ["core_config", "analytics", "integration"]

LOG_LINE = re.compile(r"^\S+ \S+ (?P<level>[A-Z]+) \(\S+\) \[(?P<logger>[^\]]+)\] (?P<msg>.*)$")


def free_port(preferred: int) -> int:
    """`preferred` when it can be bound on 127.0.0.1, else a free port the OS picks."""
    with socket.socket() as sock:
        # As servers bind: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", preferred))
        except OSError:
            sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _default_options() -> dict[str, Any]:
    """DEFAULT_OPTIONS from const.py, loaded alone (no Home Assistant import)."""
    spec = importlib.util.spec_from_file_location("_ha_ingestor_const", INTEGRATION / "const.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return json.loads(json.dumps(module.DEFAULT_OPTIONS))  # type: ignore[no-any-return]


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def _dev_entry(influx_url: str, now: str) -> dict[str, Any]:
    data = {"url": influx_url, "database": DATABASE, "verify_ssl": True, "api": "v1"}
    return {
        "created_at": now,
        "data": data,
        "discovery_keys": {},
        "disabled_by": None,
        "domain": DOMAIN,
        "entry_id": DEV_ENTRY_ID,
        "minor_version": ENTRY_MINOR_VERSION,
        "modified_at": now,
        "options": _default_options(),
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": [],
        "title": DEV_TITLE,
        "unique_id": None,
        "version": 1,
    }


def prepare(config: Path, influx_url: str) -> None:
    """Config dir ready for HA: configuration.yaml, the symlink, the config entry, onboarding."""
    config.mkdir(parents=True, exist_ok=True)
    template = HERE / "configuration.yaml"
    if not (config / "configuration.yaml").exists():
        shutil.copy(template, config / "configuration.yaml")
        print(f"==> wrote {config / 'configuration.yaml'} (from scripts/develop_config/)")
    elif (config / "configuration.yaml").read_bytes() != template.read_bytes():
        print(
            f"note: {config / 'configuration.yaml'} differs from {template}; yours is used"
            " (delete it to take the template's)"
        )
    for name in ("automations.yaml", "scripts.yaml", "scenes.yaml"):
        (config / name).touch()

    link = config / "custom_components" / DOMAIN
    link.parent.mkdir(exist_ok=True)
    if link.is_symlink() and link.resolve() != INTEGRATION:
        link.unlink()
    if link.exists() and not link.is_symlink():
        print(f"warning: {link} is not a symlink to {INTEGRATION}: repo edits are not loaded")
    elif not link.is_symlink():
        link.symlink_to(INTEGRATION, target_is_directory=True)

    storage = config / ".storage"
    storage.mkdir(exist_ok=True)
    now = datetime.now(UTC).isoformat()
    entries_path = storage / CONFIG_ENTRIES_KEY
    if entries_path.exists():
        stored = json.loads(entries_path.read_text())
    else:
        stored = {
            "version": CONFIG_ENTRIES_VERSION,
            "minor_version": CONFIG_ENTRIES_MINOR_VERSION,
            "key": CONFIG_ENTRIES_KEY,
            "data": {"entries": []},
        }
    entries: list[dict[str, Any]] = stored["data"]["entries"]
    ours = [e for e in entries if e["entry_id"] == DEV_ENTRY_ID]
    if ours:
        entry = ours[0]
        if entry["data"].get("url") != influx_url:
            entry["data"]["url"] = influx_url
            entry["modified_at"] = now
            _write_json(entries_path, stored)
            print(f"==> HA Ingestor entry now points at {influx_url}")
    elif not any(e["domain"] == DOMAIN for e in entries):
        entries.append(_dev_entry(influx_url, now))
        _write_json(entries_path, stored)
        print(f"==> created the HA Ingestor config entry: InfluxDB v1 {influx_url} db {DATABASE}")

    onboarding = storage / "onboarding"
    if not onboarding.exists() and not (storage / "auth").exists():
        _write_json(
            onboarding,
            {
                "version": ONBOARDING_VERSION,
                "minor_version": 1,
                "key": "onboarding",
                "data": {"done": ONBOARDING_PRESET},
            },
        )


def card_config(entity_ids: dict[str, str], title: str = "InfluxDB") -> dict[str, Any]:
    """The Lovelace entities card for one entry, from its entity ids by key."""
    rows: list[dict[str, Any]] = []
    for _platform, key, label in CARD_ROWS:
        row = {"entity": entity_ids[key], "name": label}
        if key in CONDITIONAL_ROWS:
            conditions = [{"entity": entity_ids[key], "state_not": "0"}]
            rows.append({"type": "conditional", "conditions": conditions, "row": row})
        else:
            rows.append(row)
    return {"type": "entities", "title": title, "entities": rows}


def card_yaml(entity_ids: dict[str, str], title: str = "InfluxDB") -> str:
    """card_config as the YAML a user pastes (the README shows it for the default names)."""
    lines = ["type: entities", f"title: {title}", "entities:"]
    for row in card_config(entity_ids, title)["entities"]:
        if row.get("type") == "conditional":
            (cond,) = row["conditions"]
            lines += [
                "  - type: conditional",
                "    conditions:",
                f"      - entity: {cond['entity']}",
                f'        state_not: "{cond["state_not"]}"',
                "    row:",
                f"      entity: {row['row']['entity']}",
                f"      name: {row['row']['name']}",
            ]
        else:
            lines += [f"  - entity: {row['entity']}", f"    name: {row['name']}"]
    return "\n".join(lines) + "\n"


def slugify(text: str) -> str:
    """Home Assistant's entity-id slug for plain ASCII names (util.slugify)."""
    return re.sub(r"_+", "_", re.sub(r"[^a-z0-9]", "_", text.lower())).strip("_")


def default_entity_ids(title: str) -> dict[str, str]:
    """The ids HA derives with has_entity_name: <platform>.<slug of device + entity name>
    (each row's label is its entity's English name)."""
    return {key: f"{platform}.{slugify(f'{title} {label}')}" for platform, key, label in CARD_ROWS}


def registry_entity_ids(config: Path, entry_id: str, deadline: float) -> dict[str, str] | None:
    """The entry's entity ids by key, from HA's entity registry (written a few seconds after
    the entities are created), or None if they are not all there before `deadline`."""
    path = config / ".storage" / "core.entity_registry"
    wanted = {key for _p, key, _l in CARD_ROWS}
    while True:
        found: dict[str, str] = {}
        try:
            for ent in json.loads(path.read_text())["data"]["entities"]:
                prefix = f"{entry_id}_"
                if ent.get("platform") == DOMAIN and ent["unique_id"].startswith(prefix):
                    found[ent["unique_id"][len(prefix) :]] = ent["entity_id"]
        except (OSError, ValueError, KeyError):
            pass
        if wanted <= found.keys():
            return found
        if time.monotonic() > deadline:
            return None
        time.sleep(1)


def print_card(config: Path, ha_url: str, deadline: float) -> dict[str, str] | None:
    ids = registry_entity_ids(config, DEV_ENTRY_ID, deadline)
    if ids is None:
        print("warning: HA Ingestor's entities did not appear in the entity registry", flush=True)
        return None
    print(
        f"\n==> HA Ingestor's entities: {ha_url}/config/entities?domain={DOMAIN}\n"
        "    a Lovelace card with their ids (Edit dashboard -> Add card -> Manual):\n\n"
        + "".join(f"    {line}\n" for line in card_yaml(ids).splitlines()),
        flush=True,
    )
    return ids


def _request(
    url: str,
    data: dict[str, Any] | None = None,
    token: str | None = None,
    form: bool = False,
    timeout: float = 10,
) -> Any:
    headers = {}
    body = None
    if data is not None:
        if form:
            body = urllib.parse.urlencode(data).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            body = json.dumps(data).encode()
            headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=body, headers=headers)
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def wait_http(url: str, deadline: float, proc_alive: int | None = None) -> bool:
    """True once `url` answers (any status below 500) before the monotonic `deadline`."""
    while time.monotonic() < deadline:
        if proc_alive is not None and not _alive(proc_alive):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status < 500:
                    return True
        except urllib.error.HTTPError as err:
            if err.code < 500:
                return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def onboard(ha_url: str, deadline: float, pid: int | None = None) -> str | None:
    """Create the owner user through HA's onboarding API when nobody has; return a token."""
    if not wait_http(ha_url + "/api/onboarding", deadline, pid):
        return None
    try:
        steps = _request(ha_url + "/api/onboarding")
    except urllib.error.HTTPError as err:
        if err.code == 404:  # onboarding done: HA no longer serves its API
            return None
        raise
    if all(step["done"] for step in steps if step["step"] == "user"):
        return None
    client_id = ha_url + "/"
    result = _request(
        ha_url + "/api/onboarding/users",
        {
            "name": "Developer",
            "username": DEV_USER,
            "password": DEV_PASSWORD,
            "client_id": client_id,
            "language": "en",
        },
    )
    tokens = _request(
        ha_url + "/auth/token",
        {"grant_type": "authorization_code", "code": result["auth_code"], "client_id": client_id},
        form=True,
    )
    print(f"==> created the owner user {DEV_USER!r} (password {DEV_PASSWORD!r})", flush=True)
    return str(tokens["access_token"])


def create_database(influx_url: str, timeout: float) -> bool:
    """Wait for InfluxDB to answer /ping, then create the database (idempotent)."""
    if not wait_http(influx_url + "/ping", time.monotonic() + timeout):
        return False
    _request(f"{influx_url}/query", {"q": f'CREATE DATABASE "{DATABASE}"'}, form=True)
    return True


def count_points(influx_url: str) -> int:
    query = urllib.parse.urlencode({"db": DATABASE, "q": "SELECT count(*) FROM ha_states"})
    try:
        result = _request(f"{influx_url}/query?{query}")
    except (urllib.error.URLError, OSError, json.JSONDecodeError):
        return 0
    best = 0
    for res in result.get("results", []):
        for series in res.get("series", []):
            for row in series["values"]:
                best = max([best, *(v for v in row[1:] if isinstance(v, int))])
    return best


def log_findings(log: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) that HA logged from or about HA Ingestor, tracebacks included."""
    errors: list[str] = []
    warnings: list[str] = []
    if not log.exists():
        return errors, warnings
    current: list[str] | None = None
    for line in log.read_text(errors="replace").splitlines():
        match = LOG_LINE.match(line)
        if match is None:
            if current:  # traceback lines belong to the record above
                current[-1] += "\n    " + line
            continue
        current = None
        if DOMAIN not in match["logger"] and DOMAIN not in match["msg"]:
            continue
        if match["level"] in ("ERROR", "CRITICAL"):
            current = errors
        # Every custom integration gets this warning; nothing to act on.
        elif match["level"] == "WARNING" and "not been tested by Home Assistant" not in line:
            current = warnings
        if current is not None:
            current.append(line)
    return errors, warnings


def device_id(ha_url: str, token: str, entity_id: str, deadline: float) -> str | None:
    """The device of one of the entry's entities, from HA itself (its template API): the
    device registry's file is written late, and later still while devices keep changing."""
    while time.monotonic() < deadline:
        try:
            found = _template(ha_url, token, f"{{{{ device_id('{entity_id}') }}}}")
        except (urllib.error.URLError, OSError):
            found = ""
        if found and found != "None":
            return found
        time.sleep(1)
    return None


def _template(ha_url: str, token: str, template: str) -> str:
    req = urllib.request.Request(
        ha_url + "/api/template",
        data=json.dumps({"template": template}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return str(resp.read().decode()).strip()


def raw_keys() -> list[str]:
    """Translation keys that would show if a text were missing (those with an underscore: a
    plain word such as "weather" is also a legitimate text)."""
    strings = json.loads((INTEGRATION / "strings.json").read_text())
    keys: set[str] = set()
    for flow in ("config", "options"):
        for step_id, step in strings[flow]["step"].items():
            keys.add(step_id)
            keys.update(step.get("menu_options", {}))
            keys.update(step.get("data", {}))
        keys.update(strings[flow].get("error", {}))
        keys.update(strings[flow].get("abort", {}))
    for selector in strings["selector"].values():
        keys.update(selector["options"])
    return sorted(k for k in keys if "_" in k)


def browser_check(
    args: argparse.Namespace, token: str, ids: dict[str, str], deadline: float
) -> list[str]:
    """The UI in headless Chromium; returns the problems found (empty: all well)."""
    device = device_id(args.ha_url, token, ids["points_written"], deadline)
    if device is None:
        return ["the HA Ingestor device is not in the device registry"]
    strings = json.loads((INTEGRATION / "strings.json").read_text())
    add_menu = strings["config"]["step"]["user"]["menu_options"]
    options = {
        "haUrl": args.ha_url,
        "outDir": str(args.screenshots),
        "deviceId": device,
        "card": card_config(ids),
        "title": DEV_TITLE,
        "rawKeys": raw_keys(),
        "v2MenuLabel": add_menu["influxdb_v2"],
        "closedUrl": f"http://127.0.0.1:{free_port(0)}",
    }
    try:
        run = subprocess.run(
            ["node", str(HERE / "browser" / "check.mjs"), json.dumps(options)],
            capture_output=True,
            text=True,
            timeout=max(60.0, deadline - time.monotonic()),
            check=False,
        )
    except subprocess.TimeoutExpired:
        return ["the browser check timed out"]
    if run.returncode != 0:
        return [f"the browser check failed:\n{run.stderr[-3000:]}"]
    report = json.loads(run.stdout.splitlines()[-1])
    problems = [f"section {failure}" for failure in report["failures"]]
    problems += [
        f"{name}: {issue}" for name, page in report["pages"].items() for issue in page["problems"]
    ]
    texts = report["pages"].get("card", {}).get("texts", [])
    problems += [
        f"card: no row {label!r}"
        for _p, key, label in CARD_ROWS
        if key not in CONDITIONAL_ROWS and label not in texts
    ]
    if report["pages"].get("add-v2-error", {}).get("tokenKept") != "typed-token":
        problems.append("add form: the typed token is gone after a form error")
    if "Filtered" in texts:  # nothing is filtered in the dev setup: the row must stay hidden
        problems.append("card: the Filtered row shows while Filtered is 0")
    shots = ", ".join(sorted(p.name for p in args.screenshots.glob("*.png")))
    print(f"==> browser check: screenshots in {args.screenshots}: {shots}")
    return problems


def check(args: argparse.Namespace) -> int:
    """Wait for HA and points in InfluxDB; report; 0 when all is well."""
    started = time.monotonic()
    deadline = started + args.timeout
    if not wait_http(args.ha_url + "/api/onboarding", deadline, args.pid):
        print(f"FAIL: Home Assistant did not answer at {args.ha_url} within {args.timeout} s")
        return 1
    print(f"==> Home Assistant answers at {args.ha_url} after {time.monotonic() - started:.0f} s")
    token = onboard(args.ha_url, deadline, args.pid)

    entry_state = "unknown"
    count = 0
    while time.monotonic() < deadline and _alive(args.pid):
        if token is not None and entry_state != "loaded":
            try:
                entries = _request(
                    args.ha_url + f"/api/config/config_entries/entry?domain={DOMAIN}", token=token
                )
                entry_state = ",".join(str(e.get("state")) for e in entries) or "absent"
            except (urllib.error.URLError, OSError) as err:
                entry_state = f"unknown ({err})"
        count = count_points(args.influx_url)
        if count >= args.min_points and (token is None or entry_state == "loaded"):
            break
        time.sleep(1)
    elapsed = time.monotonic() - started
    print(f"==> HA Ingestor config entry state: {entry_state}")
    print(f"==> points in {DATABASE}.ha_states: {count} after {elapsed:.0f} s")

    problems: list[str] = []
    ids = print_card(args.config, args.ha_url, deadline) if entry_state == "loaded" else None
    if ids is not None and token is not None and args.browser:
        problems = browser_check(args, token, ids, time.monotonic() + args.timeout)
        for problem in problems:
            print(f"browser: {problem}")
    elif args.browser:
        problems = ["no entity ids for the card" if ids is None else "no access token (onboarding)"]

    errors, warnings = log_findings(args.log)
    for line in warnings:
        print(f"log warning: {line}")
    for line in errors:
        print(f"log error: {line}")
    ok = True
    if count < args.min_points:
        print(f"FAIL: fewer than {args.min_points} points reached InfluxDB in {args.timeout} s")
        ok = False
    if token is not None and entry_state != "loaded":
        print(f"FAIL: the HA Ingestor config entry is {entry_state}, not loaded")
        ok = False
    if errors:
        print(f"FAIL: HA logged {len(errors)} error(s) about {DOMAIN} (see above)")
        ok = False
    if problems:
        print(f"FAIL: the browser check found {len(problems)} problem(s) (see above)")
        ok = False
    if ok:
        print("OK")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("free-port")
    p.add_argument("preferred", type=int)
    p = sub.add_parser("prepare")
    p.add_argument("config", type=Path)
    p.add_argument("influx_url")
    p = sub.add_parser("create-database")
    p.add_argument("influx_url")
    p.add_argument("--timeout", type=float, default=30)
    p = sub.add_parser("onboard")
    p.add_argument("ha_url")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--pid", type=int)
    p.add_argument("--timeout", type=float, default=600)
    p = sub.add_parser("check")
    p.add_argument("ha_url")
    p.add_argument("influx_url")
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--log", type=Path, required=True)
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--screenshots", type=Path, default=ROOT / "test-artifacts" / "develop-check")
    p.add_argument("--no-browser", dest="browser", action="store_false")
    p.add_argument("--min-points", type=int, default=20)
    p.add_argument("--timeout", type=float, default=120)
    args = parser.parse_args()

    if args.command == "free-port":
        print(free_port(args.preferred))
    elif args.command == "prepare":
        prepare(args.config, args.influx_url)
    elif args.command == "create-database":
        if not create_database(args.influx_url, args.timeout):
            print(f"error: InfluxDB did not answer at {args.influx_url}", file=sys.stderr)
            return 1
    elif args.command == "onboard":
        deadline = time.monotonic() + args.timeout
        try:
            onboard(args.ha_url, deadline, args.pid)
        except (urllib.error.URLError, OSError, KeyError) as err:
            print(f"warning: could not create the owner user: {err}", file=sys.stderr)
        print_card(args.config, args.ha_url, deadline)
    elif args.command == "check":
        return check(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
