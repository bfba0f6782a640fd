"""Size and count limits: 413 naming the limit, and no gzip bomb inflated."""

from __future__ import annotations

import gzip
import io
import json
import os
from pathlib import Path

import pytest

MESSAGE_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024


def _post(api, body: bytes, path: str = "/v1/batch", **headers):
    return api.session.post(
        api.server.url + path,
        data=body,
        auth=(api.project.write_key, ""),
        headers={"Content-Type": "application/json", **headers},
        timeout=60,
    )


def _track(message_id: str, padding: int = 0) -> dict:
    message = {
        "type": "track",
        "userId": "u-1",
        "event": "Sized",
        "messageId": message_id,
    }
    if padding:
        message["properties"] = {"pad": "x" * padding}
    return message


def test_oversize_message_rejected_alone(api):
    answer = api.send([_track("small-1"), _track("big-1", padding=MESSAGE_LIMIT)])
    assert answer["accepted"] == 1
    [rejected] = answer["rejected"]
    assert rejected["messageId"] == "big-1"
    assert (
        f"over the limit of {MESSAGE_LIMIT} bytes" in rejected["errors"]["_message"][0]
    )


def test_message_at_limit_accepted(api):
    message = _track("edge-1", padding=1)
    overhead = len(json.dumps(message, separators=(",", ":")).encode())
    message["properties"]["pad"] = "x" * (MESSAGE_LIMIT - overhead + 1)
    size = len(json.dumps(message, separators=(",", ":")).encode())
    assert size == MESSAGE_LIMIT
    assert api.send([message])["accepted"] == 1


def test_oversize_batch_413_names_limit(api):
    batch = [_track(f"b-{i}", padding=20_000) for i in range(30)]
    body = json.dumps({"batch": batch}).encode()
    response = _post(api, body)
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["details"] == {"limit": BATCH_LIMIT, "size": len(body)}
    assert f"over the limit of {BATCH_LIMIT} bytes" in error["message"]


def test_oversize_batch_stores_nothing(api):
    batch = [_track(f"n-{i}", padding=20_000) for i in range(30)]
    assert _post(api, json.dumps({"batch": batch}).encode()).status_code == 413
    assert api.get("/v1/events").json()["events"] == []


def test_too_many_messages_413(api):
    batch = [{"type": "track", "userId": "u", "event": "e"} for _ in range(2501)]
    response = _post(api, json.dumps({"batch": batch}, separators=(",", ":")).encode())
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["details"] == {"limit": 2500, "size": 2501}
    assert "2501 messages, over the limit of 2500" in error["message"]


def test_chunked_oversize_body_413(api):
    chunk = b" " * 65536

    def stream():
        yield b'{"batch": ['
        for _ in range(10):
            yield chunk
        yield b"]}"

    response = api.session.post(
        api.server.url + "/v1/batch",
        data=stream(),
        auth=(api.project.write_key, ""),
        timeout=60,
    )
    assert response.status_code == 413


def test_inflated_body_over_limit_413(api):
    batch = [_track(f"z-{i}", padding=20_000) for i in range(30)]
    body = gzip.compress(json.dumps({"batch": batch}).encode())
    assert len(body) < BATCH_LIMIT
    response = _post(api, body, **{"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert response.json()["error"]["details"]["limit"] == BATCH_LIMIT


def _worker_peak_rss_kib(server_pid: int) -> dict[int, int]:
    """Return the peak resident size (VmHWM) of each gunicorn worker."""
    peaks = {}
    for child in (
        Path(f"/proc/{server_pid}/task/{server_pid}/children").read_text().split()
    ):
        status = Path(f"/proc/{child}/status").read_text()
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks[int(child)] = int(line.split()[1])
    return peaks


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc")
def test_gzip_bomb_413_without_inflating(api):
    buffer = io.BytesIO()
    zeros = bytes(1024 * 1024)
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as bomb:
        for _ in range(100):
            bomb.write(zeros)
    body = buffer.getvalue()
    assert len(body) < 200 * 1024
    before = _worker_peak_rss_kib(api.server.process.pid)
    for _ in range(4):
        response = _post(api, body, **{"Content-Encoding": "gzip"})
        assert response.status_code == 413
    after = _worker_peak_rss_kib(api.server.process.pid)
    assert response.json()["error"]["details"]["limit"] == BATCH_LIMIT
    growth = {pid: after[pid] - before.get(pid, 0) for pid in after}
    # Inflating 100 MB would raise a worker's peak by about 100 MB; the
    # bounded inflate needs under a megabyte.
    assert max(growth.values()) < 20 * 1024, growth


def test_single_call_over_message_limit_413(api):
    body = json.dumps(_track("single-big", padding=MESSAGE_LIMIT)).encode()
    response = _post(api, body, path="/v1/track")
    assert response.status_code == 413
    assert response.json()["error"]["details"]["limit"] == MESSAGE_LIMIT


@pytest.mark.parametrize("env_name", ["PUG_MAX_BATCH_BYTES"])
def test_limits_are_configurable(tmp_path, env_name):
    from tests.helpers.live import Api, create_project, start_server

    url = f"sqlite:///{tmp_path / 'limits.db'}"
    server = start_server(url, "sqlite", tmp_path, workers=1, env={env_name: "2000"})
    try:
        api = Api(server, create_project(url))
        big = [_track(f"c-{i}", padding=500) for i in range(4)]
        assert api.batch(big).status_code == 413
        assert api.batch(big[:1]).status_code == 200
        api.session.close()
    finally:
        server.stop()
    assert os.path.exists(tmp_path / "limits.db")
