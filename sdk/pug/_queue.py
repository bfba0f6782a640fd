"""The bounded in-memory queue between the calling threads and the consumer."""

from __future__ import annotations

import collections
import threading
import time

from pug._wire import BATCH_OVERHEAD_BYTES


class MessageQueue:
    """A bounded FIFO of encoded messages that knows when a batch is due.

    Callers :meth:`put` under one short lock; the consumer waits on
    :attr:`ready`, which is set when the queue goes from empty to non-empty
    (so the consumer can start the flush_interval clock) and when a full
    batch is waiting. Each message gets a sequence number, so
    :meth:`pug.Client.flush` can wait for the messages queued before it
    without waiting for later ones.
    """

    def __init__(self, max_size: int, flush_at: int, max_batch_bytes: int) -> None:
        self._items: collections.deque[str] = collections.deque()
        self._bytes = 0
        self._lock = threading.Lock()
        self._max_size = max_size
        self._flush_at = flush_at
        self._max_batch_bytes = max_batch_bytes - BATCH_OVERHEAD_BYTES
        self.ready = threading.Event()
        self.batch_started_at = 0.0
        self.put_count = 0
        self.taken_count = 0

    def __len__(self) -> int:
        return len(self._items)

    def put(self, item: str) -> bool:
        """Append an encoded message; return ``False`` when the queue is full."""
        with self._lock:
            count = len(self._items)
            if count >= self._max_size:
                return False
            if not count:
                self.batch_started_at = time.monotonic()
            self._items.append(item)
            self._bytes += len(item) + 1
            self.put_count += 1
            wake = (
                not count
                or count + 1 >= self._flush_at
                or self._bytes >= self._max_batch_bytes
            )
        # Checking is_set() first keeps callers off the event's lock while a
        # full batch waits for the consumer.
        if wake and not self.ready.is_set():
            self.ready.set()
        return True

    def seconds_until_due(self, flush_interval: float, force: bool) -> float | None:
        """Return how long the consumer may wait: 0 when a batch is due now.

        ``None`` means the queue is empty. ``force`` makes any waiting
        message due, as :meth:`pug.Client.flush` requires.
        """
        with self._lock:
            if not self._items:
                return None
            full = (
                len(self._items) >= self._flush_at
                or self._bytes >= self._max_batch_bytes
            )
            if full or force:
                return 0.0
            return max(0.0, self.batch_started_at + flush_interval - time.monotonic())

    def take(self, max_count: int | None = None) -> list[str]:
        """Pop the oldest messages that fit one batch (or ``max_count``)."""
        limit = self._flush_at if max_count is None else max_count
        budget = self._max_batch_bytes
        batch: list[str] = []
        with self._lock:
            items = self._items
            while items and len(batch) < limit:
                size = len(items[0]) + 1
                if batch and size > budget:
                    break
                batch.append(items.popleft())
                budget -= size
            self._bytes -= self._max_batch_bytes - budget
            self.taken_count += len(batch)
            if items:
                # The rest start a new batch: its flush_interval runs from now.
                self.batch_started_at = time.monotonic()
        return batch

    def take_all(self) -> list[str]:
        """Pop every waiting message, for moving them to the spool."""
        with self._lock:
            batch = list(self._items)
            self._items.clear()
            self._bytes = 0
            self.taken_count += len(batch)
        return batch
