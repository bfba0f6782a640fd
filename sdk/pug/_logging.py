"""Logging helpers: the debug handler and rate-limited warnings."""

from __future__ import annotations

import logging
import sys
import threading
import time

_PACKAGE_LOGGER = "pug"
_debug_handler: logging.Handler | None = None
_debug_lock = threading.Lock()


def enable_debug_logging() -> None:
    """Log the ``pug`` logger at DEBUG to stderr, adding the handler once."""
    global _debug_handler
    with _debug_lock:
        package_logger = logging.getLogger(_PACKAGE_LOGGER)
        package_logger.setLevel(logging.DEBUG)
        if _debug_handler is None:
            _debug_handler = logging.StreamHandler(sys.stderr)
            _debug_handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            package_logger.addHandler(_debug_handler)


class RateLimitedWarning:
    """Log a warning at most once per ``interval`` seconds for each reason.

    Repeats in between are counted, and the next line carries the count, so
    a full queue under load costs one line per interval, not one per call.
    """

    def __init__(self, logger: logging.Logger, interval: float) -> None:
        self._logger = logger
        self._interval = interval
        self._lock = threading.Lock()
        self._last_logged: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    def warn(self, reason: str, message: str, *args: object) -> None:
        """Log ``message % (*args, count)`` unless ``reason`` was logged lately.

        ``message`` ends with a ``%d`` placeholder for the number of times
        ``reason`` occurred since its previous line, this one included.
        """
        now = time.monotonic()
        with self._lock:
            count = self._unlogged.get(reason, 0) + 1
            last = self._last_logged.get(reason)
            if last is not None and now - last < self._interval:
                self._unlogged[reason] = count
                return
            self._last_logged[reason] = now
            self._unlogged[reason] = 0
        self._logger.warning(message, *args, count)
