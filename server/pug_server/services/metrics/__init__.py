"""The metrics engine: periods, measures, tiles and dashboards.

Every measure is computed in SQL, one query per measure, against the list
of resolved ranges; Python only shapes the small per-range results.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from typing import Any

from pug_server.errors import BadRequestError
from pug_server.services.metrics import tiles
from pug_server.services.metrics.measures import measure_group_type
from pug_server.services.metrics.periods import parse_at, resolve_zone
from pug_server.services.metrics.tiles import TileOptions

logger = logging.getLogger(__name__)

COHORT_TYPES = ("retention", "churn")
#: The years ``at`` and ``as_of`` may name, so that 120 quarters back or a
#: year's comparison stay inside the dates Python can represent.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2200


def options_for(
    definition: dict[str, Any], params: dict[str, Any], project: Any
) -> TileOptions:
    """Resolve loaded tile parameters against a definition and its project.

    :raises BadRequestError: when ``at`` or ``as_of`` cannot be parsed or
        lies outside the years :data:`EARLIEST_YEAR` to :data:`LATEST_YEAR`,
        or when the project's stored time zone is not one tiles accept.
    """
    timezone = params.get("timezone") or project.timezone or "UTC"
    try:
        zone = resolve_zone(timezone)
    except ValueError as exc:
        # Only the project's stored zone gets here: the tile schema has
        # already checked a timezone parameter.
        logger.warning(
            "invalid project time zone project_id=%s timezone=%r", project.id, timezone
        )
        raise BadRequestError(
            f"invalid tile query: timezone: the project's {exc}; pass timezone=UTC "
            "or another zone with the request",
            code="invalid_query",
            details={"timezone": [str(exc)]},
        ) from None
    for name in ("at", "as_of"):
        if params.get(name):
            try:
                year = parse_at(params[name], zone).year
                if not EARLIEST_YEAR <= year <= LATEST_YEAR:
                    raise ValueError(
                        f"year {year} is out of range: use a date from "
                        f"{EARLIEST_YEAR} to {LATEST_YEAR}"
                    )
            except (ValueError, OverflowError) as exc:
                raise BadRequestError(
                    f"invalid tile query: {name}: {exc}",
                    code="invalid_query",
                    details={name: [str(exc)]},
                ) from None
    return TileOptions(
        period=params.get("period") or definition.get("period") or "week",
        timezone=timezone,
        week_start=params.get("week_start", "monday"),
        at=params.get("at"),
        as_of=params.get("as_of"),
        periods=params.get("periods", 12),
        compare=params.get("compare", "previous"),
        segment_by=params.get("segment_by"),
        segment_limit=params.get("segment_limit", 10),
    )


def check_segment(measure: dict[str, Any], options: TileOptions) -> None:
    """Reject a ``segment_by`` the measure cannot be split by.

    :raises BadRequestError: naming ``segment_by`` and what to use instead.
    """
    reference = options.segment_by
    if not reference:
        return
    measures = [measure]
    if measure["type"] == "ratio":
        measures = [measure["numerator"], measure["denominator"]]
    for item in measures:
        if reference.startswith("group.") and not measure_group_type(item):
            raise BadRequestError(
                f"invalid tile query: segment_by {reference!r} needs a group type: give "
                "the measure a group_type or a group:<type> unit",
                code="invalid_query",
                details={"segment_by": ["the measure has no group type"]},
            )
    if measure["type"] in COHORT_TYPES and reference.startswith("properties."):
        raise BadRequestError(
            f"invalid tile query: {measure['type']} is split by a trait of the unit: use "
            "person.<name> or group.<name> for segment_by",
            code="invalid_query",
            details={
                "segment_by": ["event properties cannot split retention or churn"]
            },
        )


def build_tile(
    key: str | None, measure: dict[str, Any], options: TileOptions, project_id: int
) -> dict[str, Any]:
    """Compute one KPI tile; see :func:`tiles.build_tile`."""
    return tiles.build_tile(key, measure, options, project_id)


def build_dashboard(
    keys: list[str],
    definitions: dict[str, dict[str, Any]],
    params: dict[str, Any],
    project: Any,
) -> list[dict[str, Any]]:
    """Compute the tiles of *keys* in order with the same tile parameters.

    The first key is the North Star. A ``group.<name>`` segment reads the
    North Star's group type in tiles whose measure names none, and a tile
    that cannot be split by ``segment_by`` is returned without segments and
    with ``segments_error``, so one input never fails the dashboard.
    Metrics with the same measure and options are computed once.
    """
    north_star_group = measure_group_type(definitions[keys[0]]["measure"])
    computed: dict[str, dict[str, Any]] = {}
    results = []
    for key in keys:
        definition = definitions[key]
        options = options_for(definition, params, project)
        measure = _with_group_type(definition["measure"], north_star_group, options)
        error = None
        try:
            check_segment(measure, options)
        except BadRequestError as exc:
            logger.info(
                "dashboard tile not segmented project_id=%s metric=%s segment_by=%s",
                project.id,
                key,
                options.segment_by,
            )
            error = exc.message
            options = replace(options, segment_by=None)
        cache_key = json.dumps([measure, options.__dict__], sort_keys=True)
        if cache_key not in computed:
            computed[cache_key] = tiles.build_tile(key, measure, options, project.id)
        tile = {**computed[cache_key], "metric": key}
        if error:
            tile["segments_error"] = error
        results.append(tile)
    return results


def _with_group_type(
    measure: dict[str, Any], group_type: str | None, options: TileOptions
) -> dict[str, Any]:
    """Give *measure* the dashboard's group type for a ``group.*`` segment."""
    if not group_type or not (options.segment_by or "").startswith("group."):
        return measure
    if measure["type"] == "ratio":
        return {
            **measure,
            "numerator": _with_group_type(measure["numerator"], group_type, options),
            "denominator": _with_group_type(
                measure["denominator"], group_type, options
            ),
        }
    if measure_group_type(measure):
        return measure
    return {**measure, "group_type": group_type}


__all__ = [
    "TileOptions",
    "build_dashboard",
    "build_tile",
    "check_segment",
    "options_for",
]
