"""The public surface of the pug package and what importing it loads."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pug

SDK_ROOT = Path(__file__).resolve().parents[2] / "sdk"


def test_all_lists_public_names():
    public = {
        name
        for name, value in vars(pug).items()
        if not name.startswith("_") and not isinstance(value, type(os))
    }
    public.discard("annotations")  # from __future__ import annotations
    public.discard("logger")
    public.discard("Any")
    public.discard("Callable")
    public.discard("TypeVar")
    assert sorted(pug.__all__) == sorted(public | {"__version__"})


def test_all_names_exist():
    missing = [name for name in pug.__all__ if not hasattr(pug, name)]
    assert missing == []


def test_import_loads_no_server_libraries():
    code = (
        "import sys, pug\n"
        "heavy = {'flask', 'marshmallow', 'peewee', 'pug_server', 'werkzeug'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    environment = {**os.environ, "PYTHONPATH": str(SDK_ROOT)}
    output = subprocess.run(
        [sys.executable, "-c", code],
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert output.strip() == "[]"


def test_package_logger_has_null_handler():
    handlers = logging.getLogger("pug").handlers
    assert any(isinstance(handler, logging.NullHandler) for handler in handlers)


def test_package_ships_py_typed():
    assert (SDK_ROOT / "pug" / "py.typed").exists()


def test_version_matches_user_agent():
    assert pug._wire.USER_AGENT == f"pug-python/{pug.__version__}"


def test_errors_share_pug_error_root():
    for error in (
        pug.ConfigurationError,
        pug.DeliveryError,
        pug.MessageRejectedError,
        pug.MessageDroppedError,
    ):
        assert issubclass(error, pug.PugError)


def test_configuration_error_is_value_error():
    assert issubclass(pug.ConfigurationError, ValueError)
