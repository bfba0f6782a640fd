"""Client options: defaults, units and their validation in one place."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from pug.errors import ConfigurationError

DEFAULT_HOST = "http://127.0.0.1:8000"
DEFAULT_FLUSH_AT = 100
DEFAULT_FLUSH_INTERVAL_SECONDS = 0.5
DEFAULT_MAX_QUEUE_SIZE = 10_000
# Segment's limits: 500 KB a batch and 32 KB a message, uncompressed.
DEFAULT_MAX_BATCH_BYTES = 500_000
DEFAULT_MAX_MESSAGE_BYTES = 32_000
DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_RETRIES = 10
DEFAULT_BACKOFF_FACTOR_SECONDS = 0.5
DEFAULT_BACKOFF_MAX_SECONDS = 30.0
DEFAULT_EXIT_TIMEOUT_SECONDS = 2.0

ErrorCallback = Callable[[Exception, list[dict[str, Any]]], object]


def mask_key(key: str) -> str:
    """Show the first four characters of a key, enough to tell keys apart."""
    return key[:4] + "..." if len(key) > 4 else "..."


@dataclasses.dataclass(frozen=True)
class ClientOptions:
    """The validated options of a :class:`pug.Client`.

    See :class:`pug.Client` for what each option sets and its unit.
    """

    write_key: str = dataclasses.field(repr=False)
    host: str = DEFAULT_HOST
    flush_at: int = DEFAULT_FLUSH_AT
    flush_interval: float = DEFAULT_FLUSH_INTERVAL_SECONDS
    max_queue_size: int = DEFAULT_MAX_QUEUE_SIZE
    max_batch_bytes: int = DEFAULT_MAX_BATCH_BYTES
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    gzip: bool = True
    timeout: float | tuple[float, float] = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES
    on_error: ErrorCallback | None = None
    sync_mode: bool = False
    send: bool = True
    strict: bool = False
    debug: bool = False
    spool_path: str | None = None
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR_SECONDS
    backoff_max: float = DEFAULT_BACKOFF_MAX_SECONDS
    flush_on_exit: bool = True
    exit_timeout: float = DEFAULT_EXIT_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        _check_write_key(self.write_key)
        _check_host(self.host)
        object.__setattr__(self, "host", self.host.rstrip("/"))
        for name in ("flush_at", "max_queue_size"):
            _check_int(name, getattr(self, name), minimum=1)
        _check_sizes(self.max_message_bytes, self.max_batch_bytes)
        _check_int("max_retries", self.max_retries, minimum=0)
        for name in ("flush_interval", "backoff_max"):
            _check_seconds(name, getattr(self, name), positive=True)
        _check_seconds("backoff_factor", self.backoff_factor, positive=False)
        _check_seconds("exit_timeout", self.exit_timeout, positive=False)
        _check_timeout(self.timeout)
        if self.on_error is not None and not callable(self.on_error):
            raise ConfigurationError(
                "on_error must be a callable taking (error, messages), "
                f"got {type(self.on_error).__name__}"
            )
        if self.spool_path is not None and not isinstance(self.spool_path, str):
            raise ConfigurationError(
                "spool_path must be a file path as str or None, "
                f"got {type(self.spool_path).__name__}"
            )
        for name in ("gzip", "sync_mode", "send", "strict", "debug", "flush_on_exit"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigurationError(
                    f"{name} must be True or False, got {getattr(self, name)!r}"
                )

    @property
    def masked_write_key(self) -> str:
        """The write key cut to its first four characters, safe to log."""
        return mask_key(self.write_key)

    @property
    def timeouts(self) -> tuple[float, float]:
        """The (connect, read) timeouts in seconds."""
        if isinstance(self.timeout, tuple):
            return self.timeout
        return (float(self.timeout), float(self.timeout))


_WRITE_KEY_HINT = "pass the project's write key (pw_...)"


def _check_write_key(value: object) -> None:
    # No message shows the key: only a missing or blank one is an error here.
    if not isinstance(value, str):
        raise ConfigurationError(
            f"write_key must be a non-empty str, got {type(value).__name__}; "
            f"{_WRITE_KEY_HINT}"
        )
    if not value:
        raise ConfigurationError(f"write_key is empty: {_WRITE_KEY_HINT}")
    if not value.strip():
        raise ConfigurationError(
            f"write_key is empty (only whitespace): {_WRITE_KEY_HINT}"
        )


def _check_sizes(max_message_bytes: int, max_batch_bytes: int) -> None:
    _check_int("max_message_bytes", max_message_bytes, minimum=1)
    _check_int("max_batch_bytes", max_batch_bytes, minimum=1)
    if max_message_bytes > max_batch_bytes:
        # Either option may be the wrong one, so the message names both.
        raise ConfigurationError(
            f"max_message_bytes ({max_message_bytes}) must not exceed "
            f"max_batch_bytes ({max_batch_bytes}), because every message must "
            "fit in one batch; lower max_message_bytes or raise max_batch_bytes"
        )


def _check_host(value: object) -> None:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise ConfigurationError(
            "host must be a URL starting with http:// or https://, "
            f"for example {DEFAULT_HOST}, got {value!r}"
        )


def _check_int(name: str, value: object, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigurationError(
            f"{name} must be an int of at least {minimum}, got {value!r}"
        )


def _check_seconds(name: str, value: object, *, positive: bool) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if value > 0 or (not positive and value == 0):
            return
    rule = "a positive number" if positive else "a number of at least 0"
    raise ConfigurationError(f"{name} must be {rule} of seconds, got {value!r}")


def _check_timeout(value: object) -> None:
    parts = value if isinstance(value, tuple) else (value,)
    expected_length = 2 if isinstance(value, tuple) else 1
    valid = len(parts) == expected_length and all(
        isinstance(part, (int, float)) and not isinstance(part, bool) and part > 0
        for part in parts
    )
    if not valid:
        raise ConfigurationError(
            "timeout must be a positive number of seconds or a "
            f"(connect, read) pair of them, got {value!r}"
        )
