"""Error handlers: every error leaves as one JSON envelope."""

from __future__ import annotations

import logging

import peewee
from flask import g, jsonify, request
from werkzeug.exceptions import HTTPException

from pug_server.errors import APIError, BadRequestError

logger = logging.getLogger(__name__)

#: Texts of the database errors a busy or stopped database causes, in
#: lower case: SQLite past its busy timeout, PostgreSQL not listening.
_EXPECTED_ERRORS = ("database is locked", "connection refused")


def _is_expected(error: Exception) -> bool:
    text = str(error).lower()
    return any(expected in text for expected in _EXPECTED_ERRORS)


def register_error_handlers(app) -> None:
    @app.before_request
    def reject_nul_in_url():
        # Ids and filters from the URL reach SQL as text, and PostgreSQL
        # text cannot hold NUL: psycopg2 raises ValueError, which was a 500.
        values = [request.path, *request.args.keys(), *request.args.values()]
        if any("\x00" in value for value in values):
            raise BadRequestError(
                "the URL contains a NUL character (%00): remove it from the path "
                "and the query parameters",
                code="invalid_url",
            )

    @app.errorhandler(APIError)
    def handle_api_error(error: APIError):
        response = jsonify(error.to_dict())
        response.status_code = error.status_code
        response.headers.update(error.headers)
        return response

    @app.errorhandler(HTTPException)
    def handle_http_error(error: HTTPException):
        code = (error.name or "error").lower().replace(" ", "_")
        response = jsonify(
            {"error": {"code": code, "message": error.description, "details": None}}
        )
        response.status_code = error.code or 500
        return response

    @app.errorhandler(peewee.OperationalError)
    @app.errorhandler(peewee.InterfaceError)
    def handle_database_unavailable(error: Exception):
        # Locked past the busy timeout, or the server cannot be reached: the
        # transaction rolled back, so the client may retry safely.
        retry_after = str(app.config["PUG"]["RETRY_AFTER_SECONDS"])
        project = g.get("project")
        # An expected lock timeout or refused connection is one line; its
        # traceback would repeat on every busy request. Other database
        # errors keep theirs, as do all of them at DEBUG level.
        logger.warning(
            "database unavailable path=%s project_id=%s error=%s",
            request.path,
            project.id if project is not None else None,
            str(error).strip().replace("\n", " "),
            exc_info=not _is_expected(error) or logger.isEnabledFor(logging.DEBUG),
        )
        response = jsonify(
            {
                "error": {
                    "code": "unavailable",
                    "message": "the database is unavailable; nothing was stored, "
                    f"retry after {retry_after} seconds",
                    "details": None,
                }
            }
        )
        response.status_code = 503
        response.headers["Retry-After"] = retry_after
        return response

    @app.errorhandler(Exception)
    def handle_unexpected(error: Exception):
        logger.exception("unhandled error path=%s", request.path)
        response = jsonify(
            {
                "error": {
                    "code": "internal_error",
                    "message": "internal server error; the error is logged",
                    "details": None,
                }
            }
        )
        response.status_code = 500
        return response
