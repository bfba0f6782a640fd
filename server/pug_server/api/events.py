"""Read back stored and rejected events, newest first."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, g, jsonify, request

from pug_server.auth import require_read_key
from pug_server.errors import BadRequestError
from pug_server.models import Event, RejectedMessage

bp = Blueprint("events", __name__, url_prefix="/v1")

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def iso(value: dt.datetime | None) -> str | None:
    """Render a stored naive UTC datetime as ISO 8601 with its offset."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.timezone.utc).isoformat().replace("+00:00", "Z")


def event_to_wire(event: Event) -> dict[str, Any]:
    """Return a stored event in its camelCase wire shape."""
    wire = {
        "type": event.type,
        "messageId": event.message_id,
        "event": event.event,
        "name": event.name,
        "userId": event.user_id,
        "anonymousId": event.anonymous_id,
        "previousId": event.previous_id,
        "groupId": event.group_id,
        "groupType": event.group_type,
        "timestamp": iso(event.timestamp),
        "originalTimestamp": iso(event.original_timestamp),
        "sentAt": iso(event.sent_at),
        "receivedAt": iso(event.received_at),
        "clamped": event.clamped,
        "properties": event.properties,
        "traits": event.traits,
        "context": event.context,
        "integrations": event.integrations,
        "groups": event.groups,
    }
    return {key: value for key, value in wire.items() if value is not None}


def _page_args() -> tuple[int, int | None]:
    try:
        limit = int(request.args.get("limit", DEFAULT_PAGE_SIZE))
        cursor = request.args.get("cursor")
        before = int(cursor) if cursor else None
    except ValueError:
        raise BadRequestError(
            "limit and cursor must be whole numbers; pass the 'next' value "
            "of the previous page as cursor",
            code="invalid_query",
        ) from None
    if before is not None and not 0 < before < 2**63:
        raise BadRequestError(
            "cursor must be the 'next' value of the previous page, a positive "
            f"whole number below 2**63, got {cursor}",
            code="invalid_query",
        )
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadRequestError(
            f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}",
            code="invalid_query",
        )
    return limit, before


@bp.get("/events")
@require_read_key
def list_events():
    """List stored events, newest first.

    Filters: ``event`` (the event name), ``type``, ``distinct_id`` (a userId or
    anonymousId), ``message_id``. Pages with ``limit`` and ``cursor``.
    """
    limit, before = _page_args()
    query = Event.select().where(Event.project == g.project.id)
    args = request.args
    if args.get("event"):
        query = query.where(Event.event == args["event"])
    if args.get("type"):
        query = query.where(Event.type == args["type"])
    if args.get("message_id"):
        query = query.where(Event.message_id == args["message_id"])
    if args.get("distinct_id"):
        distinct_id = args["distinct_id"]
        query = query.where(
            (Event.user_id == distinct_id) | (Event.anonymous_id == distinct_id)
        )
    if before is not None:
        query = query.where(Event.id < before)
    rows = list(query.order_by(Event.id.desc()).limit(limit + 1))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify(
        {"events": [event_to_wire(row) for row in rows[:limit]], "next": next_cursor}
    )


@bp.get("/rejected")
@require_read_key
def list_rejected():
    """List rejected messages, newest first, each with its field errors.

    Filter by ``message_id``; page with ``limit`` and ``cursor``.
    """
    limit, before = _page_args()
    query = RejectedMessage.select().where(RejectedMessage.project == g.project.id)
    if request.args.get("message_id"):
        query = query.where(RejectedMessage.message_id == request.args["message_id"])
    if before is not None:
        query = query.where(RejectedMessage.id < before)
    rows = list(query.order_by(RejectedMessage.id.desc()).limit(limit + 1))
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return jsonify(
        {
            "rejected": [
                {
                    "index": row.index,
                    "messageId": row.message_id,
                    "type": row.type,
                    "errors": row.errors,
                    "receivedAt": iso(row.received_at),
                    "raw": row.raw,
                }
                for row in rows[:limit]
            ],
            "next": next_cursor,
        }
    )
