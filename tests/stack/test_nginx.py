"""The dashboard's nginx template, rendered and run by a real nginx against recording upstreams:
what is forwarded (tokens added server-side), what is refused, and the headers the browser gets."""

from __future__ import annotations

from collections.abc import Iterator
import gzip
import json
from pathlib import Path
import shutil
import subprocess
import urllib.error
import urllib.request

import pytest

from .helpers import (
    DIST,
    TEMPLATE,
    Nginx,
    Recorder,
    entrypoint_env,
    render_template,
    template_variables,
)

INFLUX_TOKEN = "read-token-6f1d2c"
SPORTS_KEY = "sports-key-91ab07"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[Recorder, Recorder]]:
    if not (DIST / "index.html").exists():
        pytest.fail("docker/dashboard/dist is missing: run `npm ci && npm run build` there first")
    influx = Recorder({"results": [{"statement_id": 0}]}, headers={"X-Influxdb-Version": "2.7.11"})
    sports = Recorder([{"id": 1, "event_type": "score_changed", "status": "delivered"}])
    with influx, sports:
        yield influx, sports


def _env(influx: Recorder, sports: Recorder, **extra: str) -> dict[str, str]:
    return {
        "INFLUXDB_URL": influx.url,
        "INFLUXDB_READ_TOKEN": INFLUX_TOKEN,
        "INFLUXDB_DATABASE": "home_assistant",
        "INFLUXDB_CONTEXT_DATABASE": "home_assistant_context",
        "SPORTS_WEBHOOKS_URL": sports.url,
        "SPORTS_WEBHOOKS_READ_KEY": SPORTS_KEY,
        "DASHBOARD_REFRESH_SECONDS": "15",
        "DASHBOARD_BASIC_AUTH": "off",
        "DASHBOARD_HTPASSWD_FILE": "/nonexistent/htpasswd",
        **extra,
    }


@pytest.fixture(scope="module")
def nginx(upstreams: tuple[Recorder, Recorder]) -> Iterator[Nginx]:
    server = Nginx(_env(*upstreams))
    server.start()
    yield server
    server.stop()


class Resp:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


def fetch(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None
) -> Resp:
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return Resp(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())
    except urllib.error.HTTPError as err:
        return Resp(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


def _asset(kind: str) -> str:
    return next(p.name for p in (DIST / "assets").iterdir() if p.suffix == kind)


def test_template_uses_only_documented_variables() -> None:
    assert template_variables() == {
        "DASHBOARD_PORT", "DASHBOARD_ROOT", "DASHBOARD_REFRESH_SECONDS", "DASHBOARD_BASIC_AUTH",
        "DASHBOARD_HTPASSWD_FILE", "INFLUXDB_URL", "INFLUXDB_READ_TOKEN", "INFLUXDB_DATABASE",
        "INFLUXDB_CONTEXT_DATABASE", "SPORTS_WEBHOOKS_URL", "SPORTS_WEBHOOKS_READ_KEY",
        "DASHBOARD_SPORTS", "DASHBOARD_SERVER_NAMES",
    }  # fmt: skip
    # envsubst semantics: nginx's own variables survive, unknown ${X} stay as they are.
    assert render_template("$uri ${A} $A ${B}", {"A": "1"}) == "$uri 1 1 ${B}"
    # The image sets every non-secret default and its entrypoint snippet exports the secrets.
    dockerfile = (TEMPLATE.parents[1] / "Dockerfile").read_text()
    envsh = (TEMPLATE.parent / "05-ha-dashboard-env.envsh").read_text()
    for name in template_variables():
        assert name in dockerfile or f"export {name}=" in envsh, name


def _entrypoint_env(tmp: Path, **env: str) -> tuple[dict[str, str], str]:
    return entrypoint_env(env, cwd=tmp)


def test_image_reads_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "dashboard.token"
    token_file.write_text("from-file-token\n")
    env, _ = _entrypoint_env(tmp_path, INFLUXDB_READ_TOKEN_FILE=str(token_file))
    assert env["INFLUXDB_READ_TOKEN"] == "from-file-token"
    assert env["SPORTS_WEBHOOKS_READ_KEY"] == ""
    # An explicit token wins over the file.
    env, _ = _entrypoint_env(
        tmp_path, INFLUXDB_READ_TOKEN="explicit", INFLUXDB_READ_TOKEN_FILE=str(token_file)
    )
    assert env["INFLUXDB_READ_TOKEN"] == "explicit"
    # The sports read key from its file (a Compose secret).
    key_file = tmp_path / "read.key"
    key_file.write_text("read-key-from-file\n")
    env, _ = _entrypoint_env(tmp_path, SPORTS_WEBHOOKS_READ_KEY_FILE=str(key_file))
    assert env["SPORTS_WEBHOOKS_READ_KEY"] == "read-key-from-file"
    # Neither: empty (no ${...} left in the config) and a warning in the log, not the token.
    env, log = _entrypoint_env(tmp_path, INFLUXDB_READ_TOKEN_FILE=str(tmp_path / "missing"))
    assert env["INFLUXDB_READ_TOKEN"] == ""
    assert "no InfluxDB read token" in log


def test_image_without_the_sports_service(tmp_path: Path) -> None:
    """SPORTS_WEBHOOKS_URL empty or off: the page is told to show no sports cards, and nginx
    gets an upstream it can resolve at start (a missing Compose service would stop it)."""
    for off in ("off", ""):
        env, _ = _entrypoint_env(tmp_path, SPORTS_WEBHOOKS_URL=off)
        assert env["DASHBOARD_SPORTS"] == "off"
        assert env["SPORTS_WEBHOOKS_URL"] == "http://127.0.0.1:9"
    env, _ = _entrypoint_env(tmp_path, SPORTS_WEBHOOKS_URL="http://sports-webhooks:8080")
    assert (env["DASHBOARD_SPORTS"], env["SPORTS_WEBHOOKS_URL"]) == (
        "on", "http://sports-webhooks:8080"
    )  # fmt: skip


def _entrypoint(tmp: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Source the .envsh under `set -e` in a subshell, as the nginx image's entrypoint does."""
    snippet = TEMPLATE.parent / "05-ha-dashboard-env.envsh"
    return subprocess.run(
        ["sh", "-ec", f'echo x | while read -r f; do . "{snippet}"; done; echo started'],
        env={"PATH": "/usr/bin:/bin", **env}, cwd=tmp,
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_production_refuses_to_run_without_basic_auth(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    htpasswd.write_text("admin:{PLAIN}s3cret\n")
    prod = {"DASHBOARD_REQUIRE_AUTH": "true", "DASHBOARD_HTPASSWD_FILE": str(htpasswd)}
    for auth in ("off", ""):
        result = _entrypoint(tmp_path, **prod, DASHBOARD_BASIC_AUTH=auth)
        assert result.returncode != 0, auth
        assert "started" not in result.stdout
        assert "DASHBOARD_BASIC_AUTH=off is refused in production" in result.stderr
    missing = {**prod, "DASHBOARD_HTPASSWD_FILE": str(tmp_path / "none")}
    result = _entrypoint(tmp_path, **missing, DASHBOARD_BASIC_AUTH="HA Ingestor")
    assert result.returncode != 0
    assert "is missing, empty or unreadable" in result.stderr
    # Legitimate: prod with a realm and a file, and development with auth off.
    for ok in ({**prod, "DASHBOARD_BASIC_AUTH": "HA Ingestor"}, {"DASHBOARD_BASIC_AUTH": "off"}):
        result = _entrypoint(tmp_path, **ok)
        assert result.returncode == 0, result.stderr
        assert "started" in result.stdout


def test_query_gets_the_read_token_server_side(
    nginx: Nginx, upstreams: tuple[Recorder, Recorder]
) -> None:
    influx, _ = upstreams
    influx.requests.clear()
    resp = fetch(
        nginx.url + "/influxdb/query?db=home_assistant&q=SELECT+1&epoch=ms",
        headers={"Authorization": "Token browser-supplied", "Cookie": "session=abc"},
    )
    assert resp.status == 200
    [req] = influx.requests
    assert req.method == "GET"
    assert req.path == "/query?db=home_assistant&q=SELECT+1&epoch=ms"
    assert req.headers["authorization"] == f"Token {INFLUX_TOKEN}"
    assert "cookie" not in req.headers
    assert resp.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_query_refuses_anything_but_get(
    nginx: Nginx, upstreams: tuple[Recorder, Recorder], method: str
) -> None:
    influx, _ = upstreams
    influx.requests.clear()
    resp = fetch(nginx.url + "/influxdb/query?q=DROP+DATABASE+x", method=method, data=b"q=DROP")
    assert resp.status == 405
    assert influx.requests == []


@pytest.mark.parametrize(
    "path",
    ["/influxdb/write?db=x", "/influxdb/api/v2/write", "/influxdb/api/v2/authorizations",
     "/influxdb/query/../api/v2/buckets", "/sports/api/subscriptions", "/sports/api/poll",
     "/sports/openapi.json"],
)  # fmt: skip
def test_nothing_else_is_proxied(
    nginx: Nginx, upstreams: tuple[Recorder, Recorder], path: str
) -> None:
    for rec in upstreams:
        rec.requests.clear()
    assert fetch(nginx.url + path).status == 404
    assert all(rec.requests == [] for rec in upstreams)


def test_ping_is_proxied_without_credentials(
    nginx: Nginx, upstreams: tuple[Recorder, Recorder]
) -> None:
    influx, _ = upstreams
    influx.requests.clear()
    resp = fetch(nginx.url + "/influxdb/ping", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert resp.status == 200
    assert resp.headers["x-influxdb-version"] == "2.7.11"
    [req] = influx.requests
    assert req.path == "/ping"
    assert "authorization" not in req.headers


@pytest.mark.parametrize(("path", "upstream_path"), [
    ("/sports/api/deliveries?limit=5", "/api/deliveries?limit=5"),
    ("/sports/api/games", "/api/games"),
])  # fmt: skip
def test_sports_reads_get_the_api_key_server_side(
    nginx: Nginx, upstreams: tuple[Recorder, Recorder], path: str, upstream_path: str
) -> None:
    _, sports = upstreams
    sports.requests.clear()
    resp = fetch(nginx.url + path, headers={"X-API-Key": "guess"})
    assert resp.status == 200
    [req] = sports.requests
    assert req.path == upstream_path
    assert req.headers["x-api-key"] == SPORTS_KEY
    assert fetch(nginx.url + path, method="POST", data=b"{}").status == 405


def test_no_response_carries_a_secret(nginx: Nginx) -> None:
    paths = ["/", "/index.html", "/config.json", "/some/route", "/influxdb/ping",
             "/influxdb/query?db=home_assistant&q=SELECT+1", "/sports/api/deliveries",
             f"/assets/{_asset('.js')}", f"/assets/{_asset('.css')}"]  # fmt: skip
    for path in paths:
        resp = fetch(nginx.url + path, headers={"Accept-Encoding": "identity"})
        blob = resp.body + json.dumps(resp.headers).encode()
        assert INFLUX_TOKEN.encode() not in blob, path
        assert SPORTS_KEY.encode() not in blob, path


def test_security_headers_everywhere(nginx: Nginx) -> None:
    for path in ["/", f"/assets/{_asset('.js')}", "/nope/route", "/influxdb/write", "/config.json",
                 "/influxdb/query?db=x&q=SELECT+1"]:  # fmt: skip
        h = fetch(nginx.url + path).headers
        csp = h["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "script-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert h["x-content-type-options"] == "nosniff"
        assert h["x-frame-options"] == "DENY"
        assert "server" not in h or "/" not in h["server"]  # no version


def test_caching_and_spa_fallback(nginx: Nginx) -> None:
    index = fetch(nginx.url + "/")
    assert index.status == 200
    assert index.headers["cache-control"] == "no-cache"
    asset = fetch(nginx.url + f"/assets/{_asset('.js')}")
    assert asset.status == 200
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert asset.headers["content-type"].startswith("application/javascript")
    deep = fetch(nginx.url + "/entries/abc")
    assert deep.status == 200
    assert deep.body == index.body
    assert deep.headers["cache-control"] == "no-cache"
    assert fetch(nginx.url + "/assets/missing-123.js").status == 404


def test_gzip(nginx: Nginx) -> None:
    resp = fetch(nginx.url + f"/assets/{_asset('.js')}", headers={"Accept-Encoding": "gzip"})
    assert resp.headers["content-encoding"] == "gzip"
    assert "Accept-Encoding" in resp.headers["vary"]
    raw = (DIST / "assets" / _asset(".js")).read_bytes()
    assert gzip.decompress(resp.body) == raw
    assert len(resp.body) < len(raw) / 2


def test_runtime_config(nginx: Nginx) -> None:
    resp = fetch(nginx.url + "/config.json")
    assert resp.headers["content-type"].startswith("application/json")
    assert json.loads(resp.body) == {
        "database": "home_assistant",
        "contextDatabase": "home_assistant_context",
        "refreshSeconds": "15",
        "sports": "on",
    }


def test_optional_basic_auth(upstreams: tuple[Recorder, Recorder]) -> None:
    server = Nginx(_env(*upstreams, DASHBOARD_BASIC_AUTH="HA Ingestor"))
    htpasswd = server.workdir / "htpasswd"
    htpasswd.write_text("admin:{PLAIN}s3cret\n")
    server.env["DASHBOARD_HTPASSWD_FILE"] = str(htpasswd)
    server.start()
    try:
        auth = {"Authorization": "Basic YWRtaW46czNjcmV0"}  # admin:s3cret
        denied = fetch(server.url + "/")
        assert denied.status == 401
        assert denied.headers["www-authenticate"] == 'Basic realm="HA Ingestor"'
        assert fetch(server.url + "/influxdb/query?q=SELECT+1").status == 401
        # Refusals come after the login too: a stranger learns nothing from them.
        assert fetch(server.url + "/influxdb/query?q=DROP+DATABASE+x").status == 401
        cross = {"Sec-Fetch-Site": "cross-site"}
        assert fetch(server.url + "/influxdb/ping", headers=cross).status == 401
        assert fetch(server.url + "/influxdb/ping", headers={**cross, **auth}).status == 403
        assert fetch(server.url + "/", headers=auth).status == 200
        # The container health check needs no credentials.
        assert fetch(server.url + "/healthz").status == 200
    finally:
        server.stop()


def test_image_main_config_with_the_rendered_template(tmp_path: Path) -> None:
    """The image's nginx.conf (pid and temp files on /tmp, conf.d included) accepts the rendered
    template: `nginx -t` with only those absolute paths moved into a temp dir."""
    main = (TEMPLATE.parent / "nginx.conf").read_text()
    assert "pid /tmp/nginx.pid;" in main
    assert "include /etc/nginx/conf.d/*.conf;" in main
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    env = {
        **dict.fromkeys(template_variables(), "x"),
        "DASHBOARD_PORT": "127.0.0.1:1",
        "DASHBOARD_ROOT": str(DIST),
        "INFLUXDB_URL": "http://127.0.0.1:9",
        "SPORTS_WEBHOOKS_URL": "http://127.0.0.1:9",
        "DASHBOARD_REFRESH_SECONDS": "30",
        "DASHBOARD_BASIC_AUTH": "off",
    }
    (conf_d / "default.conf").write_text(render_template(TEMPLATE.read_text(), env))
    moved = main.replace("/etc/nginx/conf.d", str(conf_d)).replace("/tmp/", f"{tmp_path}/")
    moved = moved.replace("error_log /dev/stderr", f"error_log {tmp_path}/error.log")
    (tmp_path / "nginx.conf").write_text(moved)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


FOREIGN_HOSTS = ["rebind.example", "evil.example:8088", "localhost.evil.example",
                 "127.0.0.1.nip.io", "dashboard.example.lan.evil.example", "[::2]"]  # fmt: skip


def test_only_its_own_host_names_are_served(upstreams: tuple[Recorder, Recorder]) -> None:
    """DNS rebinding: a page on an attacker's name re-pointed at 127.0.0.1 sends its own name
    as Host (and as Origin, so the Origin check passes). Any Host but localhost, 127.0.0.1,
    [::1] and DASHBOARD_SERVER_NAMES is 421 on every path, with no data and nothing proxied."""
    influx, sports = upstreams
    server = Nginx(_env(influx, sports, DASHBOARD_SERVER_NAMES="dashboard.example.lan,192.0.2.10"))
    server.start()
    try:
        paths = ["/", "/index.html", "/config.json", f"/assets/{_asset('.js')}", "/healthz",
                 "/influxdb/query?db=home_assistant&q=SHOW+DATABASES", "/influxdb/ping",
                 "/sports/api/deliveries", "/sports/api/games", "/sports/health"]  # fmt: skip
        influx.requests.clear()
        sports.requests.clear()
        for host in FOREIGN_HOSTS:
            for path in paths:
                resp = fetch(server.url + path, headers={
                    "Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"
                })  # fmt: skip
                assert resp.status == 421, (host, path, resp.status)
                assert json.loads(resp.body) == {
                    "error": "unknown host name: add it to DASHBOARD_SERVER_NAMES"
                }, (host, path)
        assert influx.requests == sports.requests == []
        port = server.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}", "LOCALHOST",
                     "localhost.", "dashboard.example.lan", "Dashboard.Example.Lan:443",
                     "192.0.2.10:8088"):  # fmt: skip
            same = {"Host": host, "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
            for path in ("/", "/config.json", paths[5], "/sports/api/deliveries"):
                assert fetch(server.url + path, headers=same).status == 200, (host, path)
        assert len(influx.requests) == len(sports.requests) == 8
    finally:
        server.stop()


def test_server_names_must_be_names(tmp_path: Path) -> None:
    """DASHBOARD_SERVER_NAMES goes into nginx's config: names and addresses only, or the
    container stops with a message (no `;`, `{`, `$` or regex reaches nginx)."""
    env, _ = _entrypoint_env(tmp_path, DASHBOARD_SERVER_NAMES="a.example, [fd00::1] *.lan")
    assert env["DASHBOARD_SERVER_NAMES"] == "a.example  [fd00::1] *.lan"
    assert _entrypoint_env(tmp_path)[0]["DASHBOARD_SERVER_NAMES"] == ""
    for bad in ("x; return 200", "a.example {", "$host", "~^.*$"):
        result = _entrypoint(tmp_path, DASHBOARD_SERVER_NAMES=bad)
        assert result.returncode != 0, bad
        assert "started" not in result.stdout
        assert "DASHBOARD_SERVER_NAMES may hold only host names" in result.stderr
