"""Stored metric definitions and dashboards."""

from __future__ import annotations

import peewee

from pug_server.models.base import BaseModel, JSONField, utcnow
from pug_server.models.project import Project


class Metric(BaseModel):
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE", index=False)
    key = peewee.CharField(max_length=100)
    name = peewee.CharField(max_length=200)
    definition = JSONField()
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("project", "key"), True),)


class Dashboard(BaseModel):
    project = peewee.ForeignKeyField(Project, on_delete="CASCADE", index=False)
    key = peewee.CharField(max_length=100)
    name = peewee.CharField(max_length=200)
    north_star = peewee.CharField(max_length=100)
    inputs = JSONField()
    created_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        indexes = ((("project", "key"), True),)
