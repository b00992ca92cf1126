"""The writer: v1 Basic auth against a real InfluxDB 1.6 with authentication on; what it
counts as written; where it gzips."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
import json
from pathlib import Path
import tempfile
import urllib.parse
import urllib.request
import warnings

import aiohttp
from aiohttp import web
import pytest

from custom_components.ha_ingestor.writer import CheckError, InfluxWriter, Outcome, Target
from tests.helpers import serve
from tests.servers import InfluxDB1

ADMIN, ADMIN_PASSWORD = "admin", "admin-password"
WRITER, WRITER_PASSWORD = "writer", "pässwörd ✓"  # not Latin-1: InfluxDB reads UTF-8


class AuthInfluxDB1(InfluxDB1):
    """InfluxDB 1.6 with `auth-enabled`: every request needs a user's credentials."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir)
        conf = data_dir / "influxdb.conf"
        conf.write_text(conf.read_text().replace("[http]\n", "[http]\n  auth-enabled = true\n"))

    def admin_query(self, q: str, db: str = "", *, anonymous: bool = False) -> dict[str, object]:
        # InfluxDB 1.x reads u and p from the URL's query string only, never from a form body.
        creds = "" if anonymous else "?" + urllib.parse.urlencode({"u": ADMIN, "p": ADMIN_PASSWORD})
        data = urllib.parse.urlencode({"q": q, "db": db, "epoch": "ns"}).encode()
        with urllib.request.urlopen(f"{self.url}/query{creds}", data=data, timeout=30) as resp:
            result: dict[str, object] = json.loads(resp.read())
        return result


@pytest.fixture(scope="module")
def auth_influxdb1() -> Iterator[AuthInfluxDB1]:
    with tempfile.TemporaryDirectory(prefix="ha_ingestor_influxdb1_auth_") as tmp:
        server = AuthInfluxDB1(Path(tmp))
        server.start()
        try:
            # With auth on and no users yet, InfluxDB 1.x accepts exactly this first statement.
            server.admin_query(
                f"CREATE USER {ADMIN} WITH PASSWORD '{ADMIN_PASSWORD}' WITH ALL PRIVILEGES",
                anonymous=True,
            )
            server.admin_query('CREATE DATABASE "home"')
            server.admin_query(f"CREATE USER {WRITER} WITH PASSWORD '{WRITER_PASSWORD}'")
            server.admin_query(f'GRANT WRITE ON "home" TO {WRITER}')
            yield server
        finally:
            server.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def v1_target(server: InfluxDB1, username: str, password: str) -> Target:
    return Target(api="v1", url=server.url, database="home", username=username, password=password)


async def test_v1_credentials_write_without_deprecation_warnings(
    auth_influxdb1: AuthInfluxDB1, session: aiohttp.ClientSession
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        writer = InfluxWriter(session, v1_target(auth_influxdb1, WRITER, WRITER_PASSWORD))
    assert await writer.check() is None
    result = await writer.write_lines(["m,k=v value=1 1700000000000000"])
    assert result.outcome is Outcome.OK, result
    rows = auth_influxdb1.admin_query('SELECT "value" FROM "m"', "home")
    assert rows["results"][0]["series"][0]["values"] == [[1700000000000000000, 1]]  # type: ignore[index]


async def test_v1_wrong_password_is_an_auth_failure(
    auth_influxdb1: AuthInfluxDB1, session: aiohttp.ClientSession
) -> None:
    writer = InfluxWriter(session, v1_target(auth_influxdb1, WRITER, "wrong"))
    assert await writer.check() is CheckError.INVALID_AUTH
    result = await writer.write_lines(["m,k=v value=2 1700000000000001"])
    assert result.outcome is Outcome.AUTH


@pytest.mark.parametrize(
    ("host", "pays"),
    [
        ("127.0.0.1", False),
        ("::1", False),
        ("localhost", False),
        ("192.168.1.20", False),
        ("10.0.0.5", False),
        ("fe80::1", False),
        ("influxdb", False),  # a Docker service or add-on name
        ("a0d7b954-influxdb", False),
        ("nas.local", False),
        ("influx.home.arpa", False),
        ("eu-central-1-1.aws.cloud2.influxdata.com", True),
        ("93.184.216.34", True),  # only classified, nothing is sent
        ("2001:db8::1", False),  # documentation range counts as private to Python
        ("2a00:1450:4001:81c::200e", True),
    ],
)
def test_gzip_only_where_it_pays(host: str, pays: bool) -> None:
    from custom_components.ha_ingestor.writer import gzip_pays

    assert gzip_pays(host) is pays


def test_a_target_on_loopback_sends_plain_bodies_unless_told() -> None:
    local = Target(api="v1", url="http://127.0.0.1:8086", database="home")
    remote = Target(api="v2", url="https://eu-central-1-1.aws.cloud2.influxdata.com", token="t")
    assert not local.compressed and remote.compressed
    assert Target(api="v1", url="http://127.0.0.1:8086", database="home", gzip=True).compressed


@pytest.mark.parametrize("answer", ["redirect", "page", "bad request page"])
async def test_a_proxy_in_front_is_not_counted_as_written(
    session: aiohttp.ClientSession, answer: str
) -> None:
    """A forward-auth proxy redirects the write to its login (aiohttp followed it, as a GET,
    to a 200 page) or a captive portal answers with a page: both were counted as written,
    and the points were gone. InfluxDB answers every write it takes with 204. A proxy's own
    400 page was taken for InfluxDB refusing the points: all dead-lettered."""
    posts: list[bytes] = []

    async def write(request: web.Request) -> web.StreamResponse:
        posts.append(await request.read())
        if answer == "redirect":
            raise web.HTTPFound("/login")
        if answer == "bad request page":  # nginx: "plain HTTP request sent to HTTPS port"
            return web.Response(status=400, text="<html>400 Bad Request</html>")
        return web.Response(text="<html>Sign in</html>", content_type="text/html")

    async def login(_request: web.Request) -> web.Response:
        return web.Response(text="<html>Sign in</html>", content_type="text/html")

    app = web.Application()
    app.router.add_post("/api/v2/write", write)
    app.router.add_get("/login", login)
    async with serve(app) as url:
        target = Target(api="v2", url=url, org="o", bucket="b", token="t")
        result = await InfluxWriter(session, target).write_lines(["m,k=v value=1 1700000000"])
    assert len(posts) == 1
    assert result.outcome is Outcome.RETRY  # kept: spooled and tried again
    expected = {
        "redirect": "redirected to /login",
        "page": "answered 200, not 204",
        "bad request page": "answered 400 with a page",  # not split and dead-lettered
    }
    assert result.message.startswith(expected[answer])
