"""Generated requests never get a 5xx and never leave a traceback.

Hypothesis generates batches of messages and metric definitions with tile
options; schemathesis generates requests for every operation of
``GET /v1/openapi.json``. Each backend gets a server of its own, so its
log holds only what these requests caused.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import BACKENDS, require_postgres
from tests.helpers.live import (
    create_postgres_database,
    create_project,
    drop_postgres_database,
)
from tests.reliability.conftest import SCALES, assert_clean_log, scale_name
from tests.reliability.servers import Server

EXAMPLES = SCALES[scale_name()]["fuzz_examples"]
# Per operation of the schemathesis run; about 20 operations are published.
OPERATION_EXAMPLES = max(10, EXAMPLES // 10)
REQUESTS: Counter[str] = Counter()
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)


class Target:
    """A fuzzing server with one project and a little data in it."""

    def __init__(self, server: Server, project) -> None:
        self.server = server
        self.project = project
        self.session = requests.Session()

    def post_batch(self, body: object) -> requests.Response:
        REQUESTS["batch"] += 1
        return self.session.post(
            self.server.url + "/v1/batch",
            json=body,
            auth=(self.project.write_key, ""),
            timeout=60,
        )

    def read(self, method: str, path: str, **options) -> requests.Response:
        REQUESTS["metrics"] += 1
        headers = {"Authorization": f"Bearer {self.project.read_key}"}
        return self.session.request(
            method, self.server.url + path, headers=headers, timeout=60, **options
        )


SEED = [
    {"type": "identify", "userId": "u-1", "traits": {"plan": "pro", "seats": 3}},
    {
        "type": "group",
        "userId": "u-1",
        "groupId": "t-1",
        "groupType": "team",
        "traits": {"name": "Team One", "tier": "gold"},
    },
    {
        "type": "track",
        "userId": "u-1",
        "event": "Signed Up",
        "timestamp": "2024-05-01T10:00:00Z",
        "properties": {"words": 10, "plan": "pro"},
        "context": {"groups": {"team": "t-1"}},
    },
    {
        "type": "track",
        "anonymousId": "a-1",
        "event": "Document Edited",
        "timestamp": "2024-05-02T10:00:00Z",
        "properties": {"words": 5.5, "tags": ["x"]},
    },
]


@pytest.fixture(scope="module", params=BACKENDS)
def target(request, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'pug.db'}"
    else:
        require_postgres()
        url = create_postgres_database()
    server = Server(url, request.param, workdir).start()
    fuzz_target = Target(server, create_project(url))
    assert fuzz_target.post_batch({"batch": SEED}).status_code == 200
    yield fuzz_target
    fuzz_target.session.close()
    server.stop()
    if request.param == "postgresql":
        drop_postgres_database(url)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
instants = st.datetimes(
    min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31)
).map(lambda moment: moment.isoformat() + "Z")
ids = st.text(max_size=40) | st.integers() | json_values
MESSAGE_FIELDS = {
    "type": st.sampled_from(["track", "identify", "group", "alias", "page", "screen"])
    | json_values,
    "messageId": ids,
    "timestamp": instants | st.text(max_size=30) | json_values,
    "sentAt": instants | json_values,
    "userId": ids,
    "anonymousId": ids,
    "event": st.text(max_size=60) | json_values,
    "name": st.text(max_size=60) | json_values,
    "properties": st.dictionaries(st.text(max_size=20), json_values, max_size=6)
    | json_values,
    "traits": st.dictionaries(st.text(max_size=20), json_values, max_size=6)
    | json_values,
    "groupId": ids,
    "groupType": st.text(max_size=20) | json_values,
    "previousId": ids,
    "context": st.fixed_dictionaries(
        {},
        optional={"groupId": ids, "groups": st.dictionaries(st.text(max_size=10), ids)},
    )
    | json_values,
    "integrations": json_values,
}
messages = st.fixed_dictionaries({}, optional=MESSAGE_FIELDS) | json_values
batch_bodies = st.fixed_dictionaries(
    {"batch": st.lists(messages, min_size=1, max_size=6)},
    optional={"sentAt": instants | json_values, "context": json_values},
)


@FUZZ_SETTINGS
@given(body=batch_bodies)
def test_generated_batches_never_5xx(target, body):
    response = target.post_batch(body)
    assert response.status_code < 500, response.text


references = (
    st.sampled_from(
        [
            "properties.words",
            "properties.plan",
            "person.plan",
            "group.tier",
            "group.name",
            "properties.tags",
            "person.seats",
            "plan",
            "properties.",
            "person",
            "group.a.b",
        ]
    )
    | st.builds(
        lambda prefix, name: prefix + name,
        st.sampled_from(["properties.", "person.", "group.", ""]),
        st.text(max_size=30),
    )
    | json_values
)
operators = st.sampled_from(
    [
        "eq",
        "neq",
        "in",
        "not_in",
        "gt",
        "gte",
        "lt",
        "lte",
        "contains",
        "is_set",
        "is_not_set",
        "like",
        "",
    ]
)
filters = st.fixed_dictionaries(
    {"property": references, "op": operators}, optional={"value": json_values}
)
event_names = st.sampled_from(["Signed Up", "Document Edited", "Missing"]) | st.text(
    max_size=30
)
units = (
    st.sampled_from(["person", "group:team", "group:", "group", "team"]) | json_values
)
durations = (
    st.sampled_from(["7d", "1h", "0d", "-1d", "30m", "1w", "abc", "9999999d"])
    | json_values
)
simple_measures = st.fixed_dictionaries(
    {
        "type": st.sampled_from(
            ["events", "unique_persons", "unique_groups", "sum", "average"]
        )
    },
    optional={
        "event": event_names | json_values,
        "group_type": st.sampled_from(["team", "group"]) | json_values,
        "property": references,
        "where": st.lists(filters, max_size=3) | json_values,
    },
)
measures = (
    simple_measures
    | st.fixed_dictionaries(
        {
            "type": st.just("ratio"),
            "numerator": simple_measures | json_values,
            "denominator": simple_measures | json_values,
        }
    )
    | st.fixed_dictionaries(
        {
            "type": st.just("funnel"),
            "steps": st.lists(event_names, max_size=5) | json_values,
        },
        optional={"window": durations, "unit": units},
    )
    | st.fixed_dictionaries(
        {"type": st.just("activation")},
        optional={
            "start": event_names,
            "action": event_names,
            "within": durations,
            "unit": units,
        },
    )
    | st.fixed_dictionaries(
        {"type": st.sampled_from(["retention", "churn"])},
        optional={"event": event_names, "unit": units},
    )
    | json_values
)
tile_options = {
    "period": st.sampled_from(["day", "week", "month", "quarter", "year", ""])
    | json_values,
    "at": instants
    | st.sampled_from(["2024-05-01", "2024-03-31T02:30:00", "yesterday"]),
    "periods": st.integers(min_value=-5, max_value=500) | json_values,
    "compare": st.sampled_from(["previous", "previous_to_date", "year", "none", "x"]),
    "timezone": st.sampled_from(
        ["UTC", "Europe/Berlin", "America/Sao_Paulo", "Mars/Base", ""]
    ),
    "week_start": st.sampled_from(["monday", "sunday", "friday", "someday"]),
    "segment_by": references,
    "segment_limit": st.integers(min_value=-1, max_value=10_000) | json_values,
}
queries = st.fixed_dictionaries({"measure": measures}, optional=tile_options)
metric_definitions = st.fixed_dictionaries(
    {"key": st.text(max_size=30), "measure": measures},
    optional={"name": st.text(max_size=30), "period": tile_options["period"]},
)


@FUZZ_SETTINGS
@given(query=queries)
def test_generated_queries_never_5xx(target, query):
    response = target.read("POST", "/v1/query", json=query)
    assert response.status_code < 500, response.text


@settings(FUZZ_SETTINGS, max_examples=max(10, EXAMPLES // 3))
@given(
    definition=metric_definitions,
    options=st.fixed_dictionaries({}, optional=tile_options),
)
def test_generated_metrics_never_5xx(target, definition, options):
    created = target.read("POST", "/v1/metrics", json=definition)
    assert created.status_code < 500, created.text
    if created.status_code != 201:
        return
    key = created.json()["key"]
    params = {name: str(value) for name, value in options.items()}
    tile = target.read(
        "GET", f"/v1/metrics/{requests.utils.quote(key, safe='')}/tile", params=params
    )
    assert tile.status_code < 500, tile.text
    deleted = target.read("DELETE", f"/v1/metrics/{requests.utils.quote(key, safe='')}")
    assert deleted.status_code < 500, deleted.text


INGEST_PATH_REGEX = "^/v1/(batch|track|identify|group|alias|page|screen)$"
SCHEMATHESIS_TIMEOUT_SECONDS = 300


def run_schemathesis(target, tmp_path, name: str, header: str, selection: list[str]):
    """Run the schemathesis CLI against *target*; return its HAR entries."""
    har = tmp_path / f"{name}.har"
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        target.server.url + "/v1/openapi.json",
        "--header",
        header,
        *selection,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(OPERATION_EXAMPLES),
        "--seed",
        "20240501",
        "--request-timeout",
        "60",
        "--workers",
        "1",
        "--generation-with-security-parameters",
        "false",
        "--report",
        "har",
        "--report-har-path",
        str(har),
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=SCHEMATHESIS_TIMEOUT_SECONDS
    )
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    return result, entries


@pytest.mark.parametrize("scope", ["write", "read"])
def test_openapi_operations_never_5xx(target, tmp_path, scope):
    if scope == "write":
        token = base64.b64encode(f"{target.project.write_key}:".encode()).decode()
        header = f"Authorization: Basic {token}"
        selection = ["--include-path-regex", INGEST_PATH_REGEX]
    else:
        header = f"Authorization: Bearer {target.project.read_key}"
        selection = ["--exclude-path-regex", INGEST_PATH_REGEX]
    result, entries = run_schemathesis(target, tmp_path, scope, header, selection)
    REQUESTS[f"openapi_{scope}"] += len(entries)
    server_errors = [
        (
            entry["request"]["method"],
            entry["request"]["url"],
            entry["response"]["status"],
            entry["request"].get("postData", {}).get("text", "")[:2000],
        )
        for entry in entries
        if entry["response"]["status"] >= 500
    ]
    assert len(entries) >= 10, result.stdout[-3000:] + result.stderr[-3000:]
    assert server_errors == []
    assert result.returncode == 0, result.stdout[-5000:]


def test_fuzzing_left_clean_log(target):
    total = sum(REQUESTS.values())
    print(f"fuzz requests so far: {dict(REQUESTS)} total={total}")
    assert_clean_log(target.server)
