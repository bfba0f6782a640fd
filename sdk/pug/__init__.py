"""Pug's Python SDK: send analytics messages to a Pug server.

Use a :class:`Client`, or the module-level functions, which call one
default client set up by :func:`configure`::

    import pug

    pug.configure("my-write-key", host="https://pug.example.com")
    pug.track("user-1", "Document Edited", {"words": 120})
"""

from __future__ import annotations

import functools
import inspect
import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from pug._options import ClientOptions
from pug._version import __version__
from pug.client import Client
from pug.errors import (
    ConfigurationError,
    DeliveryError,
    MessageDroppedError,
    MessageRejectedError,
    PugError,
)

__all__ = [
    "Client",
    "ClientOptions",
    "ConfigurationError",
    "DeliveryError",
    "MessageDroppedError",
    "MessageRejectedError",
    "PugError",
    "__version__",
    "alias",
    "close",
    "configure",
    "default_client",
    "flush",
    "group",
    "identify",
    "page",
    "screen",
    "stats",
    "track",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_default_client: Client | None = None
_default_lock = threading.Lock()

# What the functions that send nothing return before configure(): nothing
# is queued, so a flush has delivered everything.
_UNCONFIGURED_RESULTS: dict[str, Any] = {"flush": True, "close": None, "stats": {}}

_Method = TypeVar("_Method", bound=Callable[..., Any])


def configure(write_key: str, host: str | None = None, **options: Any) -> Client:
    """Create the default client used by :func:`track` and the other functions.

    A client configured earlier is closed first, which flushes its queue.

    :param write_key: the project's write key.
    :param host: the server's base URL; default ``http://127.0.0.1:8000``.
    :param options: any keyword option of :class:`Client`.
    :returns: the new default client.
    :raises ConfigurationError: an option is invalid.
    """
    global _default_client
    if host is not None:
        options["host"] = host
    client = Client(write_key, **options)
    with _default_lock:
        previous, _default_client = _default_client, client
    if previous is not None:
        previous.close(previous.options.exit_timeout)
    return client


def default_client() -> Client | None:
    """Return the client set up by :func:`configure`, or ``None``."""
    return _default_client


def _delegate(method: _Method) -> _Method:
    """Make a module function that calls ``method`` on the default client."""
    name = method.__name__

    @functools.wraps(method)
    def call_default(*args: Any, **kwargs: Any) -> Any:
        client = _default_client
        if client is not None:
            return getattr(client, name)(*args, **kwargs)
        if name in _UNCONFIGURED_RESULTS:
            return _UNCONFIGURED_RESULTS[name]
        logger.warning("pug.%s called before pug.configure(); message dropped", name)
        return False

    signature = inspect.signature(method)
    call_default.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=list(signature.parameters.values())[1:]
    )

    call_default.__doc__ = (
        f"Call :meth:`Client.{name}` on the default client set up by "
        f":func:`configure`.\n\n{method.__doc__}"
    )
    return call_default  # type: ignore[return-value]


track = _delegate(Client.track)
identify = _delegate(Client.identify)
group = _delegate(Client.group)
alias = _delegate(Client.alias)
page = _delegate(Client.page)
screen = _delegate(Client.screen)
flush = _delegate(Client.flush)
close = _delegate(Client.close)
stats = _delegate(Client.stats)
