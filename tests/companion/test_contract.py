"""The API against its own OpenAPI document, with schemathesis (every built-in check).

Every request schemathesis makes goes to 127.0.0.1, and so does every delivery: a subscription
URL it invents is swapped for the loopback receiver's before the request when it is valid, so
the service stores, tests and polls only loopback receivers. An invalid URL is sent as invented
(the service must refuse it, and stores nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
import hashlib
from pathlib import Path
import re
import tempfile

from hypothesis import HealthCheck, settings
import pytest
import schemathesis
from sports_webhooks.validation import URL_MAX, URL_PATTERN

from .helpers import API_KEY, NFL, FakeEspn, Receiver, Service, fixture

VALID_URL = re.compile(URL_PATTERN)


@dataclass
class Running:
    service: Service
    receiver: Receiver


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    espn_server = FakeEspn()
    espn_server.set("nfl", fixture(NFL))
    receiver = Receiver()
    with tempfile.TemporaryDirectory(prefix="sports_webhooks_contract_") as tmp:
        service = Service(
            Path(tmp),
            espn_server.url,
            SPORTS_WEBHOOKS_POLL="0",
            SPORTS_WEBHOOKS_MAX_ATTEMPTS="1",
            SPORTS_WEBHOOKS_TIMEOUT="2",
        ).start()
        try:
            yield Running(service, receiver)
            # What the service would deliver to: only the receiver.
            status, body = service.request("GET", "/api/subscriptions")
            assert status == 200, body
            urls = {sub["url"] for sub in body["subscriptions"]}
            assert urls, "schemathesis created no subscription: the swap below was never tried"
            assert all(url.startswith(receiver.url + "/ok/") for url in urls), urls
        finally:
            service.stop()
            receiver.close()
            espn_server.close()


@pytest.fixture(scope="module")
def api_schema(running: Running) -> schemathesis.BaseSchema:
    # A request without X-API-Key must get 401 (schemathesis expects 406 for a missing header).
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"checks": {"missing_required_header": {"expected-statuses": [401]}}}
    )
    return schemathesis.openapi.from_url(running.service.url + "/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


def to_loopback(case: schemathesis.Case, receiver: Receiver) -> None:
    """Point a valid invented subscription URL at the receiver (same validity, loopback)."""
    body = case.body
    url = body.get("url") if isinstance(body, dict) else None
    if isinstance(url, str) and len(url) <= URL_MAX and VALID_URL.fullmatch(url):
        body["url"] = f"{receiver.url}/ok/{hashlib.sha256(url.encode()).hexdigest()[:16]}"


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_openapi(case: schemathesis.Case, running: Running) -> None:
    to_loopback(case, running.receiver)
    case.call_and_validate(base_url=running.service.url, headers={"X-API-Key": API_KEY})
