"""Server configuration: defaults, ``PUG_*`` environment variables, validation."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: Every setting, its default and the type the environment value is parsed as.
DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": "sqlite:///pug.db",
    "LOG_LEVEL": "INFO",
    # Segment's limits: 32 KB a message, 500 KB a batch. The batch limit
    # applies to the JSON body after gzip decoding, which stops inflating
    # once the limit is passed, so a gzip bomb is never inflated in full.
    "MAX_MESSAGE_BYTES": 32 * 1024,
    "MAX_BATCH_BYTES": 500 * 1024,
    "MAX_BATCH_MESSAGES": 2500,
    # Containers (objects and arrays) nested in one message, counted from the
    # message itself. A deeper message is rejected on its own.
    "MAX_NESTING_DEPTH": 32,
    # Events stamped further than this into the future are clamped.
    "MAX_FUTURE_SECONDS": 24 * 3600,
    "SQLITE_BUSY_TIMEOUT_MS": 5000,
    "RETRY_AFTER_SECONDS": 2,
    "DB_POOL_SIZE": 8,
    "TIMEZONE": "UTC",
    # ``pug-server serve``: the address gunicorn listens on and its workers.
    "BIND": "127.0.0.1:8000",
    "PORT": 0,
    "WORKERS": 2,
    "WORKER_TIMEOUT": 30,
}

#: Integer settings that may be 0, meaning "not set".
_ZERO_ALLOWED = {"PORT"}

_INTEGER_SETTINGS = {name for name, value in DEFAULTS.items() if isinstance(value, int)}


class ConfigError(ValueError):
    """A configuration value is missing or not of an accepted form."""


def load_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build the configuration from defaults, ``PUG_*`` variables and *overrides*.

    :param overrides: settings that take precedence over the environment,
        without the ``PUG_`` prefix (``{"DATABASE_URL": "sqlite:///x.db"}``).
    :raises ConfigError: when a value is invalid; the message names the
        variable and the accepted values.
    """
    config = dict(DEFAULTS)
    for name in DEFAULTS:
        raw = os.environ.get("PUG_" + name)
        if raw is not None:
            config[name] = _parse(name, raw)
    for name, value in (overrides or {}).items():
        config[name] = _parse(name, value) if isinstance(value, str) else value
    _validate(config)
    return config


def _parse(name: str, raw: str) -> Any:
    if name not in _INTEGER_SETTINGS:
        return raw.strip()
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"PUG_{name} must be a whole number, got {raw!r}") from None


def _validate(config: dict[str, Any]) -> None:
    url = config["DATABASE_URL"]
    if not isinstance(url, str) or not url.startswith(
        ("sqlite://", "postgresql://", "postgres://")
    ):
        raise ConfigError(
            "PUG_DATABASE_URL must start with sqlite:// or postgresql://, "
            "for example sqlite:///pug.db or postgresql://user@host:5432/pug"
        )
    level = str(config["LOG_LEVEL"]).upper()
    if level not in LOG_LEVELS:
        raise ConfigError(
            f"PUG_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, "
            f"got {config['LOG_LEVEL']!r}"
        )
    config["LOG_LEVEL"] = level
    for name in sorted(_INTEGER_SETTINGS):
        value = config[name]
        floor = 0 if name in _ZERO_ALLOWED else 1
        if not isinstance(value, int) or isinstance(value, bool) or value < floor:
            accepted = "0 or more" if floor == 0 else "a positive whole number"
            raise ConfigError(f"PUG_{name} must be {accepted}, got {value!r}")
    if config["PORT"] > 65535:
        raise ConfigError(f"PUG_PORT must be 1 to 65535, got {config['PORT']!r}")
    _validate_bind(config["BIND"])
    _validate_timezone(config["TIMEZONE"])


def _validate_bind(bind: Any) -> None:
    host, _, port = str(bind).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) <= 65535:
        raise ConfigError(
            f"PUG_BIND must be HOST:PORT, for example 127.0.0.1:8000, got {bind!r}"
        )


def bind_address(config: Mapping[str, Any]) -> str:
    """Return the ``HOST:PORT`` to listen on: ``BIND``, with ``PORT`` if set."""
    bind = str(config["BIND"])
    if config.get("PORT"):
        host = bind.rpartition(":")[0]
        return f"{host}:{config['PORT']}"
    return bind


def _validate_timezone(name: str) -> None:
    from pug_server.services.metrics.periods import resolve_zone

    try:
        resolve_zone(name)
    except ValueError:
        raise ConfigError(
            f"PUG_TIMEZONE must be an IANA time zone such as Europe/Berlin, "
            f"got {name!r}"
        ) from None
