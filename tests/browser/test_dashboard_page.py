"""The dashboard page in headless Chromium shows what the metrics API returns.

One project is seeded per module with events at fixed timestamps in the
weeks of 2024-05-27 and 2024-06-03 (Mondays, UTC), three metrics and one
dashboard. Each test opens the page through ``node/run.js`` and compares
the text on the page with the tiles the API returns for the same query.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
import requests

from tests.helpers.live import Api, create_project

AT = "2024-06-05"
DASHBOARD = "growth"
METRICS = [
    {
        "key": "weekly_active_teams",
        "name": "Weekly active teams",
        "period": "week",
        "measure": {
            "type": "unique_groups",
            "group_type": "team",
            "event": "Document Edited",
        },
    },
    {
        "key": "weekly_signups",
        "name": "Weekly sign-ups",
        "period": "week",
        "measure": {"type": "unique_persons", "event": "Signed Up"},
    },
    {
        "key": "long_edit_rate",
        "name": "Long edit rate",
        "period": "week",
        "measure": {
            "type": "ratio",
            "numerator": {
                "type": "unique_persons",
                "event": "Document Edited",
                "where": [{"property": "properties.words", "op": "gt", "value": 100}],
            },
            "denominator": {"type": "unique_persons", "event": "Document Edited"},
        },
    },
]


def _track(user: str, event: str, timestamp: str, **extra) -> dict:
    return {
        "type": "track",
        "userId": user,
        "event": event,
        "timestamp": timestamp,
        "messageId": str(uuid.uuid4()),
        **extra,
    }


def _edit(user: str, team: str, words: int, timestamp: str, source: str | None) -> dict:
    properties = (
        {"words": words} if source is None else {"words": words, "source": source}
    )
    return _track(
        user,
        "Document Edited",
        timestamp,
        properties=properties,
        context={"groups": {"team": team}},
    )


def _signup(user: str, timestamp: str, source: str | None = None) -> dict:
    properties = {} if source is None else {"source": source}
    return _track(user, "Signed Up", timestamp, properties=properties)


def _team(user: str, team: str, traits: dict) -> dict:
    return {
        "type": "group",
        "userId": user,
        "groupId": team,
        "groupType": "team",
        "traits": traits,
        "timestamp": "2024-05-01T08:00:00Z",
        "messageId": str(uuid.uuid4()),
    }


def _dataset() -> list[dict]:
    """Return the seeded messages.

    Week of 2024-05-27: teams t1, t2 active (2); no sign-ups; long edits
    u1 of u1, u2 (50%). Week of 2024-06-03: teams t1, t2, t3 (3); sign-ups
    u3, u4, u5 (3); long edits u1, u3, u5 of u1, u3, u4, u5 (75%). Plans: t1 pro,
    t2 free, t3 none. ``properties.source`` is on most events and missing
    from some, so segments by it include ``(none)``.
    """
    return [
        _team("u1", "t1", {"plan": "pro"}),
        _team("u2", "t2", {"plan": "free"}),
        _team("u4", "t3", {"name": "No plan yet"}),
        _signup("u1", "2024-05-20T09:00:00Z", "web"),
        _signup("u2", "2024-05-21T09:00:00Z", "ads"),
        _edit("u1", "t1", 200, "2024-05-28T10:00:00Z", "web"),
        _edit("u2", "t2", 50, "2024-05-29T10:00:00Z", "app"),
        _signup("u3", "2024-06-03T09:00:00Z", "web"),
        _signup("u4", "2024-06-04T09:00:00Z", "ads"),
        _signup("u5", "2024-06-06T09:00:00Z"),
        _edit("u1", "t1", 200, "2024-06-05T10:00:00Z", "web"),
        _edit("u3", "t2", 300, "2024-06-05T11:00:00Z", "web"),
        _edit("u4", "t3", 10, "2024-06-06T10:00:00Z", "app"),
        _edit("u5", "t3", 150, "2024-06-06T11:00:00Z", None),
    ]


@pytest.fixture(scope="module")
def seeded(page_server):
    """The seeded project's API client, its metrics and its dashboard."""
    api = Api(page_server, create_project(page_server.database_url))
    answer = api.send(_dataset())
    assert answer["rejected"] == []
    for metric in METRICS:
        response = api.post("/v1/metrics", metric)
        assert response.status_code == 201, response.text
    dashboard = {
        "key": DASHBOARD,
        "name": "Growth",
        "north_star": "weekly_active_teams",
        "inputs": ["weekly_signups", "long_edit_rate"],
    }
    response = api.post("/v1/dashboards", dashboard)
    assert response.status_code == 201, response.text
    # Group traits segment only measures of a group type, so the teams
    # dashboard has the North Star alone.
    teams = {
        "key": "teams",
        "name": "Teams",
        "north_star": "weekly_active_teams",
        "inputs": [],
    }
    response = api.post("/v1/dashboards", teams)
    assert response.status_code == 201, response.text
    yield api
    api.session.close()


def _config(api: Api, path: str, **extra) -> dict:
    return {
        "baseUrl": api.server.url,
        "readKey": api.project.read_key,
        "path": path,
        **extra,
    }


def _api_dashboard(api: Api, key: str = DASHBOARD, **params) -> dict:
    response = api.get(f"/v1/dashboards/{key}", **params)
    assert response.status_code == 200, response.text
    return response.json()


def _count_text(value: float) -> str:
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def _value_text(value: float | None, rate: bool) -> str:
    if value is None:
        return "no data"
    return f"{value * 100:.1f}%" if rate else _count_text(value)


def _signed(text: str, amount: float) -> str:
    """Prefix *text* with the sign of *amount*, as Intl's ``exceptZero`` does."""
    if amount > 0:
        return "+" + text
    if amount < 0:
        return "-" + text
    return text


def _change_texts(change: dict, previous: float | None, rate: bool) -> dict:
    """Return the page's expected change-absolute and change-relative texts."""
    absolute = change["absolute"]
    if absolute is None:
        return {"change-absolute": "no comparison"}
    if rate:
        return {
            "change-absolute": _signed(f"{abs(absolute) * 100:.1f}", absolute) + " pts"
        }
    texts = {"change-absolute": _signed(_count_text(abs(absolute)), absolute)}
    relative = change["relative"]
    if relative is None or previous == 0:
        texts["change-relative"] = "no comparison: previous value is 0"
    else:
        texts["change-relative"] = (
            "(" + _signed(f"{abs(relative) * 100:.1f}%", relative) + ")"
        )
    return texts


def _expected_fields(tile: dict) -> dict:
    rate = tile["unit"] == "rate"
    fields = {"current": _value_text(tile["current"]["value"], rate)}
    if tile["previous"] is not None:
        fields["previous"] = _value_text(tile["previous"]["value"], rate)
        fields.update(_change_texts(tile["change"], tile["previous"]["value"], rate))
    else:
        fields["change-absolute"] = "no comparison"
    return fields


def _assert_tiles_match(page_tiles: list[dict], dashboard: dict) -> None:
    api_tiles = [dashboard["north_star"], *dashboard["inputs"]]
    assert [tile["metric"] for tile in page_tiles] == [
        tile["metric"] for tile in api_tiles
    ]
    for page_tile, api_tile in zip(page_tiles, api_tiles, strict=True):
        rate = api_tile["unit"] == "rate"
        shown = {
            key: page_tile["fields"].get(key) for key in _expected_fields(api_tile)
        }
        assert shown == _expected_fields(api_tile), page_tile["metric"]
        assert [point["value"] for point in page_tile["series"]] == [
            _value_text(point["value"], rate) for point in api_tile["series"]
        ], page_tile["metric"]
        assert [row["segment"] for row in page_tile["segments"]] == [
            row["segment"] for row in api_tile["segments"]
        ], page_tile["metric"]
        for page_row, api_row in zip(
            page_tile["segments"], api_tile["segments"], strict=True
        ):
            assert page_row["current"] == _value_text(api_row["current"], rate)


def _assert_clean(observed: dict) -> None:
    assert observed["foreignRequests"] == []
    assert observed["consoleErrors"] == []
    assert observed["pageErrors"] == []


@pytest.fixture(scope="module")
def dashboard_run(browser, seeded, artifacts_dir):
    """One run of the dashboard at ``AT``, shared by the tests that read it."""
    return browser.run(
        "dashboard",
        **_config(seeded, f"/dashboards/{DASHBOARD}?at={AT}"),
        screenshot=str(artifacts_dir / "dashboard.png"),
    )


def test_page_tiles_match_api(dashboard_run, seeded, artifacts_dir):
    run = dashboard_run
    result = run["result"]
    dashboard = _api_dashboard(seeded, at=AT)
    assert result["before"]["state"] == "key"
    assert result["after"]["state"] == "ready"
    assert result["after"]["dashboardName"] == "Growth"
    _assert_tiles_match(result["after"]["tiles"], dashboard)
    _assert_clean(run["observed"])
    assert (artifacts_dir / "dashboard.png").stat().st_size > 10_000


def test_page_north_star_hand_computed(dashboard_run):
    north_star, signups, rate = dashboard_run["result"]["after"]["tiles"]
    assert north_star["northStar"] is True
    assert north_star["name"] == "Weekly active teams"
    assert north_star["fields"]["unit"] == "teams"
    assert north_star["fields"]["current"] == "3"
    assert north_star["fields"]["previous"] == "2"
    assert north_star["fields"]["change-absolute"] == "+1"
    assert north_star["fields"]["change-relative"] == "(+50.0%)"
    assert north_star["fields"]["current-dates"] == "Jun 3 – 9, 2024"
    assert north_star["fields"]["previous-dates"] == "May 27 – Jun 2, 2024"
    assert signups["fields"]["unit"] == "persons"
    assert signups["fields"]["change-relative"] == "no comparison: previous value is 0"
    assert rate["fields"]["unit"] == "rate"
    assert rate["fields"]["current"] == "75.0%"
    assert rate["fields"]["previous"] == "50.0%"
    assert rate["fields"]["change-absolute"] == "+25.0 pts"


def test_page_reload_keeps_view_and_key(dashboard_run):
    run = dashboard_run
    after = run["result"]["after"]
    reloaded = run["result"]["reloaded"]
    assert reloaded["state"] == "ready"
    assert reloaded["search"] == f"?at={AT}"
    assert reloaded["controls"]["at"] == AT
    assert [tile["fields"] for tile in reloaded["tiles"]] == [
        tile["fields"] for tile in after["tiles"]
    ]


def test_page_sparkline_is_labelled_image(dashboard_run, seeded):
    tile = dashboard_run["result"]["after"]["tiles"][0]
    series = _api_dashboard(seeded, at=AT)["north_star"]["series"]
    assert tile["chart"]["role"] == "img"
    assert tile["chart"]["label"].startswith("Weekly active teams, last 12 weeks: ")
    assert tile["chart"]["label"].endswith(", 2, 3")
    assert tile["chart"]["dots"] == len(series)
    assert tile["chart"]["partialDots"] == 0


def test_page_marks_partial_period(browser, seeded):
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    path = f"/dashboards/{DASHBOARD}?period=day&at={today}"
    run = browser.run("dashboard", **_config(seeded, path))
    tile = run["result"]["after"]["tiles"][0]
    api_tile = _api_dashboard(seeded, period="day", at=today)["north_star"]
    assert api_tile["current"]["complete"] is False
    assert tile["fields"]["partial"].startswith("partial: ")
    assert tile["chart"]["partialDots"] == 1
    assert tile["chart"]["partialLines"] == 1
    assert tile["chart"]["partialDash"] == ["4px, 3px"]
    assert tile["series"][-1]["complete"] is False


def test_page_controls_update_url_and_tiles(browser, seeded):
    run = browser.run(
        "controls",
        **_config(seeded, f"/dashboards/{DASHBOARD}?at={AT}"),
        period="day",
        segmentBy="properties.source",
    )
    result = run["result"]
    assert result["periodChanged"]["search"] == f"?period=day&at={AT}"
    _assert_tiles_match(
        result["periodChanged"]["tiles"], _api_dashboard(seeded, period="day", at=AT)
    )
    assert result["segmented"]["search"] == (
        f"?period=day&segment_by=properties.source&at={AT}"
    )
    segmented = _api_dashboard(
        seeded, period="day", at=AT, segment_by="properties.source"
    )
    _assert_tiles_match(result["segmented"]["tiles"], segmented)
    assert result["back"]["controls"]["segment_by"] == ""
    assert result["back"]["tiles"][0]["segments"] == []
    _assert_clean(run["observed"])


def test_page_segments_include_none_and_other(browser, seeded):
    path = (
        f"/dashboards/{DASHBOARD}?at={AT}&segment_by=properties.source&segment_limit=1"
    )
    run = browser.run("dashboard", **_config(seeded, path))
    tile = run["result"]["after"]["tiles"][0]
    api_tile = _api_dashboard(
        seeded, at=AT, segment_by="properties.source", segment_limit=1
    )["north_star"]
    names = [row["segment"] for row in tile["segments"]]
    assert "(none)" in names
    assert "(other)" in names
    assert names == [row["segment"] for row in api_tile["segments"]]
    assert run["result"]["reloaded"]["search"] == (
        f"?at={AT}&segment_by=properties.source&segment_limit=1"
    )


def test_page_segments_by_group_trait(browser, seeded):
    run = browser.run(
        "dashboard",
        **_config(seeded, f"/dashboards/teams?at={AT}&segment_by=group.plan"),
    )
    tile = run["result"]["after"]["tiles"][0]
    rows = {row["segment"]: row for row in tile["segments"]}
    assert rows["pro"]["current"] == "1"
    assert rows["free"]["current"] == "1"
    assert rows["(none)"]["current"] == "1"
    assert rows["pro"]["change-absolute"] == "0"
    _assert_tiles_match(
        run["result"]["after"]["tiles"],
        _api_dashboard(seeded, "teams", at=AT, segment_by="group.plan"),
    )


def test_page_shows_dates_in_chosen_zone(browser, seeded):
    # Midnight of 2024-06-05 in Tokyo is 15:00 UTC on 2024-06-04, so a page
    # that rendered the day in UTC would show June 4.
    path = f"/dashboards/{DASHBOARD}?period=day&at={AT}&timezone=Asia/Tokyo"
    run = browser.run("dashboard", **_config(seeded, path))
    after = run["result"]["after"]
    assert after["controls"]["timezone"] == "Asia/Tokyo"
    assert after["tiles"][0]["fields"]["current-dates"] == "Jun 5, 2024"
    dashboard = _api_dashboard(seeded, period="day", at=AT, timezone="Asia/Tokyo")
    _assert_tiles_match(after["tiles"], dashboard)


def test_page_compare_none_says_so(browser, seeded):
    run = browser.run(
        "dashboard", **_config(seeded, f"/dashboards/{DASHBOARD}?at={AT}&compare=none")
    )
    after = run["result"]["after"]
    assert after["controls"]["compare"] == "none"
    assert {tile["fields"]["change-absolute"] for tile in after["tiles"]} == {
        "no comparison"
    }
    assert all("previous" not in tile["fields"] for tile in after["tiles"])


def test_page_rejects_wrong_key(browser, seeded):
    run = browser.run(
        "badKey",
        **_config(seeded, f"/dashboards/{DASHBOARD}?at={AT}"),
        wrongKey="pr_not-a-real-key",
        writeKey=seeded.project.write_key,
    )
    result = run["result"]
    assert result["rejected"]["state"] == "key"
    assert result["rejected"]["keyError"].startswith("Read key rejected")
    assert result["rejected"]["tiles"] == []
    assert result["rejected"]["sessionKeyStored"] is False
    assert "write key" in result["writeKey"]["keyError"]
    assert result["writeKey"]["sessionKeyStored"] is False
    assert result["accepted"]["state"] == "ready"
    assert len(result["accepted"]["tiles"]) == 3


def test_page_reports_unreachable_server(browser, seeded):
    run = browser.run(
        "unreachable", **_config(seeded, f"/dashboards/{DASHBOARD}?at={AT}")
    )
    result = run["result"]
    assert result["failed"]["state"] == "error"
    assert result["failed"]["status"].startswith("Server unreachable")
    assert result["retried"]["state"] == "ready"
    assert len(result["retried"]["tiles"]) == 3


def test_page_reports_unknown_dashboard(browser, seeded):
    run = browser.run("dashboard", **_config(seeded, "/dashboards/missing"))
    after = run["result"]["after"]
    assert after["state"] == "error"
    assert after["status"].startswith("Dashboard not found")


def test_page_reports_invalid_segment(browser, seeded):
    path = f"/dashboards/{DASHBOARD}?at={AT}&segment_by=plan"
    run = browser.run("dashboard", **_config(seeded, path))
    message = run["result"]["after"]["controlsError"]
    assert message.startswith("The server rejected these settings: ")
    assert "segment_by" in message


def test_page_lists_dashboards(browser, seeded):
    run = browser.run("list", **_config(seeded, "/"))
    after = run["result"]["after"]
    assert after["dashboards"] == [
        {"key": DASHBOARD, "text": "Growth", "href": f"/dashboards/{DASHBOARD}"},
        {"key": "teams", "text": "Teams", "href": "/dashboards/teams"},
    ]
    assert after["emptyHint"] is None


def test_page_empty_project_shows_hints(browser, page_api):
    run = browser.run("list", **_config(page_api, "/"))
    after = run["result"]["after"]
    assert after["dashboards"] == []
    assert after["noEventsHint"] is True
    assert after["noDashboardsHint"] is True
    assert f"{page_api.server.url}/v1/batch" in after["emptyHint"]


def test_page_fits_phone_width(browser, seeded, artifacts_dir):
    run = browser.run(
        "phone",
        **_config(seeded, f"/dashboards/{DASHBOARD}?at={AT}"),
        screenshot=str(artifacts_dir / "dashboard-phone.png"),
    )
    after = run["result"]["after"]
    assert {tile["box"]["x"] for tile in after["tiles"]} == {
        after["tiles"][0]["box"]["x"]
    }
    assert after["scrollWidth"] <= after["innerWidth"]


@pytest.mark.parametrize("path", ["/", f"/dashboards/{DASHBOARD}"])
def test_page_html_has_no_project_data(seeded, path):
    response = requests.get(seeded.server.url + path, timeout=10)
    html = response.text
    assert response.status_code == 200
    assert "Growth" not in html
    for metric in METRICS:
        assert metric["key"] not in html
        assert metric["name"] not in html
    assert seeded.project.read_key not in html
    assert re.findall(r'(?:src|href)="(?:https?:)?//', html) == []


def test_page_sets_content_security_policy(seeded):
    response = requests.get(seeded.server.url + "/", timeout=10)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "script-src 'self'" in policy
    assert "form-action 'none'" in policy


def test_page_key_never_reaches_log(dashboard_run, seeded):
    assert dashboard_run["result"]["after"]["state"] == "ready"
    assert seeded.project.read_key not in seeded.server.log_text()
