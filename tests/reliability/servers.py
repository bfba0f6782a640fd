"""Pug servers that the reliability suite stops, kills and restarts itself.

Unlike the session servers of ``tests/conftest.py``, each server here runs
in its own process group on a port chosen by the caller, so a test can
SIGKILL the gunicorn master and its workers together and start the same
command again on the same port and database.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import requests

from tests.helpers.live import LiveServer, free_port, serve_command

READY_TIMEOUT_SECONDS = 30
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class Server(LiveServer):
    """A ``pug-server serve`` process group that can be killed and restarted."""

    def __init__(
        self,
        database_url: str,
        backend: str,
        workdir: Path,
        *,
        port: int | None = None,
        workers: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.port = port or free_port()
        super().__init__(
            f"http://127.0.0.1:{self.port}",
            database_url,
            backend,
            workdir / f"server-{backend}-{self.port}.log",
        )
        self.workers = workers
        self.env = {
            **os.environ,
            "PUG_DATABASE_URL": database_url,
            "PUG_LOG_LEVEL": "INFO",
            **(env or {}),
        }
        self.starts = 0

    def start(self, ready_path: str = "/ready") -> Server:
        """Start the server (appending to its log) and wait for *ready_path*."""
        log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.process = subprocess.Popen(
            serve_command(self.port, self.workers),
            cwd=self.log_path.parent,
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        self.starts += 1
        self.wait_ready(ready_path)
        return self

    def wait_ready(
        self, path: str = "/ready", timeout: float = READY_TIMEOUT_SECONDS
    ) -> None:
        """Poll *path* until it answers 200; raise with the log after *timeout*."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"pug-server exited early:\n{self.log_text()}")
            try:
                if requests.get(self.url + path, timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"pug-server did not become ready:\n{self.log_text()}")

    def kill(self) -> None:
        """SIGKILL the master and every worker at once, as a crash would."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self._wait_group_gone()

    def stop(self) -> None:
        """Stop gracefully with SIGTERM; SIGKILL the group after 15 seconds."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=5)
        self._wait_group_gone()

    def _wait_group_gone(self) -> None:
        # Workers outlive a killed master by a moment; the port is free only
        # once every process of the group has exited.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and group_pids(self.process.pid):
            time.sleep(0.05)

    def rss_bytes(self) -> int:
        """Return the resident memory of the master and its workers, summed."""
        if self.process is None:
            return 0
        return sum(_rss_of(pid) for pid in group_pids(self.process.pid))


def group_pids(pgid: int) -> list[int]:
    """List the live processes of process group *pgid*, from ``/proc``."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces; the fields after ")" are fixed.
        fields = stat.rpartition(")")[2].split()
        state, process_group = fields[0], int(fields[2])
        if process_group == pgid and state != "Z":
            pids.append(int(entry))
    return pids


def _rss_of(pid: int) -> int:
    try:
        resident_pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return resident_pages * PAGE_SIZE
