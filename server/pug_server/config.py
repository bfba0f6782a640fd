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
    # Events stamped further than this into the future are clamped.
    "MAX_FUTURE_SECONDS": 24 * 3600,
    "SQLITE_BUSY_TIMEOUT_MS": 5000,
    "RETRY_AFTER_SECONDS": 2,
    "DB_POOL_SIZE": 8,
    "TIMEZONE": "UTC",
}

_INTEGER_SETTINGS = {
    name for name, value in DEFAULTS.items() if isinstance(value, int)
}


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
        raise ConfigError(
            f"PUG_{name} must be a whole number, got {raw!r}"
        ) from None


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
            f"PUG_LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {level!r}"
        )
    config["LOG_LEVEL"] = level
    for name in sorted(_INTEGER_SETTINGS):
        value = config[name]
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ConfigError(
                f"PUG_{name} must be a positive whole number, got {value!r}"
            )
    _validate_timezone(config["TIMEZONE"])


def _validate_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"PUG_TIMEZONE must be an IANA time zone such as Europe/Berlin, "
            f"got {name!r}"
        ) from None
