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


# How long the readiness probe waits for SQLite's write lock. A probe must
# answer quickly, and a lock held this long already delays every batch.
READY_LOCK_WAIT_MS = 200


def _check_sqlite_write_lock(settings: dict) -> None:
    """Take and release SQLite's write lock, waiting at most a moment.

    Under WAL, reads go on while another connection holds the write lock,
    so ``SELECT 1`` alone would report ready while every batch waits for
    the lock and ends in a 503.

    :raises peewee.OperationalError: when the lock is not free in time.
    """
    database.execute_sql(f"PRAGMA busy_timeout = {READY_LOCK_WAIT_MS}")
    try:
        database.execute_sql("BEGIN IMMEDIATE")
        database.execute_sql("ROLLBACK")
    finally:
        timeout_ms = int(settings["SQLITE_BUSY_TIMEOUT_MS"])
        database.execute_sql(f"PRAGMA busy_timeout = {timeout_ms}")


@bp.get("/ready")
def ready():
    """Report whether the database accepts queries and has the schema; 503 if not.

    On SQLite the check also takes the write lock for a moment, so a
    database locked by another writer reports 503.
    """
    backend = backend_name(current_app.config["PUG"]["DATABASE_URL"])
    try:
        ensure_schema()
        database.execute_sql("SELECT 1").fetchone()
        if backend == "sqlite":
            _check_sqlite_write_lock(current_app.config["PUG"])
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        logger.warning("readiness check failed backend=%s error=%s", backend, exc)
        retry_after = str(current_app.config["PUG"]["RETRY_AFTER_SECONDS"])
        response = jsonify({"status": "unavailable", "database": backend})
        response.status_code = 503
        response.headers["Retry-After"] = retry_after
        return response
    return jsonify({"status": "ready", "database": backend})
