"""Fixtures: custom integrations enabled, a fresh InfluxDB 1.6 database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import itertools
from pathlib import Path
import ssl
import threading
from typing import Any

from aiohttp import web
from homeassistant.const import CONF_URL, CONF_VERIFY_SSL
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ha_ingestor.const import (
    CONF_API,
    CONF_BATCH_SIZE,
    CONF_DATABASE,
    CONF_FLUSH_INTERVAL,
    DEFAULT_OPTIONS,
    DOMAIN,
)
from tests.fake_influxdb2 import FakeInfluxDB2
from tests.fake_influxdb3 import FakeInfluxDB3
from tests.servers import InfluxDB1, free_port

_db_names = itertools.count()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


@pytest.fixture
def database(influxdb1: InfluxDB1, socket_enabled: None) -> str:
    name = f"test_{next(_db_names)}"
    influxdb1.create_database(name)
    return name


def v1_entry(url: str, database: str, **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"InfluxDB {database} (127.0.0.1)",
        minor_version=2,
        data={CONF_API: "v1", CONF_URL: url, CONF_DATABASE: database, CONF_VERIFY_SSL: True},
        options={**DEFAULT_OPTIONS, CONF_FLUSH_INTERVAL: 0.2, CONF_BATCH_SIZE: 500, **options},
    )


@pytest.fixture
async def loaded_v1(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> AsyncIterator[MockConfigEntry]:
    entry = v1_entry(influxdb1.url, database)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)


@dataclass
class FakeServer:
    fake: FakeInfluxDB2
    url: str


async def _serve(app: web.Application) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


@pytest.fixture
async def fake_v2(socket_enabled: None) -> AsyncIterator[FakeServer]:
    """A fake InfluxDB 2 write API (see tests/fake_influxdb2.py) on 127.0.0.1."""
    fake = FakeInfluxDB2()
    runner, port = await _serve(fake.app())
    yield FakeServer(fake, f"http://127.0.0.1:{port}")
    await runner.cleanup()


@dataclass
class FakeServer3:
    fake: FakeInfluxDB3
    url: str


@pytest.fixture
async def fake_v3(socket_enabled: None) -> AsyncIterator[FakeServer3]:
    """A fake InfluxDB 3 (see tests/fake_influxdb3.py) on 127.0.0.1."""
    fake = FakeInfluxDB3()
    runner, port = await _serve(fake.app())
    yield FakeServer3(fake, f"http://127.0.0.1:{port}")
    await runner.cleanup()


@pytest.fixture
def https_url(socket_enabled: None, tmp_path: Path) -> Iterator[str]:
    """An https server with a self-signed certificate (fails verification)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    # In its own thread: failed handshakes must not land in Home Assistant's loop.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
async def not_influx_url(socket_enabled: None) -> AsyncIterator[str]:
    """A web server that answers everything with a 200 HTML page."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>router login</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner, port = await _serve(app)
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


def closed_port_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
