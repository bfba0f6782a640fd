"""The dashboard pages: HTML shells that the browser fills from the metrics API.

The server renders no project data here. The page's script asks for the
project's read key, keeps it in ``sessionStorage`` and reads the same JSON
endpoints as every other client, so the HTML, the URL and the server log
never carry the key or the project's numbers.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, render_template

logger = logging.getLogger(__name__)

bp = Blueprint("pages", __name__)

# Everything the pages load comes from this server: no CDN, no web fonts.
# The script builds its SVG through the DOM, so no inline script or style
# attribute is needed and none is allowed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; "
    "script-src 'self'; "
    "style-src 'self'; "
    "img-src 'self' data:; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'none'; "
    "form-action 'none'; "
    "frame-ancestors 'none'"
)


@bp.after_request
def set_page_headers(response: Response) -> Response:
    """Add the Content-Security-Policy and related headers to every page."""
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # The shell carries no data, but a stale shell could load a stale script.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/")
def dashboard_list() -> str:
    """Serve the page that lists the project's dashboards."""
    return render_template("dashboard.html", view="list")


@bp.get("/dashboards/<key>")
def dashboard_page(key: str) -> str:
    """Serve the page that shows one dashboard's tiles.

    The key is read by the script from the URL, so the HTML stays the same
    for every dashboard and contains nothing that a visitor without the read
    key could learn from.
    """
    return render_template("dashboard.html", view="dashboard")
