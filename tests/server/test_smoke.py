"""The server starts on each backend and stores what it accepts."""


def test_health_and_ready(api):
    assert api.session.get(api.server.url + "/health").json() == {"status": "ok"}
    ready = api.session.get(api.server.url + "/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == api.server.backend


def test_batch_round_trip(api):
    answer = api.send(
        [
            {
                "type": "track",
                "userId": "u-1",
                "event": "Signed Up",
                "messageId": "m-1",
            },
            {
                "type": "track",
                "userId": "u-1",
                "event": "Signed Up",
                "messageId": "m-1",
            },
        ]
    )
    assert answer["accepted"] == 1
    assert answer["duplicates"] == 1
    events = api.get("/v1/events").json()["events"]
    assert [event["messageId"] for event in events] == ["m-1"]
