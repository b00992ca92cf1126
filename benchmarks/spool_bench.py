"""Spool throughput: append and replay of 100,000 points in batches of 1,000.

Run: .venv/bin/python benchmarks/spool_bench.py [--points N] [--batch N] [--dir DIR]

Prints figures only (no pass/fail), for both durability modes. Replay is what the integration
does after an outage: ``oldest()`` then ``remove()``, one batch at a time. The lines look like
what the schema module writes for a state_changed event. spool.py is loaded from its file, so
Home Assistant is not imported. Use ``--dir`` to measure the disk HA's config lives on.
"""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
import sys
import tempfile
import time
from typing import Any

SPOOL_PY = Path(__file__).resolve().parents[1] / "custom_components" / "ha_ingestor" / "spool.py"


def load_spool_module() -> Any:
    spec = importlib.util.spec_from_file_location("spool_bench_module", SPOOL_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def make_batches(points: int, batch: int) -> list[list[str]]:
    base = 1_764_250_000_000_000_000
    lines = [
        f"sensor,domain=sensor,entity_id=sensor.room_{i % 97}_temperature,device_class=temperature,"
        f"unit=°C,area=room_{i % 13} value={18 + (i % 70) / 10},"
        f'state="{18 + (i % 70) / 10}" {base + i * 1_000_000_000}'
        for i in range(points)
    ]
    return [lines[i : i + batch] for i in range(0, points, batch)]


def run(module: Any, directory: Path, mode: str, batches: list[list[str]]) -> None:
    path = directory / f"bench-{mode.lower()}.db"
    module.Spool.delete_files(path)
    points = sum(map(len, batches))
    spool = module.Spool(path, 1 << 40, synchronous=mode)
    try:
        start = time.perf_counter()
        for lines in batches:
            spool.append(lines)
        append_s = time.perf_counter() - start
        stored = spool.size_bytes
        wal = path.with_name(path.name + "-wal")
        db_size = path.stat().st_size
        wal_size = wal.stat().st_size if wal.exists() else 0

        start = time.perf_counter()
        replayed = 0
        while (batch := spool.oldest()) is not None:
            replayed += len(batch.lines)
            spool.remove(batch.batch_id)
        replay_s = time.perf_counter() - start
        assert replayed == points
    finally:
        spool.close()
        module.Spool.delete_files(path)
    raw = sum(len(line.encode()) + 1 for lines in batches for line in lines)
    print(
        f"{mode:<6} append {points / append_s:>10,.0f} points/s ({append_s * 1000:6.0f} ms)   "
        f"replay {points / replay_s:>10,.0f} points/s ({replay_s * 1000:6.0f} ms)"
    )
    print(
        f"       stored {stored / 1024:,.0f} KiB compressed of {raw / 1024:,.0f} KiB raw "
        f"({raw / stored:.1f}x); on disk after appends: db {db_size / 1024:,.0f} KiB "
        f"+ WAL {wal_size / 1024:,.0f} KiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--dir", type=Path, default=None)
    args = parser.parse_args()
    module = load_spool_module()
    batches = make_batches(args.points, args.batch)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{args.points:,} points in batches of {args.batch:,}, directory {tmp}")
        for mode in ("FULL", "NORMAL"):
            run(module, Path(tmp), mode, batches)


if __name__ == "__main__":
    main()
