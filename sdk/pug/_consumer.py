"""The consumer: a daemon thread that turns the queue into delivered batches."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

from pug._options import ClientOptions
from pug._queue import MessageQueue
from pug._spool import Spool
from pug._wire import BATCH_OVERHEAD_BYTES
from pug.errors import DeliveryError, MessageDroppedError
from pug.transport import BatchResult, BatchSender, Transport

logger = logging.getLogger(__name__)


class Stats:
    """Delivery counters, shared by the calling threads and the consumer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.sent = 0
        self.retried = 0
        self.rejected = 0
        self.dropped: dict[str, int] = {}

    def drop(self, reason: str, count: int = 1) -> None:
        """Count ``count`` messages dropped for ``reason``."""
        with self._lock:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    def record(self, result: BatchResult) -> None:
        """Add the counts of one sent batch."""
        with self._lock:
            self.sent += result.sent
            self.retried += result.retried
            self.rejected += result.rejected
            for reason, count in result.dropped.items():
                self.dropped[reason] = self.dropped.get(reason, 0) + count

    def snapshot(self) -> dict[str, Any]:
        """Return the counters as a new dict."""
        with self._lock:
            return {
                "sent": self.sent,
                "retried": self.retried,
                "rejected": self.rejected,
                "dropped": dict(self.dropped),
            }


def call_on_error(
    options: ClientOptions, error: Exception, messages: list[Any]
) -> None:
    """Call the user's ``on_error``, logging instead of raising what it raises."""
    if options.on_error is None:
        return
    try:
        options.on_error(error, messages)
    except Exception:
        logger.exception("on_error callback raised; ignoring it")


class Consumer(threading.Thread):
    """Send what the queue holds, by count, size or age, until stopped.

    The consumer is the only reader of the queue, so batches leave in queue
    order. ``settled_count`` is the number of queued messages whose fate is
    known (sent, rejected, dropped, or stored in the spool); ``flush`` waits
    on :attr:`settled` until it reaches the count queued before the call.
    """

    def __init__(
        self,
        queue: MessageQueue,
        transport: Transport,
        options: ClientOptions,
        stats: Stats,
        spool: Spool | None,
    ) -> None:
        super().__init__(name="pug-consumer", daemon=True)
        self._queue = queue
        self._transport = transport
        self._options = options
        self._stats = stats
        self._spool = spool
        self._sender = BatchSender(
            transport, options, self._wait, keep_on_failure=spool is not None
        )
        self.settled = threading.Condition()
        self.settled_count = 0
        self.failed_count = 0
        self.spool_last_id = 0
        self._flush_target = 0
        self._retry_spool_at = 0.0
        self._claimed_ids: list[int] = []
        self.stopping = threading.Event()
        self.aborting = threading.Event()

    def request_flush(self, target: int) -> None:
        """Send every message up to sequence number ``target`` without delay."""
        self._flush_target = max(self._flush_target, target)
        self._retry_spool_at = 0.0
        self._queue.ready.set()

    def stop(self) -> None:
        """Ask the thread to send what is queued and end."""
        self.stopping.set()
        self._queue.ready.set()

    def run(self) -> None:
        logger.debug("consumer started: spool=%s", self._spool is not None)
        running = True
        while running:
            try:
                running = self._step()
            except Exception:
                # One bad batch or a spool error must never end delivery.
                logger.exception("consumer step failed; continuing")
                self.aborting.wait(self._options.flush_interval)
        self._transport.close()
        if self._spool is not None:
            self._spool.close()
        logger.debug("consumer stopped")

    def _step(self) -> bool:
        """Wait for a due batch and handle it; return False to end the thread."""
        self._queue.ready.clear()
        if self.aborting.is_set():
            if self._spool is not None:
                self._move_to_spool(force=True)
            else:
                self._drop_waiting()
            return False
        force = self._flush_target > self._queue.taken_count or self.stopping.is_set()
        wait = self._queue.seconds_until_due(self._options.flush_interval, force)
        if self._spool is not None:
            return self._step_with_spool(wait)

        if wait is None:
            if self.stopping.is_set():
                return False
            self._queue.ready.wait()
            return True
        if wait > 0:
            self._queue.ready.wait(wait)
            return True
        self._deliver(self._queue.take())
        return True

    def _drop_waiting(self) -> None:
        """Drop what is still queued when close() ran out of time."""
        batch = self._queue.take_all()
        if batch:
            logger.error(
                "dropped %d queued messages: close() timed out before delivery",
                len(batch),
            )
            self._stats.drop("shutdown", len(batch))
            error = MessageDroppedError("shutdown", "close() timed out before delivery")
            call_on_error(self._options, error, [json.loads(item) for item in batch])
        self._settle(self._queue.taken_count, failed=len(batch))

    def _deliver(self, batch: list[str]) -> None:
        settled_through = self._queue.taken_count
        try:
            result = self._sender.send(batch)
        except Exception as exc:
            logger.exception("sending batch failed: count=%d", len(batch))
            result = BatchResult()
            result.drop(
                "internal_error", DeliveryError(f"internal error: {exc!r}"), batch
            )
        self._finish(result)
        self._settle(settled_through, failed=sum(result.dropped.values()))

    def _finish(self, result: BatchResult) -> None:
        self._stats.record(result)
        for error, messages in result.errors:
            call_on_error(self._options, error, [json.loads(item) for item in messages])

    def _settle(self, settled_through: int, failed: int) -> None:
        with self.settled:
            self.settled_count = settled_through
            self.failed_count += failed
            self.settled.notify_all()

    def _wait(self, seconds: float) -> bool:
        """Sleep between retries; return True when the client is aborting."""
        deadline = time.monotonic() + seconds
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self.aborting.wait(min(remaining, self._options.flush_interval)):
                return True
            if self._spool is not None:
                # Keep moving new messages to disk during a long outage, so
                # the memory queue does not fill and drop them, and keep the
                # claim on the batch being retried.
                self._move_to_spool(force=False)
                self._spool.renew(self._claimed_ids)

    def _step_with_spool(self, wait: float | None) -> bool:
        if wait is None and self.stopping.is_set():
            return False
        if wait == 0:
            self._move_to_spool(force=True)
        if time.monotonic() >= self._retry_spool_at:
            self._send_spooled()
        timeout = self._options.flush_interval if not wait else wait
        self._queue.ready.wait(timeout)
        return True

    def _move_to_spool(self, force: bool) -> None:
        assert self._spool is not None
        flush_due = self._flush_target > self._queue.taken_count
        if (
            not force
            and not flush_due
            and self._queue.seconds_until_due(self._options.flush_interval, False)
        ):
            return
        batch = self._queue.take_all()
        if not batch:
            return
        settled_through = self._queue.taken_count
        self.spool_last_id = self._spool.append(batch)
        self._settle(settled_through, failed=0)

    def _send_spooled(self) -> None:
        """Send spooled rows, oldest first, until the spool is empty or failing."""
        assert self._spool is not None
        budget = self._options.max_batch_bytes - BATCH_OVERHEAD_BYTES
        while not self.aborting.is_set():
            rows = self._spool.claim(self._options.flush_at, budget)
            if not rows:
                return
            bodies = [body for _, body in rows]
            self._claimed_ids = [row_id for row_id, _ in rows]
            try:
                result = self._sender.send(bodies)
            finally:
                self._claimed_ids = []
            retry_later = {id(body) for body in result.retry_later}
            self._spool.delete(
                [row_id for row_id, body in rows if id(body) not in retry_later]
            )
            self._spool.release(
                [row_id for row_id, body in rows if id(body) in retry_later]
            )
            self._finish(result)
            with self.settled:
                self.failed_count += sum(result.dropped.values())
                self.settled.notify_all()
            if retry_later:
                self._retry_spool_at = time.monotonic() + self._options.backoff_max
                return
