"""Stored events and rejected messages."""

from __future__ import annotations

import peewee

from pug_server.models.base import BaseModel, JSONField, utcnow
from pug_server.models.project import Project


class Event(BaseModel):
    """One accepted message of any type, in the wire's fields.

    ``timestamp`` is the skew-corrected time used by every metric (naive
    UTC); ``original_timestamp`` is what the client sent. ``distinct_id`` is
    the id the event is resolved to a person through: ``userId`` when given,
    else ``anonymousId``. Events keep their raw ids, so merging two persons
    never rewrites events.
    """

    id = peewee.BigAutoField()
    # The project's id without a foreign key: checking the key cost SQLite
    # a lookup in the project table for every row of every batch, and the
    # project comes from the authenticated write key.
    project = peewee.BigIntegerField(column_name="project_id")
    message_id = peewee.CharField(max_length=200)
    type = peewee.CharField(max_length=16)
    event = peewee.CharField(max_length=200, null=True)
    name = peewee.CharField(max_length=200, null=True)
    user_id = peewee.CharField(max_length=200, null=True)
    anonymous_id = peewee.CharField(max_length=200, null=True)
    distinct_id = peewee.CharField(max_length=200, null=True)
    previous_id = peewee.CharField(max_length=200, null=True)
    group_id = peewee.CharField(max_length=200, null=True)
    group_type = peewee.CharField(max_length=100, null=True)
    timestamp = peewee.DateTimeField()
    original_timestamp = peewee.DateTimeField(null=True)
    sent_at = peewee.DateTimeField(null=True)
    received_at = peewee.DateTimeField(default=utcnow)
    clamped = peewee.BooleanField(default=False)
    properties = JSONField(null=True)
    traits = JSONField(null=True)
    context = JSONField(null=True)
    integrations = JSONField(null=True)
    # Groups named by the message itself: {"team": "t-1"}, from
    # context.groupId (type "group"), context.groups, or a group call.
    groups = JSONField(null=True)

    class Meta:
        indexes = (
            (("project", "message_id"), True),
            (("project", "event", "timestamp"), False),
            (("project", "timestamp"), False),
        )


class RejectedMessage(BaseModel):
    """A message that failed validation, kept raw with its field errors."""

    id = peewee.BigAutoField()
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE")
    received_at = peewee.DateTimeField(default=utcnow, index=True)
    index = peewee.IntegerField()
    message_id = peewee.CharField(max_length=200, null=True)
    type = peewee.CharField(max_length=64, null=True)
    errors = JSONField()
    # The raw message as received, cut to the message size limit.
    raw = peewee.TextField()
