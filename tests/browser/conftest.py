"""Fixtures for the dashboard page tests: Chromium, node and a live server.

The page is driven by ``node/run.js`` (playwright-core on the system's
Chromium). Without chromium or node the tests skip, except under CI (``CI``
set), where they fail. The server runs on SQLite only: the metrics API is
tested on both backends elsewhere, and the page reads the same JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.live import Api, create_project, start_server

NODE_DIR = Path(__file__).parent / "node"
REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS_DIR = REPO_ROOT / "artifacts"
NPM_INSTALL_TIMEOUT_SECONDS = 180
# run.js stops itself after 60 s; this is the backstop.
SCENARIO_TIMEOUT_SECONDS = 90


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"browser tests need {reason} under CI")
    pytest.skip(reason)


@dataclass(frozen=True)
class Browser:
    """The programs that run a scenario of ``run.js``."""

    node: str
    chromium: str

    def run(self, scenario: str, **config: Any) -> dict[str, Any]:
        """Run one scenario and return its ``result`` and ``observed`` JSON."""
        payload = json.dumps(
            {"scenario": scenario, "chromium": self.chromium, **config}
        )
        completed = subprocess.run(
            [self.node, "run.js", payload],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT_SECONDS,
        )
        assert completed.returncode == 0, (
            f"run.js {scenario} exited {completed.returncode}:\n{completed.stderr}"
        )
        return json.loads(completed.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def browser() -> Browser:
    """Chromium and node, with playwright-core installed into ``node/``."""
    chromium = os.environ.get("PUG_CHROMIUM") or shutil.which("chromium")
    if not chromium:
        _unavailable("chromium (apt-get install chromium)")
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node or not npm:
        _unavailable("node and npm (apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "playwright-core").is_dir():
        completed = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=NPM_INSTALL_TIMEOUT_SECONDS,
        )
        if completed.returncode != 0:
            _unavailable(
                f"playwright-core from npm (npm install failed: {completed.stderr})"
            )
    return Browser(node=node, chromium=chromium)


@pytest.fixture(scope="session")
def page_server(tmp_path_factory):
    """A ``pug-server serve`` on a fresh SQLite file, for the page tests."""
    workdir = tmp_path_factory.mktemp("browser")
    server = start_server(f"sqlite:///{workdir / 'pug.db'}", "sqlite", workdir)
    yield server
    server.stop()


@pytest.fixture
def page_api(page_server):
    """An API client for a fresh project on the page server."""
    client = Api(page_server, create_project(page_server.database_url))
    yield client
    client.session.close()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """``artifacts/`` under the repository root (git-ignored)."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR
