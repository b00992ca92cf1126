"""Real servers shared by every suite (they start in well under a second)."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import HealthCheck, settings
import pytest
import pytest_socket

from tests.servers import InfluxDB1, VictoriaMetrics, running

# Hypothesis' per-example deadline and its too_slow health check are timed asserts: on a loaded
# 2-core machine they fail correct code. Examples are judged on what they return, never on speed.
settings.register_profile(
    "ha_ingestor", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ha_ingestor")


@pytest.fixture(scope="session")
def influxdb1() -> Iterator[InfluxDB1]:
    """A real InfluxDB 1.6 for the whole session; tests isolate by database name."""
    # Home Assistant's test plugin blocks sockets per test; the server's readiness probe
    # runs before that, and tests that talk to it request `socket_enabled`.
    pytest_socket.enable_socket()
    with running(InfluxDB1) as server:
        assert isinstance(server, InfluxDB1)
        yield server


@pytest.fixture
def victoria() -> Iterator[VictoriaMetrics]:
    """A real VictoriaMetrics (InfluxDB line protocol on /api/v2/write), empty, for one test.

    Unlike InfluxDB it has nothing to isolate tests by (a v2 write's bucket is not a label),
    so a session-wide one let a test count another's points (sensor.seq_* of test_runtime in
    test_end_to_end's totals, depending on the order).
    """
    pytest_socket.enable_socket()
    with running(VictoriaMetrics) as server:
        assert isinstance(server, VictoriaMetrics)
        yield server
