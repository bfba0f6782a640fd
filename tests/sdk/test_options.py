"""Validation of Client options in ClientOptions."""

from __future__ import annotations

import pickle

import pytest

import pug
from pug.errors import DeliveryError


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("flush_at", 0, r"flush_at must be an int of at least 1, got 0"),
        ("flush_at", 1.5, r"flush_at must be an int"),
        ("flush_at", True, r"flush_at must be an int"),
        (
            "flush_interval",
            -1,
            r"flush_interval must be a positive number of seconds, got -1",
        ),
        ("flush_interval", 0, r"flush_interval must be a positive number"),
        ("max_queue_size", 0, r"max_queue_size must be an int of at least 1"),
        ("max_message_bytes", -5, r"max_message_bytes must be an int of at least 1"),
        (
            "max_batch_bytes",
            100,
            r"max_message_bytes \(32000\) must not exceed max_batch_bytes \(100\)",
        ),
        ("max_batch_bytes", "big", r"max_batch_bytes must be an int of at least 1"),
        ("max_retries", -1, r"max_retries must be an int of at least 0"),
        (
            "timeout",
            0,
            r"timeout must be a positive number of seconds or a \(connect, read\)",
        ),
        ("timeout", (1, 2, 3), r"timeout must be"),
        ("timeout", "10", r"timeout must be"),
        ("backoff_factor", -0.1, r"backoff_factor must be a number of at least 0"),
        ("backoff_max", 0, r"backoff_max must be a positive number"),
        ("exit_timeout", -1, r"exit_timeout must be a number of at least 0"),
        (
            "on_error",
            "print",
            r"on_error must be a callable taking \(error, messages\), got str",
        ),
        ("gzip", "yes", r"gzip must be True or False, got 'yes'"),
        ("spool_path", 5, r"spool_path must be a file path as str or None, got int"),
    ],
)
def test_options_reject_invalid_value(option, value, message):
    with pytest.raises(pug.ConfigurationError, match=message):
        pug.Client("write-key", flush_on_exit=False, **{option: value})


def test_options_name_message_bytes_over_batch():
    with pytest.raises(pug.ConfigurationError) as caught:
        pug.Client("write-key", flush_on_exit=False, max_message_bytes=10**9)
    assert str(caught.value).startswith(
        "max_message_bytes (1000000000) must not exceed max_batch_bytes (500000)"
    )


def test_options_accept_message_bytes_equal_batch():
    client = pug.Client(
        "write-key", flush_on_exit=False, max_message_bytes=1000, max_batch_bytes=1000
    )
    assert client.options.max_message_bytes == 1000


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "ftp://pug", "", None])
def test_options_reject_host_without_scheme(host):
    with pytest.raises(
        pug.ConfigurationError, match=r"host must be a URL starting with http"
    ):
        pug.Client("write-key", host, flush_on_exit=False)


@pytest.mark.parametrize(
    ("write_key", "message"),
    [
        ("", r"^write_key is empty: pass the project's write key \(pw_\.\.\.\)$"),
        ("   ", r"^write_key is empty \(only whitespace\): pass the project's"),
        (None, r"^write_key must be a non-empty str, got NoneType; pass the"),
        (42, r"^write_key must be a non-empty str, got int; pass the"),
    ],
)
def test_options_reject_missing_write_key(write_key, message):
    with pytest.raises(pug.ConfigurationError, match=message):
        pug.Client(write_key, flush_on_exit=False)


def test_options_empty_key_error_shows_no_mask():
    with pytest.raises(pug.ConfigurationError) as caught:
        pug.Client("", flush_on_exit=False)
    assert "..." not in str(caught.value).replace("(pw_...)", "")


def test_options_error_masks_write_key():
    with pytest.raises(pug.ConfigurationError) as caught:
        pug.Client("secret-write-key", flush_on_exit=False, flush_at=0)
    assert "secret-write-key" not in str(caught.value)


def test_client_repr_masks_write_key():
    client = pug.Client("secret-write-key", flush_on_exit=False)
    assert "secret-write-key" not in repr(client)
    assert "secr..." in repr(client)


def test_options_repr_hides_write_key():
    client = pug.Client("secret-write-key", flush_on_exit=False)
    assert "secret-write-key" not in repr(client.options)


def test_options_strip_trailing_slash():
    client = pug.Client("write-key", "http://127.0.0.1:8000/", flush_on_exit=False)
    assert client.options.host == "http://127.0.0.1:8000"


def test_options_timeout_number_sets_both():
    client = pug.Client("write-key", timeout=3, flush_on_exit=False)
    assert client.options.timeouts == (3.0, 3.0)


def test_options_timeout_pair_kept():
    client = pug.Client("write-key", timeout=(1.0, 7.5), flush_on_exit=False)
    assert client.options.timeouts == (1.0, 7.5)


def test_options_are_frozen():
    client = pug.Client("write-key", flush_on_exit=False)
    with pytest.raises(AttributeError):
        client.options.flush_at = 5  # type: ignore[misc]


def test_delivery_error_survives_pickling():
    error = DeliveryError(
        "HTTP 503 from /v1/batch", status=503, retry_after=2.0, body="{}"
    )
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.status, copy.retry_after, copy.body, str(copy)) == (
        503,
        2.0,
        "{}",
        "HTTP 503 from /v1/batch",
    )
