"""API errors, each rendered as ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """An error answered to the client with a status and a stable code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.details = details
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "details": self.details,
            }
        }


class BadRequestError(APIError):
    status_code = 400


class UnauthorizedError(APIError):
    status_code = 401
    code = "unauthorized"


class NotFoundError(APIError):
    status_code = 404
    code = "not_found"


class ConflictError(APIError):
    status_code = 409
    code = "conflict"


class PayloadTooLargeError(APIError):
    status_code = 413
    code = "payload_too_large"


class UnprocessableError(APIError):
    status_code = 422
    code = "invalid_definition"


class UnavailableError(APIError):
    status_code = 503
    code = "unavailable"
