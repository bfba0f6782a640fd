"""Live Pug servers on loopback and the projects tests send to."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
READY_TIMEOUT_SECONDS = 30


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_admin_url() -> str:
    return os.environ.get("PUG_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)


def postgres_problem() -> str | None:
    """Return why PostgreSQL cannot be used for tests, or ``None`` if it can."""
    try:
        import psycopg2
    except ImportError:
        return "psycopg2 is not installed"
    try:
        psycopg2.connect(postgres_admin_url(), connect_timeout=3).close()
    except psycopg2.Error as exc:
        return f"PostgreSQL at {postgres_admin_url()} is unreachable: {exc}".strip()
    return None


def create_postgres_database() -> str:
    """Create an empty database for one test session and return its URL."""
    import psycopg2

    name = "pug_test_" + secrets.token_hex(4)
    admin = psycopg2.connect(postgres_admin_url())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    base, _, _ = postgres_admin_url().rpartition("/")
    return f"{base}/{name}"


def drop_postgres_database(url: str) -> None:
    import psycopg2

    name = url.rpartition("/")[2]
    admin = psycopg2.connect(postgres_admin_url())
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


@dataclass
class LiveServer:
    """A ``pug-server serve`` process on 127.0.0.1."""

    url: str
    database_url: str
    backend: str
    log_path: Path
    process: subprocess.Popen | None = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


def serve_command(port: int, workers: int) -> list[str]:
    """Return the command line that runs ``pug-server serve`` on *port*."""
    return [
        sys.executable,
        "-m",
        "pug_server",
        "serve",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
    ]


def start_server(
    database_url: str,
    backend: str,
    workdir: Path,
    *,
    workers: int = 2,
    env: dict[str, str] | None = None,
    ready_path: str = "/ready",
) -> LiveServer:
    """Start ``pug-server serve`` and wait until *ready_path* answers 200.

    Pass ``ready_path="/health"`` for a server whose database is meant to
    be unreachable.
    """
    port = free_port()
    log_path = workdir / f"server-{backend}-{port}.log"
    environment = {
        **os.environ,
        "PUG_DATABASE_URL": database_url,
        "PUG_LOG_LEVEL": "INFO",
        **(env or {}),
    }
    log_file = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        serve_command(port, workers),
        cwd=workdir,
        env=environment,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = LiveServer(
        f"http://127.0.0.1:{port}", database_url, backend, log_path, process
    )
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pug-server exited early:\n{server.log_text()}")
        try:
            if requests.get(server.url + ready_path, timeout=1).status_code == 200:
                return server
        # A worker busy with its first request on a loaded machine answers
        # after the one-second timeout; keep polling until the deadline.
        except (requests.ConnectionError, requests.Timeout):
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"pug-server did not become ready:\n{server.log_text()}")


@dataclass
class ProjectKeys:
    id: int
    name: str
    write_key: str
    read_key: str


def create_project(database_url: str, name: str | None = None, timezone: str = "UTC"):
    """Create a project directly in the server's database; return its keys."""
    from pug_server.config import load_config
    from pug_server.db import make_database
    from pug_server.models import ALL_MODELS, Project

    database = make_database(database_url, load_config({"DATABASE_URL": database_url}))
    try:
        with database.bind_ctx(ALL_MODELS), database.connection_context():
            project, read_key = Project.create_with_keys(
                name or "test-" + secrets.token_hex(3), timezone
            )
        return ProjectKeys(project.id, project.name, project.write_key, read_key)
    finally:
        database.close_all() if hasattr(database, "close_all") else database.close()


class Api:
    """A small HTTP client for one project of a live server."""

    def __init__(self, server: LiveServer, project: ProjectKeys) -> None:
        self.server = server
        self.project = project
        self.session = requests.Session()

    def batch(self, messages: list[dict], **body) -> requests.Response:
        """POST ``/v1/batch`` with the write key as the Basic user."""
        return self.session.post(
            self.server.url + "/v1/batch",
            json={"batch": messages, **body},
            auth=(self.project.write_key, ""),
            timeout=30,
        )

    def send(self, messages: list[dict], **body) -> dict:
        """Send a batch, check it was answered 200 and return the answer."""
        response = self.batch(messages, **body)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, path: str, **params) -> requests.Response:
        return self.session.get(
            self.server.url + path,
            params=params,
            headers={"Authorization": f"Bearer {self.project.read_key}"},
            timeout=60,
        )

    def post(self, path: str, payload: dict) -> requests.Response:
        return self.session.post(
            self.server.url + path,
            json=payload,
            headers={"Authorization": f"Bearer {self.project.read_key}"},
            timeout=60,
        )

    def put(self, path: str, payload: dict) -> requests.Response:
        return self.session.put(
            self.server.url + path,
            json=payload,
            headers={"Authorization": f"Bearer {self.project.read_key}"},
            timeout=60,
        )

    def delete(self, path: str) -> requests.Response:
        return self.session.delete(
            self.server.url + path,
            headers={"Authorization": f"Bearer {self.project.read_key}"},
            timeout=60,
        )
