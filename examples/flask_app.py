"""A small Flask app instrumented with the pug SDK.

It identifies a user on log-in (merging the anonymous visitor into them),
tracks what they do, names their team in every event, and flushes the
queue when the process exits. Start a Pug server and a project, then::

    export PUG_WRITE_KEY=pw_...             # from pug-server create-project
    export PUG_HOST=http://127.0.0.1:8000
    python examples/flask_app.py            # serves on http://127.0.0.1:5000

    curl -c jar -b jar http://127.0.0.1:5000/
    curl -c jar -b jar -X POST -d user=ada -d team=t-1 http://127.0.0.1:5000/login
    curl -c jar -b jar -X POST -d words=120 http://127.0.0.1:5000/documents/7/edit

Calls to the SDK queue the message and return, because a consumer thread
sends batches in the background. They do not raise for bad arguments or
delivery problems unless the client was created with ``strict=True``.
"""

from __future__ import annotations

import atexit
import os
import secrets
import uuid

from flask import Flask, jsonify, request, session

import pug

FLUSH_TIMEOUT_SECONDS = 5.0


def create_app(analytics: pug.Client | None = None) -> Flask:
    """Build the app; *analytics* defaults to a client from ``PUG_*`` variables."""
    app = Flask(__name__)
    app.secret_key = os.environ.get("FLASK_SECRET_KEY") or secrets.token_hex(16)
    if analytics is None:
        analytics = pug.Client(
            os.environ["PUG_WRITE_KEY"],
            host=os.environ.get("PUG_HOST", "http://127.0.0.1:8000"),
        )
        # Deliver what is still queued when the process stops. The client
        # registers a short exit hook of its own; this one waits longer.
        atexit.register(analytics.close, timeout=FLUSH_TIMEOUT_SECONDS)

    def anonymous_id() -> str:
        if "anonymous_id" not in session:
            session["anonymous_id"] = str(uuid.uuid4())
        return session["anonymous_id"]

    def team_groups() -> dict[str, str] | None:
        team = session.get("team")
        return {"team": team} if team else None

    @app.get("/")
    def home():
        analytics.track(
            session.get("user_id"),
            "Page Viewed",
            {"path": request.path},
            anonymous_id=anonymous_id(),
        )
        return jsonify(page="home", user=session.get("user_id"))

    @app.post("/login")
    def login():
        user_id = request.form.get("user", "").strip()
        if not user_id:
            return jsonify(error="form field 'user' is required"), 400
        team = request.form.get("team", "").strip() or None
        session["user_id"] = user_id
        session["team"] = team
        # Both ids in one identify: the server merges the anonymous visitor
        # into the user, so their earlier page views count for them.
        analytics.identify(
            user_id, {"email": f"{user_id}@example.com"}, anonymous_id=anonymous_id()
        )
        if team:
            analytics.group(user_id, team, {"name": team}, group_type="team")
        analytics.track(user_id, "Logged In", groups=team_groups())
        return jsonify(user=user_id, team=team)

    @app.post("/documents/<document_id>/edit")
    def edit_document(document_id: str):
        user_id = session.get("user_id")
        if user_id is None:
            return jsonify(error="log in first: POST /login with a user"), 401
        try:
            words = int(request.form.get("words", "0"))
        except ValueError:
            return jsonify(error="form field 'words' must be a whole number"), 400
        analytics.track(
            user_id,
            "Document Edited",
            {"document_id": document_id, "words": words},
            groups=team_groups(),
        )
        return jsonify(document=document_id, words=words)

    return app


if __name__ == "__main__":
    create_app().run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
