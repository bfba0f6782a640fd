"""Pug's ingestion and metrics server."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

logger = logging.getLogger(__name__)


class _JSONProvider(DefaultJSONProvider):
    """Render datetimes as ISO 8601 with an offset, never as HTTP dates."""

    sort_keys = False

    @staticmethod
    def default(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=dt.timezone.utc)
            return value.isoformat()
        if isinstance(value, dt.date):
            return value.isoformat()
        return DefaultJSONProvider.default(value)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Pug server application.

    Settings come from the defaults, then ``PUG_*`` environment variables,
    then *config* (names without the prefix). The schema is created on the
    first start, or by the first request once an unreachable database
    answers.

    :raises pug_server.config.ConfigError: when a setting is invalid.
    """
    from pug_server import db
    from pug_server.api import (
        errors,
        events,
        health,
        ingest,
        metrics,
        openapi,
        pages,
        persons,
    )
    from pug_server.config import load_config

    settings = load_config(config)
    app = Flask(__name__)
    app.json = _JSONProvider(app)
    app.config["PUG"] = settings
    db.init_database(settings)
    db.ensure_schema_if_reachable()
    db.init_app(app)
    errors.register_error_handlers(app)
    for blueprint in (
        health.bp,
        ingest.bp,
        events.bp,
        persons.bp,
        metrics.bp,
        openapi.bp,
        pages.bp,
    ):
        app.register_blueprint(blueprint)
    return app


__all__ = ["create_app"]
