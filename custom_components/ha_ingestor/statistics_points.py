"""Home Assistant's long-term statistics as ``ha_statistics`` points. No Home Assistant imports.

One point per statistic and period: tags ``statistic_id``, ``source``, ``unit``, ``period``
(``5minute`` or ``hour``); float fields ``mean``, ``min``, ``max``, ``state``, ``sum`` as the
statistic has them; time = the period's start. A recompiled or adjusted period rewrites the
same point.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from .line_protocol import encode_point
from .schema import timestamp_us

STATISTICS_MEASUREMENT: Final = "ha_statistics"
STATISTIC_FIELDS: Final = ("mean", "min", "max", "state", "sum")


def statistics_lines(
    rows: Mapping[str, Iterable[Mapping[str, Any]]],
    metadata: Mapping[str, tuple[str, str | None]],
    period: str,
) -> list[str]:
    """Lines for the rows `statistics_during_period` returned, keyed by statistic_id."""
    lines: list[str] = []
    for statistic_id, stats in rows.items():
        source, unit = metadata.get(statistic_id, ("", None))
        tags = {
            "statistic_id": statistic_id,
            "source": source,
            "unit": unit or "",
            "period": period,
        }
        for row in stats:
            fields = {
                key: float(value)
                for key in STATISTIC_FIELDS
                if isinstance(value := row.get(key), (int, float)) and not isinstance(value, bool)
            }
            line = encode_point(STATISTICS_MEASUREMENT, tags, fields, timestamp_us(row["start"]))
            if line is not None:
                lines.append(line)
    return lines
