"""Logging configuration shared by ``pug-server serve`` and gunicorn."""

from __future__ import annotations

import logging.config


def logging_config(level: str = "INFO") -> dict:
    """Return the ``dictConfig`` mapping for the server's loggers."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "plain": {
                "format": "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
            }
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "plain"}
        },
        "root": {"level": "WARNING", "handlers": ["stderr"]},
        "loggers": {
            "pug_server": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.error": {
                "level": "INFO",
                "handlers": ["stderr"],
                "propagate": False,
            },
            "gunicorn.access": {"level": "WARNING", "propagate": False},
            # Peewee's query log prints bound parameters, which carry user data.
            "peewee": {"level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(logging_config(level))
