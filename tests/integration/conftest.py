"""Fixtures: custom integrations enabled, a fresh InfluxDB 1.6 database per test, local servers.

Helpers (entries, waits, ports, serving an aiohttp app) are in tests/helpers.py."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import itertools
import logging
from pathlib import Path
import re
import ssl
import threading
from unittest.mock import patch

from aiohttp import web
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.ha_ingestor.const import DOMAIN
from tests.fake_influxdb2 import FakeInfluxDB2
from tests.fake_influxdb3 import FakeInfluxDB3
from tests.helpers import FakeServer, serve, setup_entry, v1_entry
from tests.servers import InfluxDB1

from .fake_apis import FakeApis, use_apis
from .translations import TranslationCheck, watching

_db_names = itertools.count()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load custom_components/ in every test."""


# Home Assistant reports most deprecations as log warnings (helpers.frame.report_usage,
# helpers.deprecation), not as Python warnings: "Detected that custom integration 'ha_ingestor'
# ... will stop working", "... was used from ha_ingestor, this is a deprecated ...".
_DEPRECATION = re.compile(r"deprecat|will stop working|will be removed|no longer supported", re.I)
_OURS = re.compile(rf"(?<![\w.]){DOMAIN}(?!\w)")


class _DeprecationLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _OURS.search(message) and _DEPRECATION.search(message):
            self.found.append(f"{record.name}: {message}")


@pytest.fixture(autouse=True)
def no_deprecations_from_us() -> Iterator[None]:
    """Fail a test when Home Assistant logs a deprecation that names this integration."""
    handler = _DeprecationLog()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
    if handler.found:
        pytest.fail("Home Assistant reported deprecated use:\n" + "\n".join(handler.found))


@pytest.fixture(autouse=True)
def check_translations() -> Iterator[TranslationCheck]:
    """Fail a test in which the integration showed something strings.json cannot say: a flow
    error, abort, step, field or option, an exception, a repair issue or an entity name."""
    check = TranslationCheck()
    with watching(check):
        yield check
    if check.problems:
        pytest.fail("untranslated:\n" + "\n".join(check.problems), pytrace=False)


@pytest.fixture
def database(influxdb1: InfluxDB1, socket_enabled: None) -> str:
    name = f"test_{next(_db_names)}"
    influxdb1.create_database(name)
    return name


@pytest.fixture
def own_influxdb(tmp_path: Path, socket_enabled: None) -> Iterator[InfluxDB1]:
    """An InfluxDB 1.6 of the test's own, to kill and restart (same port and data), with a
    database "faults"."""
    server = InfluxDB1(tmp_path)
    server.start()
    server.create_database("faults")
    yield server
    server.stop()


@pytest.fixture
async def unload_patched_entries(hass: HomeAssistant) -> AsyncIterator[None]:
    """For tests that set entries up through a patched setup (no runtime data): unload the
    loaded ones the same way at the end."""
    yield
    with patch("custom_components.ha_ingestor.async_unload_entry", return_value=True):
        for entry in hass.config_entries.async_entries(DOMAIN):
            if entry.state is ConfigEntryState.LOADED:
                await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def loaded_v1(
    hass: HomeAssistant, influxdb1: InfluxDB1, database: str
) -> AsyncIterator[MockConfigEntry]:
    entry = v1_entry(influxdb1.url, database)
    await setup_entry(hass, entry)
    yield entry
    await hass.config_entries.async_unload(entry.entry_id)


@pytest.fixture
async def fake_v2(socket_enabled: None) -> AsyncIterator[FakeServer[FakeInfluxDB2]]:
    """A fake InfluxDB 2 write API (see tests/fake_influxdb2.py) on 127.0.0.1."""
    fake = FakeInfluxDB2()
    async with serve(fake.app()) as url:
        yield FakeServer(fake, url)


@pytest.fixture
async def fake_v3(socket_enabled: None) -> AsyncIterator[FakeServer[FakeInfluxDB3]]:
    """A fake InfluxDB 3 (see tests/fake_influxdb3.py) on 127.0.0.1."""
    fake = FakeInfluxDB3()
    async with serve(fake.app()) as url:
        yield FakeServer(fake, url)


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
    async with serve(app) as url:
        yield url


@pytest.fixture
async def apis(socket_enabled: None, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeApis]:
    """The fake ESPN and OpenWeatherMap (fake_apis.py) on 127.0.0.1, used by the integration."""
    fake = FakeApis()
    async with serve(fake.app()) as base:
        use_apis(monkeypatch, espn_base=f"{base}/apis/site/v2/sports", owm_base=base)
        yield fake
