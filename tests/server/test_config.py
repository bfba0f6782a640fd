"""Configuration from defaults, PUG_* variables and overrides, validated."""

from __future__ import annotations

import pytest

from pug_server.config import ConfigError, bind_address, load_config
from pug_server.db import describe_url


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    import os

    for name in list(os.environ):
        if name.startswith("PUG_"):
            monkeypatch.delenv(name)


def test_defaults_use_local_sqlite_file():
    config = load_config()
    assert config["DATABASE_URL"] == "sqlite:///pug.db"
    assert config["MAX_MESSAGE_BYTES"] == 32 * 1024
    assert config["MAX_BATCH_BYTES"] == 500 * 1024
    assert config["MAX_BATCH_MESSAGES"] == 2500


def test_environment_overrides_defaults(monkeypatch):
    monkeypatch.setenv("PUG_MAX_BATCH_BYTES", "1000")
    monkeypatch.setenv("PUG_LOG_LEVEL", "debug")
    config = load_config()
    assert config["MAX_BATCH_BYTES"] == 1000
    assert config["LOG_LEVEL"] == "DEBUG"


def test_overrides_beat_environment(monkeypatch):
    monkeypatch.setenv("PUG_WORKERS", "3")
    assert load_config({"WORKERS": 5})["WORKERS"] == 5


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LOG_LEVEL", "loud", "PUG_LOG_LEVEL must be one of DEBUG, INFO"),
        ("DATABASE_URL", "mysql://x", "PUG_DATABASE_URL must start with sqlite://"),
        ("MAX_BATCH_BYTES", "big", "PUG_MAX_BATCH_BYTES must be a whole number"),
        ("MAX_MESSAGE_BYTES", "0", "PUG_MAX_MESSAGE_BYTES must be a positive"),
        ("WORKERS", "-1", "PUG_WORKERS must be a positive"),
        ("BIND", "localhost", "PUG_BIND must be HOST:PORT"),
        ("PORT", "70000", "PUG_PORT must be 1 to 65535"),
        ("TIMEZONE", "Mars/Base", "PUG_TIMEZONE must be an IANA time zone"),
    ],
)
def test_invalid_value_names_variable(monkeypatch, name, value, message):
    monkeypatch.setenv("PUG_" + name, value)
    with pytest.raises(ConfigError, match=message):
        load_config()


def test_bind_address_port_replaces():
    assert bind_address({"BIND": "0.0.0.0:8000", "PORT": 9000}) == "0.0.0.0:9000"
    assert bind_address({"BIND": "127.0.0.1:8001", "PORT": 0}) == "127.0.0.1:8001"


@pytest.mark.parametrize(
    ("url", "described"),
    [
        (
            "postgresql://pug:s3cret@db.internal:5432/pug",
            "postgresql://db.internal:5432/pug",
        ),
        (
            "postgresql://pug@127.0.0.1/pug?password=s3cret",
            "postgresql://127.0.0.1/pug",
        ),
        ("postgres://127.0.0.1:5433/x", "postgres://127.0.0.1:5433/x"),
        ("sqlite:///pug.db", "sqlite:///pug.db"),
    ],
)
def test_describe_url_strips_credentials(url, described):
    assert describe_url(url) == described
