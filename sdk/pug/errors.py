"""Exceptions raised by the pug SDK or handed to ``on_error``."""

from __future__ import annotations

from typing import Any


class PugError(Exception):
    """Base class of every exception defined by pug."""


class ConfigurationError(PugError, ValueError):
    """An option passed to :class:`pug.Client` is invalid.

    The message names the option, shows the value (write keys masked) and
    says what is accepted.
    """


class DeliveryError(PugError):
    """A batch could not be delivered and was given up.

    Handed to ``on_error`` by the consumer, and raised by nothing else: the
    public calls never raise for network or server conditions.

    :param message: what failed, for example ``HTTP 401 from /v1/batch``.
    :param status: the HTTP status of the last attempt, or ``None`` when no
        response arrived (connection error, timeout).
    :param retry_after: the server's ``Retry-After`` in seconds, if it sent one.
    :param body: the first 500 characters of the last response body.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        body: str = "",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after
        self.body = body

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields are lost by the default pickling of exceptions.
        return (
            _rebuild_delivery_error,
            (str(self), self.status, self.retry_after, self.body),
        )


def _rebuild_delivery_error(
    message: str, status: int | None, retry_after: float | None, body: str
) -> DeliveryError:
    return DeliveryError(message, status=status, retry_after=retry_after, body=body)


class MessageRejectedError(PugError):
    """The server received a message and rejected it.

    The server lists such messages in the ``rejected`` field of a 200
    response. They are counted as ``rejected`` and never retried, because
    sending the same message again gives the same answer.

    :param message_id: the ``messageId`` of the rejected message.
    :param errors: the server's field errors, for example
        ``{"timestamp": ["must be an ISO 8601 date-time"]}``.
    """

    def __init__(self, message_id: str, errors: Any) -> None:
        super().__init__(f"message {message_id} rejected by the server: {errors}")
        self.message_id = message_id
        self.errors = errors

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message_id, self.errors))


class MessageDroppedError(PugError):
    """The SDK dropped a message before delivering it.

    :param reason: the drop reason, one of the keys of
        ``client.stats()["dropped"]`` such as ``queue_full`` or ``oversize``.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"message dropped ({reason}): {detail}")
        self.reason = reason
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.detail))
