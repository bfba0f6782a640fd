"""Peewee models; :data:`ALL_MODELS` is the schema in creation order."""

from pug_server.models.event import Event, RejectedMessage
from pug_server.models.group import Group, GroupMembership, GroupTrait
from pug_server.models.metric import Dashboard, Metric
from pug_server.models.person import Person, PersonDistinctId, PersonMerge, PersonTrait
from pug_server.models.project import Project

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
    """Create every table and index that does not exist yet."""
    with database.connection_context():
        database.create_tables(ALL_MODELS, safe=True)


__all__ = [model.__name__ for model in ALL_MODELS] + ["ALL_MODELS", "create_schema"]
