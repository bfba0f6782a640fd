"""The pug-server command: validation, projects, key rotation, serve logs."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys

import requests

from tests.conftest import require_postgres
from tests.helpers.live import Api, ProjectKeys, free_port, start_server


def _run(args: list[str], cwd, **env) -> subprocess.CompletedProcess:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PUG_")
    }
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-m", "pug_server", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _keys(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(\w+)=(.*)$", output, re.MULTILINE))


def _project(keys: dict[str, str]) -> ProjectKeys:
    return ProjectKeys(
        int(keys["project_id"]), keys["name"], keys["write_key"], keys["read_key"]
    )


def test_serve_bad_log_level_exits_2(tmp_path):
    result = _run(["serve"], tmp_path, PUG_LOG_LEVEL="loud")
    assert result.returncode == 2
    assert (
        "PUG_LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"
        in result.stderr
    )
    assert "'loud'" in result.stderr


def test_serve_bad_workers_exits_2(tmp_path):
    result = _run(["serve"], tmp_path, PUG_WORKERS="many")
    assert result.returncode == 2
    assert "PUG_WORKERS must be a whole number" in result.stderr


def test_init_db_default_file_in_working_folder(tmp_path):
    result = _run(["init-db"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pug.db").exists()
    assert "schema ready in sqlite:///pug.db" in result.stdout


def test_create_project_prints_both_keys(tmp_path):
    result = _run(["create-project", "Docs"], tmp_path)
    keys = _keys(result.stdout)
    assert result.returncode == 0, result.stderr
    assert keys["name"] == "Docs"
    assert keys["write_key"].startswith("pw_")
    assert keys["read_key"].startswith("pr_")


def test_read_key_stored_hashed(tmp_path):
    import sqlite3

    keys = _keys(_run(["create-project", "Hashed"], tmp_path).stdout)
    with sqlite3.connect(tmp_path / "pug.db") as connection:
        dump = "\n".join(connection.iterdump())
    assert keys["write_key"] in dump
    assert keys["read_key"] not in dump


def test_rotate_unknown_project_fails(tmp_path):
    _run(["init-db"], tmp_path)
    result = _run(["rotate-keys", "nope"], tmp_path)
    assert result.returncode == 1
    assert "no project with id or name 'nope'" in result.stderr


def test_rotated_keys_replace_old_ones(tmp_path):
    url = f"sqlite:///{tmp_path / 'pug.db'}"
    old = _keys(_run(["create-project", "Rotating"], tmp_path).stdout)
    server = start_server(url, "sqlite", tmp_path, workers=1)
    try:
        new = _keys(_run(["rotate-keys", old["project_id"]], tmp_path).stdout)
        old_api = Api(server, _project(old))
        new_api = Api(server, _project(new))
        message = [{"type": "track", "userId": "u", "event": "e", "messageId": "rot-1"}]
        assert old_api.batch(message).status_code == 401
        assert old_api.get("/v1/events").status_code == 401
        assert new_api.batch(message).status_code == 200
        assert new_api.get("/v1/events").status_code == 200
        log = server.log_text()
    finally:
        server.stop()
    for key in (old["write_key"], old["read_key"], new["write_key"], new["read_key"]):
        assert key not in log


def test_serve_logs_start_and_stop(tmp_path):
    url = f"sqlite:///{tmp_path / 'pug.db'}"
    server = start_server(url, "sqlite", tmp_path, workers=1)
    server.stop()
    log = server.log_text()
    assert f"starting pug server bind={server.url[7:]} workers=1 database=sqlite" in log
    assert f"stopped pug server bind={server.url[7:]} database=sqlite" in log


def test_serve_bind_and_port_from_environment(tmp_path):
    import time

    port = free_port()
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PUG_")
    }
    environment.update(
        PUG_DATABASE_URL=f"sqlite:///{tmp_path / 'pug.db'}",
        PUG_BIND="127.0.0.1:1",
        PUG_PORT=str(port),
        PUG_WORKERS="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "pug_server", "serve"],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    status = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status is None:
            try:
                status = requests.get(
                    f"http://127.0.0.1:{port}/health", timeout=1
                ).status_code
            except requests.ConnectionError:
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=15)
    assert status == 200


def test_serve_log_line_hides_postgres_user(tmp_path, database_url_factory):
    require_postgres()
    url = database_url_factory("postgresql")
    server = start_server(url, "postgresql", tmp_path, workers=1)
    server.stop()
    log = server.log_text()
    host_and_db = url.split("@", 1)[1]
    assert f"database=postgresql url=postgresql://{host_and_db}" in log
    assert "postgres@" not in log


def test_create_project_rejects_taken_name(tmp_path):
    assert _run(["create-project", "shop"], tmp_path).returncode == 0
    again = _run(["create-project", "shop"], tmp_path)
    assert again.returncode == 1
    assert "a project named 'shop' exists" in again.stderr


def test_rotate_keys_unwritable_output_changes_nothing(tmp_path):
    before = _keys(_run(["create-project", "shop"], tmp_path).stdout)
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith("PUG_")
    }
    with open("/dev/full", "w") as full:
        failed = subprocess.run(
            [sys.executable, "-m", "pug_server", "rotate-keys", "shop"],
            cwd=tmp_path,
            env=environment,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    assert failed.returncode == 1
    assert "nothing was changed" in failed.stderr
    with sqlite3.connect(tmp_path / "pug.db") as connection:
        stored = connection.execute("SELECT write_key FROM project").fetchall()
    assert stored == [(before["write_key"],)]
