"""``/v1/batch`` and the single-call endpoints of the Segment tracking API."""

from __future__ import annotations

import codecs
import datetime as dt
import logging
import zlib
from typing import Any

from flask import Blueprint, current_app, g, jsonify, request
from marshmallow import ValidationError

from pug_server import jsontext
from pug_server.auth import project_for_write_key
from pug_server.errors import BadRequestError, PayloadTooLargeError
from pug_server.schemas.messages import MESSAGE_TYPES, Timestamp
from pug_server.services.ingest import check_storable, ingest_batch, json_type

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
    context = body.get("context")
    if context is not None and not isinstance(context, dict):
        raise BadRequestError(
            "batch context must be a JSON object, for example "
            '{"library": {"name": "analytics-python"}}, or left out; '
            f"got {json_type(context)}",
            code="invalid_context",
        )
    if context:
        # Every message takes the batch context, so a value in it that no
        # backend stores fails the batch here rather than each message.
        try:
            check_storable(context, current_app.config["PUG"]["MAX_NESTING_DEPTH"])
        except ValidationError as exc:
            reason = exc.normalized_messages()["_message"][0]
            raise BadRequestError(
                f"batch context {reason}", code="invalid_context"
            ) from None
    return _ingest(body, messages, batch_context=context)


def _single(kind: str):
    def view():
        body = read_json_body(max_bytes=current_app.config["PUG"]["MAX_MESSAGE_BYTES"])
        if not isinstance(body, dict):
            raise BadRequestError(
                f"body must be a JSON object holding one {kind} message",
                code="not_a_message",
            )
        message = {key: value for key, value in body.items() if key != "writeKey"}
        # The path names the type, as in Segment's single-call endpoints.
        message["type"] = kind
        # The body is the message, so its context is the message's own.
        return _ingest(body, [message], batch_context=None)

    view.__name__ = kind
    view.__doc__ = (
        f"Ingest one ``{kind}`` message; the answer has the batch shape.\n\n"
        "The body is the message itself, at most ``MAX_MESSAGE_BYTES``."
    )
    return view


for _kind in MESSAGE_TYPES:
    bp.add_url_rule(f"/{_kind}", view_func=_single(_kind), methods=["POST"])


def _ingest(body: dict[str, Any], messages: list[Any], *, batch_context: dict | None):
    project = project_for_write_key(body.get("writeKey"))
    # The error handlers log the project id of a failed batch.
    g.project = project
    result = ingest_batch(
        project,
        messages,
        config=current_app.config["PUG"],
        batch_context=batch_context,
        batch_sent_at=_batch_sent_at(body.get("sentAt")),
    )
    return jsonify(result.to_dict())


def _batch_sent_at(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return Timestamp().deserialize(value)
    except ValidationError:
        raise BadRequestError(
            "sentAt must be an ISO 8601 date-time, for example 2024-05-01T12:00:00Z",
            code="invalid_sent_at",
        ) from None


def read_json_body(*, max_bytes: int | None = None) -> Any:
    """Read, inflate and parse the request body within the configured limits.

    Invalid UTF-8 bytes are decoded as lone surrogates, so that only the
    messages that contain them are rejected, not the whole batch.

    :param max_bytes: the limit on the inflated body; ``MAX_BATCH_BYTES``
        when not given.
    :raises PayloadTooLargeError: when the body, compressed or inflated,
        passes the limit; inflation stops at the limit.
    :raises BadRequestError: when the body is not valid gzip or JSON.
    """
    settings = current_app.config["PUG"]
    limit = max_bytes or settings["MAX_BATCH_BYTES"]
    raw = _read_limited(settings["MAX_BATCH_BYTES"])
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding == "gzip":
        raw = _gunzip(raw, limit)
    elif encoding not in ("", "identity"):
        raise BadRequestError(
            f"Content-Encoding {encoding!r} is not supported: send gzip or none",
            code="unsupported_encoding",
        )
    if len(raw) > limit:
        raise _too_large(len(raw), limit)
    # JSON text may start with a UTF-8 byte order mark (RFC 8259, section
    # 8.1), which a parser may ignore. Some Windows tools write one.
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return jsontext.loads_body(raw)
    except RecursionError:
        raise BadRequestError(
            "body nests objects and arrays too deeply to parse; a message may "
            "nest at most "
            f"{settings['MAX_NESTING_DEPTH']} levels",
            code="invalid_json",
        ) from None
    except ValueError as exc:
        raise BadRequestError(
            f"body is not valid JSON: {_short(exc)}", code="invalid_json"
        ) from None


def _read_limited(limit: int) -> bytes:
    """Read the body as sent, at most *limit* bytes."""
    length = request.content_length
    if length is not None and length > limit:
        raise _too_large(length, limit)
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(None, limit)
    return raw


def _gunzip(raw: bytes, limit: int) -> bytes:
    """Inflate a gzip body, stopping one byte past *limit*.

    A gzip bomb is never inflated in full: at most ``limit + 1`` bytes of
    output are produced before the 413.
    """
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
    if not inflater.eof:
        raise BadRequestError(
            "body is truncated gzip: the gzip stream ends early; send the whole body",
            code="invalid_gzip",
        )
    return inflated


def _too_large(size: int | None, limit: int) -> PayloadTooLargeError:
    measured = f"{size} bytes" if size is not None else f"over {limit} bytes"
    return PayloadTooLargeError(
        f"body is {measured}, over the limit of {limit} bytes: send smaller "
        "batches or messages",
        details={"limit": limit, "size": size},
    )


def _short(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text[:200]
