"""KPI tiles and dashboards: a measure over a resolved window, shaped as JSON."""

from __future__ import annotations

import datetime as dt
import logging
import math
from dataclasses import dataclass
from typing import Any

from pug_server.services.metrics import cohorts, funnels, measures
from pug_server.services.metrics.measures import Context
from pug_server.services.metrics.periods import (
    UTC,
    Calendar,
    Range,
    Window,
    iso_local,
    parse_at,
    resolve_window,
    resolve_zone,
)

logger = logging.getLogger(__name__)

RATE_TYPES = ("ratio", "funnel", "activation", "retention", "churn")
#: ``relative_reason`` values.
PREVIOUS_ZERO = "previous_zero"
NO_VALUE = "no_value"
POINTS = "points"


@dataclass(frozen=True)
class TileOptions:
    """The tile query parameters, resolved against the metric and project."""

    period: str
    timezone: str
    week_start: str = "monday"
    at: str | None = None
    as_of: str | None = None
    periods: int = 12
    compare: str = "previous"
    segment_by: str | None = None
    segment_limit: int = 10

    def window(self) -> Window:
        zone = resolve_zone(self.timezone)
        calendar = Calendar(self.period, zone, self.week_start)
        as_of = parse_at(self.as_of, zone) if self.as_of else dt.datetime.now(UTC)
        at = parse_at(self.at, zone) if self.at else None
        return resolve_window(
            calendar,
            at=at,
            as_of=as_of.astimezone(zone),
            periods=self.periods,
            compare=self.compare,
        )


def unit_of(measure: dict[str, Any]) -> str:
    """Return the tile's ``unit``: what its value counts."""
    kind = measure["type"]
    if kind in RATE_TYPES:
        return "rate"
    if kind == "unique_persons":
        return "persons"
    if kind == "unique_groups":
        return f"group:{measure['group_type']}"
    return kind if kind in ("sum", "average") else "events"


def compute_values(
    measure: dict[str, Any], context: Context, ranges: list[Range]
) -> dict[int, dict[str, Any]]:
    """Return ``{range index: {"value": ..., extras}}`` for *measure*."""
    kind = measure["type"]
    if kind in measures.SIMPLE_TYPES:
        values = measures.simple_values(measure, context, ranges)
        return {index: {"value": value} for index, value in values.items()}
    if kind == "ratio":
        return measures.ratio_values(measure, context, ranges)
    if kind == "funnel":
        return funnels.funnel_values(measure, context, ranges)
    return cohorts.cohort_values(measure, context, ranges)


def compute_segments(
    measure: dict[str, Any], context: Context, ranges: list[Range]
) -> dict[str, dict[int, dict[str, Any]]]:
    kind = measure["type"]
    if kind in measures.SIMPLE_TYPES:
        table = measures.simple_segments(measure, context, ranges)
        return {
            name: {index: {"value": value} for index, value in values.items()}
            for name, values in table.items()
        }
    if kind == "ratio":
        return measures.ratio_segments(measure, context, ranges)
    if kind == "funnel":
        return funnels.funnel_segments(measure, context, ranges)
    return cohorts.cohort_segments(measure, context, ranges)


def change(current: Any, previous: Any, *, rate: bool) -> dict[str, Any]:
    """Return the absolute and relative change from *previous* to *current*.

    A rate changes in points (the difference of the two fractions), and its
    relative change is null with reason ``points``.
    """
    if current is None or previous is None:
        return {"absolute": None, "relative": None, "relative_reason": NO_VALUE}
    absolute = round(current - previous, 6)
    if rate:
        return {"absolute": absolute, "relative": None, "relative_reason": POINTS}
    if previous == 0:
        return {
            "absolute": absolute,
            "relative": None,
            "relative_reason": PREVIOUS_ZERO,
        }
    return {
        "absolute": absolute,
        "relative": round(absolute / abs(previous), 4),
        "relative_reason": None,
    }


def _period(item: Range, value: dict[str, Any], as_of: dt.datetime) -> dict[str, Any]:
    shaped = {
        "start": iso_local(item.start),
        "end": iso_local(item.end),
        "value": value["value"],
        "complete": item.complete(as_of) and value.get("window_closed", True),
        "coverage": item.coverage(as_of),
    }
    shaped.update({key: val for key, val in value.items() if key != "value"})
    return shaped


def build_tile(
    key: str | None, measure: dict[str, Any], options: TileOptions, project_id: int
) -> dict[str, Any]:
    """Compute one tile for *measure* with the resolved *options*."""
    window = options.window()
    context = Context(
        project_id=project_id,
        calendar=window.calendar,
        as_of=window.as_of,
        segment=options.segment_by,
        segment_limit=options.segment_limit,
    )
    ranges = window.ranges()
    values = compute_values(measure, context, ranges)
    rate = measure["type"] in RATE_TYPES
    current_index = len(window.series) - 1
    current = _period(window.current, values[current_index], window.as_of)
    previous = None
    comparison_index = None
    if window.comparison is not None:
        comparison_index = ranges.index(window.comparison)
        previous = _period(window.comparison, values[comparison_index], window.as_of)
    series = []
    for index, item in enumerate(window.series):
        shaped = _period(item, values[index], window.as_of)
        shaped.pop("coverage")
        series.append(shaped)
    tile = {
        "metric": key,
        "unit": unit_of(measure),
        "period": options.period,
        "timezone": options.timezone,
        "week_start": options.week_start,
        "as_of": window.as_of.isoformat(),
        "current": current,
        "previous": previous,
        "change": change(
            current["value"], previous["value"] if previous else None, rate=rate
        ),
        "series": series,
        "segments": [],
    }
    if options.segment_by:
        tile["segments"] = _segments(measure, context, window, rate)
    return _finite(tile)


OUT_OF_RANGE_MESSAGE = (
    "the measure's value is out of the range of a double (a sum or average "
    "of values near 1e308): filter out the outliers with where"
)


class ValueOutOfRangeError(ValueError):
    """A tile value overflowed to infinity or NaN, which JSON cannot carry."""


def _finite(value: Any) -> Any:
    """Return *value*, checking that every float in it is finite.

    :raises ValueOutOfRangeError: for NaN or an infinity, which a float sum
        of huge values reaches on SQLite (PostgreSQL raises instead).
    """
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueOutOfRangeError(OUT_OF_RANGE_MESSAGE)
    if isinstance(value, dict):
        for item in value.values():
            _finite(item)
    elif isinstance(value, list):
        for item in value:
            _finite(item)
    return value


def _segments(
    measure: dict[str, Any], context: Context, window: Window, rate: bool
) -> list[dict[str, Any]]:
    ranges = [window.current]
    if window.comparison is not None:
        ranges.append(window.comparison)
    table = compute_segments(measure, context, ranges)
    rows = []
    for name, values in table.items():
        current = values[0]["value"]
        previous = values[1]["value"] if window.comparison is not None else None
        row = {
            "segment": name,
            "current": current,
            "previous": previous,
            "change": change(current, previous, rate=rate),
        }
        extras = {key: val for key, val in values[0].items() if key != "value"}
        if extras:
            row["current_detail"] = extras
        rows.append(row)
    return rows
