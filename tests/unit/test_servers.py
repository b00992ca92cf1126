"""The test servers' own start-up: a port taken between choosing it and binding it."""

from __future__ import annotations

from pathlib import Path
import socket

import pytest

from tests.servers import InfluxDB1, VictoriaMetrics


@pytest.mark.parametrize("server_cls", [InfluxDB1, VictoriaMetrics])
def test_a_first_start_moves_off_a_port_taken_meanwhile(
    tmp_path: Path, server_cls: type[InfluxDB1] | type[VictoriaMetrics]
) -> None:
    server = server_cls(tmp_path)
    taken = server.port
    with socket.socket() as squatter:  # another process got the port first
        squatter.bind(("127.0.0.1", taken))
        squatter.listen()
        server.start()
        try:
            moved = server.port
            assert moved != taken
            assert "address already in use" in server.log.read_text()
            server.restart()  # a restart keeps the port it answered on (and answers there)
            assert server.port == moved
        finally:
            server.stop()


def test_a_chosen_port_is_not_moved(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        server = InfluxDB1(tmp_path, port=port)
        with pytest.raises(RuntimeError, match="address already in use"):
            server.start()
    assert server.port == port
