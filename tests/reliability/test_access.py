"""Keys reach only their own project's data, and never reach the log.

Two projects share one live server. Project B's data (events, persons,
groups, metrics, dashboards) is created first; project A's keys then try
to read it by id, by filter and through metric filters and segments.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest
import requests

from pug_server import auth
from pug_server.models import project as project_model
from tests.helpers.live import Api, create_project
from tests.reliability.conftest import assert_clean_log

SECRET_EVENT = "B Secret Event"
SECRET_USER = "b-secret-user"
SECRET_TEAM = "b-secret-team"
METRIC = {
    "key": "b_events",
    "name": "B events",
    "period": "day",
    "measure": {"type": "events", "event": SECRET_EVENT},
}
DASHBOARD = {
    "key": "b_board",
    "name": "B board",
    "north_star": "b_events",
    "inputs": [],
}
READ_PATHS = [
    "/v1/events",
    "/v1/rejected",
    f"/v1/persons/{SECRET_USER}",
    f"/v1/groups/team/{SECRET_TEAM}",
    "/v1/metrics",
    "/v1/metrics/b_events",
    "/v1/metrics/b_events/tile",
    "/v1/dashboards",
    "/v1/dashboards/b_board",
]


@pytest.fixture
def two_projects(live_server):
    """Project A (empty) and project B (with events, a person, a team, a metric)."""
    a = Api(live_server, create_project(live_server.database_url, "project-a"))
    b = Api(live_server, create_project(live_server.database_url, "project-b"))
    b.send(
        [
            {"type": "identify", "userId": SECRET_USER, "traits": {"plan": "secret"}},
            {
                "type": "group",
                "userId": SECRET_USER,
                "groupId": SECRET_TEAM,
                "groupType": "team",
                "traits": {"name": "B team"},
            },
            {
                "type": "track",
                "userId": SECRET_USER,
                "event": SECRET_EVENT,
                "properties": {"plan": "secret"},
                "context": {"groups": {"team": SECRET_TEAM}},
            },
            {"type": "track", "event": "no user id"},
        ]
    )
    assert b.post("/v1/metrics", METRIC).status_code == 201
    assert b.post("/v1/dashboards", DASHBOARD).status_code == 201
    yield a, b
    a.session.close()
    b.session.close()


def test_foreign_ids_not_found(two_projects):
    a, b = two_projects
    for path in [p for p in READ_PATHS if p not in ("/v1/events", "/v1/rejected")]:
        if path in ("/v1/metrics", "/v1/dashboards"):
            continue
        assert b.get(path).status_code == 200, path
        response = a.get(path)
        assert response.status_code == 404, (path, response.text)


def test_foreign_lists_empty(two_projects):
    a, _ = two_projects
    assert a.get("/v1/events").json()["events"] == []
    assert a.get("/v1/events", event=SECRET_EVENT).json()["events"] == []
    assert a.get("/v1/events", user_id=SECRET_USER).json()["events"] == []
    assert a.get("/v1/rejected").json()["rejected"] == []
    assert SECRET_EVENT not in a.get("/v1/metrics").text
    assert "b_board" not in a.get("/v1/dashboards").text


def test_foreign_metric_keys_not_writable(two_projects):
    a, b = two_projects
    assert a.put("/v1/metrics/b_events", METRIC).status_code == 404
    assert a.delete("/v1/metrics/b_events").status_code == 404
    assert a.delete("/v1/dashboards/b_board").status_code == 404
    assert b.get("/v1/metrics/b_events").status_code == 200
    assert b.get("/v1/dashboards/b_board").status_code == 200


def test_foreign_dashboard_cannot_use_metric(two_projects):
    a, _ = two_projects
    response = a.post("/v1/dashboards", {**DASHBOARD, "key": "a_board"})
    assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize(
    "where",
    [
        {"property": "properties.plan", "op": "eq", "value": "secret"},
        {"property": "person.plan", "op": "eq", "value": "secret"},
        {"property": "properties.plan", "op": "eq", "value": "x' OR '1'='1"},
        {
            "property": "properties.plan",
            "op": "in",
            "value": ["a') OR 1=1 --", "secret"],
        },
        {"property": "properties.x') OR 1=1 --", "op": "is_set"},
        {"property": 'properties.plan"; DROP TABLE event; --', "op": "is_set"},
        {"property": "person.plan' OR project_id <> 0 --", "op": "is_set"},
        {"property": "group.name", "op": "contains", "value": "%"},
    ],
)
def test_query_injection_sees_no_foreign_data(two_projects, where):
    a, _ = two_projects
    definition = {
        "period": "day",
        "measure": {"type": "events", "event": SECRET_EVENT, "where": [where]},
    }
    response = a.post("/v1/query", definition)
    # 422 is the server's answer to an invalid definition.
    assert response.status_code in (200, 400, 422), response.text
    if response.status_code == 200:
        tile = response.json()
        assert tile["current"]["value"] in (0, None)
        assert all(period["value"] in (0, None) for period in tile["series"])


@pytest.mark.parametrize(
    "segment_by",
    [
        "properties.plan",
        "person.plan",
        "group.name",
        "properties.plan') OR 1=1 --",
        'person."; SELECT * FROM project; --',
        "project.write_key",
        "properties",
    ],
)
def test_segment_injection_sees_no_foreign_data(two_projects, segment_by):
    a, _ = two_projects
    definition = {
        "period": "day",
        "measure": {"type": "events"},
        "segment_by": segment_by,
    }
    response = a.post("/v1/query", definition)
    if response.status_code == 200:
        assert "secret" not in response.text
        assert SECRET_TEAM not in response.text
    else:
        assert response.status_code in (400, 422), response.text
        assert "syntax" not in response.text.lower()


def test_injection_leaves_no_sql_error(two_projects):
    a, _ = two_projects
    a.post(
        "/v1/query",
        {
            "period": "day",
            "measure": {
                "type": "events",
                "where": [{"property": "properties.a'b", "op": "eq", "value": "'"}],
            },
        },
    )
    assert_clean_log(a.server)


def test_write_key_cannot_read(api):
    response = requests.get(
        api.server.url + "/v1/events",
        headers={"Authorization": f"Bearer {api.project.write_key}"},
        timeout=30,
    )
    assert response.status_code == 401
    basic = requests.get(
        api.server.url + "/v1/events", auth=(api.project.write_key, ""), timeout=30
    )
    assert basic.status_code == 401


def test_read_key_cannot_write(api):
    response = requests.post(
        api.server.url + "/v1/batch",
        json={"batch": [{"type": "track", "userId": "u", "event": "e"}]},
        auth=(api.project.read_key, ""),
        timeout=30,
    )
    assert response.status_code == 401
    in_body = requests.post(
        api.server.url + "/v1/batch",
        json={"batch": [], "writeKey": api.project.read_key},
        timeout=30,
    )
    assert in_body.status_code == 401
    assert api.get("/v1/events").json()["events"] == []


def _read_key_variants(read_key: str) -> dict[str, str]:
    return {
        "unknown": "pr_" + "A" * (len(read_key) - 3),
        "malformed": "not a key at all",
        "truncated": read_key[:-1],
        "oversized": read_key + "x" * 500,
        "empty": "",
    }


def test_bad_read_keys_get_identical_401(api):
    bodies = set()
    for name, key in _read_key_variants(api.project.read_key).items():
        response = requests.get(
            api.server.url + "/v1/events",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        assert response.status_code == 401, name
        bodies.add(response.content)
    assert len(bodies) == 1


def test_bad_write_keys_get_identical_401(api):
    keys = ["pw_" + "A" * 32, "garbage", api.project.write_key[:-1], "pw_" + "x" * 300]
    bodies = set()
    for key in keys:
        response = requests.post(
            api.server.url + "/v1/batch", json={"batch": []}, auth=(key, ""), timeout=30
        )
        assert response.status_code == 401, key
        bodies.add(response.content)
    missing = requests.post(
        api.server.url + "/v1/batch", json={"batch": []}, timeout=30
    )
    bodies.add(missing.content)
    assert len(bodies) == 1


def test_rotated_keys_get_401(live_server):
    project = create_project(live_server.database_url)
    api = Api(live_server, project)
    api.send([{"type": "track", "userId": "u", "event": "Before Rotation"}])
    result = subprocess.run(
        [sys.executable, "-m", "pug_server", "rotate-keys", str(project.id)],
        env={**os.environ, "PUG_DATABASE_URL": live_server.database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    new_keys = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert (
        api.batch([{"type": "track", "userId": "u", "event": "e"}]).status_code == 401
    )
    assert api.get("/v1/events").status_code == 401
    api.project.write_key = new_keys["write_key"]
    api.project.read_key = new_keys["read_key"]
    assert api.get("/v1/events").status_code == 200
    assert (
        api.batch([{"type": "track", "userId": "u", "event": "e"}]).status_code == 200
    )
    api.session.close()


def test_keys_compared_in_constant_time():
    # Behaviour is covered above; this pins the comparison itself, which no
    # black-box test over a loopback socket can resolve reliably.
    for method in (
        project_model.Project.by_write_key,
        project_model.Project.by_read_key,
    ):
        source = inspect.getsource(method)
        assert "hmac.compare_digest" in source, method.__name__
    assert "==" not in inspect.getsource(auth.basic_user)


def test_used_keys_never_logged(two_projects):
    a, b = two_projects
    for api in (a, b):
        requests.get(
            api.server.url + "/v1/events",
            headers={"Authorization": f"Bearer {api.project.read_key}x"},
            timeout=30,
        )
        requests.post(
            api.server.url + "/v1/batch",
            json={"batch": [], "writeKey": api.project.write_key + "x"},
            timeout=30,
        )
    log = a.server.log_text()
    for api in (a, b):
        assert api.project.write_key not in log
        assert api.project.read_key not in log
        # The hash stored for the read key identifies it as well as the key.
        assert project_model.hash_key(api.project.read_key) not in log
