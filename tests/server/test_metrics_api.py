"""Metric definitions, validation, injection attempts and dashboards."""

from __future__ import annotations

import pytest

from tests.helpers.metrics import Store, segment_table, track

WEEKLY_ACTIVE_TEAMS = {
    "key": "weekly_active_teams",
    "name": "Weekly active teams",
    "period": "week",
    "measure": {"type": "unique_groups", "group_type": "team", "event": "Edit"},
}
INVITE_CONVERSION = {
    "key": "invite_conversion",
    "name": "Invite conversion",
    "measure": {
        "type": "ratio",
        "numerator": {"type": "unique_persons", "event": "Invite Accepted"},
        "denominator": {"type": "unique_persons", "event": "Invite Sent"},
    },
}
TEAM_CHURN = {
    "key": "team_churn",
    "name": "Team churn",
    "measure": {"type": "churn", "event": "Edit", "unit": "group:team"},
}


def create(api, definition) -> dict:
    response = api.post("/v1/metrics", definition)
    assert response.status_code == 201, response.text
    return response.json()


def test_metric_create_get_list(api):
    created = create(api, WEEKLY_ACTIVE_TEAMS)
    assert created["measure"]["where"] == []
    fetched = api.get("/v1/metrics/weekly_active_teams").json()
    assert fetched == created
    listed = api.get("/v1/metrics").json()["metrics"]
    assert [metric["key"] for metric in listed] == ["weekly_active_teams"]


def test_metric_duplicate_key_conflicts(api):
    create(api, WEEKLY_ACTIVE_TEAMS)
    response = api.post("/v1/metrics", WEEKLY_ACTIVE_TEAMS)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "metric_exists"


def test_metric_replace_and_delete(api):
    create(api, WEEKLY_ACTIVE_TEAMS)
    changed = {**WEEKLY_ACTIVE_TEAMS, "name": "Active teams", "period": "month"}
    response = api.put("/v1/metrics/weekly_active_teams", changed)
    assert response.status_code == 200, response.text
    assert api.get("/v1/metrics/weekly_active_teams").json()["period"] == "month"
    assert api.delete("/v1/metrics/weekly_active_teams").status_code == 204
    assert api.get("/v1/metrics/weekly_active_teams").status_code == 404


def test_metric_put_cannot_rename(api):
    create(api, WEEKLY_ACTIVE_TEAMS)
    response = api.put(
        "/v1/metrics/weekly_active_teams", {**WEEKLY_ACTIVE_TEAMS, "key": "x"}
    )
    assert response.status_code == 422
    assert "does not match" in response.json()["error"]["message"]


def test_metric_unknown_is_404(api):
    response = api.get("/v1/metrics/nope/tile")
    assert response.status_code == 404
    assert "POST /v1/metrics" in response.json()["error"]["message"]


def test_metrics_need_read_key(api):
    response = api.session.get(api.server.url + "/v1/metrics")
    assert response.status_code == 401


def test_metric_tile_uses_definition_period(api):
    create(api, {**WEEKLY_ACTIVE_TEAMS, "period": "day"})
    api.send([track("u1", "Edit", "2024-05-14T10:00:00Z", "m1", team="t1")])
    tile = api.get(
        "/v1/metrics/weekly_active_teams/tile", at="2024-05-14", periods=2
    ).json()
    assert tile["period"] == "day"
    assert tile["metric"] == "weekly_active_teams"
    assert [period["value"] for period in tile["series"]] == [0, 1]


@pytest.mark.parametrize(
    ("measure", "field", "fragment"),
    [
        ({"type": "visits"}, "type", "invalid measure type 'visits'"),
        (
            {"type": "unique_groups", "event": "Edit"},
            "group_type",
            "required for unique_groups",
        ),
        ({"type": "sum", "event": "Paid"}, "property", "required for sum"),
        (
            {"type": "sum", "property": "person.age"},
            "property",
            "use properties.<name>",
        ),
        ({"type": "funnel", "steps": ["A"]}, "steps", "use 2 to 10"),
        (
            {"type": "funnel", "steps": ["A", "B"], "window": "7 days"},
            "window",
            "invalid duration",
        ),
        ({"type": "retention", "unit": "team"}, "unit", "use 'person' or 'group:"),
        ({"type": "activation"}, "action", "missing"),
        (
            {"type": "events", "where": [{"property": "plan", "op": "eq", "value": 1}]},
            "where",
            "invalid property reference 'plan'",
        ),
        (
            {
                "type": "events",
                "where": [{"property": "properties.plan", "op": "like"}],
            },
            "where",
            "invalid op 'like'",
        ),
        (
            {
                "type": "events",
                "where": [{"property": "properties.n", "op": "gt", "value": "5"}],
            },
            "where",
            "gt needs a finite number",
        ),
        (
            {"type": "events", "where": [{"property": "group.plan", "op": "is_set"}]},
            "group_type",
            "required when a filter references group",
        ),
        ({"type": "ratio", "numerator": {"type": "events"}}, "denominator", "missing"),
        (
            {
                "type": "events",
                "where": [{"property": "properties.n", "op": "eq", "value": 2**70}],
            },
            "where",
            "needs a string, number",
        ),
        (
            {
                "type": "ratio",
                "numerator": {"type": "events"},
                "denominator": {"type": "funnel"},
            },
            "denominator",
            "invalid measure type 'funnel'",
        ),
    ],
)
def test_metric_validation_names_field(api, measure, field, fragment):
    response = api.post("/v1/metrics", {"key": "k", "name": "K", "measure": measure})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert field in error["details"]["measure"]
    assert fragment in error["message"]


def test_metric_nul_character_rejected(api):
    measure = {"type": "events", "event": "Edit\x00"}
    response = api.post("/v1/metrics", {"key": "k", "name": "K", "measure": measure})
    assert response.status_code in (400, 422)
    assert "NUL" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "K", "measure": {"type": "events"}}, "key"),
        ({"key": "bad key!", "name": "K", "measure": {"type": "events"}}, "key"),
        ({"key": "k", "measure": {"type": "events"}}, "name"),
        (
            {"key": "k", "name": "K", "period": "year", "measure": {"type": "events"}},
            "period",
        ),
        ({"key": "k", "name": "K"}, "measure"),
        (
            {"key": "k", "name": "K", "measure": {"type": "events"}, "color": "red"},
            "color",
        ),
    ],
)
def test_metric_validation_top_level_fields(api, body, field):
    response = api.post("/v1/metrics", body)
    assert response.status_code == 422
    assert field in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "key", [".", "..", "_private", "-x", ".hidden", "a b", "a" * 101]
)
def test_metric_key_must_start_with_letter(api, key):
    response = api.post(
        "/v1/metrics", {"key": key, "name": "K", "measure": {"type": "events"}}
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert "key" in error["details"]
    assert "starting with a letter or digit" in error["message"]


@pytest.mark.parametrize("key", ["a", "7day", "weekly.active-teams_v2"])
def test_metric_key_accepts_valid_forms(api, key):
    response = api.post(
        "/v1/metrics", {"key": key, "name": "K", "measure": {"type": "events"}}
    )
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "measure",
    [
        {"type": "unique_groups", "group_type": "a b"},
        {"type": "events", "group_type": "team!"},
        {"type": "retention", "unit": "group:a b"},
        {"type": "funnel", "steps": ["A", "B"], "unit": "group:$team"},
        {"type": "activation", "action": "A", "unit": "group:a:b"},
    ],
)
def test_metric_group_type_follows_ingest_rule(api, measure):
    response = api.post("/v1/metrics", {"key": "k", "name": "K", "measure": measure})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    field = "unit" if "unit" in measure else "group_type"
    assert field in error["details"]["measure"]
    assert "1 to 100 letters, digits, '_', '.' or '-'" in error["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "year"}, "period"),
        ({"compare": "last"}, "compare"),
        ({"week_start": "funday"}, "week_start"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"periods": "0"}, "periods"),
        ({"at": "yesterday"}, "at"),
        ({"at": "0001-01-01"}, "at"),
        ({"as_of": "9999-12-31T23:59:59Z"}, "as_of"),
        ({"segment_by": "plan"}, "segment_by"),
        ({"segment_limit": "1000"}, "segment_limit"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_tile_query_validation_names_field(api, params, field):
    create(api, WEEKLY_ACTIVE_TEAMS)
    response = api.get("/v1/metrics/weekly_active_teams/tile", **params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    assert field in error["details"]


@pytest.mark.parametrize(
    "timezone",
    [
        # zoneinfo loads these, but they are not IANA Area/Location names:
        # localtime is the server machine's zone, Factory a placeholder.
        "localtime",
        "Factory",
        "posix/Europe/Berlin",
        "right/Europe/Berlin",
        "EST5EDT",
        "GMT",
        "US/Eastern",
        "europe/berlin",
    ],
)
def test_tile_rejects_non_iana_timezone(api, timezone):
    create(api, WEEKLY_ACTIVE_TEAMS)
    response = api.get("/v1/metrics/weekly_active_teams/tile", timezone=timezone)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert "timezone" in error["details"]
    assert error["message"].startswith("invalid tile query: timezone:")
    assert "Europe/Berlin" in error["message"]


@pytest.mark.parametrize(
    "timezone",
    ["UTC", "Etc/GMT+5", "Europe/Berlin", "America/Argentina/Buenos_Aires"],
)
def test_tile_accepts_iana_timezone(api, timezone):
    create(api, WEEKLY_ACTIVE_TEAMS)
    response = api.get("/v1/metrics/weekly_active_teams/tile", timezone=timezone)
    assert response.status_code == 200, response.text
    assert response.json()["timezone"] == timezone


def test_tile_rejects_project_localtime(api):
    create(api, WEEKLY_ACTIVE_TEAMS)
    store = Store(api)
    try:
        store.project_timezone("localtime")
    finally:
        store.close()
    response = api.get("/v1/metrics/weekly_active_teams/tile")
    assert response.status_code == 400, response.text
    assert "timezone" in response.json()["error"]["details"]
    with_zone = api.get("/v1/metrics/weekly_active_teams/tile", timezone="UTC")
    assert with_zone.status_code == 200, with_zone.text


def test_retention_rejects_event_property_segment(api):
    create(api, TEAM_CHURN)
    response = api.get("/v1/metrics/team_churn/tile", segment_by="properties.plan")
    assert response.status_code == 400
    assert "person.<name> or group.<name>" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"segment_by": "plan"}, "segment_by"),
        ({"segment_by": "group.plan"}, "segment_by"),
        ({"timezone": "localtime"}, "timezone"),
        ({"period": "year"}, "period"),
        ({"periods": 0}, "periods"),
        ({"at": "yesterday"}, "at"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_query_parameter_errors_are_400(api, params, field):
    body = {"measure": {"type": "events", "event": "Edit"}, **params}
    response = api.post("/v1/query", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_query"
    assert field in error["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"at": "2024-05-13"},
        {"measure": {"type": "visits"}, "at": "2024-05-13"},
        {"measure": {"type": "events", "where": [{"property": "plan", "op": "eq"}]}},
    ],
)
def test_query_measure_errors_are_422(api, body):
    response = api.post("/v1/query", {**body, "segment_by": "plan"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert "measure" in error["details"]


def test_group_segment_needs_group_type(api):
    response = api.post(
        "/v1/query",
        {"measure": {"type": "events", "event": "Edit"}, "segment_by": "group.plan"},
    )
    assert response.status_code == 400
    assert "segment_by" in response.json()["error"]["details"]


@pytest.mark.parametrize(
    "name",
    [
        "plan') OR 1=1 --",
        'plan" OR "1"="1',
        "plan; DROP TABLE event",
        "plan\\",
        "a" * 101,
    ],
)
def test_injection_in_property_name_rejected(api, name):
    measure = {
        "type": "events",
        "where": [{"property": f"properties.{name}", "op": "is_set"}],
    }
    response = api.post("/v1/query", {"measure": measure, "at": "2024-05-13"})
    assert response.status_code == 422
    assert "invalid property name" in response.json()["error"]["message"]
    segment = api.post(
        "/v1/query",
        {
            "measure": {"type": "events"},
            "at": "2024-05-13",
            "segment_by": f"person.{name}",
        },
    )
    # segment_by is a tile parameter, in the body of POST /v1/query too.
    assert segment.status_code == 400
    assert "segment_by" in segment.json()["error"]["details"]


@pytest.mark.parametrize(
    "value",
    [
        "pro' OR '1'='1",
        "'); DELETE FROM event; --",
        '" OR 1=1 --',
        "%",
    ],
)
def test_injection_in_values_matches_nothing(api, value):
    api.send(
        [track("u1", "Edit", "2024-05-13T10:00:00Z", "m1", properties={"plan": "pro"})]
    )
    for op in ("eq", "contains"):
        measure = {
            "type": "events",
            "event": "Edit",
            "where": [{"property": "properties.plan", "op": op, "value": value}],
        }
        response = api.post("/v1/query", {"measure": measure, "at": "2024-05-13"})
        assert response.status_code == 200, response.text
        assert response.json()["current"]["value"] == 0
    # The event is still there.
    everything = api.post(
        "/v1/query", {"measure": {"type": "events"}, "at": "2024-05-13"}
    )
    assert everything.json()["current"]["value"] == 1


def test_spaces_and_dollars_in_property_names(api):
    api.send(
        [
            track(
                "u1",
                "Edit",
                "2024-05-13T10:00:00Z",
                "m1",
                properties={"plan name": "pro", "$os": "ios"},
            ),
        ]
    )
    for reference, value in (
        ("properties.plan name", "pro"),
        ("properties.$os", "ios"),
    ):
        measure = {
            "type": "events",
            "where": [{"property": reference, "op": "eq", "value": value}],
        }
        tile = api.post("/v1/query", {"measure": measure, "at": "2024-05-13"}).json()
        assert tile["current"]["value"] == 1, reference


NESTED = [
    {"address": {"city": "Berlin", "geo": {"zip": "10115"}}, "cart": {"total": 30}},
    {"address": {"city": "Paris"}, "cart": {"total": 12.5}},
    # A top-level key with a dot is not the nested path address.city.
    {"address.city": "Berlin", "cart": 5},
    {"address": "Berlin"},
]


def send_nested(api) -> None:
    api.send(
        [
            track(f"u{index}", "Buy", "2024-05-13T10:00:00Z", f"m{index}", properties=p)
            for index, p in enumerate(NESTED)
        ]
    )


@pytest.mark.parametrize(
    ("reference", "op", "value", "expected"),
    [
        ("properties.address.city", "eq", "Berlin", 1),
        ("properties.address.city", "is_set", None, 2),
        ("properties.address.city", "neq", "Berlin", 3),
        ("properties.address.geo.zip", "eq", "10115", 1),
        ("properties.cart.total", "gt", 20, 1),
        ("properties.address", "eq", "Berlin", 1),
        ("properties.address.city.name", "is_set", None, 0),
    ],
)
def test_property_path_is_nested(api, reference, op, value, expected):
    send_nested(api)
    condition = {"property": reference, "op": op}
    if value is not None:
        condition["value"] = value
    measure = {"type": "events", "event": "Buy", "where": [condition]}
    tile = api.post("/v1/query", {"measure": measure, "at": "2024-05-13"}).json()
    assert tile["current"]["value"] == expected


def test_nested_property_sum_and_segment(api):
    send_nested(api)
    total = api.post(
        "/v1/query",
        {
            "measure": {
                "type": "sum",
                "event": "Buy",
                "property": "properties.cart.total",
            },
            "at": "2024-05-13",
        },
    ).json()
    # 30 + 12.5; the top-level cart 5 is not at cart.total.
    assert total["current"]["value"] == 42.5
    tile = api.post(
        "/v1/query",
        {
            "measure": {"type": "events", "event": "Buy"},
            "at": "2024-05-13",
            "compare": "none",
            "segment_by": "properties.address.city",
        },
    ).json()
    assert segment_table(tile) == {
        "Berlin": (1, None),
        "Paris": (1, None),
        "(none)": (2, None),
    }


def test_nested_trait_path(api):
    api.send(
        [
            track("u1", "Edit", "2024-05-13T10:00:00Z", "m1"),
            track("u2", "Edit", "2024-05-13T10:00:00Z", "m2"),
        ]
    )
    store = Store(api)
    try:
        store.person_traits("u1", {"company": {"size": 50}})
        store.person_traits("u2", {"company": {"size": 5}})
    finally:
        store.close()
    measure = {
        "type": "unique_persons",
        "where": [{"property": "person.company.size", "op": "gte", "value": 10}],
    }
    tile = api.post("/v1/query", {"measure": measure, "at": "2024-05-13"}).json()
    assert tile["current"]["value"] == 1


@pytest.mark.parametrize(
    "reference", ["properties.a..b", "properties.a.", "properties..a", "person.a.b'"]
)
def test_property_path_rejects_empty_segment(api, reference):
    measure = {"type": "events", "where": [{"property": reference, "op": "is_set"}]}
    response = api.post("/v1/query", {"measure": measure, "at": "2024-05-13"})
    assert response.status_code == 422, response.text
    assert "invalid property name" in response.json()["error"]["message"]


def test_query_body_must_be_object(api):
    response = api.session.post(
        api.server.url + "/v1/query",
        data="[1, 2]",
        headers={
            "Authorization": f"Bearer {api.project.read_key}",
            "Content-Type": "application/json",
        },
    )
    assert response.status_code == 400


def create_dashboard_metrics(api) -> None:
    for definition in (WEEKLY_ACTIVE_TEAMS, INVITE_CONVERSION, TEAM_CHURN):
        create(api, definition)


DASHBOARD = {
    "key": "north_star",
    "name": "North Star",
    "north_star": "weekly_active_teams",
    "inputs": ["invite_conversion", "team_churn"],
}


def test_dashboard_tiles_share_parameters(api):
    create_dashboard_metrics(api)
    response = api.post("/v1/dashboards", DASHBOARD)
    assert response.status_code == 201, response.text
    api.send(
        [
            track("u1", "Edit", "2024-05-07T10:00:00Z", "m1", team="t1"),
            track("u2", "Edit", "2024-05-07T10:00:00Z", "m2", team="t2"),
            track("u1", "Edit", "2024-05-14T10:00:00Z", "m3", team="t1"),
            track("u1", "Invite Sent", "2024-05-14T10:00:00Z", "m4", team="t1"),
            track("u3", "Invite Accepted", "2024-05-15T10:00:00Z", "m5", team="t1"),
        ]
    )
    dashboard = api.get(
        "/v1/dashboards/north_star",
        at="2024-05-13",
        periods=4,
        timezone="Europe/Berlin",
    ).json()
    assert dashboard["key"] == "north_star"
    north_star = dashboard["north_star"]
    inputs = {tile["metric"]: tile for tile in dashboard["inputs"]}
    assert north_star["metric"] == "weekly_active_teams"
    # Weeks of 05-06 and 05-13 in Berlin: {t1, t2} then {t1}.
    assert [period["value"] for period in north_star["series"]] == [0, 0, 2, 1]
    assert inputs["invite_conversion"]["current"]["value"] == 1.0
    # t2 was active last week and not this week: 1 / 2.
    assert inputs["team_churn"]["current"]["value"] == 0.5
    for tile in [north_star, *inputs.values()]:
        assert tile["timezone"] == "Europe/Berlin"
        assert len(tile["series"]) == 4


def test_dashboard_segments_every_tile(api):
    create_dashboard_metrics(api)
    api.post("/v1/dashboards", {**DASHBOARD, "inputs": ["invite_conversion"]})
    api.send([track("u1", "Edit", "2024-05-14T10:00:00Z", "m1", team="t1")])
    dashboard = api.get(
        "/v1/dashboards/north_star", at="2024-05-13", segment_by="person.plan"
    ).json()
    assert dashboard["north_star"]["segments"][0]["segment"] == "(none)"
    assert dashboard["inputs"][0]["segments"] == []


def test_dashboard_group_segment_reaches_inputs(api):
    create_dashboard_metrics(api)
    api.post("/v1/dashboards", DASHBOARD)
    api.send(
        [
            track("u1", "Edit", "2024-05-14T10:00:00Z", "m1", team="t1"),
            track("u1", "Invite Sent", "2024-05-14T10:00:00Z", "m2", team="t1"),
            track("u2", "Invite Sent", "2024-05-14T10:00:00Z", "m3", team="t2"),
            track("u3", "Invite Accepted", "2024-05-15T10:00:00Z", "m4", team="t1"),
        ]
    )
    store = Store(api)
    try:
        store.group("team", "t1", {"plan": "pro"})
        store.group("team", "t2", {"plan": "free"})
    finally:
        store.close()
    dashboard = api.get(
        "/v1/dashboards/north_star", at="2024-05-13", segment_by="group.plan"
    ).json()
    assert segment_table(dashboard["north_star"]) == {"pro": (1, 0)}
    inputs = {tile["metric"]: tile for tile in dashboard["inputs"]}
    # Invite conversion by the plan of the team each event names:
    # pro 1 / 1 (u3 / u1), free 0 / 1 (u2 sent, nobody accepted).
    assert segment_table(inputs["invite_conversion"]) == {
        "pro": (1.0, None),
        "free": (0.0, None),
    }
    assert "segments_error" not in inputs["team_churn"]


def test_dashboard_unsplittable_tile_keeps_others(api):
    create_dashboard_metrics(api)
    api.post("/v1/dashboards", DASHBOARD)
    api.send([track("u1", "Edit", "2024-05-14T10:00:00Z", "m1", team="t1")])
    response = api.get(
        "/v1/dashboards/north_star", at="2024-05-13", segment_by="properties.plan"
    )
    assert response.status_code == 200, response.text
    dashboard = response.json()
    churn = next(tile for tile in dashboard["inputs"] if tile["metric"] == "team_churn")
    assert churn["segments"] == []
    assert "person.<name> or group.<name>" in churn["segments_error"]
    assert dashboard["north_star"]["segments"][0]["segment"] == "(none)"


def test_dashboard_unknown_metric_rejected(api):
    create(api, WEEKLY_ACTIVE_TEAMS)
    response = api.post("/v1/dashboards", {**DASHBOARD, "inputs": ["missing_metric"]})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {
        "inputs": ["unknown metric 'missing_metric'"]
    }


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"key": ".."}, "key", "starting with a letter or digit"),
        (
            {"inputs": ["invite_conversion", "invite_conversion"]},
            "inputs",
            "'invite_conversion' is listed twice",
        ),
        (
            {"inputs": ["weekly_active_teams"]},
            "inputs",
            "'weekly_active_teams' is the north_star",
        ),
    ],
)
def test_dashboard_validation_names_field(api, changes, field, fragment):
    create_dashboard_metrics(api)
    response = api.post("/v1/dashboards", {**DASHBOARD, **changes})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert field in error["details"]
    assert fragment in error["message"]


def test_dashboard_duplicate_key_conflicts(api):
    create_dashboard_metrics(api)
    assert api.post("/v1/dashboards", DASHBOARD).status_code == 201
    assert api.post("/v1/dashboards", DASHBOARD).status_code == 409


def test_dashboard_list_and_metric_in_use(api):
    create_dashboard_metrics(api)
    api.post("/v1/dashboards", DASHBOARD)
    listed = api.get("/v1/dashboards").json()["dashboards"]
    assert listed == [DASHBOARD]
    response = api.delete("/v1/metrics/team_churn")
    assert response.status_code == 409
    assert "PUT /v1/dashboards/north_star" in response.json()["error"]["message"]
    assert api.delete("/v1/dashboards/north_star").status_code == 204
    assert api.delete("/v1/metrics/team_churn").status_code == 204


def test_dashboard_put_replaces_definition(api):
    create_dashboard_metrics(api)
    api.post("/v1/dashboards", DASHBOARD)
    changed = {"name": "Growth", "north_star": "weekly_active_teams", "inputs": []}
    response = api.put("/v1/dashboards/north_star", changed)
    assert response.status_code == 200, response.text
    assert response.json() == {**changed, "key": "north_star"}
    listed = api.get("/v1/dashboards").json()["dashboards"]
    assert listed == [{**changed, "key": "north_star"}]
    # The metric left the dashboard, so it can be deleted now.
    assert api.delete("/v1/metrics/team_churn").status_code == 204
    tiles = api.get("/v1/dashboards/north_star", at="2024-05-13").json()
    assert tiles["name"] == "Growth"
    assert tiles["inputs"] == []


def test_dashboard_put_validates_like_post(api):
    create_dashboard_metrics(api)
    api.post("/v1/dashboards", DASHBOARD)
    renamed = api.put("/v1/dashboards/north_star", {**DASHBOARD, "key": "other"})
    assert renamed.status_code == 422
    assert "key" in renamed.json()["error"]["details"]
    unknown = api.put("/v1/dashboards/north_star", {**DASHBOARD, "inputs": ["nope"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"] == {"inputs": ["unknown metric 'nope'"]}
    twice = api.put(
        "/v1/dashboards/north_star",
        {**DASHBOARD, "inputs": ["team_churn", "team_churn"]},
    )
    assert twice.status_code == 422
    assert "inputs" in twice.json()["error"]["details"]
    missing = api.put("/v1/dashboards/north_star", {"name": "N"})
    assert missing.status_code == 422
    assert "north_star" in missing.json()["error"]["details"]
    # Nothing was changed by the rejected requests.
    assert api.get("/v1/dashboards").json()["dashboards"] == [DASHBOARD]


def test_dashboard_put_unknown_is_404(api):
    create_dashboard_metrics(api)
    response = api.put("/v1/dashboards/nope", DASHBOARD)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "dashboard_not_found"
