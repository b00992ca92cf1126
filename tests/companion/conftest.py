"""Fixtures for the sports webhooks tests; the machinery is in helpers.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .helpers import MLS, NFL, FakeEspn, Receiver, Service, fixture


@pytest.fixture
def fake_espn() -> Iterator[FakeEspn]:
    server = FakeEspn()
    server.set("nfl", fixture(NFL))
    server.set("mls", fixture(MLS))
    yield server
    server.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.release()
    server.close()


@pytest.fixture
def make_service(tmp_path: Path, fake_espn: FakeEspn) -> Iterator[Callable[..., Service]]:
    """Build (not start) services sharing tmp_path; all are stopped at teardown."""
    made: list[Service] = []

    def make(**env: str) -> Service:
        # Polling is driven by the tests through POST /api/poll, not by the clock.
        service = Service(tmp_path, fake_espn.url, **{"SPORTS_WEBHOOKS_POLL": "0", **env})
        made.append(service)
        return service

    yield make
    for service in made:
        service.stop()


@pytest.fixture
def service(make_service: Callable[..., Service]) -> Service:
    return make_service().start()
