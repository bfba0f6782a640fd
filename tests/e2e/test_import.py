"""``pug-server import``: a file of good, duplicate and bad lines, read back."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import uuid

import pytest

IMPORT_TIMEOUT_SECONDS = 120


def _lines(prefix: str) -> list[str]:
    """Return the file's lines: 4 good, 1 duplicate, 3 bad and 1 blank."""
    user = f"{prefix}-user"
    anonymous = f"{prefix}-anon"
    messages = [
        {
            "type": "track",
            "anonymousId": anonymous,
            "event": "Pricing Viewed",
            "messageId": f"{prefix}-m1",
            "timestamp": "2024-05-01T09:00:00Z",
        },
        {
            "type": "identify",
            "userId": user,
            "anonymousId": anonymous,
            "traits": {"plan": "pro"},
            "messageId": f"{prefix}-m2",
            "timestamp": "2024-05-01T09:05:00Z",
        },
        {
            "type": "track",
            "userId": user,
            "event": "Signed Up",
            "messageId": f"{prefix}-m3",
            "timestamp": "2024-05-01T09:06:00Z",
            # An import keeps the written timestamp: sentAt is dropped.
            "sentAt": "2024-05-01T09:06:30Z",
        },
        {
            "type": "group",
            "userId": user,
            "groupId": f"{prefix}-team",
            "groupType": "team",
            "traits": {"name": "Pugs", "plan": "pro"},
            "messageId": f"{prefix}-m4",
            "timestamp": "2024-05-01T09:07:00Z",
        },
    ]
    lines = [json.dumps(message) for message in messages]
    lines.append(lines[2])  # line 5: the same messageId again
    lines.append('{"type": "track", "event": ')  # line 6: truncated JSON
    lines.append("")  # line 7: blank, skipped
    lines.append(
        json.dumps({"type": "track", "event": "No Ids", "messageId": f"{prefix}-bad1"})
    )  # line 8: neither userId nor anonymousId
    lines.append(
        json.dumps(
            {
                "type": "track",
                "userId": user,
                "event": "Bad Time",
                "messageId": f"{prefix}-bad2",
                "timestamp": "last tuesday",
            }
        )
    )  # line 9: timestamp is not ISO 8601
    return lines


def _run_import(database_url: str, path, *args: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PUG_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "pug_server", "import", str(path), *args],
        env=environment,
        capture_output=True,
        text=True,
        timeout=IMPORT_TIMEOUT_SECONDS,
    )


def _summary(stdout: str) -> dict[str, int]:
    last = stdout.strip().splitlines()[-1]
    return {
        key: int(value) for key, value in (part.split("=") for part in last.split())
    }


@pytest.mark.parametrize("compressed", [False, True], ids=["plain", "gzip"])
def test_import_counts_and_reads_back(api, tmp_path, compressed):
    prefix = uuid.uuid4().hex[:8]
    text = "\n".join(_lines(prefix)) + "\n"
    # The name never says gzip: the importer detects it by its magic bytes.
    path = tmp_path / "messages.data"
    path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())

    result = _run_import(
        api.server.database_url, path, "--project", str(api.project.id)
    )

    assert result.returncode == 0, result.stderr
    summary = _summary(result.stdout)
    assert summary["lines"] == 9
    assert summary["accepted"] == 4
    assert summary["duplicates"] == 1
    assert summary["rejected"] == 3
    assert summary["blank"] == 1
    assert "line 6: rejected" in result.stderr
    assert "not valid JSON" in result.stderr
    assert f"line 8: messageId={prefix}-bad1 rejected" in result.stderr
    assert f"line 9: messageId={prefix}-bad2 rejected" in result.stderr
    assert "timestamp" in result.stderr
    assert "100.0%" in result.stderr

    stored = api.get("/v1/events", limit=50).json()["events"]
    assert sorted(event["messageId"] for event in stored) == [
        f"{prefix}-m{number}" for number in range(1, 5)
    ]
    signed_up = api.get("/v1/events", message_id=f"{prefix}-m3").json()["events"][0]
    assert signed_up["timestamp"] == "2024-05-01T09:06:00Z"

    rejected = api.get("/v1/rejected").json()["rejected"]
    assert {row["messageId"] for row in rejected} == {
        f"{prefix}-bad1",
        f"{prefix}-bad2",
    }

    person = api.get(f"/v1/persons/{prefix}-anon")
    assert person.status_code == 200, person.text
    assert sorted(person.json()["distinct_ids"]) == [f"{prefix}-anon", f"{prefix}-user"]


def test_import_twice_stores_nothing_new(api, tmp_path):
    prefix = uuid.uuid4().hex[:8]
    path = tmp_path / "messages.jsonl"
    path.write_text("\n".join(_lines(prefix)) + "\n")
    arguments = ("--write-key", api.project.write_key, "--chunk", "2")

    first = _run_import(api.server.database_url, path, *arguments)
    second = _run_import(api.server.database_url, path, *arguments)

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert _summary(first.stdout)["accepted"] == 4
    assert _summary(second.stdout)["accepted"] == 0
    assert _summary(second.stdout)["duplicates"] == 5
    assert len(api.get("/v1/events", limit=50).json()["events"]) == 4


def test_import_strict_exits_nonzero(api, tmp_path):
    path = tmp_path / "messages.jsonl"
    path.write_text("\n".join(_lines(uuid.uuid4().hex[:8])) + "\n")

    result = _run_import(
        api.server.database_url, path, "--project", str(api.project.id), "--strict"
    )

    assert result.returncode == 3


def test_import_unknown_project_fails(api, tmp_path):
    path = tmp_path / "messages.jsonl"
    path.write_text("\n".join(_lines("x")) + "\n")

    result = _run_import(api.server.database_url, path, "--write-key", "pw_nope")

    assert result.returncode == 1
    assert "no project has that write key" in result.stderr


def test_import_missing_file_fails(api, tmp_path):
    result = _run_import(
        api.server.database_url, tmp_path / "absent.jsonl", "--project", "1"
    )

    assert result.returncode == 1
    assert "file not found" in result.stderr
