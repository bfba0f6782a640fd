"""The base model and the field types shared by every model."""

from __future__ import annotations

import datetime as dt
import json

import peewee

from pug_server import jsontext
from pug_server.db import database


def utcnow() -> dt.datetime:
    """Return the current time as a naive UTC datetime, the stored form."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class JSONField(peewee.Field):
    """A JSON value: ``TEXT`` on SQLite, ``JSONB`` on PostgreSQL."""

    field_type = "JSON"

    def db_value(self, value):
        return jsontext.text(value)

    def python_value(self, value):
        if value is None or _decodes_json_itself(self.model._meta.database):
            return value
        return json.loads(value)


def _decodes_json_itself(database) -> bool:
    """Tell whether the driver returns JSON columns already decoded.

    psycopg2 decodes JSONB, so a stored ``"pro"`` arrives as ``pro`` and
    must not be decoded again; SQLite returns the text as stored.
    """
    target = getattr(database, "obj", database)
    return isinstance(target, peewee.PostgresqlDatabase)


class BaseModel(peewee.Model):
    class Meta:
        database = database
        legacy_table_names = False
