"""Persons, the ids that belong to them, their traits and their merges."""

from __future__ import annotations

import datetime as dt

import peewee

from pug_server.models.base import BaseModel, JSONField, utcnow
from pug_server.models.project import Project


class Person(BaseModel):
    id = peewee.BigAutoField()
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE")
    created_at = peewee.DateTimeField(default=utcnow)
    # True once any userId belongs to this person.
    identified = peewee.BooleanField(default=False)
    # The id the person was created for. A bulk insert maps its RETURNING
    # rows back to ids through it, because SQLite returns them in no set order.
    first_distinct_id = peewee.CharField(max_length=200, null=True)


#: How much later an event must be to move an id's ``last_seen``.
LAST_SEEN_STEP = dt.timedelta(minutes=1)


class PersonDistinctId(BaseModel):
    """One id (``userId`` or ``anonymousId``) and the person it belongs to."""

    id = peewee.BigAutoField()
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE", index=False)
    distinct_id = peewee.CharField(max_length=200)
    person = peewee.ForeignKeyField(Person, on_delete="CASCADE")
    is_user_id = peewee.BooleanField(default=False)
    created_at = peewee.DateTimeField(default=utcnow)
    # The earliest and latest time of the events stored with this id as
    # their own. ``last_seen`` moves only to a time at least
    # ``LAST_SEEN_STEP`` later, so an active id is written about once a
    # minute rather than with every batch.
    first_seen = peewee.DateTimeField(null=True)
    last_seen = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("project", "distinct_id"), True),)


class PersonTrait(BaseModel):
    """The current value of one trait, with the event time that set it."""

    id = peewee.BigAutoField()
    person = peewee.ForeignKeyField(Person, on_delete="CASCADE", index=False)
    key = peewee.CharField(max_length=200)
    value = JSONField(null=True)
    timestamp = peewee.DateTimeField()
    set_once = peewee.BooleanField(default=False)

    class Meta:
        indexes = ((("person", "key"), True),)


class PersonMerge(BaseModel):
    """A merge of one person into another, or a merge that was refused.

    The person ids are plain integers, not foreign keys, because the merged
    person is deleted while its record stays. ``distinct_ids`` lists the ids
    that moved (those of the refused link when ``refused`` is set).
    """

    id = peewee.BigAutoField()
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE")
    from_person_id = peewee.BigIntegerField(index=True)
    into_person_id = peewee.BigIntegerField(index=True)
    distinct_ids = JSONField(null=True)
    reason = peewee.CharField(max_length=64)
    refused = peewee.BooleanField(default=False)
    message_id = peewee.CharField(max_length=200, null=True)
    created_at = peewee.DateTimeField(default=utcnow)
