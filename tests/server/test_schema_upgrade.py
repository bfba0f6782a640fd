"""A database from before person_distinct_id.first_seen gets the columns, filled."""

from __future__ import annotations

import datetime as dt

import pytest

from pug_server.config import load_config
from pug_server.db import make_database
from pug_server.models import ALL_MODELS, Event, PersonDistinctId, create_schema
from tests.conftest import require_postgres
from tests.helpers.live import create_postgres_database, drop_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
    else:
        require_postgres()
        url = create_postgres_database()
    database = make_database(url, load_config({"DATABASE_URL": url}))
    with database.bind_ctx(ALL_MODELS):
        yield database
    database.close_all()
    if request.param == "postgresql":
        drop_postgres_database(url)


def test_old_database_gets_seen_columns(database):
    create_schema(database)
    with database.connection_context():
        database.execute_sql(
            "INSERT INTO project (name, write_key, read_key_hash, "
            "timezone, created_at) VALUES ('p', 'pw_x', 'h', 'UTC', "
            f"{database.param})",
            (dt.datetime(2024, 5, 1),),
        )
        project_id = database.execute_sql("SELECT id FROM project").fetchone()[0]
        database.execute_sql(
            "INSERT INTO person (project_id, created_at, identified, first_distinct_id) "
            f"VALUES ({database.param}, {database.param}, {database.param}, 'u-1')",
            (project_id, dt.datetime(2024, 5, 1), False),
        )
        person_id = database.execute_sql("SELECT id FROM person").fetchone()[0]
        PersonDistinctId.create(project=project_id, distinct_id="u-1", person=person_id)
        for hour in (9, 11, 10):
            Event.create(
                project=project_id,
                message_id=f"m-{hour}",
                type="track",
                event="Seen",
                distinct_id="u-1",
                timestamp=dt.datetime(2024, 5, 1, hour),
            )
        for column in ("first_seen", "last_seen"):
            database.execute_sql(f"ALTER TABLE person_distinct_id DROP COLUMN {column}")

    create_schema(database)

    with database.connection_context():
        row = PersonDistinctId.get(PersonDistinctId.distinct_id == "u-1")
        assert _as_datetime(row.first_seen) == dt.datetime(2024, 5, 1, 9)
        assert _as_datetime(row.last_seen) == dt.datetime(2024, 5, 1, 11)


def _as_datetime(value):
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else value
