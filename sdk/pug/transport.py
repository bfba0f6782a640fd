"""HTTP delivery of batches: gzip, status classification, retries, 413 splits.

The consumer owns retries: urllib3 is configured not to retry, so every attempt
gets a fresh ``sentAt`` and the backoff below is the only one.
"""

from __future__ import annotations

import dataclasses
import email.utils
import json
import logging
import random
import time
import zlib
from collections.abc import Callable
from typing import Any, Protocol

import requests
import requests.adapters

from pug import _wire
from pug._options import ClientOptions
from pug.errors import DeliveryError, MessageRejectedError

logger = logging.getLogger(__name__)

# Level 1 compresses a batch of 100 typical track events to about an
# eighth, within 10% of level 6's size at about 60% of its CPU (measured).
GZIP_LEVEL = 1
# A Retry-After above this is cut to it, so one response cannot stall the
# queue for hours.
MAX_RETRY_AFTER_SECONDS = 300.0
BODY_EXCERPT_CHARS = 500

RETRYABLE_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


@dataclasses.dataclass
class HTTPResult:
    """The status, body and ``Retry-After`` of one HTTP response."""

    status: int
    body: bytes = b""
    retry_after: float | None = None


class Transport(Protocol):
    """Sends one request body to the batch endpoint."""

    def post(self, body: bytes, *, gzipped: bool) -> HTTPResult:
        """Send ``body`` and return the response; raise requests' errors."""

    def close(self) -> None:
        """Release connections."""


class RequestsTransport:
    """A :class:`Transport` over one :class:`requests.Session`.

    The session keeps connections alive between batches. Its adapters do not
    retry, because :class:`BatchSender` does.
    """

    def __init__(self, options: ClientOptions) -> None:
        self._url = options.host + "/v1/batch"
        self._timeout = options.timeouts
        self._session = requests.Session()
        self._session.auth = (options.write_key, "")
        self._session.headers.update(
            {"Content-Type": "application/json", "User-Agent": _wire.USER_AGENT}
        )
        adapter = requests.adapters.HTTPAdapter(max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # Read the proxy and CA bundle variables (HTTPS_PROXY, NO_PROXY,
        # REQUESTS_CA_BUNDLE, ...) once: requests rereads the environment on
        # every request, a sixth of its CPU per batch.
        self._environment = self._session.merge_environment_settings(
            self._url, {}, None, None, None
        )
        self._session.trust_env = False

    def post(self, body: bytes, *, gzipped: bool) -> HTTPResult:
        headers = {"Content-Encoding": "gzip"} if gzipped else None
        response = self._session.post(
            self._url,
            data=body,
            headers=headers,
            timeout=self._timeout,
            proxies=self._environment["proxies"],
            verify=self._environment["verify"],
            cert=self._environment["cert"],
        )
        return HTTPResult(
            status=response.status_code,
            body=response.content,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def close(self) -> None:
        self._session.close()


def parse_retry_after(value: str | None) -> float | None:
    """Parse a ``Retry-After`` header: delay seconds or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def is_retryable_status(status: int) -> bool:
    """Tell whether a response status means the same batch may succeed later."""
    return status in (408, 429) or 500 <= status <= 599


def backoff_delay(
    retry: int, factor: float, maximum: float, retry_after: float | None
) -> float:
    """Return the wait in seconds before retry number ``retry`` (from 1).

    Exponential backoff with full jitter: a uniform draw from zero to
    ``min(maximum, factor * 2 ** (retry - 1))``. A server's ``Retry-After``
    is a floor, because sending earlier would only be refused again.
    """
    ceiling = min(maximum, factor * 2 ** (retry - 1))
    delay = random.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay


@dataclasses.dataclass
class BatchResult:
    """The outcome of sending one batch, filled in by :class:`BatchSender`.

    ``retry_later`` lists the messages to try again later (spool only); every other
    message was delivered, rejected by the server or dropped.
    """

    sent: int = 0
    rejected: int = 0
    retried: int = 0
    dropped: dict[str, int] = dataclasses.field(default_factory=dict)
    errors: list[tuple[Exception, list[str]]] = dataclasses.field(default_factory=list)
    retry_later: list[str] = dataclasses.field(default_factory=list)

    def drop(self, reason: str, error: Exception, messages: list[str]) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + len(messages)
        self.errors.append((error, messages))


class BatchSender:
    """Send batches of pre-encoded messages with retries.

    :param wait: sleeps for the given seconds and returns ``True`` when the
        client is shutting down, which ends the retries early.
    :param keep_on_failure: keep retryable batches in ``BatchResult.retry_later``
        when retries run out, in place of dropping them (the spool does so).
    """

    def __init__(
        self,
        transport: Transport,
        options: ClientOptions,
        wait: Callable[[float], bool],
        *,
        keep_on_failure: bool = False,
    ) -> None:
        self._transport = transport
        self._options = options
        self._wait = wait
        self._keep_on_failure = keep_on_failure

    def close(self) -> None:
        """Close the transport's connections."""
        self._transport.close()

    def send(self, messages: list[str]) -> BatchResult:
        """Deliver ``messages`` as one batch, splitting it on HTTP 413."""
        result = BatchResult()
        self._send(messages, result)
        return result

    def _send(self, messages: list[str], result: BatchResult) -> None:
        make_body = _body_factory(messages, gzipped=self._options.gzip)
        error: DeliveryError | None = None
        for attempt in range(self._options.max_retries + 1):
            if attempt and self._wait_before_retry(attempt, error, len(messages)):
                self._give_up("shutdown", error, messages, result)
                return
            if attempt:
                result.retried += 1
            error, retryable = self._attempt(make_body, messages, attempt, result)
            if error is None:
                return
            if error.status == 413:
                self._split(error, messages, result)
                return
            if not retryable:
                self._give_up("http_error", error, messages, result)
                return
        self._give_up("retries_exhausted", error, messages, result)

    def _attempt(
        self,
        make_body: Callable[[str], bytes],
        messages: list[str],
        attempt: int,
        result: BatchResult,
    ) -> tuple[DeliveryError | None, bool]:
        """Send once; return the failure (``None`` when done) and if it may pass."""
        body = make_body(_wire.now_iso())
        try:
            response = self._transport.post(body, gzipped=self._options.gzip)
        except RETRYABLE_EXCEPTIONS as exc:
            return DeliveryError(f"request failed: {type(exc).__name__}: {exc}"), True
        except requests.RequestException as exc:
            # Not a transient network condition (an invalid URL, for one).
            error = DeliveryError(f"request failed: {type(exc).__name__}: {exc}")
            return error, False

        logger.debug(
            "sent batch: count=%d bytes=%d status=%d attempt=%d",
            len(messages),
            len(body),
            response.status,
            attempt + 1,
        )
        if 200 <= response.status < 300:
            _record_accepted(messages, response.body, result)
            return None, False
        error = DeliveryError(
            f"HTTP {response.status} from /v1/batch",
            status=response.status,
            retry_after=response.retry_after,
            body=response.body[:BODY_EXCERPT_CHARS].decode("utf-8", "replace"),
        )
        return error, is_retryable_status(response.status)

    def _wait_before_retry(
        self, attempt: int, error: DeliveryError | None, count: int
    ) -> bool:
        retry_after = error.retry_after if error else None
        delay = backoff_delay(
            attempt,
            self._options.backoff_factor,
            self._options.backoff_max,
            retry_after,
        )
        logger.warning(
            "retrying batch in %.2fs: count=%d retry=%d/%d error=%s",
            delay,
            count,
            attempt,
            self._options.max_retries,
            error,
        )
        return self._wait(delay)

    def _split(
        self, error: DeliveryError, messages: list[str], result: BatchResult
    ) -> None:
        if len(messages) == 1:
            self._give_up("oversize", error, messages, result)
            return
        middle = len(messages) // 2
        logger.debug("splitting batch after HTTP 413: count=%d", len(messages))
        self._send(messages[:middle], result)
        self._send(messages[middle:], result)

    def _give_up(
        self,
        reason: str,
        error: DeliveryError | None,
        messages: list[str],
        result: BatchResult,
    ) -> None:
        error = error or DeliveryError("delivery stopped before the first attempt")
        if self._keep_on_failure and reason in ("retries_exhausted", "shutdown"):
            result.retry_later.extend(messages)
            logger.warning(
                "keeping batch in the spool for later: count=%d error=%s",
                len(messages),
                error,
            )
            return
        logger.error(
            "gave up on batch: count=%d reason=%s error=%s server_error=%s",
            len(messages),
            reason,
            error,
            _server_error(error.body),
        )
        result.drop(reason, error, messages)


def _body_factory(messages: list[str], *, gzipped: bool) -> Callable[[str], bytes]:
    """Return a function that frames ``messages`` with a given ``sentAt``.

    With gzip, everything before ``sentAt`` is compressed once; each attempt
    copies the compressor state and adds only the new suffix.
    """
    if not gzipped:
        return lambda sent_at: _wire.batch_body(messages, sent_at)

    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    head = compressor.compress(
        (_wire.BATCH_PREFIX + ",".join(messages)).encode("ascii")
    )

    def make_body(sent_at: str) -> bytes:
        copy = compressor.copy()
        tail = _wire.batch_suffix(sent_at).encode("ascii")
        return head + copy.compress(tail) + copy.flush()

    return make_body


def _record_accepted(messages: list[str], body: bytes, result: BatchResult) -> None:
    """Count a 2xx batch as sent, minus the messages the server rejected."""
    rejected = _rejected_entries(body)
    for entry in rejected:
        index = entry.get("index")
        rejected_messages = []
        if isinstance(index, int) and 0 <= index < len(messages):
            rejected_messages = [messages[index]]
        message_id = str(entry.get("messageId", "unknown"))
        logger.warning(
            "server rejected message: message_id=%s errors=%s",
            message_id,
            entry.get("errors"),
        )
        result.errors.append(
            (MessageRejectedError(message_id, entry.get("errors")), rejected_messages)
        )
    result.rejected += len(rejected)
    result.sent += len(messages) - len(rejected)


def _rejected_entries(body: bytes) -> list[dict[str, Any]]:
    # A 2xx body that is not Pug's response (an empty body, a proxy page, or
    # Segment's {}) lists no rejections.
    try:
        answer = json.loads(body) if body else {}
    except ValueError:
        return []
    rejected = answer.get("rejected") if isinstance(answer, dict) else None
    if not isinstance(rejected, list):
        return []
    return [entry for entry in rejected if isinstance(entry, dict)]


def _server_error(body: str) -> str:
    """Return the code and message of a Pug error envelope, for the log."""
    try:
        envelope = json.loads(body)
        error = envelope["error"]
        return f"{error.get('code')}: {error.get('message')}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return "none"
