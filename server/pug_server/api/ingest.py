"""``/v1/batch`` and the single-call endpoints of the Segment tracking API."""

from __future__ import annotations

import datetime as dt
import json
import logging
import zlib
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from pug_server.auth import project_for_write_key
from pug_server.errors import BadRequestError, PayloadTooLargeError
from pug_server.schemas.messages import MESSAGE_TYPES, Timestamp
from pug_server.services.ingest import ingest_batch, parse_constant

logger = logging.getLogger(__name__)

bp = Blueprint("ingest", __name__, url_prefix="/v1")


@bp.post("/batch")
def batch():
    """Ingest a batch of messages: ``{"batch": [...], "sentAt": ..., "context": ...}``.

    Answers 200 once every accepted message is committed, with the counts of
    accepted, duplicate and rejected messages.
    """
    body = read_json_body()
    if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
        raise BadRequestError(
            'body must be a JSON object with a "batch" array of messages, '
            'for example {"batch": [{"type": "track", ...}]}',
            code="not_a_batch",
        )
    messages = body["batch"]
    limit = current_app.config["PUG"]["MAX_BATCH_MESSAGES"]
    if len(messages) > limit:
        raise PayloadTooLargeError(
            f"batch has {len(messages)} messages, over the limit of {limit}: "
            "split it into smaller batches",
            details={"limit": limit, "size": len(messages)},
        )
    return _ingest(body, messages)


def _single(kind: str):
    def view():
        body = read_json_body()
        if not isinstance(body, dict):
            raise BadRequestError(
                f"body must be a JSON object holding one {kind} message",
                code="not_a_message",
            )
        message = {key: value for key, value in body.items() if key != "writeKey"}
        message.setdefault("type", kind)
        return _ingest(body, [message])

    view.__name__ = kind
    view.__doc__ = f"Ingest one ``{kind}`` message; the answer has the batch shape."
    return view


for _kind in MESSAGE_TYPES:
    bp.add_url_rule(f"/{_kind}", view_func=_single(_kind), methods=["POST"])


def _ingest(body: dict[str, Any], messages: list[Any]):
    project = project_for_write_key(body.get("writeKey"))
    context = body.get("context") if isinstance(body.get("context"), dict) else None
    result = ingest_batch(
        project,
        messages,
        config=current_app.config["PUG"],
        batch_context=context,
        batch_sent_at=_batch_sent_at(body.get("sentAt")),
    )
    return jsonify(result.to_dict())


def _batch_sent_at(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return Timestamp().deserialize(value)
    except Exception:
        raise BadRequestError(
            "sentAt must be an ISO 8601 date-time, for example 2024-05-01T12:00:00Z",
            code="invalid_sent_at",
        ) from None


def read_json_body() -> Any:
    """Read, inflate and parse the request body within the configured limits.

    :raises PayloadTooLargeError: when the body, compressed or inflated,
        passes ``MAX_BATCH_BYTES``; inflation stops at the limit.
    :raises BadRequestError: when the body is not valid gzip, UTF-8 or JSON.
    """
    limit = current_app.config["PUG"]["MAX_BATCH_BYTES"]
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(length, limit)
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(None, limit)
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip":
        raw = _gunzip(raw, limit)
    elif encoding not in ("", "identity"):
        raise BadRequestError(
            f"Content-Encoding {encoding!r} is not supported: send gzip or none",
            code="unsupported_encoding",
        )
    try:
        return json.loads(raw, parse_constant=parse_constant)
    except (ValueError, RecursionError) as exc:
        raise BadRequestError(
            f"body is not valid UTF-8 JSON: {_short(exc)}", code="invalid_json"
        ) from None


def _gunzip(raw: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(raw, limit + 1)
    except zlib.error:
        raise BadRequestError(
            "body is not valid gzip; send it uncompressed or drop the "
            "Content-Encoding header",
            code="invalid_gzip",
        ) from None
    if len(inflated) > limit or inflater.unconsumed_tail:
        raise PayloadTooLargeError(
            f"body inflates to more than the limit of {limit} bytes; "
            "send smaller batches",
            details={"limit": limit, "size": None},
        )
    return inflated


def _too_large(size: int | None, limit: int) -> PayloadTooLargeError:
    measured = f"{size} bytes" if size is not None else "more bytes"
    return PayloadTooLargeError(
        f"body is {measured}, over the limit of {limit} bytes: send smaller batches",
        details={"limit": limit, "size": size},
    )


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
