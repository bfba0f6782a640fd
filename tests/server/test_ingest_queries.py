"""The ingest hot path makes a constant number of queries per batch."""

from __future__ import annotations

import logging

import pytest

from pug_server import create_app
from pug_server.models import Project
from pug_server.services.ingest import ingest_batch


class QueryCounter(logging.Handler):
    """Count the SQL statements peewee logs at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, database_url_factory):
    url = database_url_factory(request.param)
    app = create_app({"DATABASE_URL": url})
    with app.app_context():
        yield app


def _batch(size: int, offset: int) -> list[dict]:
    return [
        {
            "type": "track",
            "userId": f"u-{i % 5}",
            "event": "Counted",
            "messageId": f"q-{offset + i}",
            "properties": {"i": i},
        }
        for i in range(size)
    ]


def _count_queries(project, messages, config) -> int:
    logger = logging.getLogger("peewee")
    counter = QueryCounter()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        result = ingest_batch(project, messages, config=config)
    finally:
        logger.removeHandler(counter)
        logger.setLevel(old_level)
    assert result.accepted == len(messages)
    return counter.count


def test_query_count_constant_per_batch(app):
    config = app.config["PUG"]
    project, _ = Project.create_with_keys("queries")
    # The first batch creates the persons of u-0 .. u-4, so the measured
    # batches only reuse known ids.
    ingest_batch(project, _batch(5, 0), config=config)
    small = _count_queries(project, _batch(10, 1000), config)
    large = _count_queries(project, _batch(100, 2000), config)
    assert small > 0
    assert small == large
