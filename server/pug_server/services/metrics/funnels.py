"""Ordered funnels with a conversion window, per person or per group.

A unit enters a range's funnel with its earliest first-step event inside
the range. Each later step is the unit's earliest matching event at or after
the previous step (equal timestamps keep the order) and before the entry
time plus the window, so later steps may land after the range ends. A step
that repeats an earlier step's event name needs a different event. Each
unit counts once per range.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import Any

from pug_server.services.metrics.measures import (
    Context,
    fold_segments,
    measure_group_type,
    ranges_table,
    ratio_of,
    segment_label,
)
from pug_server.services.metrics.periods import Range
from pug_server.services.metrics.scan import Scan, build_scan
from pug_server.services.metrics.sql import add_seconds, run

DURATION_PATTERN = re.compile(r"^([1-9][0-9]{0,4})([smhdw])$")
DURATION_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> int:
    """Return the seconds of a duration such as ``"7d"``, ``"12h"`` or ``"2w"``.

    :raises ValueError: when *text* is not a whole number and a unit.
    """
    match = DURATION_PATTERN.match(text or "")
    if match is None:
        raise ValueError(
            f"invalid duration {text!r}: use a whole number and one of s, m, h, d, "
            "w, for example '7d'"
        )
    return int(match.group(1)) * DURATION_SECONDS[match.group(2)]


def unit_column(unit: str) -> str:
    return "group_key" if unit.startswith("group:") else "person_id"


def _step_ctes(steps: list[str], unit: str, window: int) -> tuple[str, list[Any]]:
    """Return the CTEs ``s0 .. sN`` with each unit's chosen event per step."""
    column = unit_column(unit)
    ctes = [
        "s0 AS (SELECT idx, unit, seg, at0, id0 FROM ("
        f"SELECT b.idx AS idx, evf.{column} AS unit, evf.seg AS seg, evf.at AS at0, "
        f"evf.id AS id0, ROW_NUMBER() OVER (PARTITION BY b.idx, evf.{column} "
        "ORDER BY evf.at, evf.id) AS rn FROM b JOIN evf ON evf.at >= b.start_at "
        f"AND evf.at < b.end_at WHERE evf.name = ? AND evf.{column} IS NOT NULL) x "
        "WHERE rn = 1)"
    ]
    params: list[Any] = [steps[0]]
    for step in range(1, len(steps)):
        carried = ["idx", "unit", "seg"] + [
            f"{kind}{earlier}" for earlier in range(step) for kind in ("at", "id")
        ]
        distinct = "".join(
            f" AND (evf.at > p.at{earlier} OR (evf.at = p.at{earlier} "
            f"AND evf.id > p.id{earlier}))"
            for earlier in range(step)
            if steps[earlier] == steps[step]
        )
        inner_columns = ", ".join(f"p.{name} AS {name}" for name in carried)
        ctes.append(
            f"s{step} AS (SELECT {', '.join(carried)}, at{step}, id{step} FROM ("
            f"SELECT {inner_columns}, evf.at AS at{step}, evf.id AS id{step}, "
            "ROW_NUMBER() OVER (PARTITION BY p.idx, p.unit ORDER BY evf.at, evf.id) AS rn "
            f"FROM s{step - 1} p JOIN evf ON evf.{column} = p.unit AND evf.name = ? "
            f"AND evf.at >= p.at{step - 1} AND evf.at < {add_seconds('p.at0', window)}"
            f"{distinct}) x WHERE rn = 1)"
        )
        params.append(steps[step])
    return ", ".join(ctes), params


def _query(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range], *, segment: bool
) -> list[tuple]:
    steps = list(measure["steps"])
    window = duration_seconds(measure["window"])
    scan = Scan(
        project_id=context.project_id,
        names=list(dict.fromkeys(steps)),
        start=min(item.start_utc for item in ranges),
        end=max(item.end_utc for item in ranges) + dt.timedelta(seconds=window),
        where=list(measure.get("where") or []),
        group_type=measure_group_type(measure),
        segment=context.segment if segment else None,
        need_person=measure["unit"] == "person",
        need_group=measure["unit"].startswith("group:"),
        cutoff=context.cutoff,
    )
    buckets = ranges_table(ranges)
    events = build_scan(scan, plan="materialize")
    chain, chain_params = _step_ctes(steps, measure["unit"], window)
    counts = " UNION ALL ".join(
        f"SELECT {step} AS step, idx, seg, COUNT(*) AS units FROM s{step} GROUP BY idx, seg"
        for step in range(len(steps))
    )
    sql = f"WITH {buckets.sql}, {events.sql}, {chain} {counts}"
    return run(sql, buckets.params + events.params + chain_params)


def _shape(measure: dict[str, Any], counts: list[int]) -> dict[str, Any]:
    entered = counts[0]
    return {
        "value": ratio_of(counts[-1], entered),
        "steps": [
            {"event": event, "count": count, "rate": ratio_of(count, entered)}
            for event, count in zip(measure["steps"], counts, strict=True)
        ],
    }


def funnel_values(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range]
) -> dict[int, dict[str, Any]]:
    """Return each range's conversion, step counts and window state."""
    totals = [[0] * len(measure["steps"]) for _ in ranges]
    for step, index, _segment, units in _query(measure, context, ranges, segment=False):
        totals[index][step] += units
    window = dt.timedelta(seconds=duration_seconds(measure["window"]))
    values = {}
    for index, counts in enumerate(totals):
        shaped = _shape(measure, counts)
        # A cohort is final only once the window of its last entrant closed.
        shaped["window_closed"] = ranges[index].closed_after(window, context.as_of)
        values[index] = shaped
    return values


def funnel_segments(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range]
) -> dict[str, dict[int, dict[str, Any]]]:
    """Return funnel values per segment of each unit's entry event.

    Each unit enters once per range, so its rows add up to the total.
    """
    steps = len(measure["steps"])
    table: dict[str, dict[int, list[int]]] = {}
    for step, index, segment, units in _query(measure, context, ranges, segment=True):
        name = segment_label(segment)
        counts = table.setdefault(name, {}).setdefault(index, [0] * steps)
        counts[step] += units
    order, merged = fold_segments(table, context.segment_limit, steps)
    return {
        name: {
            index: _shape(measure, merged[name].get(index, [0] * steps))
            for index in range(len(ranges))
        }
        for name in order
    }
