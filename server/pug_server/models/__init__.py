"""Peewee models; :data:`ALL_MODELS` is the schema in creation order."""

import logging

import peewee
from playhouse.migrate import SchemaMigrator, migrate

from pug_server.models.event import Event, RejectedMessage
from pug_server.models.group import Group, GroupMembership, GroupTrait
from pug_server.models.metric import Dashboard, Metric
from pug_server.models.person import Person, PersonDistinctId, PersonMerge, PersonTrait
from pug_server.models.project import Project

logger = logging.getLogger(__name__)

ALL_MODELS = [
    Project,
    Event,
    RejectedMessage,
    Person,
    PersonDistinctId,
    PersonTrait,
    PersonMerge,
    Group,
    GroupTrait,
    GroupMembership,
    Metric,
    Dashboard,
]


def create_schema(database) -> None:
    """Create every table and index that does not exist yet.

    A database created before ``person_distinct_id`` had ``first_seen``
    and ``last_seen`` gets the columns, filled from its events.
    """
    with database.connection_context():
        database.create_tables(ALL_MODELS, safe=True)
        _add_seen_columns(database)


def _add_seen_columns(database) -> None:
    table = PersonDistinctId._meta.table_name
    present = {column.name for column in database.get_columns(table)}
    if "first_seen" in present:
        return
    migrator = SchemaMigrator.from_database(database)
    try:
        with database.atomic():
            migrate(
                migrator.add_column(table, "first_seen", PersonDistinctId.first_seen),
                migrator.add_column(table, "last_seen", PersonDistinctId.last_seen),
            )
            database.execute_sql(_FILL_SEEN)
    except (peewee.ProgrammingError, peewee.OperationalError):
        # Another process added and filled the columns first.
        present = {column.name for column in database.get_columns(table)}
        if "first_seen" not in present:
            raise
        logger.info(
            "first_seen and last_seen were added to %s by another process", table
        )
        return
    logger.info("added first_seen and last_seen to %s", table)


# One pass over the events, grouped by id. Two correlated MIN and MAX
# subqueries per id made SQLite walk the project's events by time for
# every id, which took seconds for a few thousand ids.
_FILL_SEEN = (
    "UPDATE person_distinct_id SET first_seen = seen.first, last_seen = seen.last "
    "FROM (SELECT project_id, distinct_id, MIN(timestamp) AS first, "
    "MAX(timestamp) AS last FROM event WHERE distinct_id IS NOT NULL "
    "GROUP BY project_id, distinct_id) AS seen "
    "WHERE person_distinct_id.project_id = seen.project_id "
    "AND person_distinct_id.distinct_id = seen.distinct_id"
)
