"""Metric definitions, KPI tiles, ad-hoc queries and dashboards."""

from __future__ import annotations

import json
import logging
from typing import Any

import peewee
from flask import Blueprint, Response, g, jsonify, request
from marshmallow import ValidationError

from pug_server.auth import require_read_key
from pug_server.db import database, is_postgres
from pug_server.errors import (
    BadRequestError,
    ConflictError,
    NotFoundError,
    UnprocessableError,
)
from pug_server.models import Dashboard, Metric
from pug_server.models.base import utcnow
from pug_server.schemas.metrics import (
    DashboardSchema,
    MetricSchema,
    QueryMeasureSchema,
    TileQuerySchema,
    first_error,
)
from pug_server.services.metrics import (
    build_dashboard,
    build_tile,
    check_segment,
    options_for,
)
from pug_server.services.metrics.tiles import (
    OUT_OF_RANGE_MESSAGE,
    ValueOutOfRangeError,
)

bp = Blueprint("metrics", __name__, url_prefix="/v1")
logger = logging.getLogger(__name__)


# Deeper than any valid definition (a ratio of filtered measures nests about
# six levels), and far below Python's recursion limit.
MAX_BODY_DEPTH = 32


@bp.errorhandler(ValueOutOfRangeError)
@bp.errorhandler(peewee.DataError)
def _out_of_range(error: Exception):
    # PostgreSQL raises "value out of range: overflow" for a float8 sum past
    # 1e308, and SQLite's float sum reaches infinity: both get this 422.
    logger.info("tile value out of range project_id=%s error=%s", g.project.id, error)
    error = UnprocessableError(OUT_OF_RANGE_MESSAGE, code="value_out_of_range")
    return jsonify(error.to_dict()), error.status_code


def _json_body() -> dict[str, Any]:
    try:
        body = request.get_json(silent=True)
    except RecursionError:
        body = None
    if not isinstance(body, dict):
        raise BadRequestError(
            "the body must be a JSON object; send Content-Type: application/json",
            code="invalid_json",
        )
    if _depth(body) > MAX_BODY_DEPTH:
        raise BadRequestError(
            f"the body nests objects and arrays more than {MAX_BODY_DEPTH} levels "
            "deep; a metric definition needs far fewer",
            code="invalid_json",
        )
    try:
        json.dumps(body, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequestError(
            "the body contains a lone UTF-16 surrogate (a \\ud800 to \\udfff "
            "escape without its pair): send valid Unicode text",
            code="invalid_json",
        ) from None
    if _contains_nul(body):
        raise BadRequestError(
            "the body contains a NUL character (\\u0000), which cannot be stored: "
            "remove it from keys, names and values",
            code="invalid_json",
        )
    return body


def _depth(value: Any, level: int = 1) -> int:
    """Return how deep *value* nests, stopping just past the limit."""
    if level > MAX_BODY_DEPTH or not isinstance(value, (dict, list)):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((_depth(item, level + 1) for item in items), default=level)


def _contains_nul(value: Any) -> bool:
    """Tell whether a parsed JSON value contains a NUL in any key or string.

    PostgreSQL text and JSONB columns cannot store NUL.
    """
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(
            _contains_nul(key) or _contains_nul(item) for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_contains_nul(item) for item in value)
    return False


def _load(schema: Any, data: Any, *, what: str, query: bool = False) -> dict[str, Any]:
    """Load *data* with *schema*, raising the API's error with field details."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        logger.info(
            "invalid %s project_id=%s error=%s",
            what,
            g.project.id,
            first_error(exc.messages),
        )
        error_class = BadRequestError if query else UnprocessableError
        raise error_class(
            f"invalid {what}: {first_error(exc.messages)}",
            code="invalid_query" if query else "invalid_definition",
            details=exc.messages,
        ) from exc


def _metric_or_404(key: str, *, lock: bool = False) -> Metric:
    query = Metric.select().where(
        (Metric.project == g.project.id) & (Metric.key == key)
    )
    if lock and is_postgres():
        query = query.for_update()
    metric = query.first()
    if metric is None:
        raise NotFoundError(
            f"metric {key!r} not found: create it with POST /v1/metrics",
            code="metric_not_found",
        )
    return metric


def _tile_params() -> dict[str, Any]:
    return _load(
        TileQuerySchema(), request.args.to_dict(), what="tile query", query=True
    )


def _definition(metric: Metric) -> dict[str, Any]:
    return {"key": metric.key, "name": metric.name, **metric.definition}


@bp.post("/metrics")
@require_read_key
def create_metric() -> tuple[Response, int]:
    """Store a metric definition; 409 when its key is taken."""
    definition = _load(MetricSchema(), _json_body(), what="metric definition")
    stored = {
        key: value for key, value in definition.items() if key not in ("key", "name")
    }
    try:
        with database.atomic():
            Metric.create(
                project=g.project.id,
                key=definition["key"],
                name=definition["name"],
                definition=stored,
            )
    except peewee.IntegrityError:
        raise ConflictError(
            f"metric {definition['key']!r} already exists: change it with "
            f"PUT /v1/metrics/{definition['key']}",
            code="metric_exists",
        ) from None
    logger.info("metric created project_id=%s key=%s", g.project.id, definition["key"])
    return jsonify(definition), 201


@bp.get("/metrics")
@require_read_key
def list_metrics() -> Response:
    """List the project's metric definitions by key."""
    rows = Metric.select().where(Metric.project == g.project.id).order_by(Metric.key)
    return jsonify({"metrics": [_definition(row) for row in rows]})


@bp.get("/metrics/<key>")
@require_read_key
def get_metric(key: str) -> Response:
    """Return one metric definition."""
    return jsonify(_definition(_metric_or_404(key)))


@bp.put("/metrics/<key>")
@require_read_key
def replace_metric(key: str) -> Response:
    """Replace a metric definition; the body's key, if any, must match."""
    metric = _metric_or_404(key)
    body = {"key": key, **_json_body()}
    definition = _load(MetricSchema(), body, what="metric definition")
    if definition["key"] != key:
        raise UnprocessableError(
            f"invalid metric definition: key {definition['key']!r} does not match the "
            f"URL's {key!r}; keys cannot be renamed, create a new metric instead",
            details={"key": ["must match the URL"]},
        )
    metric.name = definition["name"]
    metric.definition = {
        k: v for k, v in definition.items() if k not in ("key", "name")
    }
    metric.updated_at = utcnow()
    metric.save()
    return jsonify(definition)


@bp.delete("/metrics/<key>")
@require_read_key
def delete_metric(key: str) -> tuple[str, int]:
    """Delete a metric unless a dashboard uses it."""
    # The metric's row lock (PostgreSQL) or the write lock (SQLite) orders
    # this against a dashboard write that checks the same metric.
    with database.atomic():
        metric = _metric_or_404(key, lock=True)
        for dashboard in Dashboard.select().where(Dashboard.project == g.project.id):
            if key == dashboard.north_star or key in (dashboard.inputs or []):
                raise ConflictError(
                    f"metric {key!r} is used by dashboard {dashboard.key!r}: remove "
                    f"it from the dashboard first with PUT /v1/dashboards/"
                    f"{dashboard.key}",
                    code="metric_in_use",
                )
        metric.delete_instance()
    return "", 204


@bp.get("/metrics/<key>/tile")
@require_read_key
def metric_tile(key: str) -> Response:
    """Compute the KPI tile of a stored metric."""
    metric = _metric_or_404(key)
    params = _tile_params()
    options = options_for(metric.definition, params, g.project)
    check_segment(metric.definition["measure"], options)
    return jsonify(build_tile(key, metric.definition["measure"], options, g.project.id))


@bp.post("/query")
@require_read_key
def query_tile() -> Response:
    """Compute a tile for an ad-hoc measure without storing it.

    An invalid ``measure`` gets 422 with code ``invalid_definition``, and
    an invalid tile parameter 400 with code ``invalid_query``.
    """
    body = _json_body()
    definition = {key: value for key, value in body.items() if key == "measure"}
    measure = _load(QueryMeasureSchema(), definition, what="query")["measure"]
    parameters = {key: value for key, value in body.items() if key != "measure"}
    params = _load(TileQuerySchema(), parameters, what="tile query", query=True)
    options = options_for({"period": "week"}, params, g.project)
    check_segment(measure, options)
    return jsonify(build_tile(None, measure, options, g.project.id))


def _dashboard_or_404(key: str) -> Dashboard:
    dashboard = Dashboard.get_or_none(
        (Dashboard.project == g.project.id) & (Dashboard.key == key)
    )
    if dashboard is None:
        raise NotFoundError(
            f"dashboard {key!r} not found: create it with POST /v1/dashboards",
            code="dashboard_not_found",
        )
    return dashboard


def _dashboard_definition(dashboard: Dashboard) -> dict[str, Any]:
    return {
        "key": dashboard.key,
        "name": dashboard.name,
        "north_star": dashboard.north_star,
        "inputs": dashboard.inputs,
    }


def _check_dashboard_metrics(definition: dict[str, Any]) -> None:
    """Raise 422 naming the field unless every metric of *definition* exists."""
    keys = [definition["north_star"], *definition["inputs"]]
    query = Metric.select(Metric.key).where(
        (Metric.project == g.project.id) & Metric.key.in_(keys)
    )
    if is_postgres():
        # Held until the caller's transaction ends, so a concurrent delete of
        # one of these metrics waits and then finds this dashboard.
        query = query.order_by(Metric.id).for_update()
    found = {row.key for row in query}
    missing = [key for key in keys if key not in found]
    if missing:
        field = "north_star" if definition["north_star"] in missing else "inputs"
        raise UnprocessableError(
            f"invalid dashboard: unknown metric {missing[0]!r} in {field}; create it "
            "with POST /v1/metrics first",
            details={field: [f"unknown metric {key!r}" for key in missing]},
        )


@bp.post("/dashboards")
@require_read_key
def create_dashboard() -> tuple[Response, int]:
    """Store a dashboard whose metrics all exist; 409 when its key is taken."""
    definition = _load(DashboardSchema(), _json_body(), what="dashboard")
    try:
        with database.atomic():
            _check_dashboard_metrics(definition)
            Dashboard.create(project=g.project.id, **definition)
    except peewee.IntegrityError:
        raise ConflictError(
            f"dashboard {definition['key']!r} already exists: choose another key",
            code="dashboard_exists",
        ) from None
    return jsonify(definition), 201


@bp.get("/dashboards")
@require_read_key
def list_dashboards() -> Response:
    """List the project's dashboards by key."""
    rows = (
        Dashboard.select()
        .where(Dashboard.project == g.project.id)
        .order_by(Dashboard.key)
    )
    return jsonify({"dashboards": [_dashboard_definition(row) for row in rows]})


@bp.get("/dashboards/<key>")
@require_read_key
def get_dashboard(key: str) -> Response:
    """Compute every tile of a dashboard with the same tile parameters."""
    dashboard = _dashboard_or_404(key)
    params = _tile_params()
    keys = [dashboard.north_star, *dashboard.inputs]
    metrics = {
        row.key: row.definition
        for row in Metric.select().where(
            (Metric.project == g.project.id) & Metric.key.in_(keys)
        )
    }
    missing = [name for name in keys if name not in metrics]
    if missing:
        raise ConflictError(
            f"dashboard {key!r} names deleted metric {missing[0]!r}: recreate the "
            "metric or the dashboard",
            code="metric_not_found",
        )
    tiles = build_dashboard(keys, metrics, params, g.project)
    return jsonify(
        {
            "key": dashboard.key,
            "name": dashboard.name,
            "north_star": tiles[0],
            "inputs": tiles[1:],
        }
    )


@bp.put("/dashboards/<key>")
@require_read_key
def replace_dashboard(key: str) -> Response:
    """Replace a dashboard; the body's key, if any, must match the URL's.

    The body is validated like ``POST /v1/dashboards``.
    """
    dashboard = _dashboard_or_404(key)
    body = {"key": key, **_json_body()}
    definition = _load(DashboardSchema(), body, what="dashboard")
    if definition["key"] != key:
        raise UnprocessableError(
            f"invalid dashboard: key {definition['key']!r} does not match the URL's "
            f"{key!r}; keys cannot be renamed, create a new dashboard instead",
            details={"key": ["must match the URL"]},
        )
    with database.atomic():
        _check_dashboard_metrics(definition)
        dashboard.name = definition["name"]
        dashboard.north_star = definition["north_star"]
        dashboard.inputs = definition["inputs"]
        dashboard.save()
    logger.info("dashboard replaced project_id=%s key=%s", g.project.id, key)
    return jsonify(definition)


@bp.delete("/dashboards/<key>")
@require_read_key
def delete_dashboard(key: str) -> tuple[str, int]:
    """Delete a dashboard; its metrics stay."""
    _dashboard_or_404(key).delete_instance()
    return "", 204
