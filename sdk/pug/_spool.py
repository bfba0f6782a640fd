"""A durable spool of encoded messages in SQLite, shared by processes.

Rows are claimed before they are sent and deleted once the server has
responded, so two processes on one spool (a parent and its forked children,
or a restarted app) never send the same row at the same time. The claim of
a process that died is released when another process opens the spool and
finds that pid gone, and otherwise expires after the lease. A row sent
just before a crash and not yet deleted is sent again after the restart,
and the server drops that copy because it has the same ``messageId``.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import uuid

logger = logging.getLogger(__name__)

# The shortest claim lease. A client's lease is also at least twice its
# connect plus read timeout, and the consumer renews its claim while it
# waits between retries, so a live sender never loses its rows.
MIN_CLAIM_LEASE_SECONDS = 120.0
BUSY_TIMEOUT_MILLISECONDS = 5_000

# Held around every SQLite call, and taken by the fork hooks below, so that
# no thread is inside SQLite when the process forks: SQLite's own mutexes
# would stay locked in the child and hang its first query.
_sqlite_lock = threading.RLock()


def _reset_lock_in_child() -> None:
    global _sqlite_lock
    _sqlite_lock = threading.RLock()


def _acquire_before_fork() -> None:
    _sqlite_lock.acquire()


def _release_after_fork() -> None:
    _sqlite_lock.release()


os.register_at_fork(
    before=_acquire_before_fork,
    after_in_parent=_release_after_fork,
    after_in_child=_reset_lock_in_child,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pug_spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    body TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at REAL
)
"""


class Spool:
    """Messages waiting for delivery, in the SQLite file at ``path``.

    One instance belongs to one process: the consumer thread uses it, and
    :meth:`pending_through`, :meth:`last_id` and :meth:`undelivered_through`
    may be called from any thread because each opens its own connection.
    """

    def __init__(
        self, path: str, lease_seconds: float = MIN_CLAIM_LEASE_SECONDS
    ) -> None:
        self.path = path
        self._lease_seconds = max(lease_seconds, MIN_CLAIM_LEASE_SECONDS)
        self._pid = os.getpid()
        self._token = f"{self._pid}:{uuid.uuid4().hex[:8]}"
        self._connection: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        with _sqlite_lock:
            if self._connection is None:
                self._connection = self._open()
        return self._connection

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MILLISECONDS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(_SCHEMA)
        self._release_dead_claims(connection)
        return connection

    def append(self, bodies: list[str]) -> int:
        """Store ``bodies`` in one transaction; return the last row id."""
        connection = self._connect()
        with _sqlite_lock, _transaction(connection):
            connection.executemany(
                "INSERT INTO pug_spool (body) VALUES (?)", [(body,) for body in bodies]
            )
            row = connection.execute("SELECT MAX(id) FROM pug_spool").fetchone()
        return int(row[0] or 0)

    def claim(self, max_count: int, max_bytes: int) -> list[tuple[int, str]]:
        """Claim the oldest free rows that fit one batch, oldest first."""
        connection = self._connect()
        stale_before = time.time() - self._lease_seconds
        with _sqlite_lock, _transaction(connection):
            rows = connection.execute(
                "SELECT id, body FROM pug_spool"
                " WHERE claimed_by IS NULL OR claimed_by = ? OR claimed_at < ?"
                " ORDER BY id LIMIT ?",
                (self._token, stale_before, max_count),
            ).fetchall()
            batch = _fit(rows, max_bytes)
            connection.executemany(
                "UPDATE pug_spool SET claimed_by = ?, claimed_at = ? WHERE id = ?",
                [(self._token, time.time(), row_id) for row_id, _ in batch],
            )
        return batch

    def renew(self, row_ids: list[int]) -> None:
        """Extend the claim on rows that are about to be sent again."""
        self._update(
            "UPDATE pug_spool SET claimed_at = ? WHERE id = ?", time.time(), row_ids
        )

    def release(self, row_ids: list[int]) -> None:
        """Give rows back, to be claimed again later."""
        self._update(
            "UPDATE pug_spool SET claimed_by = NULL, claimed_at = ? WHERE id = ?",
            None,
            row_ids,
        )

    def delete(self, row_ids: list[int]) -> None:
        """Remove rows that were delivered, rejected or dropped."""
        connection = self._connect()
        with _sqlite_lock, _transaction(connection):
            connection.executemany(
                "DELETE FROM pug_spool WHERE id = ?", [(row_id,) for row_id in row_ids]
            )

    def pending_through(self, last_id: int) -> int:
        """Count rows with an id up to ``last_id`` that are still waiting."""
        with _sqlite_lock:
            connection = self._open_short()
            try:
                row = connection.execute(
                    "SELECT COUNT(*) FROM pug_spool WHERE id <= ?", (last_id,)
                ).fetchone()
            except sqlite3.OperationalError:
                # The consumer has not created the table yet: nothing is spooled.
                return 0
            finally:
                connection.close()
        return int(row[0])

    def last_id(self) -> int:
        """Return the id of the newest row, 0 when the spool is empty."""
        with _sqlite_lock:
            connection = self._open_short()
            try:
                row = connection.execute("SELECT MAX(id) FROM pug_spool").fetchone()
            except sqlite3.OperationalError:
                return 0
            finally:
                connection.close()
        return int(row[0] or 0)

    def undelivered_through(self, last_id: int) -> int:
        """Count rows up to ``last_id`` that this process must still deliver.

        Rows claimed by another live process are left out, because that
        process sends them. Rows whose claim expired or belongs to an exited
        process are counted, and the claims of exited processes are
        released here, so the consumer takes those rows over at its next
        claim instead of waiting for the lease to expire.
        """
        stale_before = time.time() - self._lease_seconds
        with _sqlite_lock:
            connection = self._open_short()
            try:
                groups = connection.execute(
                    "SELECT claimed_by, COUNT(*),"
                    " SUM(claimed_at IS NULL OR claimed_at < ?) FROM pug_spool"
                    " WHERE id <= ? GROUP BY claimed_by",
                    (stale_before, last_id),
                ).fetchall()
                count = 0
                dead: set[str] = set()
                for token, rows, expired in groups:
                    if token is None or token == self._token:
                        count += rows
                    elif not _claim_alive(token):
                        dead.add(token)
                        count += rows
                    else:
                        count += expired
                if dead:
                    _release_claims(connection, dead)
            except sqlite3.OperationalError:
                return 0
            finally:
                connection.close()
        return count

    def close(self) -> None:
        """Close this process's connection; a new call opens another."""
        with _sqlite_lock:
            if self._connection is not None and self._pid == os.getpid():
                self._connection.close()
            self._connection = None

    def _open_short(self) -> sqlite3.Connection:
        """Open a connection for a few statements from any thread; the caller closes it."""
        return sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MILLISECONDS / 1000, isolation_level=None
        )

    def _update(self, sql: str, value: float | None, row_ids: list[int]) -> None:
        connection = self._connect()
        with _sqlite_lock, _transaction(connection):
            connection.executemany(sql, [(value, row_id) for row_id in row_ids])

    def _release_dead_claims(self, connection: sqlite3.Connection) -> None:
        # Called by _open() with _sqlite_lock held.
        claims = connection.execute(
            "SELECT DISTINCT claimed_by FROM pug_spool WHERE claimed_by IS NOT NULL"
        ).fetchall()
        dead = {token for (token,) in claims if not _claim_alive(token)}
        if dead:
            _release_claims(connection, dead)


def _release_claims(connection: sqlite3.Connection, tokens: set[str]) -> None:
    """Release the claims of exited processes; called with _sqlite_lock held."""
    with _transaction(connection):
        connection.executemany(
            "UPDATE pug_spool SET claimed_by = NULL WHERE claimed_by = ?",
            [(token,) for token in sorted(tokens)],
        )
    logger.debug("released spool claims of exited processes: count=%d", len(tokens))


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, so claims never interleave."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def __enter__(self) -> None:
        self._connection.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self._connection.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _fit(rows: list[tuple[int, str]], max_bytes: int) -> list[tuple[int, str]]:
    batch: list[tuple[int, str]] = []
    budget = max_bytes
    for row_id, body in rows:
        size = len(body) + 1
        if batch and size > budget:
            break
        batch.append((row_id, body))
        budget -= size
    return batch


def _claim_alive(token: str) -> bool:
    pid_text, _, _ = token.partition(":")
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        # A pid owned by another user is alive; a malformed token is left
        # to the lease.
        return True
    return True
