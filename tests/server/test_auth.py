"""Keys: Basic or body write key, Bearer read key, and never logged."""

from __future__ import annotations

import base64

import pytest
import requests


def test_write_key_basic_with_password_accepted(api):
    token = base64.b64encode(f"{api.project.write_key}:ignored".encode()).decode()
    response = requests.post(
        api.server.url + "/v1/batch",
        json={"batch": [{"type": "track", "userId": "u", "event": "e"}]},
        headers={"Authorization": f"Basic {token}"},
        timeout=30,
    )
    assert response.status_code == 200, response.text


def test_malformed_basic_header_401(api):
    response = requests.post(
        api.server.url + "/v1/batch",
        json={"batch": []},
        headers={"Authorization": "Basic !!not-base64!!"},
        timeout=30,
    )
    assert response.status_code == 401


def test_read_key_basic_user_accepted(api):
    response = requests.get(
        api.server.url + "/v1/events", auth=(api.project.read_key, ""), timeout=30
    )
    assert response.status_code == 200


@pytest.mark.parametrize("token", ["pr_wrong", "pr_a\tb", "pr_a b"])
def test_wrong_read_key_401(api, token):
    response = requests.get(
        api.server.url + "/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 401


def test_keys_never_logged(api):
    api.send([{"type": "track", "userId": "u", "event": "e"}])
    requests.post(
        api.server.url + "/v1/batch",
        json={"batch": [], "writeKey": api.project.write_key + "x"},
        timeout=30,
    )
    requests.get(
        api.server.url + "/v1/events",
        headers={"Authorization": f"Bearer {api.project.read_key}x"},
        timeout=30,
    )
    api.get("/v1/events")
    log = api.server.log_text()
    assert "rejected write key" in log
    assert api.project.write_key not in log
    assert api.project.read_key not in log


@pytest.mark.parametrize(
    "key",
    [b'"pw_\\ud800"', b'"pw_a\\u0000b"', b'"pw_\xff\xfe"', b'"pw_a b"'],
)
def test_unusable_body_write_key_401(api, key):
    response = requests.post(
        api.server.url + "/v1/batch",
        data=b'{"batch": [], "writeKey": ' + key + b"}",
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 401, response.text
    assert response.json()["error"]["code"] == "invalid_write_key"
