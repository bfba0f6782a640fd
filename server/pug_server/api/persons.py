"""Read persons and groups with the project's read key."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, g, jsonify
from marshmallow import Schema, fields

from pug_server.auth import require_read_key
from pug_server.errors import NotFoundError
from pug_server.services.persons import group_profile, person_profile

bp = Blueprint("persons", __name__, url_prefix="/v1")


class UTCDateTime(fields.Field):
    """A stored naive UTC datetime, written as ISO 8601 with a ``Z`` offset."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        aware = value.replace(tzinfo=dt.timezone.utc)
        return aware.isoformat().replace("+00:00", "Z")


class MembershipSchema(Schema):
    group_type = fields.String()
    group_key = fields.String()
    joined_at = UTCDateTime()


class MergeSchema(Schema):
    from_ = fields.Integer(data_key="from", attribute="from")
    into = fields.Integer()
    reason = fields.String()
    refused = fields.Boolean()
    at = UTCDateTime()
    distinct_ids = fields.List(fields.String())
    message_id = fields.String(allow_none=True)


class PersonSchema(Schema):
    id = fields.Integer()
    identified = fields.Boolean()
    distinct_ids = fields.List(fields.String())
    traits = fields.Dict()
    groups = fields.List(fields.Nested(MembershipSchema))
    first_seen = UTCDateTime()
    last_seen = UTCDateTime()
    merges = fields.List(fields.Nested(MergeSchema))


class MemberSchema(Schema):
    person_id = fields.Integer()
    distinct_ids = fields.List(fields.String())
    joined_at = UTCDateTime()


class GroupSchema(Schema):
    group_type = fields.String()
    group_key = fields.String()
    traits = fields.Dict()
    members = fields.List(fields.Nested(MemberSchema))
    first_seen = UTCDateTime()
    last_seen = UTCDateTime()


person_schema = PersonSchema()
group_schema = GroupSchema()


@bp.get("/persons/<path:distinct_id>")
@require_read_key
def get_person(distinct_id: str):
    """Return the person that owns a ``userId`` or ``anonymousId``.

    The response lists the person's ids, traits, groups (each with the time it
    first joined), the first and last event time over all its ids, and the
    merges that formed it, refused ones included. 404 when no person of the
    project has the id.
    """
    profile = person_profile(g.project.id, distinct_id)
    if profile is None:
        raise NotFoundError(
            f"no person has the id {distinct_id[:200]!r} in this project: "
            "check the userId or anonymousId, and that it was sent with this "
            "project's write key",
            code="person_not_found",
        )
    return jsonify(person_schema.dump(profile))


@bp.get("/groups/<group_type>/<path:group_key>")
@require_read_key
def get_group(group_type: str, group_key: str):
    """Return a group with its traits and members (each with its first join time).

    404 when the project has no group of that type and key.
    """
    profile = group_profile(g.project.id, group_type, group_key)
    if profile is None:
        raise NotFoundError(
            f"no group of type {group_type[:100]!r} has the key {group_key[:200]!r} "
            "in this project: a group exists once a group call or a message's "
            "context names it",
            code="group_not_found",
        )
    return jsonify(group_schema.dump(profile))
