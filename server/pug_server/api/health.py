"""Liveness and readiness."""

from __future__ import annotations

import logging

import peewee
from flask import Blueprint, current_app, jsonify

from pug_server.db import backend_name, database, ensure_schema

logger = logging.getLogger(__name__)

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    """Report that the process is up; does not touch the database."""
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready():
    """Report whether the database answers a query and has the schema; 503 if not."""
    backend = backend_name(current_app.config["PUG"]["DATABASE_URL"])
    try:
        ensure_schema()
        database.execute_sql("SELECT 1").fetchone()
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        logger.warning("readiness check failed backend=%s error=%s", backend, exc)
        retry_after = str(current_app.config["PUG"]["RETRY_AFTER_SECONDS"])
        response = jsonify({"status": "unavailable", "database": backend})
        response.status_code = 503
        response.headers["Retry-After"] = retry_after
        return response
    return jsonify({"status": "ready", "database": backend})
