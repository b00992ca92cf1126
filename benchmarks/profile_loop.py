"""Profile the event loop (pyinstrument) while Home Assistant fires a mixed sequence.

Run from the repository root:

    .venv/bin/python benchmarks/profile_loop.py [--impl ours|core|noop] [--events N] [--wait]

Starts InfluxDB 1.6 on loopback, a real in-process Home Assistant with the chosen listener
(ha_ingestor with default options, HA core's influxdb, or a no-op listener), fires the
sequence once to warm up, then fires it again under the profiler and prints the call tree of
the event-loop thread (where async_set, the bus listeners and our batch task run). With
`--wait` the profile also covers the drain until every point is acknowledged.
Executor threads (gzip, spool) and core's writer thread are not sampled; their CPU shows
in benchmarks/run.py (a) as the difference between process and loop CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
from pathlib import Path
import sys
import tempfile
import time

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness as h  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from tests.servers import InfluxDB1, running  # noqa: E402


async def profile(influx: InfluxDB1, impl: str, events: int, wait: bool) -> None:
    influx.create_database("profile")
    target = {"api": "v1", "url": influx.url, "database": "profile"}
    seq = h.make_sequence(events)
    with tempfile.TemporaryDirectory(prefix="ha_ingestor_profile_") as tmp:
        hass = await h.start_hass(Path(tmp))
        try:
            ours = core = None
            if impl == "ours":
                ours = await h.add_ingestor(hass, target)
            elif impl == "core":
                core = await h.setup_core_influx(hass, target)
            else:
                h.noop_listener(hass)
            for rep in range(2):
                await h.reset_states(hass, seq)
                gc.collect()
                profiler = Profiler(interval=0.0005) if rep else None
                if profiler is not None:
                    profiler.start()
                cpu0 = time.thread_time()
                elapsed = await h.fire(hass, seq)
                loop_cpu = time.thread_time() - cpu0
                if wait and ours is not None:
                    await ours.wait_written(len(seq) * (rep + 1), 300)
                elif wait and core is not None:
                    await core.wait_drained(hass, 300)
                if profiler is not None:
                    profiler.stop()
                    print(
                        f"{impl}: {len(seq):,} changes fired in {elapsed:.2f} s "
                        f"({elapsed / len(seq) * 1e6:.2f} us/event wall, "
                        f"{loop_cpu / len(seq) * 1e6:.2f} us/event loop CPU)"
                    )
                    print(profiler.output_text(unicode=False, color=False))
                elif ours is not None:
                    await ours.wait_written(len(seq), 300)
                elif core is not None:
                    await core.wait_drained(hass, 300)
        finally:
            await h.stop_hass(hass)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", choices=("ours", "core", "noop"), default="ours")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--wait", action="store_true", help="profile the drain too")
    args = parser.parse_args()
    h.silence_logs()
    with running(InfluxDB1) as influx:
        assert isinstance(influx, InfluxDB1)
        asyncio.run(profile(influx, args.impl, args.events, args.wait))
    return 0


if __name__ == "__main__":
    sys.exit(main())
