"""Fixtures shared by every test: live servers on SQLite and PostgreSQL.

Each session starts one server per backend; each test gets a project of its
own, so tests never see each other's data. PostgreSQL tests skip when the
server is unreachable, except under CI (``CI`` or ``PUG_REQUIRE_POSTGRES``
set), where they fail.
"""

from __future__ import annotations

import os

import pytest

from tests.helpers.live import (
    Api,
    create_postgres_database,
    create_project,
    drop_postgres_database,
    postgres_problem,
    start_server,
)

BACKENDS = ["sqlite", "postgresql"]


def _postgres_required() -> bool:
    return bool(os.environ.get("CI") or os.environ.get("PUG_REQUIRE_POSTGRES"))


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unreachable, fail under CI."""
    problem = postgres_problem()
    if problem is None:
        return
    if _postgres_required():
        pytest.fail(f"PostgreSQL is required under CI: {problem}")
    pytest.skip(problem)


@pytest.fixture(scope="session")
def database_url_factory(tmp_path_factory):
    """Create empty databases for a backend; drops PostgreSQL ones at the end."""
    created: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("sqlite") / "pug.db"
            return f"sqlite:///{path}"
        require_postgres()
        url = create_postgres_database()
        created.append(url)
        return url

    yield make
    for url in created:
        drop_postgres_database(url)


@pytest.fixture(scope="session", params=BACKENDS)
def live_server(request, database_url_factory, tmp_path_factory):
    """A ``pug-server serve`` (gunicorn, 2 workers) on 127.0.0.1 per backend."""
    backend = request.param
    database_url = database_url_factory(backend)
    server = start_server(database_url, backend, tmp_path_factory.mktemp(backend))
    yield server
    server.stop()


@pytest.fixture
def project(live_server):
    """A fresh project in the live server's database."""
    return create_project(live_server.database_url)


@pytest.fixture
def api(live_server, project):
    """An HTTP client for the test's own project on the live server."""
    client = Api(live_server, project)
    yield client
    client.session.close()
