"""Another web page, open in the user's real (headless Chromium) browser, attacks the dashboard:
it tries to read InfluxDB data through the proxy with fetch(), to run a statement with an
<img>, and to read the sports deliveries. Played from a cross-site origin (localhost vs
127.0.0.1) and a same-site one (another port of the same host), and as DNS rebinding (the
attacker's own name re-pointed at 127.0.0.1, so the page is same-origin with the dashboard).
Everything must fail, while the dashboard's own page (test_e2e.py) reads the same endpoints
fine."""

from __future__ import annotations

from collections.abc import Iterator
import http.server
import json
from pathlib import Path
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
import urllib.request

import pytest

from tests.servers import InfluxDB1

from .helpers import DASHBOARD, Nginx, Recorder
from .test_nginx import fetch

DB = "home_assistant"
SECRET_VALUE = "camera-access-token-xyz"


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[InfluxDB1, Nginx, Recorder]]:
    tmp = Path(tempfile.mkdtemp(prefix="ha_cross_site_"))
    influx = InfluxDB1(tmp)
    influx.start()
    sports = Recorder({"deliveries": [{"delivery_id": "d1", "last_error": SECRET_VALUE}]})
    sports.__enter__()
    server = Nginx({
        "INFLUXDB_URL": influx.url, "INFLUXDB_READ_TOKEN": "t", "INFLUXDB_DATABASE": DB,
        "INFLUXDB_CONTEXT_DATABASE": DB, "SPORTS_WEBHOOKS_URL": sports.url,
        "SPORTS_WEBHOOKS_READ_KEY": "k", "DASHBOARD_REFRESH_SECONDS": "30",
        "DASHBOARD_BASIC_AUTH": "off", "DASHBOARD_HTPASSWD_FILE": "/nonexistent",
    })  # fmt: skip
    try:
        influx.query(f'CREATE DATABASE "{DB}"')
        line = f'ha_states,domain=camera,entity_id=camera.door access_token_str="{SECRET_VALUE}"'
        urllib.request.urlopen(f"{influx.url}/write?db={DB}", data=line.encode(), timeout=10)
        server.start()
        yield influx, server, sports
    finally:
        server.stop()
        sports.__exit__()
        influx.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _evil_page(target: str) -> bytes:
    read = f"{target}/influxdb/query?" + urllib.parse.urlencode(
        {"db": DB, "q": 'SELECT * FROM "ha_states"', "epoch": "ms"}
    )
    drop = f"{target}/influxdb/query?" + urllib.parse.urlencode(
        {"db": DB, "q": f"DROP DATABASE {DB}"}
    )
    # The read is also tried as a plain GET statement via <img>: it needs no CORS to *run*.
    script = f"""
    const out = {{}};
    async function attempt(name, url, init) {{
      try {{
        const r = await fetch(url, init);
        out[name] = {{status: r.status, body: await r.text()}};
      }} catch (e) {{ out[name] = {{error: String(e)}}; }}
    }}
    function img(name, url) {{
      return new Promise((done) => {{
        const i = new Image();
        i.onload = () => {{ out[name] = "load"; done(); }};
        i.onerror = () => {{ out[name] = "error"; done(); }};
        i.src = url;
      }});
    }}
    (async () => {{
      await attempt("cors_read", {json.dumps(read)});
      await attempt("cors_read_credentials", {json.dumps(read)}, {{credentials: "include"}});
      await attempt("no_cors_read", {json.dumps(read)}, {{mode: "no-cors"}});
      await attempt("deliveries", {json.dumps(target + "/sports/api/deliveries")});
      await img("img_drop", {json.dumps(drop)});
      await img("img_read", {json.dumps(read)});
      window.__result = out;
    }})();
    """
    return f"<!doctype html><title>evil</title><script>{script}</script>".encode()


class _Evil:
    def __init__(self, page: bytes) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _visit(url: str) -> dict[str, object]:
    result = subprocess.run(
        ["node", "e2e/visit.mjs", json.dumps({"url": url})],
        cwd=DASHBOARD, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(json.loads(result.stdout)["result"])


def _statuses(server: Nginx) -> list[tuple[str, str]]:
    """(request line, status) of every proxied data request nginx logged."""
    out = []
    for line in (server.workdir / "access.log").read_text().splitlines():
        request = line.split('"')[1]
        status = line.split('"')[2].split()[0]
        if " /influxdb/" in request or " /sports/" in request:
            out.append((request, status))
    return out


@pytest.mark.parametrize("evil_host", ["localhost", "127.0.0.1"], ids=["cross-site", "same-site"])
def test_another_site_can_neither_read_nor_write(
    stack: tuple[InfluxDB1, Nginx, Recorder], evil_host: str
) -> None:
    influx, server, sports = stack
    (server.workdir / "access.log").write_text("")
    sports.requests.clear()
    evil = _Evil(_evil_page(server.url))
    try:
        result = _visit(f"http://{evil_host}:{evil.port}/evil.html")
    finally:
        evil.close()
    blob = json.dumps(result)
    assert SECRET_VALUE not in blob, result
    for name in ("cors_read", "cors_read_credentials", "deliveries"):
        assert "error" in result[name], result  # no CORS grant: the page cannot read a byte
    assert result["no_cors_read"] == {"status": 0, "body": ""}  # opaque
    assert result["img_drop"] == result["img_read"] == "error"
    # nginx refused every one of them before InfluxDB or the sports service saw it.
    logged = _statuses(server)
    assert len(logged) >= 6, logged
    assert {status for _, status in logged} == {"403"}, logged
    assert sports.requests == []
    names = influx.query("SHOW DATABASES")["results"][0]["series"][0]["values"]  # type: ignore[index]
    assert [DB] in names


# Chromium's Private/Local Network Access checks would stop a public page's fetch() to
# 127.0.0.1 on their own; Firefox and Safari have none. Off, the Host allowlist must hold alone.
NO_PRIVATE_NETWORK_CHECKS = (
    "--disable-features=BlockInsecurePrivateNetworkRequests,"
    "PrivateNetworkAccessRespectPreflightResults,LocalNetworkAccessChecks"
)


def test_a_rebound_name_gets_no_data(stack: tuple[InfluxDB1, Nginx, Recorder]) -> None:
    """What a browser sends for a same-origin fetch on http://rebind.example:PORT once the
    attacker's name points at 127.0.0.1: its own Host and Origin. 421, nothing proxied."""
    _, server, sports = stack
    sports.requests.clear()
    host = f"rebind.example:{server.port}"
    q = urllib.parse.urlencode({"db": DB, "q": 'SELECT * FROM "ha_states"'})
    for path in (f"/influxdb/query?{q}", "/sports/api/deliveries"):
        resp = fetch(server.url + path, headers={
            "Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"
        })  # fmt: skip
        assert resp.status == 421, (path, resp.status, resp.body[:300])
        assert SECRET_VALUE.encode() not in resp.body
    assert sports.requests == []


def test_a_rebinding_page_in_the_browser_reads_nothing(
    stack: tuple[InfluxDB1, Nginx, Recorder],
) -> None:
    """The whole attack in Chromium: the page on rebind.example fetches the proxy's data
    paths as same-origin requests, which reach nginx on 127.0.0.1 and are refused (421)."""
    _, server, sports = stack
    sports.requests.clear()
    q = urllib.parse.urlencode({"db": DB, "q": 'SELECT * FROM "ha_states"'})
    paths = [f"/influxdb/query?{q}", "/sports/api/deliveries", "/config.json"]
    html = (
        "<!doctype html><script>(async () => { const out = {};"
        f" for (const p of {json.dumps(paths)}) {{"
        " try { const r = await fetch(p); out[p] = {status: r.status, body: await r.text()}; }"
        " catch (e) { out[p] = {error: String(e)}; } }"
        " window.__result = out; })()</script>"
    )
    opts = {"url": f"http://rebind.example:{server.port}/evil.html", "html": html,
            "extra": [NO_PRIVATE_NETWORK_CHECKS]}  # fmt: skip
    run = subprocess.run(
        ["node", "e2e/rebind.mjs", json.dumps(opts)],
        cwd=DASHBOARD, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)["result"]
    assert SECRET_VALUE not in json.dumps(result), result
    # Answered by nginx (so the request did reach it: the test can see a leak), and refused.
    assert {p: r.get("status") for p, r in result.items()} == dict.fromkeys(paths, 421), result
    assert sports.requests == []
