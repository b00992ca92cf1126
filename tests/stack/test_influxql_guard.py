"""Attacks on the dashboard's InfluxDB proxy, performed against real nginx (the one template) in
front of a real InfluxDB 1.6, which runs writing statements from a GET. Each attack must leave
the database as it was; the dashboard's own reads must still work. Cross-origin attacks from a
real Chromium page are in test_cross_site.py."""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import shutil
import tempfile
import urllib.parse
import urllib.request

import pytest

from tests.servers import InfluxDB1

from .helpers import Nginx
from .test_nginx import fetch

DB = "home_assistant"
TOKEN = "guard-read-token"


@pytest.fixture(scope="module")
def influx() -> Iterator[InfluxDB1]:
    tmp = Path(tempfile.mkdtemp(prefix="ha_guard_influx_"))
    server = InfluxDB1(tmp)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def nginx(influx: InfluxDB1) -> Iterator[Nginx]:
    server = Nginx({
        "INFLUXDB_URL": influx.url, "INFLUXDB_READ_TOKEN": TOKEN, "INFLUXDB_DATABASE": DB,
        "INFLUXDB_CONTEXT_DATABASE": DB, "SPORTS_WEBHOOKS_URL": "http://127.0.0.1:9",
        "SPORTS_WEBHOOKS_READ_KEY": "unused-key", "DASHBOARD_REFRESH_SECONDS": "30",
        "DASHBOARD_BASIC_AUTH": "off", "DASHBOARD_HTPASSWD_FILE": "/nonexistent",
    })  # fmt: skip
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fresh(influx: InfluxDB1) -> InfluxDB1:
    """The same database, measurement and (no) users before every attack."""
    for db in ("evil", "copy"):
        influx.query(f'DROP DATABASE "{db}"')
    for user in ("evil", "mallory"):
        influx.query(f'DROP USER "{user}"')  # an error in the answer if absent: fine
    influx.query(f'DROP DATABASE "{DB}"')
    influx.query(f'CREATE DATABASE "{DB}"')
    line = b"ha_states,domain=sensor,entity_id=sensor.a value=1 1700000000000000000"
    urllib.request.urlopen(f"{influx.url}/write?db={DB}", data=line, timeout=10).close()
    return influx


def _state(influx: InfluxDB1) -> dict[str, object]:
    def q(text: str, db: str | None = None) -> object:
        return influx.query(text, db)["results"]

    return {
        "databases": q("SHOW DATABASES"),
        "users": q("SHOW USERS"),
        "measurements": q("SHOW MEASUREMENTS", DB),
        "series": q("SHOW SERIES", DB),
        "policies": q("SHOW RETENTION POLICIES", DB),
        "points": q('SELECT count("value") FROM "ha_states"', DB),
    }


def _get(nginx: Nginx, raw_query: str, **headers: str) -> tuple[int, dict[str, object]]:
    resp = fetch(f"{nginx.url}/influxdb/query?{raw_query}", headers=headers)
    return resp.status, json.loads(resp.body or b"{}")


def _q(statement: str, db: str = DB, **extra: str) -> str:
    return urllib.parse.urlencode({"db": db, "q": statement, "epoch": "ms", **extra})


# InfluxQL lexes a decimal number, then INTO: no space or symbol is needed between them.
NUMBER_INTO = [
    'SELECT "value"*1.5into "home_assistant"."autogen"."pwned" FROM "ha_states"',
    'SELECT "value"*.5into "home_assistant"."autogen"."pwned" FROM "ha_states"',
    'SELECT "value"*1.5INTO "home_assistant"."autogen"."pwned" FROM "ha_states"',
    'SELECT "value"+10.25into pwned FROM ha_states',
]
WRITES = [
    "DROP DATABASE home_assistant",
    'DROP DATABASE "home_assistant"',
    "CREATE DATABASE evil",
    "CREATE USER evil WITH PASSWORD 'x' WITH ALL PRIVILEGES",
    "SELECT * INTO copy..ha_states FROM ha_states",
    'SELECT "value" INTO "copy"."autogen"."x" FROM "ha_states" WHERE time > 0',
    "SELECT * FROM (SELECT * INTO evil..x FROM ha_states)",
    "SELECT *INTO evil..x FROM ha_states",
    "DELETE FROM ha_states",
    "DROP MEASUREMENT ha_states",
    "DROP SERIES FROM ha_states",
    "CREATE RETENTION POLICY evil ON home_assistant DURATION 1h REPLICATION 1 DEFAULT",
    "ALTER RETENTION POLICY autogen ON home_assistant DURATION 1h",
    "SHOW MEASUREMENTS; DROP DATABASE home_assistant",
    "SELECT 1 ;DROP DATABASE home_assistant",
    "  drop database home_assistant",
    "GRANT ALL TO mallory",
    "KILL QUERY 1",
    *NUMBER_INTO,
]


def test_influxdb_itself_runs_writes_from_a_get(influx: InfluxDB1, fresh: InfluxDB1) -> None:
    """Why the guard exists: straight to InfluxDB 1.6, a GET drops a database."""
    url = f"{influx.url}/query?{_q('DROP DATABASE ' + DB)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        assert b"read only context" in resp.read()  # a warning, and it ran
    assert DB not in json.dumps(influx.query("SHOW DATABASES"))


@pytest.mark.parametrize("statement", NUMBER_INTO)
def test_influxdb_reads_a_number_then_into_as_a_write(fresh: InfluxDB1, statement: str) -> None:
    """Why those need no separator: straight to InfluxDB 1.6 each writes a measurement."""
    url = f"{fresh.url}/query?{_q(statement)}"
    # Read to the end: InfluxDB cancels a query whose client hung up, and a close before
    # its answer left the INTO unwritten now and then (1 run in 3 here).
    with urllib.request.urlopen(url, timeout=10) as resp:
        answer = resp.read()
    assert "pwned" in json.dumps(fresh.query("SHOW MEASUREMENTS", DB)), answer


@pytest.mark.parametrize("statement", WRITES)
def test_writing_statements_are_refused(nginx: Nginx, fresh: InfluxDB1, statement: str) -> None:
    before = _state(fresh)
    status, body = _get(nginx, _q(statement))
    assert status == 403, body
    assert "only one read statement" in str(body["error"])
    assert _state(fresh) == before


# The same attacks with the keyword or the separator hidden behind percent-escapes, which nginx
# does not decode but InfluxDB does.
ENCODED = [
    "q=%44ROP+DATABASE+home_assistant",  # %44 = D
    "q=SELECT+*+%49NTO+copy..ha_states+FROM+ha_states",  # %49 = I
    "q=SELECT+*+INTO%20copy..ha_states%20FROM%20ha_states",
    "q=SELECT+*%2AINTO+copy..ha_states+FROM+ha_states",
    "q=SHOW+MEASUREMENTS%3BDROP+DATABASE+home_assistant",  # %3B = ;
    "q=SHOW+MEASUREMENTS%3bDROP+DATABASE+home_assistant",
    "q=SHOW+MEASUREMENTS;DROP+DATABASE+home_assistant",
    "q=%0aDROP+DATABASE+home_assistant",
    "q=SEL%45CT+*+INTO+copy..x+FROM+ha_states",
    "q=SHOW+DATABASES%00%3BDROP+DATABASE+home_assistant",
    "q=SHOW+DATABASES%",
]


@pytest.mark.parametrize("raw", ENCODED)
def test_encoded_tricks_are_refused(nginx: Nginx, fresh: InfluxDB1, raw: str) -> None:
    before = _state(fresh)
    status, _ = _get(nginx, f"db={DB}&{raw}")
    assert status == 403
    assert _state(fresh) == before


def test_second_q_and_other_parameters_never_reach_influxdb(nginx: Nginx, fresh: InfluxDB1) -> None:
    """Only db, q and epoch are passed on: a second q, u/p credentials, chunked are dropped."""
    before = _state(fresh)
    raw = _q("SHOW DATABASES") + "&q=DROP+DATABASE+home_assistant&u=admin&p=x&chunked=true"
    status, body = _get(nginx, raw)
    assert status == 200
    names = [row[0] for row in body["results"][0]["series"][0]["values"]]  # type: ignore[index]
    assert DB in names
    assert _state(fresh) == before
    assert _get(nginx, _q("SHOW DATABASES", epoch="x' OR 1"))[0] == 400
    assert _get(nginx, "db=x'y&q=SHOW+DATABASES")[0] == 400


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_only_get(nginx: Nginx, fresh: InfluxDB1, method: str) -> None:
    before = _state(fresh)
    resp = fetch(
        f"{nginx.url}/influxdb/query?{_q('SHOW DATABASES')}",
        method=method,
        data=b"q=DROP+DATABASE+home_assistant",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status == 405
    assert _state(fresh) == before


def test_the_dashboards_own_reads_still_work(nginx: Nginx, fresh: InfluxDB1) -> None:
    """The exact statements the page sends (src/influx.ts), encoded as the browser encodes
    them (URLSearchParams), answer with data through the guard."""
    reads = [
        'SELECT * FROM "ha_ingestor" WHERE time > now() - 7d GROUP BY "entry_id" '
        "ORDER BY time DESC LIMIT 1",
        'SELECT sum("dropped") AS "dropped", sum("dead_lettered") AS "dead_lettered" FROM '
        '(SELECT non_negative_difference("dropped") AS "dropped", '
        'non_negative_difference("dead_lettered") AS "dead_lettered" FROM "ha_ingestor" '
        'GROUP BY "entry_id") WHERE time > now() - 24h GROUP BY "entry_id"',
        'SELECT count("state") FROM "ha_states" WHERE time > now() - 24h '
        'GROUP BY time(1h), "domain" fill(0)',
        'SELECT * FROM "weather" WHERE time > now() - 7d GROUP BY "source" '
        "ORDER BY time DESC LIMIT 1",
        'SELECT count("value") FROM "ha_states"',
        "SHOW MEASUREMENTS",
        "show databases",
        "SELECT intoxicated FROM ha_states",  # a field whose name starts with "into" is no INTO
        "SELECT into_x, intoxicated FROM ha_states",
        'SELECT "value"*1.5 FROM "ha_states"',  # a number, and no INTO after it
        'SELECT "value"*.5, into1 FROM "ha_states"',
    ]
    for statement in reads:
        status, body = _get(nginx, _q(statement))
        assert status == 200, (statement, body)
        assert "error" not in body["results"][0], (statement, body)  # type: ignore[index]
    status, body = _get(nginx, _q('SELECT count("value") FROM "ha_states"'))
    assert body["results"][0]["series"][0]["values"][0][1] == 1  # type: ignore[index]
    # Percent-escaped punctuation (what encodeURIComponent produces) passes too.
    quoted = "q=" + urllib.parse.quote('SELECT count("value") FROM "ha_states"', safe="")
    assert _get(nginx, f"db={DB}&{quoted}&epoch=ms")[0] == 200


def test_cors_headers_from_influxdb_are_stripped(nginx: Nginx, influx: InfluxDB1) -> None:
    """InfluxDB 1.6 echoes Origin into Access-Control-Allow-Origin; nginx must not pass it on.
    (A same-origin Origin header, as the page itself sends, is let through.)"""
    host = nginx.url.removeprefix("http://")
    direct = fetch(
        f"{influx.url}/query?{_q('SHOW DATABASES')}", headers={"Origin": "http://" + host}
    )
    assert direct.headers.get("access-control-allow-origin") == "http://" + host  # the risk
    for path in (f"/influxdb/query?{_q('SHOW DATABASES')}", "/influxdb/ping"):
        resp = fetch(nginx.url + path, headers={"Origin": "http://" + host})
        assert resp.status in (200, 204), path
        assert not [h for h in resp.headers if h.startswith("access-control-")], resp.headers


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},
    ],
)
def test_cross_site_requests_are_refused(
    nginx: Nginx, fresh: InfluxDB1, headers: dict[str, str]
) -> None:
    for path in (f"/influxdb/query?{_q('SHOW DATABASES')}", "/influxdb/ping", "/config.json",
                 "/sports/api/deliveries", "/sports/api/games", "/sports/health"):  # fmt: skip
        resp = fetch(nginx.url + path, headers=headers)
        assert resp.status == 403, (path, headers)
        assert b"cross-site request refused" in resp.body
    # The page itself still loads when followed from a link on another site.
    assert fetch(nginx.url + "/", headers={"Sec-Fetch-Site": "cross-site"}).status == 200
    # Same-origin and non-browser requests pass.
    host = nginx.url.removeprefix("http://")
    for ok in ({"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, {}):
        assert fetch(f"{nginx.url}/influxdb/query?{_q('SHOW DATABASES')}", headers=ok).status == 200
