"""Child process for the spool crash test: writes to a spool until it is SIGKILLed.

Usage: python spool_child.py DB_PATH SEED FIRST_SEQ

Ops (decided by SEED) go to stdout, flushed, as ``? <op>`` before the call and ``! <op>`` once
the call (and so the commit) has returned. ``<op>`` is ``A <seq> <count>`` (append batch
``seq``), ``R <seq>`` (remove the oldest batch, which is ``seq``) or ``P <seq> <k>`` (replace the
oldest batch by its lines from index ``k`` on). ``expected_lines`` rebuilds a batch's lines.

spool.py is loaded from its file, so the package ``__init__`` (Home Assistant) is not imported.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
import random
import sys

SPOOL_PY = Path(__file__).resolve().parents[2] / "custom_components" / "ha_ingestor" / "spool.py"


def expected_lines(seq: int, count: int) -> list[str]:
    """The lines of batch ``seq``: distinct, padded, and some with a newline inside a string."""
    pad = f"{seq * 2654435761 % 2**32:08x}" * 6
    lines = [
        f'crash,seq={seq} i={i}i,pad="{pad}{i:06d}" {1_700_000_000_000_000_000 + seq * 100_000 + i}'
        for i in range(count)
    ]
    if seq % 3 == 0:
        lines[0] = f'crash,seq={seq} note="line one\nline two" {seq}'
    return lines


def seq_of(line: str) -> int:
    """Batch number of a line written by ``expected_lines``."""
    return int(line.split("seq=", 1)[1].split(" ", 1)[0])


def main() -> None:
    db_path, seed, seq = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    spec = importlib.util.spec_from_file_location("spool_under_test", SPOOL_PY)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)

    rng = random.Random(seed)
    spool = module.Spool(db_path, 1 << 40)
    print("S", flush=True)
    while True:
        roll = rng.random()
        oldest = spool.oldest() if roll < 0.3 else None
        if oldest is None:
            count = rng.randint(1, 2000)
            op = f"A {seq} {count}"
            print("?", op, flush=True)
            spool.append(expected_lines(seq, count))
            seq += 1
        elif roll < 0.2 or len(oldest.lines) == 1:
            op = f"R {seq_of(oldest.lines[-1])}"
            print("?", op, flush=True)
            spool.remove(oldest.batch_id)
        else:
            k = rng.randint(1, len(oldest.lines) - 1)
            op = f"P {seq_of(oldest.lines[-1])} {k}"
            print("?", op, flush=True)
            spool.replace(oldest.batch_id, oldest.lines[k:])
        print("!", op, flush=True)


if __name__ == "__main__":
    main()
