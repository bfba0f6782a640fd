"""The ``pug-server`` command: serve, init-db, create-project, rotate-keys, import."""

from __future__ import annotations

import argparse
import json
import logging
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

    settings, database = _open_database()
    timezone = args.timezone or settings["TIMEZONE"]
    if not _is_timezone(timezone):
        print(
            f"error: --timezone must be an IANA time zone such as Europe/Berlin, "
            f"got {timezone!r}",
            file=sys.stderr,
        )
        return 2
    with database.connection_context(), database.atomic():
        if Project.select().where(Project.name == args.name).exists():
            print(
                f"error: a project named {args.name!r} exists; choose another "
                "name, or use rotate-keys to get new keys for it",
                file=sys.stderr,
            )
            return 1
        project, read_key = Project.create_with_keys(args.name, timezone)
        # Printed inside the transaction: if the keys cannot be written out
        # (a closed pipe), the project is not created, since its read key
        # could never be shown again.
        _print_keys(project, read_key)
    return 0


def _is_timezone(name: str) -> bool:
    from pug_server.services.metrics.periods import resolve_zone

    try:
        resolve_zone(name)
    except ValueError:
        return False
    return True


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    """Replace a project's write key and read key; the old ones stop working."""
    from pug_server.models import Project

    _, database = _open_database()
    with database.connection_context(), database.atomic():
        project = _find_project(Project, args.project)
        if project is None:
            print(
                f"error: no project with id or name {args.project!r}", file=sys.stderr
            )
            return 1
        read_key = project.rotate_keys()
        # The old keys stay valid unless the new ones were written out.
        _print_keys(project, read_key)
    logger.info("rotated keys project_id=%s", project.id)
    return 0


def _find_project(model, ident: str):
    if ident.isdigit():
        project = model.get_or_none(model.id == int(ident))
        if project is not None:
            return project
    matches = list(model.select().where(model.name == ident).limit(2))
    return matches[0] if len(matches) == 1 else None


class KeyOutputError(Exception):
    """New keys could not be written to standard output."""


def _print_keys(project, read_key: str) -> None:
    """Write the keys to standard output.

    :raises KeyOutputError: when they cannot be written (a closed pipe, a
        full disk). Callers print inside the transaction that changes the
        keys, so the change rolls back.
    """
    try:
        sys.stdout.write(
            f"project_id={project.id}\nname={project.name}\n"
            f"write_key={project.write_key}\nread_key={read_key}\n"
        )
        sys.stdout.flush()
    except OSError as exc:
        raise KeyOutputError(
            f"could not write the keys to standard output ({exc.strerror or exc}); "
            "nothing was changed"
        ) from exc


def cmd_import(args: argparse.Namespace) -> int:
    """Load newline-delimited Segment-spec messages from a file (plain or gzip)."""
    from pathlib import Path

    from pug_server.models import Project
    from pug_server.services.importer import ImportFileError, import_file

    if args.chunk < 1:
        print(f"error: --chunk must be at least 1, got {args.chunk}", file=sys.stderr)
        return 2
    settings, database = _open_database()
    path = Path(args.file)
    if not path.is_file():
        print(f"error: file not found: {path}", file=sys.stderr)
        return 1
    with database.connection_context():
        project = _import_project(Project, args)
        if project is None:
            return 1
        bar = _ProgressBar(sys.stderr)
        try:
            summary = import_file(
                project,
                path,
                config=settings,
                chunk_lines=args.chunk,
                progress=bar.update,
            )
        except ImportFileError as exc:
            bar.finish()
            print(f"error: {path}: {exc}", file=sys.stderr)
            return 1
        bar.finish()
    for problem in summary.problems[: args.max_errors]:
        ident = f" messageId={problem.message_id}" if problem.message_id else ""
        errors = json.dumps(problem.errors, sort_keys=True)
        print(f"line {problem.line}:{ident} rejected: {errors}", file=sys.stderr)
    if summary.rejected > args.max_errors:
        hidden = summary.rejected - args.max_errors
        print(f"... and {hidden} more rejected lines", file=sys.stderr)
    print(
        f"lines={summary.lines} accepted={summary.accepted} "
        f"duplicates={summary.duplicates} rejected={summary.rejected} "
        f"blank={summary.blank}"
    )
    return 0 if summary.rejected == 0 or not args.strict else 3


def _import_project(model, args: argparse.Namespace):
    if args.write_key:
        project = model.by_write_key(args.write_key)
        if project is None:
            print(
                "error: no project has that write key: use the write_key that "
                "create-project or rotate-keys printed",
                file=sys.stderr,
            )
        return project
    project = _find_project(model, args.project)
    if project is None:
        print(f"error: no project with id or name {args.project!r}", file=sys.stderr)
    return project


class _ProgressBar:
    """A one-line textual progress bar, redrawn in place on a terminal."""

    WIDTH = 30

    def __init__(self, stream) -> None:
        self.stream = stream
        self.interactive = stream.isatty()
        self.last_tenth = -1
        self.last_lines = -1

    def update(self, done: int, total: int, summary) -> None:
        fraction = done / total if total else 1.0
        tenth = int(fraction * 10)
        # Off a terminal, print one line per tenth instead of redrawing, and
        # always the final count.
        final = done >= total and summary.lines != self.last_lines
        if not self.interactive and tenth == self.last_tenth and not final:
            return
        self.last_tenth = tenth
        self.last_lines = summary.lines
        filled = int(fraction * self.WIDTH)
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {fraction:6.1%} "
            f"lines={summary.lines} accepted={summary.accepted} "
            f"duplicates={summary.duplicates} rejected={summary.rejected}"
        )
        end = "\r" if self.interactive else "\n"
        print(line, end=end, file=self.stream, flush=True)

    def finish(self) -> None:
        if self.interactive:
            print(file=self.stream)


def cmd_merge_persons(args: argparse.Namespace) -> int:
    """Merge the person of one id into the person of another, even if both are identified."""
    from pug_server.errors import UnavailableError
    from pug_server.models import Project
    from pug_server.services.identity import admin_merge

    _, database = _open_database()
    with database.connection_context():
        project = _find_project(Project, args.project)
        if project is None:
            print(
                f"error: no project with id or name {args.project!r}", file=sys.stderr
            )
            return 1
        try:
            moved = admin_merge(
                project.id, args.from_distinct_id, args.into_distinct_id
            )
        except (LookupError, ValueError, UnavailableError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(
        f"merged {args.from_distinct_id!r} into {args.into_distinct_id!r}: "
        f"{len(moved)} id(s) moved, recorded with reason admin"
    )
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the server under gunicorn until it is stopped."""
    from pug_server.server import run_gunicorn

    overrides = {
        name: value
        for name, value in (
            ("BIND", args.bind),
            ("PORT", args.port),
            ("WORKERS", args.workers),
            ("WORKER_TIMEOUT", args.timeout),
        )
        if value is not None
    }
    return run_gunicorn(overrides)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pug-server",
        description="Pug ingestion and metrics server. The database is set by "
        "PUG_DATABASE_URL (default sqlite:///pug.db in the working folder).",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the server under gunicorn")
    # Defaults come from PUG_BIND, PUG_PORT, PUG_WORKERS and
    # PUG_WORKER_TIMEOUT through load_config, which validates them.
    serve.add_argument(
        "--bind",
        help=f"HOST:PORT to listen on (env PUG_BIND, default {DEFAULT_BIND})",
    )
    serve.add_argument(
        "--port",
        type=int,
        help="port to listen on, replacing the port of --bind (env PUG_PORT)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        help=f"worker processes (env PUG_WORKERS, default {DEFAULT_WORKERS})",
    )
    serve.add_argument(
        "--timeout",
        type=int,
        help="seconds before a silent worker is restarted "
        "(env PUG_WORKER_TIMEOUT, default 30)",
    )
    serve.set_defaults(handler=cmd_serve)

    init_db = commands.add_parser("init-db", help="create the database schema")
    init_db.set_defaults(handler=cmd_init_db)

    create = commands.add_parser(
        "create-project", help="create a project and print its keys"
    )
    create.add_argument("name", help="the project's name")
    create.add_argument(
        "--timezone",
        default=None,
        help="IANA time zone of the project's metrics (default PUG_TIMEZONE, "
        "which defaults to UTC)",
    )
    create.set_defaults(handler=cmd_create_project)

    rotate = commands.add_parser(
        "rotate-keys", help="replace a project's keys and print the new ones"
    )
    rotate.add_argument("project", help="the project's id or name")
    rotate.set_defaults(handler=cmd_rotate_keys)

    importer = commands.add_parser(
        "import",
        help="load newline-delimited Segment-spec messages from a file",
        description="Load one JSON message a line (plain or gzip, detected by "
        "its magic bytes) through the same validation, deduplication and "
        "identity path as POST /v1/batch.",
    )
    importer.add_argument("file", help="path of the .jsonl or .jsonl.gz file")
    target = importer.add_mutually_exclusive_group(required=True)
    target.add_argument("--project", help="the project's id or name")
    target.add_argument("--write-key", help="the project's write key")
    importer.add_argument(
        "--chunk",
        type=int,
        default=500,
        help="lines per transaction (default 500)",
    )
    importer.add_argument(
        "--max-errors",
        type=int,
        default=100,
        help="rejected lines to print before summarising the rest (default 100)",
    )
    importer.add_argument(
        "--strict",
        action="store_true",
        help="exit with status 3 when any line was rejected",
    )
    importer.set_defaults(handler=cmd_import)

    merge = commands.add_parser(
        "merge-persons",
        help="merge the person of one id into the person of another",
        description="Merge deliberately, overriding the rule that keeps two "
        "identified persons apart. Ids, traits and group memberships move; "
        "the merge is recorded with reason admin.",
    )
    merge.add_argument("--project", required=True, help="the project's id or name")
    merge.add_argument("from_distinct_id", help="an id of the person merged away")
    merge.add_argument("into_distinct_id", help="an id of the person that remains")
    merge.set_defaults(handler=cmd_merge_persons)
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
    except KeyOutputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
