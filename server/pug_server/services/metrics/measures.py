"""Event counts, unique persons and groups, sums, averages and ratios.

Each measure is one SQL query that joins the filtered events to the list of
ranges and aggregates per range, so a unique count over a range is one
``COUNT(DISTINCT ...)`` over that range, never a sum of smaller buckets.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pug_server.services.metrics.periods import UTC, Calendar, Range
from pug_server.services.metrics.scan import Scan, build_scan
from pug_server.services.metrics.sql import (
    INTEGRAL_LIMIT,
    Fragment,
    run,
    values_table,
)

logger = logging.getLogger(__name__)

OTHER = "(other)"
NONE = "(none)"

AGGREGATES = {
    "events": "COUNT(*)",
    "unique_persons": "COUNT(DISTINCT evf.person_id)",
    "unique_groups": "COUNT(DISTINCT evf.group_key)",
    "sum": "SUM(evf.num)",
    "average": "AVG(evf.num)",
}
SIMPLE_TYPES = tuple(AGGREGATES)


@dataclass
class Context:
    """What every measure of one request shares."""

    project_id: int
    calendar: Calendar
    as_of: dt.datetime = field(default_factory=lambda: dt.datetime.now(UTC))
    segment: str | None = None
    segment_limit: int = 10

    @property
    def cutoff(self) -> dt.datetime:
        """``as_of`` as a naive UTC datetime, the bound of every event scan."""
        return self.as_of.astimezone(UTC).replace(tzinfo=None)


def segment_label(key: str | None) -> str:
    """Return the row label of a segment key from ``JsonValue.segment_key``.

    A string is shown as it is, unless it is itself valid JSON (``"1"``,
    ``"true"``) or a reserved row name. Such a string is shown JSON-quoted,
    so that it differs from the label of the number or boolean. Numbers are shown in
    their shortest form with integral values as integers, and arrays and
    objects as compact JSON with sorted keys.
    """
    if key is None:
        return NONE
    kind, text = key[0], key[1:]
    if kind == "s":
        if text in (NONE, OTHER) or _is_json(text):
            return json.dumps(text, ensure_ascii=False)
        return text
    if kind == "n":
        return _number_label(text)
    if kind == "b":
        return text
    return json.dumps(
        json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )


def _number_label(text: str) -> str:
    if re.fullmatch(r"-?[0-9]+", text):
        return str(int(text))
    number = float(text)
    if number.is_integer() and abs(number) < INTEGRAL_LIMIT:
        return str(int(number))
    return repr(number)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_json(text: str) -> bool:
    try:
        json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return False
    return True


def measure_group_type(measure: dict[str, Any]) -> str | None:
    """Return the group type that ``group.<name>`` references resolve to."""
    unit = measure.get("unit") or ""
    if unit.startswith("group:"):
        return unit.partition(":")[2]
    return measure.get("group_type")


def simple_scan(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range], *, segment: bool
) -> Scan:
    event = measure.get("event")
    return Scan(
        project_id=context.project_id,
        names=[event] if event else None,
        start=min(item.start_utc for item in ranges),
        end=max(item.end_utc for item in ranges),
        where=list(measure.get("where") or []),
        group_type=measure_group_type(measure),
        segment=context.segment if segment else None,
        number=measure.get("property")
        if measure["type"] in ("sum", "average")
        else None,
        need_person=measure["type"] == "unique_persons",
        need_group=measure["type"] == "unique_groups",
        cutoff=context.cutoff,
    )


def ranges_table(ranges: Sequence[Range]) -> Fragment:
    rows = [(index, item.start_utc, item.end_utc) for index, item in enumerate(ranges)]
    return values_table("b", rows, ("idx", "start_at", "end_at"))


def _number(value: Any, kind: str) -> Any:
    if value is None:
        return (
            0 if kind in ("events", "unique_persons", "unique_groups", "sum") else None
        )
    if kind in ("events", "unique_persons", "unique_groups"):
        return int(value)
    number = float(value)
    return int(number) if kind == "sum" and number.is_integer() else round(number, 6)


def simple_values(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range]
) -> dict[int, Any]:
    """Return the measure's value for each range index."""
    kind = measure["type"]
    buckets = ranges_table(ranges)
    events = build_scan(simple_scan(measure, context, ranges, segment=False))
    sql = (
        f"WITH {buckets.sql}, {events.sql} "
        f"SELECT b.idx, {AGGREGATES[kind]} FROM b JOIN evf "
        "ON evf.at >= b.start_at AND evf.at < b.end_at GROUP BY b.idx"
    )
    rows = dict(run(sql, buckets.params + events.params))
    return {index: _number(rows.get(index), kind) for index in range(len(ranges))}


def simple_segments(
    measure: dict[str, Any],
    context: Context,
    ranges: Sequence[Range],
    keep: list[str] | None = None,
) -> dict[str, dict[int, Any]]:
    """Return ``{segment: {range index: value}}`` for the segment dimension.

    Values beyond ``segment_limit`` (ranked by the first range, then the
    second, then by name) are counted again together as ``(other)``, with
    one distinct count, so a unit in several of them counts once there.
    *keep* names the values to keep instead of ranking them.
    """
    kind = measure["type"]
    buckets = ranges_table(ranges)
    events = build_scan(simple_scan(measure, context, ranges, segment=True))
    head = f"WITH {buckets.sql}, {events.sql} "
    join = "FROM b JOIN evf ON evf.at >= b.start_at AND evf.at < b.end_at"
    rows = run(
        head
        + f"SELECT b.idx, evf.seg, {AGGREGATES[kind]} {join} GROUP BY b.idx, evf.seg",
        buckets.params + events.params,
    )
    table: dict[str, dict[int, Any]] = {}
    keys: dict[str, list[str]] = {}
    for index, segment, value in rows:
        name = segment_label(segment)
        if segment is not None:
            keys.setdefault(name, []).append(segment)
        values = table.setdefault(name, {})
        # NOTE: two keys share a label only for objects that differ in key
        # order (SQLite keeps the order sent) or for numbers past double
        # precision. Their values are added, so a unit in both counts twice.
        values[index] = _added(values.get(index), value)
    kept = rank_segments(table, context.segment_limit) if keep is None else keep
    rest = len([name for name in table if name not in kept and name != NONE])
    ordered = {name: table[name] for name in [*kept, NONE] if name in table}
    if rest:
        kept_keys = list(
            dict.fromkeys(key for name in kept for key in keys.get(name, []))
        )
        condition = "evf.seg IS NOT NULL"
        if kept_keys:
            condition += f" AND evf.seg NOT IN ({', '.join('?' for _ in kept_keys)})"
        other_rows = run(
            head + f"SELECT b.idx, {AGGREGATES[kind]} {join} WHERE {condition} "
            "GROUP BY b.idx",
            buckets.params + events.params + kept_keys,
        )
        ordered[OTHER] = dict(other_rows)
    table = ordered
    return {
        name: {index: _number(values.get(index), kind) for index in range(len(ranges))}
        for name, values in table.items()
    }


def _added(first: Any, second: Any) -> Any:
    if first is None:
        return second
    return first if second is None else first + second


def rank_segments(table: dict[str, dict[int, Any]], limit: int) -> list[str]:
    """Return the names of the *limit* top segments, ``(none)`` excluded."""
    names = [name for name in table if name != NONE]
    names.sort(
        key=lambda name: (-(table[name].get(0) or 0), -(table[name].get(1) or 0), name)
    )
    return names[:limit]


def fold_segments(
    table: dict[str, dict[int, list[int]]], limit: int, width: int
) -> tuple[list[str], dict[str, dict[int, list[int]]]]:
    """Keep the *limit* largest segments and add the rest into ``(other)``.

    :param table: per segment and range, a list of *width* counts; the first
        count (the cohort, or the units entering a funnel) ranks segments.
    :returns: the row names in display order, and the folded table.
    """
    sizes = {
        name: {index: counts[0] for index, counts in per_range.items()}
        for name, per_range in table.items()
    }
    kept = rank_segments(sizes, limit)
    folded: dict[str, dict[int, list[int]]] = {}
    for name, per_range in table.items():
        target = name if name in kept or name == NONE else OTHER
        for index, counts in per_range.items():
            into = folded.setdefault(target, {}).setdefault(index, [0] * width)
            for position, count in enumerate(counts):
                into[position] += count
    order = [name for name in [*kept, NONE, OTHER] if name in folded]
    return order, folded


def ratio_of(numerator: Any, denominator: Any) -> float | None:
    """Return numerator / denominator, or ``None`` for an empty denominator."""
    if not denominator:
        return None
    return round(float(numerator or 0) / float(denominator), 6)


def ratio_values(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range]
) -> dict[int, dict[str, Any]]:
    numerators = simple_values(measure["numerator"], context, ranges)
    denominators = simple_values(measure["denominator"], context, ranges)
    return {
        index: {
            "value": ratio_of(numerators[index], denominators[index]),
            "numerator": numerators[index],
            "denominator": denominators[index],
        }
        for index in range(len(ranges))
    }


def ratio_segments(
    measure: dict[str, Any], context: Context, ranges: Sequence[Range]
) -> dict[str, dict[int, dict[str, Any]]]:
    # The denominator ranks the values, so both sides share one (other).
    denominators = simple_segments(measure["denominator"], context, ranges)
    kept = [name for name in denominators if name not in (NONE, OTHER)]
    numerators = simple_segments(measure["numerator"], context, ranges, keep=kept)
    names = list(dict.fromkeys([*denominators, *numerators]))
    empty = dict.fromkeys(range(len(ranges)), 0)
    table: dict[str, dict[int, dict[str, Any]]] = {}
    for name in names:
        top = numerators.get(name, empty)
        bottom = denominators.get(name, empty)
        table[name] = {
            index: {
                "value": ratio_of(top[index], bottom[index]),
                "numerator": top[index],
                "denominator": bottom[index],
            }
            for index in range(len(ranges))
        }
    return table
