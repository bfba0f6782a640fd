"""The base model and the field types shared by every model."""

from __future__ import annotations

import datetime as dt
import json

import peewee

from pug_server.db import database


def utcnow() -> dt.datetime:
    """Return the current time as a naive UTC datetime, the stored form."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class JSONField(peewee.Field):
    """A JSON value: ``TEXT`` on SQLite, ``JSONB`` on PostgreSQL."""

    field_type = "JSON"

    def db_value(self, value):
        if value is None:
            return None
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    def python_value(self, value):
        if value is None or not isinstance(value, (str, bytes)):
            # psycopg2 already decodes JSONB into Python objects.
            return value
        return json.loads(value)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False
