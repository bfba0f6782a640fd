"""The OpenAPI document, generated from the routes and marshmallow schemas."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import Schema, fields

from pug_server.schemas.messages import MessageSchema
from pug_server.schemas.metrics import (
    DashboardSchema,
    DashboardTilesSchema,
    MetricSchema,
    QuerySchema,
    TileQuerySchema,
    TileSchema,
)

bp = Blueprint("openapi", __name__, url_prefix="/v1")

OPENAPI_VERSION = "3.0.3"
#: Paths documented; the HTML pages are for people, not clients.
DOCUMENTED_PREFIXES = ("/v1/", "/health", "/ready")
RULE_ARGUMENT = re.compile(r"<(?:[a-z]+:)?([A-Za-z_]+)>")


class ErrorBodySchema(Schema):
    code = fields.String()
    message = fields.String(metadata={"description": "what failed and how to fix it"})
    details = fields.Raw(
        allow_none=True, metadata={"description": "field errors, if any"}
    )


class ErrorSchema(Schema):
    """Every error response: ``{"error": {"code", "message", "details"}}``."""

    error = fields.Nested(ErrorBodySchema)


class BatchSchema(Schema):
    """``POST /v1/batch``: Segment-spec messages."""

    batch = fields.List(fields.Nested(MessageSchema), required=True)
    sentAt = fields.String()
    context = fields.Dict()
    writeKey = fields.String()


class RejectedSchema(Schema):
    index = fields.Integer()
    messageId = fields.String(allow_none=True)
    errors = fields.Dict()


class BatchResultSchema(Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()
    rejected = fields.List(fields.Nested(RejectedSchema))
    warnings = fields.List(fields.Dict())


class MetricListSchema(Schema):
    metrics = fields.List(fields.Nested(MetricSchema))


class DashboardListSchema(Schema):
    dashboards = fields.List(fields.Nested(DashboardSchema))


def _json(schema: Any, description: str = "OK") -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


_ERROR = _json("Error", "an error envelope")
_TILE_PARAMETERS = [{"in": "query", "schema": TileQuerySchema}]

#: Request and response schemas per endpoint; others get a plain JSON 200.
OPERATIONS: dict[str, dict[str, Any]] = {
    "ingest.batch": {
        "security": [{"writeKey": []}],
        "requestBody": {"content": {"application/json": {"schema": BatchSchema}}},
        "responses": {
            "200": _json(BatchResultSchema),
            "400": _ERROR,
            "401": _ERROR,
            "413": _ERROR,
            "503": _ERROR,
        },
    },
    "metrics.create_metric": {
        "requestBody": {"content": {"application/json": {"schema": MetricSchema}}},
        "responses": {
            "201": _json(MetricSchema, "created"),
            "409": _ERROR,
            "422": _ERROR,
        },
    },
    "metrics.list_metrics": {"responses": {"200": _json(MetricListSchema)}},
    "metrics.get_metric": {"responses": {"200": _json(MetricSchema), "404": _ERROR}},
    "metrics.replace_metric": {
        "requestBody": {"content": {"application/json": {"schema": MetricSchema}}},
        "responses": {"200": _json(MetricSchema), "404": _ERROR, "422": _ERROR},
    },
    "metrics.delete_metric": {
        "responses": {"204": {"description": "deleted"}, "404": _ERROR, "409": _ERROR}
    },
    "metrics.metric_tile": {
        "parameters": _TILE_PARAMETERS,
        "responses": {"200": _json(TileSchema), "400": _ERROR, "404": _ERROR},
    },
    "metrics.query_tile": {
        "requestBody": {"content": {"application/json": {"schema": QuerySchema}}},
        "responses": {"200": _json(TileSchema), "400": _ERROR, "422": _ERROR},
    },
    "metrics.create_dashboard": {
        "requestBody": {"content": {"application/json": {"schema": DashboardSchema}}},
        "responses": {
            "201": _json(DashboardSchema, "created"),
            "409": _ERROR,
            "422": _ERROR,
        },
    },
    "metrics.list_dashboards": {"responses": {"200": _json(DashboardListSchema)}},
    "metrics.get_dashboard": {
        "parameters": _TILE_PARAMETERS,
        "responses": {"200": _json(DashboardTilesSchema), "400": _ERROR, "404": _ERROR},
    },
    "metrics.replace_dashboard": {
        "requestBody": {"content": {"application/json": {"schema": DashboardSchema}}},
        "responses": {"200": _json(DashboardSchema), "404": _ERROR, "422": _ERROR},
    },
    "metrics.delete_dashboard": {
        "responses": {"204": {"description": "deleted"}, "404": _ERROR}
    },
}
PUBLIC_ENDPOINTS = ("health.", "openapi.")


def _operation(app: Flask, endpoint: str, path_arguments: list[str]) -> dict[str, Any]:
    view = app.view_functions[endpoint]
    doc = (view.__doc__ or endpoint).strip()
    summary, _, description = doc.partition("\n")
    operation: dict[str, Any] = {
        "summary": summary.strip(),
        "operationId": endpoint.replace(".", "_"),
        "tags": [endpoint.partition(".")[0]],
        "responses": {"200": {"description": "OK"}},
    }
    if description.strip():
        operation["description"] = description.strip()
    if endpoint.startswith("ingest."):
        operation["security"] = [{"writeKey": []}]
        operation["responses"] = {"200": _json(BatchResultSchema), "400": _ERROR}
    elif endpoint.startswith(PUBLIC_ENDPOINTS):
        operation["security"] = []
    operation.update(OPERATIONS.get(endpoint, {}))
    parameters = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in path_arguments
    ]
    operation["parameters"] = parameters + list(operation.get("parameters", []))
    return operation


def build_spec(app: Flask) -> dict[str, Any]:
    """Build the OpenAPI document of every JSON endpoint of *app*."""
    spec = APISpec(
        title="Pug",
        version="0.1.0",
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": "Segment-spec ingestion and the product metrics API."},
        security=[{"readKey": []}],
    )
    spec.components.security_scheme("readKey", {"type": "http", "scheme": "bearer"})
    spec.components.security_scheme(
        "writeKey",
        {
            "type": "http",
            "scheme": "basic",
            "description": "write key as the user name",
        },
    )
    spec.components.schema("Error", schema=ErrorSchema)
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda item: item.rule):
        if not rule.rule.startswith(DOCUMENTED_PREFIXES) or rule.endpoint == "static":
            continue
        path = RULE_ARGUMENT.sub(r"{\1}", rule.rule)
        arguments = RULE_ARGUMENT.findall(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            operation = _operation(app, rule.endpoint, arguments)
            paths.setdefault(path, {})[method.lower()] = operation
    for path, operations in paths.items():
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/openapi.json")
def openapi_document() -> Response:
    """Return the OpenAPI document of this server."""
    return jsonify(build_spec(current_app))
