"""Write key and read key parsing and checking."""

from __future__ import annotations

import base64
import functools
import logging

from flask import g, request

from pug_server.errors import UnauthorizedError
from pug_server.models import Project

logger = logging.getLogger(__name__)

# One message for every failure, so a caller cannot tell whether a project
# exists for the key it tried.
_INVALID_WRITE_KEY = (
    "missing or invalid write key: send the project's write key as the HTTP "
    "Basic user name (empty password) or as writeKey in the body"
)
_INVALID_READ_KEY = (
    "missing or invalid read key: send the project's read key as "
    "'Authorization: Bearer <read key>'"
)


def basic_user() -> str | None:
    """Return the user name of an HTTP Basic ``Authorization`` header."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return decoded.partition(":")[0] or None


def project_for_write_key(body_key: object = None) -> Project:
    """Return the project of the request's write key or raise a 401."""
    key = basic_user()
    if key is None and isinstance(body_key, str):
        key = body_key
    project = Project.by_write_key(key) if key else None
    if project is None:
        logger.info("rejected write key path=%s", request.path)
        raise UnauthorizedError(_INVALID_WRITE_KEY, code="invalid_write_key")
    return project


def _bearer_token() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        return basic_user()
    return None


def require_read_key(view):
    """Decorate a view so that it runs only with a valid read key.

    The project is stored as ``g.project``.
    """

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = _bearer_token()
        project = Project.by_read_key(token) if token else None
        if project is None:
            logger.info("rejected read key path=%s", request.path)
            raise UnauthorizedError(_INVALID_READ_KEY, code="invalid_read_key")
        g.project = project
        return view(*args, **kwargs)

    return wrapper
