"""Groups (teams, companies), their traits and their members."""

from __future__ import annotations

import peewee

from pug_server.models.base import BaseModel, JSONField, utcnow
from pug_server.models.person import Person
from pug_server.models.project import Project

DEFAULT_GROUP_TYPE = "group"


class Group(BaseModel):
    id = peewee.BigAutoField()
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE", index=False)
    group_type = peewee.CharField(max_length=100)
    group_key = peewee.CharField(max_length=200)
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        # "group" is an SQL keyword; a plural name keeps raw SQL unquoted.
        table_name = "groups"
        indexes = ((("project", "group_type", "group_key"), True),)


class GroupTrait(BaseModel):
    id = peewee.BigAutoField()
    group = peewee.ForeignKeyField(Group, on_delete="CASCADE", index=False)
    key = peewee.CharField(max_length=200)
    value = JSONField(null=True)
    timestamp = peewee.DateTimeField()
    set_once = peewee.BooleanField(default=False)

    class Meta:
        indexes = ((("group", "key"), True),)


class GroupMembership(BaseModel):
    """A person joining a group at an event time.

    A group call adds one row. A message that names its group in
    ``context.groupId`` or ``context.groups`` adds a row only when it is
    earlier than every row of that person and group.
    """

    id = peewee.BigAutoField()
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE", index=False)
    person = peewee.ForeignKeyField(Person, on_delete="CASCADE", index=False)
    group = peewee.ForeignKeyField(Group, on_delete="CASCADE")
    group_type = peewee.CharField(max_length=100)
    timestamp = peewee.DateTimeField()

    class Meta:
        indexes = ((("person", "group_type", "timestamp"), False),)
