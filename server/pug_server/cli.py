"""The ``pug-server`` command: serve, init-db, create-project, rotate-keys."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pug_server.config import ConfigError, load_config

logger = logging.getLogger(__name__)

DEFAULT_BIND = "127.0.0.1:8000"
DEFAULT_WORKERS = 2


def _open_database():
    from pug_server import db
    from pug_server.models import create_schema

    settings = load_config()
    database = db.init_database(settings)
    create_schema(database)
    return settings, database


def cmd_init_db(args: argparse.Namespace) -> int:
    """Create the tables and indexes that do not exist yet."""
    from pug_server.db import describe_url

    settings, _ = _open_database()
    print(f"schema ready in {describe_url(settings['DATABASE_URL'])}")
    return 0


def cmd_create_project(args: argparse.Namespace) -> int:
    """Create a project and print its id, write key and read key."""
    from pug_server.models import Project

    _, database = _open_database()
    with database.connection_context():
        project, read_key = Project.create_with_keys(args.name, args.timezone)
    _print_keys(project, read_key)
    return 0


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    """Replace a project's write key and read key; the old ones stop working."""
    from pug_server.models import Project

    _, database = _open_database()
    with database.connection_context():
        project = _find_project(Project, args.project)
        if project is None:
            print(f"error: no project with id or name {args.project!r}", file=sys.stderr)
            return 1
        read_key = project.rotate_keys()
    logger.info("rotated keys project_id=%s", project.id)
    _print_keys(project, read_key)
    return 0


def _find_project(model, ident: str):
    if ident.isdigit():
        project = model.get_or_none(model.id == int(ident))
        if project is not None:
            return project
    matches = list(model.select().where(model.name == ident).limit(2))
    return matches[0] if len(matches) == 1 else None


def _print_keys(project, read_key: str) -> None:
    print(f"project_id={project.id}")
    print(f"name={project.name}")
    print(f"write_key={project.write_key}")
    print(f"read_key={read_key}")


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server under gunicorn until it is stopped."""
    from pug_server.server import run_gunicorn

    return run_gunicorn(
        bind=args.bind,
        workers=args.workers,
        timeout=args.timeout,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pug-server",
        description="Pug ingestion and metrics server. The database is set by "
        "PUG_DATABASE_URL (default sqlite:///pug.db in the working folder).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server under gunicorn")
    serve.add_argument(
        "--bind",
        default=os.environ.get("PUG_BIND", DEFAULT_BIND),
        help=f"address and port to listen on (env PUG_BIND, default {DEFAULT_BIND})",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("PUG_WORKERS", DEFAULT_WORKERS)),
        help=f"worker processes (env PUG_WORKERS, default {DEFAULT_WORKERS})",
    )
    serve.add_argument(
        "--timeout",
        type=int,
        default=int(os.environ.get("PUG_WORKER_TIMEOUT", 30)),
        help="seconds before a silent worker is restarted (env PUG_WORKER_TIMEOUT)",
    )
    serve.set_defaults(handler=cmd_serve)

    init_db = commands.add_parser("init-db", help="create the database schema")
    init_db.set_defaults(handler=cmd_init_db)

    create = commands.add_parser(
        "create-project", help="create a project and print its keys"
    )
    create.add_argument("name", help="the project's name")
    create.add_argument(
        "--timezone", default="UTC", help="IANA time zone of the project's metrics"
    )
    create.set_defaults(handler=cmd_create_project)

    rotate = commands.add_parser(
        "rotate-keys", help="replace a project's keys and print the new ones"
    )
    rotate.add_argument("project", help="the project's id or name")
    rotate.set_defaults(handler=cmd_rotate_keys)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pug_server.logging import configure_logging

    args = build_parser().parse_args(argv)
    try:
        configure_logging(load_config()["LOG_LEVEL"])
        return args.handler(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
