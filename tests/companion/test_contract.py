"""The API against its own OpenAPI document, with schemathesis (every built-in check)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
import tempfile

from hypothesis import HealthCheck, settings
import pytest
import schemathesis

from .helpers import API_KEY, NFL, FakeEspn, Service, fixture


@pytest.fixture(scope="module")
def running() -> Iterator[Service]:
    espn_server = FakeEspn()
    espn_server.set("nfl", fixture(NFL))
    with tempfile.TemporaryDirectory(prefix="sports_webhooks_contract_") as tmp:
        # Deliveries to whatever URLs schemathesis invents fail fast and give up quickly.
        service = Service(
            Path(tmp),
            espn_server.url,
            SPORTS_WEBHOOKS_POLL="0",
            SPORTS_WEBHOOKS_MAX_ATTEMPTS="1",
            SPORTS_WEBHOOKS_TIMEOUT="2",
            # Invented URLs may name any address: what the schema allows must be accepted
            # (the address policy has its own tests in test_security.py).
            SPORTS_WEBHOOKS_ALLOW_NETWORKS="0.0.0.0/0,::/0",
        ).start()
        try:
            yield service
        finally:
            service.stop()
            espn_server.close()


@pytest.fixture(scope="module")
def api_schema(running: Service) -> schemathesis.BaseSchema:
    # A request without X-API-Key must get 401 (schemathesis expects 406 for a missing header).
    config = schemathesis.config.SchemathesisConfig.from_dict(
        {"checks": {"missing_required_header": {"expected-statuses": [401]}}}
    )
    return schemathesis.openapi.from_url(running.url + "/openapi.json", config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_matches_openapi(case: schemathesis.Case, running: Service) -> None:
    case.call_and_validate(base_url=running.url, headers={"X-API-Key": API_KEY})
