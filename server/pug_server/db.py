"""The database proxy and its per-request connection handling."""

from __future__ import annotations

import logging
import sqlite3
import time
from urllib.parse import urlparse

import peewee
from flask import request
from playhouse.db_url import connect, parse
from playhouse.pool import PooledSqliteDatabase

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


class SqliteDatabase(PooledSqliteDatabase):
    """Pooled SQLite whose write transactions wait for the lock in short steps.

    SQLite's default busy handler (``sqliteDefaultBusyCallback`` in its
    ``main.c``) sleeps 1, 2, 5, 10, 15 ms and up to 100 ms between tries.
    A batch holds the write lock for a few milliseconds, so a worker that
    finds the lock taken often slept on after the other worker committed.
    :meth:`begin` turns the busy timeout off and tries ``BEGIN IMMEDIATE``
    every 0.1 to 1 ms until the busy timeout has passed. Every other
    statement keeps the busy timeout.
    """

    def __init__(self, database: str, *, busy_timeout_ms: int, **kwargs) -> None:
        self.busy_timeout_ms = busy_timeout_ms
        kwargs.setdefault("pragmas", {})["busy_timeout"] = busy_timeout_ms
        super().__init__(database, **kwargs)

    def begin(self, lock_type: str | None = None) -> None:
        statement = f"BEGIN {lock_type or self._lock_type}"
        with peewee.__exception_wrapper__:
            cursor = self.cursor()
            cursor.execute("PRAGMA busy_timeout = 0")
            try:
                _execute_when_unlocked(cursor, statement, self.busy_timeout_ms / 1000)
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")


#: The shortest and the longest pause between two tries for the write lock.
MIN_LOCK_PAUSE = 0.0001
MAX_LOCK_PAUSE = 0.001


def _execute_when_unlocked(cursor, statement: str, timeout: float) -> None:
    """Run *statement*, trying again while the database is locked.

    :raises sqlite3.OperationalError: when it is still locked after *timeout*
        seconds, or for any other error.
    """
    deadline = None
    pause = MIN_LOCK_PAUSE
    while True:
        try:
            cursor.execute(statement)
            return
        except sqlite3.OperationalError as exc:
            if "database is locked" not in str(exc):
                raise
            now = time.monotonic()
            if deadline is None:
                deadline = now + timeout
            elif now >= deadline:
                raise
            time.sleep(min(pause, deadline - now))
            pause = min(pause * 2, MAX_LOCK_PAUSE)


def make_database(url: str, config: dict) -> peewee.Database:
    """Create the peewee database for *url* with Pug's settings."""
    if backend_name(url) == "sqlite":
        timeout_ms = config["SQLITE_BUSY_TIMEOUT_MS"]
        # Pooled, so that the teardown handler returns the connection instead
        # of closing it: closing a process's last connection to a WAL
        # database checkpoints the WAL, which cost more than a whole batch.
        return SqliteDatabase(
            **parse(url),
            busy_timeout_ms=timeout_ms,
            max_connections=config["DB_POOL_SIZE"],
            stale_timeout=300,
            pragmas={
                "journal_mode": "wal",
                "synchronous": "normal",
                "foreign_keys": 1,
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
