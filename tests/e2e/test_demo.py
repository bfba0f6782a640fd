"""examples/north_star.py at a reduced size against a live server."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "examples" / "north_star.py"
DEMO_TIMEOUT_SECONDS = 240
# A fixed end keeps the simulated dates, and so the printed numbers, the
# same on every run: the last simulated week starts Monday 2025-03-03 and
# the dashboard reports the week before it, which starts 2025-02-24.
END_DATE = "2025-03-12"
LAST_WEEK = dt.datetime(2025, 2, 24, tzinfo=dt.timezone.utc)
CLOSING_WEEK = dt.datetime(2025, 3, 3, tzinfo=dt.timezone.utc)


def run_demo(api, *arguments: str) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        str(DEMO),
        "--host",
        api.server.url,
        "--write-key",
        api.project.write_key,
        "--read-key",
        api.project.read_key,
        "--end",
        END_DATE,
        *arguments,
    ]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=DEMO_TIMEOUT_SECONDS
    )


def printed_row(stdout: str, name: str) -> list[str]:
    """Return the cells of the dashboard row that starts with *name*."""
    for line in stdout.splitlines():
        cells = line.split()
        if cells and cells[0] == name:
            return cells
    raise AssertionError(f"no row {name!r} in the output:\n{stdout}")


def active_teams_from_events(
    api, start: dt.datetime, event: str = "Document Edited"
) -> int:
    """Count teams with an *event* event in the week from *start*."""
    teams = set()
    cursor = None
    for _ in range(100):
        params = {"event": event, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/events", **params).json()
        for event in page["events"]:
            stored = dt.datetime.fromisoformat(
                event["timestamp"].replace("Z", "+00:00")
            )
            if start <= stored < start + dt.timedelta(days=7):
                teams.add(event["groups"]["team"])
        cursor = page["next"]
        if cursor is None:
            return len(teams)
    raise AssertionError("more than 100 pages of events")


def test_demo_small_run_matches(api):
    result = run_demo(api, "--teams", "8", "--weeks", "4", "--seed", "3")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "all match" in result.stdout
    assert "sending [" in result.stderr
    assert re.search(r"dropped=0\b", result.stdout)

    # The printed North Star agrees with a count of the stored events.
    cells = printed_row(result.stdout, "weekly_active_teams")
    assert int(cells[2]) == active_teams_from_events(api, LAST_WEEK)
    assert int(cells[3]) == active_teams_from_events(
        api, LAST_WEEK - dt.timedelta(days=7)
    )
    for name in ("invite_conversion", "activation_rate", "team_churn"):
        printed_row(result.stdout, name)

    # The week after the reported one is simulated too: teams keep editing
    # and invites are still accepted, so the reported week's activation
    # cohort has closed and the API marks no window as open.
    assert f"week of {LAST_WEEK:%Y-%m-%d}" in result.stdout
    assert active_teams_from_events(api, CLOSING_WEEK) > 0
    assert active_teams_from_events(api, CLOSING_WEEK, "Invite Accepted") > 0
    assert "window is still open" not in result.stdout

    # The plan segments add up to the North Star's current value.
    segment_rows = [
        printed_row(result.stdout, plan)
        for plan in ("free", "pro", "enterprise")
        if re.search(rf"^{plan}\s", result.stdout, re.MULTILINE)
    ]
    assert sum(int(row[1]) for row in segment_rows) == int(cells[2])


def test_demo_rerun_stores_nothing_new(api):
    first = run_demo(api, "--teams", "4", "--weeks", "3", "--seed", "5")
    second = run_demo(api, "--teams", "4", "--weeks", "3", "--seed", "5")

    assert first.returncode == 0, first.stdout + first.stderr
    # The same seed and dates give the same message ids, so the server
    # stores nothing twice and the numbers still match.
    assert second.returncode == 0, second.stdout + second.stderr
    assert "all match" in second.stdout


def test_demo_detects_foreign_data(api):
    first = run_demo(api, "--teams", "4", "--weeks", "3", "--seed", "5")
    # Another seed adds different messages to the same project, so the
    # API's numbers now include both runs and differ from the simulation.
    second = run_demo(api, "--teams", "4", "--weeks", "3", "--seed", "6")

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 1
    assert "differ from the simulation" in second.stdout


def test_demo_rejects_too_few_weeks(api):
    result = run_demo(api, "--weeks", "2")

    assert result.returncode == 2
    assert "--weeks must be at least 3" in result.stderr
