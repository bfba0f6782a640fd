"""Messages, stored traits and tile queries for the metrics tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.helpers.live import Api


def track(
    user_id: str | None,
    event: str,
    timestamp: str,
    message_id: str,
    *,
    properties: dict[str, Any] | None = None,
    anonymous_id: str | None = None,
    team: str | None = None,
) -> dict[str, Any]:
    """Return a track message with an explicit time and message id."""
    message: dict[str, Any] = {
        "type": "track",
        "event": event,
        "timestamp": timestamp,
        "messageId": message_id,
    }
    if user_id is not None:
        message["userId"] = user_id
    if anonymous_id is not None:
        message["anonymousId"] = anonymous_id
    if properties is not None:
        message["properties"] = properties
    if team is not None:
        message["context"] = {"groups": {"team": team}}
    return message


def query(api: Api, measure: dict[str, Any], **params: Any) -> dict[str, Any]:
    """POST an ad-hoc measure to ``/v1/query`` and return the tile."""
    response = api.post("/v1/query", {"measure": measure, **params})
    assert response.status_code == 200, response.text
    return response.json()


def series_values(tile: dict[str, Any]) -> list[Any]:
    return [period["value"] for period in tile["series"]]


def segment_table(tile: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Return ``{segment: (current, previous)}``."""
    return {
        row["segment"]: (row["current"], row["previous"]) for row in tile["segments"]
    }


class Store:
    """Writes person traits, groups and memberships straight into the server's tables.

    Identity resolution normally writes these from identify and group calls;
    writing them here pins the metrics tests to the table contract alone.
    """

    def __init__(self, api: Api) -> None:
        from pug_server.config import load_config
        from pug_server.db import make_database

        url = api.server.database_url
        self.project_id = api.project.id
        self.database = make_database(url, load_config({"DATABASE_URL": url}))

    def _bound(self):
        from pug_server.models import ALL_MODELS

        return self.database.bind_ctx(ALL_MODELS)

    def close(self) -> None:
        if hasattr(self.database, "close_all"):
            self.database.close_all()
        else:
            self.database.close()

    def person_id(self, distinct_id: str) -> int:
        from pug_server.models import PersonDistinctId

        with self._bound(), self.database.connection_context():
            row = PersonDistinctId.get(
                (PersonDistinctId.project == self.project_id)
                & (PersonDistinctId.distinct_id == distinct_id)
            )
            return row.person_id

    def person_traits(self, distinct_id: str, traits: dict[str, Any]) -> None:
        from pug_server.models import PersonTrait

        person_id = self.person_id(distinct_id)
        with self._bound(), self.database.atomic():
            for key, value in traits.items():
                PersonTrait.delete().where(
                    (PersonTrait.person == person_id) & (PersonTrait.key == key)
                ).execute()
                PersonTrait.create(
                    person=person_id,
                    key=key,
                    value=value,
                    timestamp=dt.datetime(2024, 1, 1),
                )

    def group(self, group_type: str, group_key: str, traits: dict[str, Any]) -> int:
        from pug_server.models import Group, GroupTrait

        with self._bound(), self.database.atomic():
            group, _ = Group.get_or_create(
                project=self.project_id, group_type=group_type, group_key=group_key
            )
            for key, value in traits.items():
                GroupTrait.delete().where(
                    (GroupTrait.group == group.id) & (GroupTrait.key == key)
                ).execute()
                GroupTrait.create(
                    group=group.id,
                    key=key,
                    value=value,
                    timestamp=dt.datetime(2024, 1, 1),
                )
            return group.id

    def membership(
        self, distinct_id: str, group_type: str, group_key: str, timestamp: dt.datetime
    ) -> None:
        from pug_server.models import GroupMembership

        group_id = self.group(group_type, group_key, {})
        person_id = self.person_id(distinct_id)
        with self._bound(), self.database.atomic():
            GroupMembership.create(
                project=self.project_id,
                person=person_id,
                group=group_id,
                group_type=group_type,
                timestamp=timestamp,
            )

    def project_timezone(self, timezone: str) -> None:
        from pug_server.models import Project

        with self._bound(), self.database.connection_context():
            Project.update(timezone=timezone).where(
                Project.id == self.project_id
            ).execute()
