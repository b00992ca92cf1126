"""What (a)'s per-event cost is made of: ha_ingestor with one part after another taken away.

One Home Assistant (harness.start_hass), the same 20,000 mixed changes as `run.py` (a),
variants switched on one at a time, order rotating, 1 warm-up + `--reps` runs each, medians
of the event-loop thread's CPU per async_set (and of it the kernel's, from getrusage, in
steps of a clock tick, and the cyclic garbage collector's, timed by gc.callbacks):

    noop        a no-op @callback listener (the reference)
    callback    our callback, the encoder replaced by one returning a constant line, the
                lines kept in a list (no queue, no requests)
    encode      our callback and encoder, the lines kept in a list
    no_send     the whole pipeline, the writer answering 204 after joining the body and
                4 ms (a round trip) without sending it
    discard     the whole pipeline, into an HTTP server (another process) that reads every
                body and answers 204 without parsing it
    influxdb    the whole pipeline, into InfluxDB 1.6, as in run.py (a)

Each step (a variant's CPU minus the one before it, per round) is what that part costs per
event.

    .venv/bin/python benchmarks/ablate_a.py            # 20,000 changes, 7 rounds, ~30 s
    .venv/bin/python benchmarks/ablate_a.py --smoke    # tiny sizes

The swaps reach into the entry's capture and the benchmark's write wrapper (benchmark
only). The exit code is 0 whatever the figures.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
import gc
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import multiprocessing
from pathlib import Path
import resource
import statistics
import sys
import tempfile
import time
from typing import Any

import harness as h

from custom_components.ha_ingestor.writer import Outcome, WriteResult, plain_body
from tests.servers import InfluxDB1, running

VARIANTS = ("noop", "callback", "encode", "no_send", "discard", "influxdb")
ROUND_TRIP = 0.004  # no_send's stand-in for a request's answer, seconds


class _Discard(BaseHTTPRequestHandler):
    """Reads the request body and answers 204: an HTTP peer that costs almost nothing."""

    protocol_version = "HTTP/1.1"

    def _answer(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET = _answer

    def log_message(self, *args: Any) -> None:
        return None


def _serve(server: ThreadingHTTPServer) -> None:
    server.serve_forever()


class _ConstantEncoder:
    def encode(self, entity_id: str, state: str, attributes: Any, time_us: int) -> str:
        return "x"


async def measure(influx: InfluxDB1, discard_url: str, events: int, reps: int) -> None:
    seq = h.make_sequence(events)
    n = len(seq)
    influx.create_database("ablate")
    with tempfile.TemporaryDirectory(prefix="ha_ingestor_ablate_") as tmp:
        hass = await h.start_hass(Path(tmp))
        try:
            to_influx = await h.add_ingestor(
                hass, {"api": "v1", "url": influx.url, "database": "ablate"}
            )
            to_discard = await h.add_ingestor(
                hass, {"api": "v1", "url": discard_url, "database": "ablate"}
            )
            noop = h.noop_listener(hass)
            capture = to_influx.entry.runtime_data.capture
            sink, encoder = capture._sink, capture._encoder
            real_write = to_influx.acks._orig
            kept: list[str] = []

            async def no_send(lines: list[str]) -> WriteResult:
                plain_body(lines)
                await asyncio.sleep(ROUND_TRIP)
                return WriteResult(Outcome.OK, 204, latency=ROUND_TRIP)

            def configure(name: str) -> tuple[h.ListenerSwitch, h.Ingestor | None]:
                """Set the variant up; its switch, and the ingestor whose writes to await."""
                if name == "noop":
                    return noop, None
                if name == "discard":
                    return to_discard.switch, to_discard
                capture._sink = kept.append if name in ("callback", "encode") else sink
                capture._encoder = _ConstantEncoder() if name == "callback" else encoder  # type: ignore[assignment]
                write: Callable[[list[str]], Awaitable[Any]] = (
                    no_send if name == "no_send" else real_write
                )
                to_influx.acks._orig = write
                pipeline_runs = name in ("no_send", "influxdb")
                return to_influx.switch, to_influx if pipeline_runs else None

            for switch in (noop, to_influx.switch, to_discard.switch):
                switch.off()
            loop_us: dict[str, list[float]] = {name: [] for name in VARIANTS}
            system_us: dict[str, list[float]] = {name: [] for name in VARIANTS}
            gc_us: dict[str, list[float]] = {name: [] for name in VARIANTS}
            expected = {id(to_influx): 0, id(to_discard): 0}
            for rep in range(reps + 1):  # rep 0 warms up
                k = rep % len(VARIANTS)
                for name in VARIANTS[k:] + VARIANTS[:k]:
                    await h.reset_states(hass, seq)
                    switch, ingestor = configure(name)
                    switch.on()
                    gc.collect()
                    before = resource.getrusage(resource.RUSAGE_THREAD)
                    start = time.thread_time()
                    with h.GcTimer() as gct:
                        await h.fire(hass, seq)
                    cpu = time.thread_time() - start
                    after = resource.getrusage(resource.RUSAGE_THREAD)
                    switch.off()
                    if ingestor is not None:  # its backlog, untimed: every change written
                        expected[id(ingestor)] += n
                        if not await ingestor.wait_written(expected[id(ingestor)], 120):
                            raise RuntimeError(f"{name}: not every change was written")
                    kept.clear()
                    if rep:
                        loop_us[name].append(cpu / n * 1e6)
                        system = after.ru_stime - before.ru_stime  # seconds, counted in clock ticks
                        system_us[name].append(system / n * 1e6)
                        gc_us[name].append(gct.seconds / n * 1e6)
            configure("influxdb")
            for switch in (noop, to_influx.switch, to_discard.switch):
                switch.on()
        finally:
            await h.stop_hass(hass)
    _report(loop_us, system_us, gc_us, n, reps)


def _report(
    loop_us: dict[str, list[float]],
    system_us: dict[str, list[float]],
    gc_us: dict[str, list[float]],
    n: int,
    reps: int,
) -> None:
    """Steps and ratios are medians of each round's own (the variants of a round ran back to
    back), which a drift of the machine's speed between rounds moves less."""
    print(f"event-loop CPU per async_set, {n:,} changes, {reps} rounds, medians")
    print(
        f"  {'variant':<10} {'us':>7} {'x no-op':>8} {'step':>8} {'of it system':>13}"
        f" {'of it GC':>9}   runs"
    )
    noop = loop_us["noop"]
    previous = noop
    for name in VARIANTS:
        runs = loop_us[name]
        ratio = statistics.median(v / base for v, base in zip(runs, noop, strict=True))
        steps = [v - before for v, before in zip(runs, previous, strict=True)]
        step = "" if name == "noop" else f"{statistics.median(steps):+.2f}"
        system = statistics.median(system_us[name])
        collector = statistics.median(gc_us[name])
        print(
            f"  {name:<10} {statistics.median(runs):7.2f} {ratio:7.2f}x {step:>8}"
            f" {system:13.2f} {collector:9.2f}   {' '.join(f'{v:.1f}' for v in runs)}"
        )
        previous = runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes")
    args = parser.parse_args()
    events, reps = (1_000, 1) if args.smoke else (args.events, args.reps)
    h.silence_logs()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    peer = multiprocessing.get_context("fork").Process(target=_serve, args=(server,), daemon=True)
    peer.start()
    server.server_close()  # the child serves; this process only needed the port
    try:
        with running(InfluxDB1) as influx:
            assert isinstance(influx, InfluxDB1)
            url = f"http://127.0.0.1:{server.server_address[1]}"
            asyncio.run(measure(influx, url, events, reps))
    finally:
        peer.terminate()
        peer.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
