"""Statement counts of identity resolution: constant per batch for plain tracks.

Bulk statements are split every 500 rows, so the batches here stay under
500 ids to compare counts of whole batches.
"""

from __future__ import annotations

import logging

import pytest

from pug_server.config import load_config
from pug_server.db import database, make_database
from pug_server.models import ALL_MODELS, Project
from pug_server.services.ingest import ingest_batch


class QueryCounter(logging.Handler):
    """Count the statements peewee logs at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.statements: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.statements.append(str(record.msg))


@pytest.fixture
def sqlite_project(tmp_path):
    url = f"sqlite:///{tmp_path / 'queries.db'}"
    config = load_config({"DATABASE_URL": url})
    db = make_database(url, config)
    database.initialize(db)
    db.create_tables(ALL_MODELS)
    project, _ = Project.create_with_keys("queries")
    yield project, config
    db.close()


def _count(project, config, messages) -> int:
    counter = QueryCounter()
    peewee_logger = logging.getLogger("peewee")
    level = peewee_logger.level
    peewee_logger.addHandler(counter)
    peewee_logger.setLevel(logging.DEBUG)
    try:
        result = ingest_batch(project, messages, config=config)
    finally:
        peewee_logger.removeHandler(counter)
        peewee_logger.setLevel(level)
    assert result.accepted == len(messages)
    return len(counter.statements)


def _tracks(prefix: str, count: int, *, both_ids: bool = False) -> list[dict]:
    messages = []
    for n in range(count):
        message = {"type": "track", "event": "Viewed", "userId": f"{prefix}-u-{n}"}
        if both_ids:
            message["anonymousId"] = f"{prefix}-a-{n}"
        messages.append(message)
    return messages


@pytest.mark.parametrize("both_ids", [False, True], ids=["user_id", "both_ids"])
def test_new_ids_cost_fixed_statements(sqlite_project, both_ids):
    project, config = sqlite_project

    small = _count(project, config, _tracks("small", 5, both_ids=both_ids))
    large = _count(project, config, _tracks("large", 200, both_ids=both_ids))

    assert small == large


def test_known_ids_cost_fixed_statements(sqlite_project):
    project, config = sqlite_project
    _count(project, config, _tracks("small", 5, both_ids=True))
    _count(project, config, _tracks("large", 200, both_ids=True))

    small = _count(project, config, _tracks("small", 5, both_ids=True))
    large = _count(project, config, _tracks("large", 200, both_ids=True))

    assert small == large


def test_context_groups_cost_fixed_statements(sqlite_project):
    project, config = sqlite_project

    def tracks(prefix: str, count: int) -> list[dict]:
        messages = _tracks(prefix, count)
        for n, message in enumerate(messages):
            message["context"] = {"groups": {"team": f"{prefix}-t-{n % 7}"}}
        return messages

    small = _count(project, config, tracks("small", 5))
    large = _count(project, config, tracks("large", 200))

    assert small == large
