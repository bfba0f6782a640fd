"""The Pug client: public calls, argument checks and the queue's life cycle."""

from __future__ import annotations

import atexit
import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Mapping
from typing import Any

from pug import _wire
from pug._consumer import Consumer, Stats, call_on_error
from pug._logging import RateLimitedWarning, enable_debug_logging
from pug._options import (
    DEFAULT_BACKOFF_FACTOR_SECONDS,
    DEFAULT_BACKOFF_MAX_SECONDS,
    DEFAULT_EXIT_TIMEOUT_SECONDS,
    DEFAULT_FLUSH_AT,
    DEFAULT_FLUSH_INTERVAL_SECONDS,
    DEFAULT_HOST,
    DEFAULT_MAX_BATCH_BYTES,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_MAX_QUEUE_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
    ClientOptions,
    ErrorCallback,
)
from pug._queue import MessageQueue
from pug._spool import Spool
from pug._wire import GROUP_TYPE_PATTERN, MAX_ID_LENGTH, MAX_NAME_LENGTH
from pug.errors import MessageDroppedError
from pug.transport import BatchSender, RequestsTransport

logger = logging.getLogger(__name__)

# Drop warnings (queue full, oversize, invalid) log one line per reason in
# this many seconds, with the count of drops since the previous line.
DROP_WARNING_INTERVAL_SECONDS = 10.0
# How often flush() looks at the spool while waiting for it to empty.
SPOOL_POLL_SECONDS = 0.01
# A row id above every row of a spool, to count them all.
_ALL_ROWS = 2**62

# Every client of this process, for the fork and exit hooks. Weak, so that
# a client the app drops can be collected.
_clients: weakref.WeakSet[Client] = weakref.WeakSet()


class Client:
    """Queue analytics messages and deliver them in batches from a thread.

    Calls never block on the network and never raise for runtime
    conditions: a full queue, an oversize message or a failing server make
    the call return ``False`` or are reported to ``on_error`` later.

    :param write_key: the project's write key, sent as the HTTP Basic user.
    :param host: base URL of the Pug server; batches go to ``{host}/v1/batch``.
    :param flush_at: messages per batch; a full batch is sent at once.
    :param flush_interval: seconds a message may wait for its batch to fill.
    :param max_queue_size: messages held in memory; when full, new messages
        are dropped and counted as ``queue_full``.
    :param max_batch_bytes: uncompressed bytes per request body.
    :param max_message_bytes: encoded bytes per message; a larger message is
        dropped at call time and counted as ``oversize``.
    :param gzip: compress request bodies (``Content-Encoding: gzip``).
    :param timeout: seconds to wait for the connection and for each read, or
        a ``(connect, read)`` pair.
    :param max_retries: retries of one batch after the first attempt.
    :param on_error: called as ``on_error(error, messages)`` for every
        message that is dropped or rejected; ``messages`` are dicts as sent.
        It runs in the consumer thread, or in the calling thread for errors
        found at call time; what it raises is logged and ignored.
    :param sync_mode: send each message in the calling thread, with retries.
    :param send: when ``False``, check and encode messages but deliver nothing.
    :param strict: raise :class:`TypeError` or :class:`ValueError` for invalid
        arguments instead of logging and returning ``False``, and also reject
        mapping keys that collide once made strings (``1`` and ``"1"``).
    :param debug: log the ``pug`` logger at DEBUG to stderr.
    :param spool_path: a SQLite file that keeps queued messages across
        crashes, restarts and outages, see ``docs/sdk.md``.
    :param backoff_factor: seconds of the first retry's maximal backoff.
    :param backoff_max: seconds that no backoff exceeds, unless the server's
        ``Retry-After`` asks for more.
    :param flush_on_exit: close the client from an :mod:`atexit` hook.
    :param exit_timeout: seconds the exit hook waits for delivery.
    :raises ConfigurationError: an option is invalid.
    """

    def __init__(
        self,
        write_key: str,
        host: str = DEFAULT_HOST,
        *,
        flush_at: int = DEFAULT_FLUSH_AT,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL_SECONDS,
        max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE,
        max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        gzip: bool = True,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT_SECONDS,
        max_retries: int = DEFAULT_MAX_RETRIES,
        on_error: ErrorCallback | None = None,
        sync_mode: bool = False,
        send: bool = True,
        strict: bool = False,
        debug: bool = False,
        spool_path: str | os.PathLike[str] | None = None,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR_SECONDS,
        backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS,
        flush_on_exit: bool = True,
        exit_timeout: float = DEFAULT_EXIT_TIMEOUT_SECONDS,
    ) -> None:
        self.options = ClientOptions(
            write_key=write_key,
            host=host,
            flush_at=flush_at,
            flush_interval=flush_interval,
            max_queue_size=max_queue_size,
            max_batch_bytes=max_batch_bytes,
            max_message_bytes=max_message_bytes,
            gzip=gzip,
            timeout=timeout,
            max_retries=max_retries,
            on_error=on_error,
            sync_mode=sync_mode,
            send=send,
            strict=strict,
            debug=debug,
            spool_path=(
                os.fspath(spool_path)
                if isinstance(spool_path, os.PathLike)
                else spool_path
            ),
            backoff_factor=backoff_factor,
            backoff_max=backoff_max,
            flush_on_exit=flush_on_exit,
            exit_timeout=exit_timeout,
        )
        if debug:
            enable_debug_logging()
        self._closed = False
        self._reset_process_state()
        _clients.add(self)
        if self._spool is not None and send and not sync_mode:
            # Start now, so what a previous run left in the spool is sent
            # even if this run never queues a message.
            self._start_consumer()

    def __repr__(self) -> str:
        return (
            f"<pug.Client host={self.options.host!r} "
            f"write_key={self.options.masked_write_key!r}>"
        )

    def _reset_process_state(self) -> None:
        """Create the queue, lock, counters and spool handle of this process.

        Runs at construction and in a forked child, which must not share the
        parent's lock (it may be held mid-call), its session's sockets, or
        its queue (the parent still sends those messages).
        """
        options = self.options
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._queue = MessageQueue(
            options.max_queue_size, options.flush_at, options.max_batch_bytes
        )
        self._stats = Stats()
        self._drop_warning = RateLimitedWarning(logger, DROP_WARNING_INTERVAL_SECONDS)
        self._accepted_unqueued = 0
        self._consumer: Consumer | None = None
        self._sync_sender: BatchSender | None = None
        self._spool = None
        if options.spool_path:
            lease = 2 * sum(options.timeouts)
            self._spool = Spool(options.spool_path, lease_seconds=lease)

    def _start_consumer(self) -> Consumer:
        with self._lock:
            if self._consumer is None:
                consumer = Consumer(
                    self._queue,
                    RequestsTransport(self.options),
                    self.options,
                    self._stats,
                    self._spool,
                )
                consumer.start()
                self._consumer = consumer
            return self._consumer

    def track(
        self,
        user_id: str | None = None,
        event: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        group_id: str | None = None,
        groups: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue a track message: ``event`` done by a user.

        :param user_id: the known user; ``user_id`` or ``anonymous_id`` is
            required. An int or UUID is sent as its str.
        :param event: the event name, such as ``"Document Edited"``.
        :param properties: the event's properties, a mapping.
        :param group_id: the user's group for this event, sent as
            ``context.groupId``.
        :param groups: several groups by type, ``{"team": "t-1"}``, sent as
            ``context.groups``.
        :param context: extra context; ``context.library`` is always Pug's.
        :param timestamp: when the event happened; a naive datetime is UTC.
            Default: now.
        :param message_id: the idempotency key; default a new uuid4.
        :param integrations: the Segment ``integrations`` object.
        :returns: ``True`` when the message was queued, ``False`` when it was
            dropped (see :meth:`stats` for why).
        :raises TypeError, ValueError: only with ``strict=True``, for invalid
            arguments; the message names the argument.
        """
        try:
            _require_name("event", event)
            _check_mapping("properties", properties)
            _check_mapping("groups", groups)
            _check_mapping("context", context)
            context = _wire.track_context(
                context, _optional_id("group_id", group_id), groups
            )
            fields = _wire.track_fields(
                event,  # type: ignore[arg-type]
                properties,
                self.options.strict,
            )
        except (TypeError, ValueError) as exc:
            return self._reject_invalid("track", exc)
        return self._enqueue(
            "track",
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            integrations,
            fields,
        )

    def identify(
        self,
        user_id: str | None = None,
        traits: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        set_once: Mapping[str, Any] | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue an identify message: who the user is and their traits.

        With both ids, the server merges the anonymous person into the user.

        :param traits: the user's traits; the newest value by event time wins.
        :param set_once: traits the server keeps only the first value of, by
            event time; sent as ``traits["$set_once"]``.
        :returns: as :meth:`track`, which documents the other arguments.
        """
        try:
            _check_mapping("traits", traits)
            _check_mapping("set_once", set_once)
            fields = _wire.identify_fields(traits, set_once, self.options.strict)
        except (TypeError, ValueError) as exc:
            return self._reject_invalid("identify", exc)
        return self._enqueue(
            "identify",
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            integrations,
            fields,
        )

    def group(
        self,
        user_id: str | None = None,
        group_id: str | None = None,
        traits: Mapping[str, Any] | None = None,
        *,
        group_type: str | None = None,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue a group message: the user belongs to ``group_id``.

        :param group_id: the group's key, required.
        :param traits: the group's traits.
        :param group_type: the kind of group, such as ``"team"``, sent as
            ``groupType``; the server's default type is ``"group"``.
        :returns: as :meth:`track`, which documents the other arguments.
        """
        try:
            group_id = _optional_id("group_id", group_id)
            if group_id is None:
                raise ValueError("group_id is required; pass the group's key")
            _check_mapping("traits", traits)
            if group_type is not None:
                _check_group_type(group_type)
            fields = _wire.group_fields(
                group_id, group_type, traits, self.options.strict
            )
        except (TypeError, ValueError) as exc:
            return self._reject_invalid("group", exc)
        return self._enqueue(
            "group",
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            integrations,
            fields,
        )

    def alias(
        self,
        previous_id: str | None = None,
        user_id: str | None = None,
        *,
        context: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue an alias message: ``previous_id`` is the same person as ``user_id``.

        :param previous_id: the earlier id, required.
        :param user_id: the id it merges into, required.
        :returns: as :meth:`track`, which documents the other arguments.
        """
        try:
            previous_id = _optional_id("previous_id", previous_id)
            if previous_id is None:
                raise ValueError("previous_id is required; pass the earlier id")
            if _optional_id("user_id", user_id) is None:
                raise ValueError("user_id is required; pass the id to merge into")
            fields = _wire.alias_fields(previous_id)
        except (TypeError, ValueError) as exc:
            return self._reject_invalid("alias", exc)
        return self._enqueue(
            "alias",
            user_id,
            None,
            context,
            timestamp,
            message_id,
            integrations,
            fields,
        )

    def page(
        self,
        user_id: str | None = None,
        category: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue a page message: the user viewed a web page.

        :param category: the page's category, such as ``"Docs"``.
        :param name: the page's name.
        :param properties: the page's properties, such as ``url``.
        :returns: as :meth:`track`, which documents the other arguments.
        """
        return self._view(
            "page",
            user_id,
            category,
            name,
            properties,
            anonymous_id,
            context,
            timestamp,
            message_id,
            integrations,
        )

    def screen(
        self,
        user_id: str | None = None,
        category: str | None = None,
        name: str | None = None,
        properties: Mapping[str, Any] | None = None,
        *,
        anonymous_id: str | None = None,
        context: Mapping[str, Any] | None = None,
        timestamp: dt.datetime | None = None,
        message_id: str | None = None,
        integrations: Mapping[str, Any] | None = None,
    ) -> bool:
        """Queue a screen message: the user viewed an app screen.

        Arguments and result as :meth:`page`.
        """
        return self._view(
            "screen",
            user_id,
            category,
            name,
            properties,
            anonymous_id,
            context,
            timestamp,
            message_id,
            integrations,
        )

    def _view(
        self,
        kind: str,
        user_id: str | None,
        category: str | None,
        name: str | None,
        properties: Mapping[str, Any] | None,
        anonymous_id: str | None,
        context: Mapping[str, Any] | None,
        timestamp: dt.datetime | None,
        message_id: str | None,
        integrations: Mapping[str, Any] | None,
    ) -> bool:
        try:
            _check_optional_name("category", category)
            _check_optional_name("name", name)
            _check_mapping("properties", properties)
            fields = _wire.view_fields(category, name, properties, self.options.strict)
        except (TypeError, ValueError) as exc:
            return self._reject_invalid(kind, exc)
        return self._enqueue(
            kind,
            user_id,
            anonymous_id,
            context,
            timestamp,
            message_id,
            integrations,
            fields,
        )

    def _enqueue(
        self,
        kind: str,
        user_id: object,
        anonymous_id: object,
        context: Mapping[str, Any] | None,
        timestamp: dt.datetime | None,
        message_id: object,
        integrations: Mapping[str, Any] | None,
        fields: str,
    ) -> bool:
        """Check the common arguments, encode the message and queue it."""
        try:
            user = _optional_id("user_id", user_id)
            anonymous = _optional_id("anonymous_id", anonymous_id)
            if user is None and anonymous is None:
                raise ValueError(
                    "user_id or anonymous_id is required; pass at least one of them"
                )
            _check_mapping("context", context)
            _check_mapping("integrations", integrations)
            if timestamp is not None and not isinstance(timestamp, dt.datetime):
                raise TypeError(
                    "timestamp must be a datetime or None, "
                    f"got {type(timestamp).__name__}"
                )
            encoded = _wire.encode_message(
                kind,
                user,
                anonymous,
                fields,
                context,
                timestamp,
                _optional_id("message_id", message_id),
                integrations,
                self.options.strict,
            )
        except (TypeError, ValueError) as exc:
            return self._reject_invalid(kind, exc)

        if len(encoded) > self.options.max_message_bytes:
            detail = (
                f"{kind} message is {len(encoded)} bytes encoded, over "
                f"max_message_bytes={self.options.max_message_bytes}"
            )
            return self._drop("oversize", detail, encoded)
        return self._submit(encoded)

    def _submit(self, encoded: str) -> bool:
        """Hand an encoded message to the queue, or send it at once."""
        if self._closed:
            return self._drop("closed", "the client is closed", encoded)
        if not self.options.send:
            with self._lock:
                self._accepted_unqueued += 1
            return True
        if self.options.sync_mode:
            return self._send_now(encoded)
        if self._pid != os.getpid():
            # A fork the hook did not see, such as one made outside Python.
            self._reset_process_state()
        if not self._queue.put(encoded):
            detail = f"the queue holds max_queue_size={self.options.max_queue_size}"
            return self._drop("queue_full", detail, encoded)
        if self._consumer is None:
            self._start_consumer()
        return True

    def _send_now(self, encoded: str) -> bool:
        with self._lock:
            if self._sync_sender is None or self._pid != os.getpid():
                self._pid = os.getpid()
                transport = RequestsTransport(self.options)
                self._sync_sender = BatchSender(transport, self.options, _sleep)
            self._accepted_unqueued += 1
            # One session serves every calling thread, so sends take turns.
            result = self._sync_sender.send([encoded])
        self._stats.record(result)
        for error, messages in result.errors:
            call_on_error(self.options, error, [_decode(item) for item in messages])
        return result.sent == 1

    def _reject_invalid(self, kind: str, error: Exception) -> bool:
        if self.options.strict:
            raise error
        self._stats.drop("invalid")
        self._drop_warning.warn(
            "invalid", "dropped invalid %s call: %s (count=%d)", kind, error
        )
        call_on_error(self.options, error, [])
        return False

    def _drop(self, reason: str, detail: str, encoded: str) -> bool:
        self._stats.drop(reason)
        message = _decode(encoded)
        self._drop_warning.warn(
            reason,
            "dropped message: reason=%s message_id=%s %s (count=%d)",
            reason,
            message["messageId"],
            detail,
        )
        call_on_error(self.options, MessageDroppedError(reason, detail), [message])
        return False

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything queued so far and wait for the server's responses.

        With a spool, this includes every row the spool held when the call
        was made, also rows left by an earlier process on the same file,
        except rows that another live process has claimed and is sending.

        :param timeout: seconds to wait; ``None`` waits until done, which
            during an outage can take as long as all retries (with a spool,
            until the server is back).
        :returns: ``True`` when every message queued before the call was
            delivered (the server accepted it, found it a duplicate, or
            rejected it as invalid); ``False`` when the timeout passed or a
            batch was dropped after retries or by a 4xx answer.
        """
        if self._pid != os.getpid():
            return True
        consumer = self._consumer
        if consumer is None:
            if self._spool is None or not self.options.send or self.options.sync_mode:
                return True
            # A forked child starts no consumer until its first call, but
            # the spool it shares may hold rows to deliver.
            consumer = self._start_consumer()
        deadline = None if timeout is None else time.monotonic() + timeout
        spool_through = self._spool.last_id() if self._spool is not None else 0
        target = self._queue.put_count
        failed_before = consumer.failed_count
        consumer.request_flush(target)
        with consumer.settled:
            done = consumer.settled.wait_for(
                lambda: consumer.settled_count >= target, timeout
            )
        spooled = 0
        if done and self._spool is not None:
            # Rows this call moved to the spool have ids above spool_through.
            last_id = max(spool_through, consumer.spool_last_id)
            spooled = self._wait_for_spool(last_id, deadline)
            done = not spooled
        if not done:
            logger.warning(
                "flush timed out: timeout=%ss pending=%d spooled=%d",
                timeout,
                self._pending(),
                spooled,
            )
        return done and consumer.failed_count == failed_before

    def _wait_for_spool(self, last_id: int, deadline: float | None) -> int:
        """Wait until the spool holds no row to deliver up to ``last_id``.

        :returns: the count of such rows still waiting at the deadline, 0
            when they were all delivered.
        """
        assert self._spool is not None
        while True:
            waiting = self._spool.undelivered_through(last_id)
            if not waiting:
                return 0
            if deadline is not None and time.monotonic() >= deadline:
                return waiting
            time.sleep(SPOOL_POLL_SECONDS)

    def _pending(self) -> int:
        consumer = self._consumer
        settled = consumer.settled_count if consumer is not None else 0
        return self._queue.put_count - settled

    def close(self, timeout: float | None = None) -> None:
        """Flush, then stop the consumer thread; later calls return ``False``.

        :param timeout: seconds for both steps; ``None`` waits until done.
            Messages still queued when it passes are dropped and counted as
            ``shutdown`` (with a spool, they stay in the spool).
        """
        if self._closed:
            return
        deadline = None if timeout is None else time.monotonic() + timeout
        delivered = self.flush(timeout)
        self._closed = True
        if self._sync_sender is not None:
            self._sync_sender.close()
        consumer = self._consumer
        if consumer is None or self._pid != os.getpid():
            return
        if not delivered:
            consumer.aborting.set()
        consumer.stop()
        remaining = None if deadline is None else max(0.1, deadline - time.monotonic())
        consumer.join(remaining)
        if consumer.is_alive():
            logger.warning("consumer still sending after close: timeout=%ss", timeout)

    def stats(self) -> dict[str, Any]:
        """Return the client's counters since it started (or since a fork).

        Keys: ``queued`` (calls that returned True), ``pending`` (queued,
        not yet settled), ``sent`` (delivered and not rejected), ``retried``
        (repeated HTTP attempts), ``rejected`` (messages the server
        rejected), ``dropped`` (a dict of counts by reason: ``invalid``,
        ``oversize``, ``queue_full``, ``closed``, ``http_error``,
        ``retries_exhausted``, ``shutdown``, ``internal_error``). With a
        spool, ``spooled`` counts the messages in the spool file, which
        ``pending`` does not include.
        """
        counters = self._stats.snapshot()
        counters["queued"] = self._queue.put_count + self._accepted_unqueued
        counters["pending"] = self._pending()
        if self._spool is not None:
            counters["spooled"] = self._spool.pending_through(_ALL_ROWS)
        return counters


def _optional_id(argument: str, value: object) -> str | None:
    """Return an id as a str, ``None`` when missing or empty."""
    if type(value) is str:
        if len(value) > MAX_ID_LENGTH:
            raise _too_long(argument, value, MAX_ID_LENGTH)
        return value or None
    if value is None:
        return None
    if isinstance(value, (str, uuid.UUID)) or (
        isinstance(value, int) and not isinstance(value, bool)
    ):
        text = str(value)
        if len(text) > MAX_ID_LENGTH:
            raise _too_long(argument, text, MAX_ID_LENGTH)
        return text or None
    raise TypeError(
        f"{argument} must be a str, int or UUID, got {type(value).__name__}"
    )


def _require_name(argument: str, value: object) -> None:
    if type(value) is str and value and len(value) <= MAX_NAME_LENGTH:
        return
    if value is None or value == "":
        raise ValueError(f"{argument} is required; pass a non-empty str")
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a str, got {type(value).__name__}")
    raise _too_long(argument, value, MAX_NAME_LENGTH)


def _check_optional_name(argument: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise TypeError(f"{argument} must be a str or None, got {type(value).__name__}")
    if len(value) > MAX_NAME_LENGTH:
        raise _too_long(argument, value, MAX_NAME_LENGTH)


def _check_group_type(value: object) -> None:
    if not isinstance(value, str):
        raise TypeError(f"group_type must be a str, got {type(value).__name__}")
    if not GROUP_TYPE_PATTERN.fullmatch(value):
        raise ValueError(
            f"group_type {value[:100]!r} is invalid: the server accepts 1 to 100 "
            "letters, digits, '_', '.' or '-', for example team"
        )


def _too_long(argument: str, value: str, limit: int) -> ValueError:
    return ValueError(
        f"{argument} is {len(value)} characters, over the server's limit of "
        f"{limit}; shorten it"
    )


def _check_mapping(argument: str, value: object) -> None:
    if value is None or type(value) is dict:
        return
    if not isinstance(value, Mapping):
        raise TypeError(
            f"{argument} must be a mapping such as a dict, got {type(value).__name__}"
        )


def _decode(item: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(item)
    return decoded


def _sleep(seconds: float) -> bool:
    time.sleep(seconds)
    return False


def _reset_clients_after_fork() -> None:
    for client in list(_clients):
        client._reset_process_state()


def _close_clients_at_exit() -> None:
    for client in list(_clients):
        if not client.options.flush_on_exit or client._pid != os.getpid():
            continue
        try:
            client.close(client.options.exit_timeout)
        except Exception:
            logger.exception("closing client at exit failed")


os.register_at_fork(after_in_child=_reset_clients_after_fork)
atexit.register(_close_clients_at_exit)
