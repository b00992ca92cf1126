"""Profile the event loop while Home Assistant fires a mixed sequence, or count instructions.

Run from the repository root:

    .venv/bin/python benchmarks/profile_loop.py [--impl ours|core|noop] [--events N] [--wait]
    .venv/bin/python benchmarks/profile_loop.py --instructions [--impl ...] [--events N]

Starts InfluxDB 1.6 on loopback, a real in-process Home Assistant with the chosen listener
(ha_ingestor with default options, HA core's influxdb, or a no-op listener), fires the
sequence once to warm up, then fires it again under the profiler and prints the call tree of
the event-loop thread (where async_set, the bus listeners and our batch task run). With
`--wait` the profile also covers the drain until every point is acknowledged.
Executor threads (gzip, spool) and core's writer thread are not sampled; their CPU shows
in benchmarks/run.py (a) as the difference between process and loop CPU.

`--instructions` counts instructions instead (valgrind's callgrind, all threads of the Home
Assistant process): a count does not depend on the machine's load, where times swing 2-5x.
It runs the no-op listener and ha_ingestor in turn (or the one `--impl` names) and prints
instructions per event while firing and while draining, and the ratio. Under callgrind
Python runs ~50x slower, so the adaptive batching (a request every 25 ms) would send ~50x
more requests than at full speed: for the count, ha_ingestor writes full batches only (1,000
lines, about the ~1,300 of (a) at full speed) and flushes the rest after the firing, which
keeps the count independent of time.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import os
from pathlib import Path
import re
import subprocess
import sys
import tempfile
import time

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import harness as h  # noqa: E402
from pyinstrument import Profiler  # noqa: E402

from tests.servers import InfluxDB1, running  # noqa: E402

# callgrind dumps its counts on entering this C function (os.getppid): the markers between
# the parts of a counted run. Part 2 is the firing, part 3 the drain.
MARKER = "os_getppid"
FULL_BATCHES_ONLY = {"flush_interval": 3600.0}


def mark() -> None:
    os.getppid()


async def profile(influx: InfluxDB1, impl: str, events: int, wait: bool, count: bool) -> None:
    influx.create_database("profile")
    target = {"api": "v1", "url": influx.url, "database": "profile"}
    seq = h.make_sequence(events)
    with tempfile.TemporaryDirectory(prefix="ha_ingestor_profile_") as tmp:
        hass = await h.start_hass(Path(tmp))
        try:
            ours = core = None
            if impl == "ours":
                ours = await h.add_ingestor(hass, target, **(FULL_BATCHES_ONLY if count else {}))
                if count:  # no 25 ms spacing either: a request per full batch
                    delivery = ours.pipeline._delivery
                    delivery.policy = dataclasses.replace(delivery.policy, spacing=3600.0)
            elif impl == "core":
                core = await h.setup_core_influx(hass, target)
            else:
                h.noop_listener(hass)
            for rep in range(2):
                await h.reset_states(hass, seq)
                gc.collect()
                profiler = Profiler(interval=0.0005) if rep and not count else None
                if profiler is not None:
                    profiler.start()
                if rep and count:
                    mark()
                cpu0 = time.thread_time()
                elapsed = await h.fire(hass, seq)
                loop_cpu = time.thread_time() - cpu0
                if rep and count:
                    mark()
                if count and ours is not None:  # the last, partial batch
                    await ours.pipeline.flush(3600)
                if (wait or count) and ours is not None:
                    await ours.wait_written(len(seq) * (rep + 1), 3600)
                elif (wait or count) and core is not None:
                    await core.wait_drained(hass, 3600)
                if rep and count:
                    mark()
                if profiler is not None:
                    profiler.stop()
                    print(
                        f"{impl}: {len(seq):,} changes fired in {elapsed:.2f} s "
                        f"({elapsed / len(seq) * 1e6:.2f} us/event wall, "
                        f"{loop_cpu / len(seq) * 1e6:.2f} us/event loop CPU)"
                    )
                    print(profiler.output_text(unicode=False, color=False))
                elif ours is not None:
                    await ours.pipeline.flush(3600)
                    await ours.wait_written(len(seq) * (rep + 1), 3600)
                elif core is not None:
                    await core.wait_drained(hass, 3600)
        finally:
            await h.stop_hass(hass)


def _totals(path: Path) -> int:
    match = re.search(r"^(?:totals|summary): (\d+)", path.read_text(), re.MULTILINE)
    if match is None:
        raise RuntimeError(f"no totals in {path}")
    return int(match.group(1))


def count_instructions(impls: list[str], events: int) -> int:
    """Each listener once under callgrind; instructions per event, firing and draining."""
    per_event: dict[str, tuple[float, float]] = {}
    for impl in impls:
        with tempfile.TemporaryDirectory(prefix="ha_ingestor_callgrind_") as tmp:
            out = Path(tmp) / "callgrind.out"
            cmd = [
                "valgrind",
                "--tool=callgrind",
                f"--dump-before={MARKER}",
                f"--callgrind-out-file={out}",
                sys.executable,
                str(Path(__file__)),
                "--impl",
                impl,
                "--events",
                str(events),
                "--count",
            ]
            started = time.monotonic()
            subprocess.run(cmd, check=True, capture_output=True)
            fired, drained = (_totals(Path(f"{out}.{part}")) for part in (2, 3))
            per_event[impl] = (fired / events, drained / events)
            print(
                f"{impl:<5} instructions/event: firing {fired / events:,.0f}, "
                f"draining {drained / events:,.0f}, "
                f"total {(fired + drained) / events:,.0f}"
                f"   ({time.monotonic() - started:.0f} s under callgrind)",
                flush=True,
            )
    if "noop" in per_event and "ours" in per_event:
        noop, ours = (sum(per_event[k]) for k in ("noop", "ours"))
        print(f"ours/no-op {ours / noop:.2f}x; ours adds {ours - noop:,.0f} instructions/event")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--impl", choices=("ours", "core", "noop"), help="default: ours")
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--wait", action="store_true", help="profile the drain too")
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions: no-op and ours"
    )
    parser.add_argument("--count", action="store_true", help=argparse.SUPPRESS)  # one counted run
    args = parser.parse_args()
    if args.instructions:
        return count_instructions([args.impl] if args.impl else ["noop", "ours"], args.events)
    h.silence_logs()
    with running(InfluxDB1) as influx:
        assert isinstance(influx, InfluxDB1)
        asyncio.run(profile(influx, args.impl or "ours", args.events, args.wait, args.count))
    return 0


if __name__ == "__main__":
    sys.exit(main())
