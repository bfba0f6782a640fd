"""The database proxy and its per-request connection handling."""

from __future__ import annotations

import logging
from urllib.parse import urlparse

import peewee
from flask import request
from playhouse.db_url import connect

logger = logging.getLogger(__name__)

#: The one database every model binds to, initialised by :func:`init_database`.
database = peewee.DatabaseProxy()

#: Column types of the custom JSON field, per backend.
SQLITE_FIELD_TYPES = {"JSON": "TEXT"}
POSTGRES_FIELD_TYPES = {"JSON": "JSONB"}


def backend_name(url: str) -> str:
    """Return ``sqlite`` or ``postgresql`` for a database URL."""
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def describe_url(url: str) -> str:
    """Return *url* without user name or password, safe to log."""
    parsed = urlparse(url)
    if parsed.scheme.startswith("sqlite"):
        return url
    host = parsed.hostname or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.scheme}://{host}{port}{parsed.path}"


def make_database(url: str, config: dict) -> peewee.Database:
    """Create the peewee database for *url* with Pug's settings."""
    if backend_name(url) == "sqlite":
        timeout_ms = config["SQLITE_BUSY_TIMEOUT_MS"]
        # Pooled, so that the teardown handler returns the connection instead
        # of closing it: closing a process's last connection to a WAL
        # database checkpoints the WAL, which cost more than a whole batch.
        return connect(
            url.replace("sqlite://", "sqlite+pool://", 1),
            max_connections=config["DB_POOL_SIZE"],
            stale_timeout=300,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
                "busy_timeout": timeout_ms,
            },
            field_types=SQLITE_FIELD_TYPES,
            check_same_thread=False,
            # Every write transaction takes the write lock at BEGIN, so two
            # writers never deadlock upgrading a read lock.
            lock_type="IMMEDIATE",
            returning_clause=True,
        )
    url = url.replace("postgres://", "postgresql://", 1)
    pooled = url.replace("postgresql://", "postgresql+pool://", 1)
    return connect(
        pooled,
        max_connections=config["DB_POOL_SIZE"],
        stale_timeout=300,
        timeout=10,
        field_types=POSTGRES_FIELD_TYPES,
    )


def init_database(config: dict) -> peewee.Database:
    """Point :data:`database` at the configured database and return it."""
    global _schema_ready, _database_url
    db = make_database(config["DATABASE_URL"], config)
    database.initialize(db)
    _schema_ready = False
    _database_url = config["DATABASE_URL"]
    return db


_schema_ready = False
_database_url = ""


def ensure_schema() -> None:
    """Create the schema once per process.

    Every call until one succeeds tries again, so a process that started
    while the database was down creates the schema once it is reachable.

    :raises peewee.OperationalError: when the database cannot be reached;
        the next call tries again.
    """
    global _schema_ready
    if _schema_ready:
        return
    from pug_server.models import create_schema

    create_schema(database)
    _schema_ready = True


def ensure_schema_if_reachable() -> bool:
    """Create the schema unless the database is unreachable; log when it is.

    :returns: whether the schema is in place.
    """
    try:
        ensure_schema()
    except (peewee.OperationalError, peewee.InterfaceError) as exc:
        logger.warning(
            "database unreachable, schema not created yet url=%s error=%s",
            describe_url(_database_url),
            exc,
        )
        return False
    return True


def close_all() -> None:
    """Close every connection, pooled ones included (before gunicorn forks)."""
    if database.obj is None:
        return
    if hasattr(database.obj, "close_all"):
        database.obj.close_all()
    elif not database.is_closed():
        database.close()


def is_postgres() -> bool:
    """Tell whether the proxy currently points at PostgreSQL."""
    return isinstance(database.obj, peewee.PostgresqlDatabase)


def init_app(app) -> None:
    """Create the schema on demand and close each request's connection.

    Peewee opens the connection on the first query of a request, so views
    that touch no table (``/health``) never wait on the database. Other
    views first make sure the schema exists (:func:`ensure_schema`).
    """

    @app.before_request
    def _schema():
        # A server started while the database was down creates its schema
        # here, once the database is reachable. Health checks skip this.
        if request.blueprint != "health":
            ensure_schema()

    @app.teardown_appcontext
    def _close(exc):
        if not database.is_closed():
            database.close()
