"""Attacks on the sports webhooks service, run against the real service process: webhook URLs
aimed inside (SSRF), redirects, huge answers, leaky errors, key guessing, unlimited test
deliveries, a database that grows forever or is readable by all. Beside each, the legitimate use:
delivery to an allowed LAN receiver (played by a loopback receiver with 127.0.0.0/8 allowed).
An address that must be refused is asserted refused; nothing is ever sent to it."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
import gzip
import http.client
import ipaddress
import json
from pathlib import Path
import socket
import sqlite3
import stat
import time
from typing import Any
import zlib

import aiohttp
from aiohttp import web
import pytest
from sports_webhooks import db  # on sys.path via helpers (conftest)
from sports_webhooks.delivery import describe
from sports_webhooks.validation import subscription

from tests.helpers import ThreadedApp, free_port, wait_until

from .helpers import API_KEY, SECRET, Receiver, Service

READ_KEY = "dashboard-read-key-0123456789"
NO_ALLOWANCE = {"SPORTS_WEBHOOKS_ALLOW_NETWORKS": ""}


def _body(url: str) -> dict[str, Any]:
    return {"url": url, "events": ["game_started"], "teams": [{"league": "nfl", "team_id": "1"}],
            "secret": SECRET}  # fmt: skip


def _final(service: Service, sub_id: int) -> dict[str, Any]:
    def done() -> list[dict[str, Any]]:
        rows = service.deliveries(subscription_id=sub_id)
        return [r for r in rows if r["status"] != "pending"]

    return wait_until(done, f"delivery of subscription {sub_id} settled")[0]


def test_inside_addresses_are_refused_when_subscribing(
    make_service: Callable[..., Service], receiver: Receiver
) -> None:
    service = make_service(**NO_ALLOWANCE).start()
    port = receiver.port
    inside = [
        f"http://127.0.0.1:{port}/ok/a", f"http://127.1:{port}/ok/a",
        f"http://0x7f000001:{port}/ok/a", f"http://2130706433:{port}/ok/a",
        f"http://0177.0.0.1:{port}/ok/a", f"http://[::ffff:127.0.0.1]:{port}/ok/a",
        f"http://[::1]:{port}/ok/a", f"http://localhost:{port}/ok/a",
        f"http://LOCALHOST.:{port}/ok/a", f"http://api.localhost:{port}/ok/a",
        "http://0.0.0.0:8080/", "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/", "http://10.0.0.1/", "http://192.168.1.20:8123/api/webhook/x",
        "http://100.64.0.1/", "http://influxdb:8086/query", "http://dashboard:8080/",
        "http://sports-webhooks:8080/api/subscriptions",
    ]  # fmt: skip
    for url in inside:
        status, body = service.request("POST", "/api/subscriptions", _body(url))
        assert status == 400, url
        assert body["error"].startswith("'url' refused: "), body
        assert "not allowed" in body["error"] or "own or loopback" in body["error"], body
    assert service.request("GET", "/api/subscriptions")[1] == {"subscriptions": []}
    assert receiver.received == []


def _inside_name() -> str:
    """A host name (not an IP literal, not one of the denied names) that resolves to a
    non-public address on this machine: the hostname, or ip6-localhost from /etc/hosts."""
    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback"):
        try:
            infos = socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)
        except OSError:
            continue
        if infos and not any(ipaddress.ip_address(i[4][0]).is_global for i in infos):
            return name
    raise AssertionError("no host name here resolves to a non-public address")


def test_a_name_is_checked_at_connect_time(
    make_service: Callable[..., Service], receiver: Receiver
) -> None:
    """A name passes when subscribing (it may resolve anywhere later: DNS rebinding); the
    address it resolves to when the connection is made is what is checked, and refused."""
    service = make_service(**NO_ALLOWANCE).start()
    name = _inside_name()
    sub = service.subscribe(f"http://{name}:{receiver.port}/ok/rebind", [("nfl", "1")])
    service.request("POST", f"/api/subscriptions/{sub['id']}/test")
    row = _final(service, sub["id"])
    assert row["status"] == "failed"
    assert row["last_error"].startswith(f"refused: {name} resolves to a ")
    assert "address, not allowed" in row["last_error"]
    assert row["last_status_code"] is None
    assert receiver.received == []


# Spellings of 127.0.0.1 the OS accepts; aiohttp 3.14 refuses all but the first.
LOOPBACK_SPELLINGS = ("127.0.0.1", "127.1", "0x7f000001", "2130706433", "0177.0.0.1",
                      "127.000.000.001", "127.1.")  # fmt: skip


def test_allowed_lan_receiver_gets_its_delivery(
    make_service: Callable[..., Service], receiver: Receiver
) -> None:
    """Every spelling of an allowed address is stored as its dotted quad, and delivered."""
    service = make_service(SPORTS_WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8").start()
    canonical = f"http://127.0.0.1:{receiver.port}"
    for host in LOOPBACK_SPELLINGS:
        sub = service.subscribe(f"http://{host}:{receiver.port}/ok/lan?h={host}", [("nfl", "1")])
        assert sub["url"] == f"{canonical}/ok/lan?h={host}"
        service.request("POST", f"/api/subscriptions/{sub['id']}/test")
        row = _final(service, sub["id"])
        assert (row["status"], row["last_status_code"]) == ("delivered", 200), row
        assert row["target"] == canonical  # never the path
    assert len(receiver.deliveries("/ok/lan")) == len(LOOPBACK_SPELLINGS)
    assert all(r.signature_ok for r in receiver.received)


def test_a_url_stored_by_an_earlier_version_is_made_canonical_when_delivering(
    make_service: Callable[..., Service], receiver: Receiver
) -> None:
    service = make_service(SPORTS_WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8").start()
    sub = service.subscribe(f"{receiver.url}/ok/old", [("nfl", "1")])
    with closing(sqlite3.connect(service.db)) as conn, conn:  # as an earlier version stored it
        conn.execute(
            "UPDATE subscriptions SET url = ? WHERE id = ?",
            (f"http://127.1:{receiver.port}/ok/old", sub["id"]),
        )
    service.request("POST", f"/api/subscriptions/{sub['id']}/test")
    row = _final(service, sub["id"])
    assert (row["status"], row["last_status_code"]) == ("delivered", 200), row
    assert len(receiver.deliveries("/ok/old")) == 1


def test_a_url_the_client_cannot_use_is_a_clear_error(
    make_service: Callable[..., Service], receiver: Receiver
) -> None:
    """Not "bad answer from the receiver": nothing was sent. Refused when subscribing (the
    pattern admits only ports and hosts the client can parse), and at delivery time a stored
    URL that is unusable says so."""
    service = make_service(SPORTS_WEBHOOKS_ALLOW_NETWORKS="127.0.0.0/8").start()
    bad = "http://127.0.0.1:99999/api/webhook/secret-id"  # the client cannot parse it
    status, body = service.request("POST", "/api/subscriptions", _body(bad))
    assert status == 400
    assert body["error"].startswith("'url' must be an http:// or https:// URL"), body
    sub = service.subscribe(f"{receiver.url}/ok/x", [("nfl", "1")])
    with closing(sqlite3.connect(service.db)) as conn, conn:
        conn.execute("UPDATE subscriptions SET url = ? WHERE id = ?", (bad, sub["id"]))
    service.request("POST", f"/api/subscriptions/{sub['id']}/test")
    row = _final(service, sub["id"])
    assert row["last_error"].startswith("the URL cannot be used: it cannot be parsed"), row
    assert "secret-id" not in row["last_error"]
    assert row["target"] == ""  # and the delivery list still answers
    assert receiver.received == []


async def test_a_url_aiohttp_refuses_is_described_without_its_path() -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.InvalidURL) as refused:
            await session.post("http://[::1/api/webhook/secret-id")
    text = describe(refused.value, 10)
    assert text.startswith("the URL cannot be used: the HTTP client refuses it"), text
    assert "secret-id" not in text


class _Nasty(ThreadedApp):
    """A receiver that redirects, or answers with an endless body, counting what it sent."""

    def __init__(self, redirect_to: str) -> None:
        self.sent = 0
        self.hits: list[str] = []
        self.finished = self.ended = False
        self._to = redirect_to
        app = web.Application()
        app.router.add_post("/redirect/{code}", self._redirect)
        app.router.add_post("/huge", self._huge)
        super().__init__(app)

    async def _redirect(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        await request.read()
        code = int(request.match_info["code"])
        return web.Response(status=code, headers={"Location": self._to})

    async def _huge(self, request: web.Request) -> web.StreamResponse:
        self.hits.append(request.path)
        await request.read()
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        chunk = b"x" * 65536
        try:
            for _ in range(300 * 16):  # 300 MB, as in the review
                await resp.write(chunk)
                self.sent += len(chunk)
            self.finished = True
        except ConnectionError:
            pass
        finally:
            self.ended = True
        return resp


def test_redirects_are_not_followed(service: Service, receiver: Receiver) -> None:
    nasty = _Nasty(receiver.url + "/ok/stolen")
    try:
        for code in (301, 302, 307, 308):
            sub = service.subscribe(f"{nasty.url}/redirect/{code}", [("nfl", "1")])
            service.request("POST", f"/api/subscriptions/{sub['id']}/test")
            row = _final(service, sub["id"])
            assert row["last_status_code"] == code
            assert row["last_error"] == f"HTTP {code}: redirects are not followed"
        assert set(nasty.hits) == {f"/redirect/{code}" for code in (301, 302, 307, 308)}
        assert receiver.received == []  # the signed body went nowhere else
    finally:
        nasty.close()


def test_a_huge_answer_is_not_read(service: Service) -> None:
    nasty = _Nasty("/")
    try:
        sub = service.subscribe(f"{nasty.url}/huge", [("nfl", "1")])
        service.request("POST", f"/api/subscriptions/{sub['id']}/test")
        row = _final(service, sub["id"])
        assert (row["status"], row["last_status_code"]) == ("delivered", 200)
        # The service read a few KB and hung up: the receiver could not push its 300 MB.
        wait_until(lambda: nasty.ended, "the receiver to notice the closed connection")
        assert not nasty.finished
        assert nasty.sent < 16 * 1024 * 1024, nasty.sent
        rss_kb = int(
            next(
                line.split()[1]
                for line in Path(f"/proc/{service.proc.pid}/status").read_text().splitlines()  # type: ignore[union-attr]
                if line.startswith("VmRSS:")
            )
        )
        print(
            f"service RSS after a 300 MB answer: {rss_kb / 1024:.0f} MB, receiver sent {nasty.sent / 1e6:.1f} MB"
        )
    finally:
        nasty.close()


def test_errors_do_not_work_as_a_port_scanner(service: Service) -> None:
    closed = free_port()
    sub = service.subscribe(f"http://127.0.0.1:{closed}/x", [("nfl", "1")])
    service.request("POST", f"/api/subscriptions/{sub['id']}/test")
    row = _final(service, sub["id"])
    assert row["last_error"] == f"could not connect to 127.0.0.1:{closed}"
    for leak in ("Errno", "Connect call failed", "refused", "111"):
        assert leak not in row["last_error"]


def test_read_key_opens_only_the_dashboards_reads(make_service: Callable[..., Service]) -> None:
    service = make_service(SPORTS_WEBHOOKS_READ_KEY=READ_KEY).start()
    assert service.request("GET", "/api/deliveries?limit=5", key=READ_KEY)[0] == 200
    assert service.request("GET", "/api/games", key=READ_KEY)[0] == 200
    for method, path, body in (
        ("POST", "/api/subscriptions", _body("http://127.0.0.1:9/x")),
        ("GET", "/api/subscriptions", None),  # URLs hold webhook ids
        ("POST", "/api/poll", None),
        ("DELETE", "/api/subscriptions/1", None),
        ("POST", "/api/subscriptions/1/test", None),
    ):
        status, error = service.request(method, path, body, key=READ_KEY)
        assert status == 403, (method, path)
        assert "read key may only GET" in error["error"]
    assert service.request("GET", "/api/subscriptions")[1] == {"subscriptions": []}
    # The full key still does everything.
    assert service.request("GET", "/api/subscriptions", key=API_KEY)[0] == 200


def test_key_guessing_and_test_floods_are_limited(
    make_service: Callable[..., Service], receiver: Receiver
) -> None:
    service = make_service(
        SPORTS_WEBHOOKS_AUTH_FAILURES_PER_MINUTE="", SPORTS_WEBHOOKS_TESTS_PER_MINUTE=""
    ).start()  # the defaults: 10 wrong keys and 6 test deliveries a minute
    sub = service.subscribe(receiver.url + "/ok/flood", [("nfl", "1")])
    answers = [service.request("POST", f"/api/subscriptions/{sub['id']}/test")[0] for _ in range(8)]
    assert answers == [202] * 6 + [429] * 2
    wait_until(lambda: len(receiver.deliveries("/ok/flood")) == 6, "the six allowed tests")
    # Requests without a key guess nothing, and any web page can send them (an image, a
    # no-cors fetch; a page cannot add the header): they never lock the owner out.
    assert [service.request("GET", "/api/games", key=None)[0] for _ in range(12)] == [401] * 12
    assert service.request("GET", "/api/games", key="")[0] == 401
    assert service.request("GET", "/api/games")[0] == 200
    statuses = [service.request("GET", "/api/games", key=f"guess-{i:016d}")[0] for i in range(12)]
    assert statuses == [401] * 10 + [429] * 2
    # Locked out for the minute, the right key too: guessing on gains nothing.
    status, error = service.request("GET", "/api/games")
    assert status == 429
    assert error["error"] == "too many wrong API keys; try again later"
    assert service.request("GET", "/health", key=None)[0] == 200


def test_old_deliveries_and_transitions_are_pruned(tmp_path: Path) -> None:
    store = db.Store(tmp_path / "w.db")
    new = subscription(_body("https://example.org/hook"))
    sub_id = store.create_subscription(new)["id"]
    old_done, recent_done, old_pending = (store.enqueue_test(sub_id) for _ in range(3))
    long_ago = db.iso_from_epoch(time.time() - 40 * 86400)
    with store.tx() as conn:
        conn.execute(
            "UPDATE outbox SET status = 'delivered', updated_at = ? WHERE delivery_id = ?",
            (long_ago, old_done),
        )
        conn.execute("UPDATE outbox SET status = 'failed' WHERE delivery_id = ?", (recent_done,))
        conn.execute(
            "UPDATE outbox SET updated_at = ? WHERE delivery_id = ?", (long_ago, old_pending)
        )
        for delivery_id in (old_done, recent_done):
            conn.execute(
                "INSERT INTO delivery_log (outbox_id, attempt, duration_ms, at) "
                "SELECT id, 1, 1.0, ? FROM outbox WHERE delivery_id = ?",
                (long_ago, delivery_id),
            )
        conn.execute(
            "INSERT INTO transitions (league, game_id, kind, data, created_at) "
            "VALUES ('nfl', 'g1', 'game_ended', '{}', ?)",
            (long_ago,),
        )
    assert store.prune(time.time(), 30) == {"outbox": 1, "transitions": 1}
    left = {r["delivery_id"] for r in store.list_deliveries(100)}
    assert left == {recent_done, old_pending}  # pending rows stay, whatever their age
    assert store.conn.execute("SELECT count(*) FROM delivery_log").fetchone()[0] == 1
    assert store.prune(time.time(), 30) == {"outbox": 0, "transitions": 0}
    store.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_database_and_backups_are_private(service: Service, tmp_path: Path) -> None:
    service.subscribe("https://example.org/hook", [("nfl", "1")])
    for suffix in ("", "-wal", "-shm"):
        path = service.db.with_name(service.db.name + suffix)
        assert _mode(path) == 0o600, path
    dest = tmp_path / "backups" / "webhooks.db"
    assert service.cli("backup", str(dest)).returncode == 0
    assert _mode(dest) == 0o600
    # A database left world-readable by an older version is tightened at start.
    old = tmp_path / "old" / "webhooks.db"
    old.parent.mkdir()
    db.Store(old).close()
    old.chmod(0o644)
    db.Store(old).close()
    assert _mode(old) == 0o600


def test_keys_from_files(make_service: Callable[..., Service], tmp_path: Path) -> None:
    key_file = tmp_path / "api_key"
    key_file.write_text("from-a-file-0123456789\n")
    service = make_service(
        SPORTS_WEBHOOKS_API_KEY="", SPORTS_WEBHOOKS_API_KEY_FILE=str(key_file)
    ).start()
    assert service.request("GET", "/api/games", key="from-a-file-0123456789")[0] == 200
    missing = make_service(
        SPORTS_WEBHOOKS_API_KEY="", SPORTS_WEBHOOKS_API_KEY_FILE=str(tmp_path / "nope")
    )
    result = missing.cli()
    assert result.returncode == 2
    assert "SPORTS_WEBHOOKS_API_KEY_FILE: cannot read" in result.stderr


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmHWM in /proc/{pid}/status")


def _post_raw(service: Service, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """POST /api/subscriptions with exactly these bytes and headers (urllib adds none)."""
    with closing(http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)) as conn:
        conn.request("POST", "/api/subscriptions", body=body, headers=headers)
        resp = conn.getresponse()
        text = resp.read()
        return resp.status, json.loads(text) if text else None


def test_a_deflate_bomb_is_not_inflated(service: Service) -> None:
    """1.5 MB of deflate that inflates to 1.5 GiB, three at once, without a key: aiohttp's
    parser used to inflate each before any handler or key check ran (~515 MB per request).
    Now nothing is inflated: each is refused with 415 and the peak memory hardly moves."""
    assert service.proc is not None
    base = _peak_rss_mb(service.proc.pid)
    deflate = zlib.compressobj(9)
    bomb = deflate.compress(b"\0" * (1536 * 1024 * 1024)) + deflate.flush()
    headers = {"Content-Encoding": "deflate", "Content-Type": "application/json"}
    with ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: _post_raw(service, bomb, headers), range(3)))
    peak = _peak_rss_mb(service.proc.pid)
    assert [status for status, _ in answers] == [415] * 3, answers
    assert peak - base < 64, f"peak RSS {base:.0f} -> {peak:.0f} MB for {len(bomb)} bytes sent"
    assert service.request("GET", "/health", key=None)[0] == 200


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "GZIP"])
def test_a_compressed_body_is_refused_with_a_clear_error(service: Service, encoding: str) -> None:
    """Even a valid subscription, compressed, with the right key: 415, nothing created."""
    raw = json.dumps(_body("http://127.0.0.1:9/ok/x")).encode()
    body = zlib.compress(raw) if encoding == "deflate" else gzip.compress(raw)
    status, answer = _post_raw(service, body, {"Content-Encoding": encoding,
                                               "Content-Type": "application/json",
                                               "X-API-Key": API_KEY})  # fmt: skip
    assert (status, answer) == (
        415,
        {"error": "Content-Encoding is not supported: send the JSON body uncompressed"},
    )
    assert service.request("GET", "/api/subscriptions")[1] == {"subscriptions": []}
    # The same body sent as is, or marked identity, is taken.
    status, _ = _post_raw(service, raw, {"Content-Encoding": "identity",
                                         "Content-Type": "application/json",
                                         "X-API-Key": API_KEY})  # fmt: skip
    assert status == 201


def _with_host(service: Service, method: str, path: str, host: str) -> tuple[int, Any]:
    """A request with the right key and this Host header (what a rebinding page would send)."""
    with closing(http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)) as conn:
        conn.request(method, path, headers={"Host": host, "X-API-Key": API_KEY,
                                            "Origin": f"http://{host}"})  # fmt: skip
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")


def test_only_its_own_host_names_are_served(make_service: Callable[..., Service]) -> None:
    """DNS rebinding: a page on an attacker's name re-pointed at 127.0.0.1 talks to the service
    as same-origin. Any Host but localhost, 127.0.0.1, [::1] (any port) and
    SPORTS_WEBHOOKS_SERVER_NAMES is 421, before the key check, on every route."""
    service = make_service(SPORTS_WEBHOOKS_SERVER_NAMES="sports-webhooks, Hooks.Example.Lan")
    service.start()
    service.subscribe("http://127.0.0.1:9/ok/x", [("nfl", "1")], description="kitchen")
    refused = (421, {"error": "unknown host name: add it to SPORTS_WEBHOOKS_SERVER_NAMES"})
    for host in ("rebind.example", f"rebind.example:{service.port}", "localhost.evil.example",
                 "127.0.0.1.nip.io", "[::2]:8090", "sports-webhooks.evil.example"):  # fmt: skip
        for method, path in (("GET", "/health"), ("GET", "/api/deliveries"),
                             ("GET", "/api/subscriptions"), ("POST", "/api/poll")):  # fmt: skip
            assert _with_host(service, method, path, host) == refused, (host, path)
    for host in (f"127.0.0.1:{service.port}", "localhost", "LOCALHOST.:8090", "[::1]:8090",
                 "sports-webhooks:8080", "hooks.example.lan"):  # fmt: skip
        status, listed = _with_host(service, "GET", "/api/subscriptions", host)
        assert (status, listed["subscriptions"][0]["description"]) == (200, "kitchen"), host


def test_server_names_must_be_names(make_service: Callable[..., Service]) -> None:
    bad = make_service(SPORTS_WEBHOOKS_SERVER_NAMES="ok.example, evil/path")
    result = bad.cli()
    assert result.returncode == 2
    assert "SPORTS_WEBHOOKS_SERVER_NAMES: 'evil/path' is not a host name" in result.stderr
