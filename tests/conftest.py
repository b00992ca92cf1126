"""Session-wide real servers, shared by every suite (they start in well under a second)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import pytest_socket

from tests.servers import InfluxDB1, VictoriaMetrics, running


@pytest.fixture(scope="session")
def influxdb1() -> Iterator[InfluxDB1]:
    """A real InfluxDB 1.6 for the whole session; tests isolate by database name."""
    # Home Assistant's test plugin blocks sockets per test; the server's readiness probe
    # runs before that, and tests that talk to it request `socket_enabled`.
    pytest_socket.enable_socket()
    with running(InfluxDB1) as server:
        assert isinstance(server, InfluxDB1)
        yield server


@pytest.fixture(scope="session")
def victoria() -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics (InfluxDB line protocol on /api/v2/write)."""
    pytest_socket.enable_socket()
    with running(VictoriaMetrics) as server:
        assert isinstance(server, VictoriaMetrics)
        yield server
