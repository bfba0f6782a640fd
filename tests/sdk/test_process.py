"""Fork and interpreter exit, each in a fresh Python process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SDK_ROOT = Path(__file__).resolve().parents[2] / "sdk"


def run_python(code: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(SDK_ROOT)}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_never_resends_parent_queue(server):
    result = run_python(f"""
        import os, pug
        client = pug.Client("key", {server.url!r}, flush_interval=30, flush_on_exit=False)
        client.track("parent", "before-fork-sent")
        assert client.flush(5)
        for index in range(5):
            client.track("parent", "queued-at-fork", {{"i": index}})
        pid = os.fork()
        if pid == 0:
            client.track("child", "in-child")
            delivered = client.flush(5)
            stats = client.stats()
            os._exit(0 if delivered and stats["queued"] == 1 else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert client.flush(5)
        client.close(5)
    """)
    assert result.returncode == 0, result.stderr
    events = [m["event"] for m in server.messages()]
    assert sorted(events) == sorted(
        ["before-fork-sent"] + ["queued-at-fork"] * 5 + ["in-child"]
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_child_opens_own_connection(server):
    result = run_python(f"""
        import os, pug
        client = pug.Client("key", {server.url!r}, flush_on_exit=False)
        client.track("parent", "first")
        assert client.flush(5)
        pid = os.fork()
        if pid == 0:
            client.track("child", "second")
            os._exit(0 if client.flush(5) else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        client.close(5)
    """)
    assert result.returncode == 0, result.stderr
    ports = [r.client_port for r in server.requests]
    assert len(ports) == 2
    assert ports[0] != ports[1]


def test_exit_hook_delivers_queued_messages(server):
    result = run_python(f"""
        import pug
        client = pug.Client("key", {server.url!r}, flush_interval=30)
        for index in range(3):
            client.track("u-1", "at-exit", {{"i": index}})
    """)
    assert result.returncode == 0, result.stderr
    assert [m["properties"]["i"] for m in server.messages()] == [0, 1, 2]


def test_exit_hook_waits_only_exit_timeout(server):
    server.respond_with(200, delay=8)
    started = time.monotonic()
    result = run_python(f"""
        import pug
        client = pug.Client("key", {server.url!r}, exit_timeout=0.5)
        client.track("u-1", "E")
    """)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 6


def test_daemon_consumer_never_blocks_exit(server):
    server.respond_with(200, delay=8)
    started = time.monotonic()
    result = run_python(f"""
        import pug
        client = pug.Client("key", {server.url!r}, flush_interval=0.01, flush_on_exit=False)
        client.track("u-1", "E")
        import time; time.sleep(0.2)
    """)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 6


def test_exit_hook_can_be_disabled(server):
    result = run_python(f"""
        import pug
        client = pug.Client("key", {server.url!r}, flush_interval=30, flush_on_exit=False)
        client.track("u-1", "E")
    """)
    assert result.returncode == 0, result.stderr
    assert server.messages() == []
