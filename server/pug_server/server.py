"""Run the application under gunicorn, with start and stop logged."""

from __future__ import annotations

import logging

from gunicorn.app.base import BaseApplication

from pug_server.config import load_config
from pug_server.db import backend_name, describe_url
from pug_server.logging import logging_config

logger = logging.getLogger(__name__)


class PugApplication(BaseApplication):
    """A gunicorn application whose workers each call :func:`create_app`."""

    def __init__(self, options: dict) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            # Settings unknown to the installed gunicorn (the control socket
            # exists from 24.1 on) are skipped.
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from pug_server import create_app

        return create_app()


def run_gunicorn(*, bind: str, workers: int, timeout: int = 30) -> int:
    """Serve until SIGINT or SIGTERM; return the exit status.

    The schema is created here, before the workers start, so that workers
    never race to create tables.
    """
    from pug_server import db
    from pug_server.models import create_schema

    settings = load_config()
    create_schema(db.init_database(settings))
    db.database.close()
    backend = backend_name(settings["DATABASE_URL"])
    where = describe_url(settings["DATABASE_URL"])

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
        "timeout": timeout,
        "graceful_timeout": 10,
        "logconfig_dict": logging_config(settings["LOG_LEVEL"]),
        "on_starting": on_starting,
        "on_exit": on_exit,
        "accesslog": None,
        # Several servers on one host (tests, a blue-green switch) must not
        # fight over one control socket path.
        "control_socket_disable": True,
    }
    PugApplication(options).run()
    return 0
