"""The curl examples of README.md and docs/dashboard.md run as written.

The dashboard example follows the README quickstart, so each request is
sent in order to a fresh project and must be accepted.
"""

from __future__ import annotations

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: ``-d '<json>' \`` followed by the URL on the next line.
CURL_POST = re.compile(r"-d '(\{.*?\})' \\\s+(\S+)", re.DOTALL)


def curl_posts(path: pathlib.Path) -> list[tuple[str, dict]]:
    """Return ``(url path, body)`` of every ``curl -d`` POST in a file."""
    posts = []
    for body, url in CURL_POST.findall(path.read_text()):
        posts.append((re.sub(r"^https?://[^/]+", "", url), json.loads(body)))
    return posts


def test_dashboard_example_follows_quickstart(api):
    quickstart = [post for post in curl_posts(ROOT / "README.md") if "/v1/" in post[0]]
    example = curl_posts(ROOT / "docs" / "dashboard.md")
    assert [path for path, _ in quickstart] == ["/v1/metrics"]
    assert example[-1][0] == "/v1/dashboards"
    for path, body in [*quickstart, *example]:
        response = api.post(path, body)
        assert response.status_code == 201, (path, response.text)
    dashboard = api.get("/v1/dashboards/" + example[-1][1]["key"], at="2024-05-13")
    assert dashboard.status_code == 200, dashboard.text
