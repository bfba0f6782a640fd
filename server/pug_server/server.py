"""Run the application under gunicorn, with start and stop logged."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from pug_server.config import bind_address, load_config
from pug_server.db import backend_name, describe_url
from pug_server.logging import logging_config

logger = logging.getLogger(__name__)


class AccessLogger(GunicornLogger):
    """gunicorn's logger, which skips the access line that would be dropped.

    gunicorn formats the access fields of every request before it logs them,
    even when ``gunicorn.access`` drops INFO lines, as it does here.
    """

    def access(self, resp, req, environ, request_time) -> None:
        if self.access_log.isEnabledFor(logging.INFO):
            super().access(resp, req, environ, request_time)


class PugApplication(BaseApplication):
    """A gunicorn application whose workers each call :func:`create_app`."""

    def __init__(self, options: dict[str, Any], overrides: Mapping[str, Any]) -> None:
        self.options = options
        self.overrides = dict(overrides)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            # Settings unknown to the installed gunicorn (the control socket
            # exists from 24.1 on) are skipped.
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from pug_server import create_app

        return create_app(self.overrides)


def run_gunicorn(overrides: Mapping[str, Any] | None = None) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status.

    The schema is created here, before the workers start, so that workers
    never race to create tables. When the database cannot be reached the
    server starts all the same: ``/ready`` answers 503 and the schema is
    created by the first request that reaches the database.

    :param overrides: settings that replace the ``PUG_*`` environment,
        such as ``{"WORKERS": 4}`` from the command line.
    :raises pug_server.config.ConfigError: when a setting is invalid.
    """
    from pug_server import db

    overrides = dict(overrides or {})
    settings = load_config(overrides)
    bind = bind_address(settings)
    workers = settings["WORKERS"]
    backend = backend_name(settings["DATABASE_URL"])
    where = describe_url(settings["DATABASE_URL"])
    db.init_database(settings)
    db.ensure_schema_if_reachable()
    db.close_all()

    def on_starting(server) -> None:
        logger.info(
            "starting pug server bind=%s workers=%d database=%s url=%s",
            bind,
            workers,
            backend,
            where,
        )

    def on_exit(server) -> None:
        logger.info("stopped pug server bind=%s database=%s", bind, backend)

    options = {
        "bind": bind,
        "workers": workers,
        "timeout": settings["WORKER_TIMEOUT"],
        "graceful_timeout": 10,
        "logconfig_dict": logging_config(settings["LOG_LEVEL"]),
        "on_starting": on_starting,
        "on_exit": on_exit,
        "accesslog": None,
        "logger_class": AccessLogger,
        # Several servers on one host (tests, a blue-green switch) must not
        # fight over one control socket path.
        "control_socket_disable": True,
    }
    PugApplication(options, overrides).run()
    return 0
