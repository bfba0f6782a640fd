"""Activation, retention and churn: shares of a cohort of units.

Segments of these measures are read from the unit (``person.<name>`` or
``group.<name>``, the current value, one row per unit) or, for activation,
from the unit's start event.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from pug_server.services.metrics.funnels import duration_seconds, unit_column
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
from pug_server.services.metrics.sql import add_seconds, run, values_table


def _scan(
    measure: dict[str, Any],
    context: Context,
    event: str | None,
    start: dt.datetime | None,
    end: dt.datetime,
    *,
    segment: bool,
) -> Scan:
    return Scan(
        project_id=context.project_id,
        names=[event] if event else None,
        start=start,
        end=end,
        where=list(measure.get("where") or []),
        group_type=measure_group_type(measure),
        segment=context.segment if segment else None,
        need_person=measure["unit"] == "person",
        need_group=measure["unit"].startswith("group:"),
        cutoff=context.cutoff,
    )


def _activation_rows(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range], *, segment: bool
) -> list[tuple]:
    within = duration_seconds(measure["within"])
    column = unit_column(measure["unit"])
    first_start = min(item.start_utc for item in ranges)
    last_end = max(item.end_utc for item in ranges)
    buckets = ranges_table(ranges)
    # The start scan has no lower bound: a unit belongs to the cohort of the
    # range that contains its first start event ever.
    starts = build_scan(
        _scan(measure, context, measure.get("start"), None, last_end, segment=segment),
        "starts",
        plan="materialize",
    )
    actions = build_scan(
        _scan(
            measure,
            context,
            measure["action"],
            first_start,
            last_end + dt.timedelta(seconds=within),
            segment=False,
        ),
        "actions",
        plan="materialize",
    )
    sql = (
        f"WITH {buckets.sql}, {starts.sql}, {actions.sql}, "
        "firsts AS (SELECT unit, seg, at0, id0 FROM ("
        f"SELECT {column} AS unit, seg, at AS at0, id AS id0, ROW_NUMBER() OVER "
        f"(PARTITION BY {column} ORDER BY at, id) AS rn FROM starts "
        f"WHERE {column} IS NOT NULL) x WHERE rn = 1), "
        "cohort AS (SELECT b.idx AS idx, f.unit AS unit, f.seg AS seg, f.at0 AS at0, "
        "f.id0 AS id0 FROM b JOIN firsts f ON f.at0 >= b.start_at AND f.at0 < b.end_at) "
        f"SELECT c.idx, c.seg, COUNT(DISTINCT c.unit), COUNT(DISTINCT a.{column}) "
        f"FROM cohort c LEFT JOIN actions a ON a.{column} = c.unit AND a.at >= c.at0 "
        f"AND a.at < {add_seconds('c.at0', within)} AND a.id <> c.id0 "
        "GROUP BY c.idx, c.seg"
    )
    return run(sql, buckets.params + starts.params + actions.params)


def _base_ranges(context: Context, ranges: Sequence[Range]) -> list[Range]:
    """Return ranges followed by the whole period before each of them."""
    found = list(ranges)
    for item in ranges:
        base = context.calendar.span(context.calendar.shift(item.period_start, -1))
        if base not in found:
            found.append(base)
    return found


def _retention_rows(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range], *, segment: bool
) -> list[tuple]:
    column = unit_column(measure["unit"])
    every = _base_ranges(context, ranges)
    pairs = values_table(
        "pairs",
        [
            (index, every.index(context.calendar.before(item)))
            for index, item in enumerate(ranges)
        ],
        ("cur", "base"),
    )
    buckets = ranges_table(every)
    events = build_scan(
        _scan(
            measure,
            context,
            measure.get("event"),
            min(item.start_utc for item in every),
            max(item.end_utc for item in every),
            segment=segment,
        ),
        plan="inline",
    )
    sql = (
        f"WITH {buckets.sql}, {pairs.sql}, {events.sql}, "
        # Rows without a unit stay in: COUNT(DISTINCT) skips NULL and the
        # join never matches it, and a WHERE would evaluate the inlined
        # group attribution a second time per event.
        f"act AS (SELECT DISTINCT b.idx AS idx, evf.{column} AS unit, evf.seg AS seg "
        "FROM b JOIN evf ON evf.at >= b.start_at AND evf.at < b.end_at) "
        "SELECT p.cur, a.seg, COUNT(DISTINCT a.unit), COUNT(DISTINCT c.unit) "
        "FROM pairs p JOIN act a ON a.idx = p.base "
        "LEFT JOIN act c ON c.idx = p.cur AND c.unit = a.unit GROUP BY p.cur, a.seg"
    )
    return run(sql, buckets.params + pairs.params + events.params)


def _rows(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range], *, segment: bool
) -> list[tuple]:
    if measure["type"] == "activation":
        return _activation_rows(measure, context, ranges, segment=segment)
    return _retention_rows(measure, context, ranges, segment=segment)


def _shape(kind: str, cohort: int, kept: int) -> dict[str, Any]:
    numerator = cohort - kept if kind == "churn" else kept
    return {
        "value": ratio_of(numerator, cohort),
        "numerator": numerator,
        "denominator": cohort,
    }


def cohort_values(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range]
) -> dict[int, dict[str, Any]]:
    """Return each range's share, with its numerator and denominator."""
    totals = {index: [0, 0] for index in range(len(ranges))}
    for index, _segment, cohort, kept in _rows(measure, context, ranges, segment=False):
        totals[index][0] += cohort
        totals[index][1] += kept
    values = {
        index: _shape(measure["type"], cohort, kept)
        for index, (cohort, kept) in totals.items()
    }
    if measure["type"] == "activation":
        within = dt.timedelta(seconds=duration_seconds(measure["within"]))
        for index, value in values.items():
            value["window_closed"] = ranges[index].closed_after(within, context.as_of)
    return values


def cohort_segments(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range]
) -> dict[str, dict[int, dict[str, Any]]]:
    """Return shares per segment; each unit sits in one row per range."""
    table: dict[str, dict[int, list[int]]] = {}
    for index, segment, cohort, kept in _rows(measure, context, ranges, segment=True):
        name = segment_label(segment)
        counts = table.setdefault(name, {}).setdefault(index, [0, 0])
        counts[0] += cohort
        counts[1] += kept
    order, merged = fold_segments(table, context.segment_limit, 2)
    return {
        name: {
            index: _shape(measure["type"], *merged[name].get(index, [0, 0]))
            for index in range(len(ranges))
        }
        for name in order
    }
