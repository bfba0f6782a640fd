"""Read persons and groups back: ids, traits, memberships, merges, activity."""

from __future__ import annotations

import datetime as dt
from typing import Any

from peewee import SQL, fn

from pug_server.db import is_postgres
from pug_server.models import (
    Event,
    Group,
    GroupMembership,
    GroupTrait,
    Person,
    PersonDistinctId,
    PersonMerge,
    PersonTrait,
)
from pug_server.services.groups import group_members

# Merges reachable from one person are followed this many steps back; an
# alias chain longer than that is shown in part.
MAX_MERGE_DEPTH = 50


def _datetime(value: Any) -> dt.datetime | None:
    # SQLite returns MIN() and MAX() over datetime columns as text.
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    return value


def person_profile(project_id: int, distinct_id: str) -> dict[str, Any] | None:
    """Return the person that owns *distinct_id*, or ``None`` when no person does."""
    owner = PersonDistinctId.get_or_none(
        PersonDistinctId.project == project_id,
        PersonDistinctId.distinct_id == distinct_id,
    )
    if owner is None:
        return None
    person = Person.get_by_id(owner.person_id)
    ids = distinct_ids_of([person.id])[person.id]
    first_seen, last_seen = (
        PersonDistinctId.select(
            fn.MIN(PersonDistinctId.first_seen), fn.MAX(PersonDistinctId.last_seen)
        )
        .where(PersonDistinctId.person == person.id)
        .tuples()
        .get()
    )
    return {
        "id": person.id,
        "identified": person.identified,
        "distinct_ids": ids,
        "traits": _traits(PersonTrait, PersonTrait.person == person.id),
        "groups": _person_groups(person.id),
        "first_seen": _datetime(first_seen),
        "last_seen": _datetime(last_seen),
        "merges": _merges(project_id, person.id),
    }


def distinct_ids_of(person_ids: list[int]) -> dict[int, list[str]]:
    """Return the ids of each person, oldest first, with one query."""
    found: dict[int, list[str]] = {person_id: [] for person_id in person_ids}
    query = (
        PersonDistinctId.select(PersonDistinctId.person, PersonDistinctId.distinct_id)
        .where(PersonDistinctId.person.in_(person_ids))
        .order_by(PersonDistinctId.id)
        .tuples()
    )
    for person_id, distinct_id in query:
        found[person_id].append(distinct_id)
    return found


def _traits(model, condition) -> dict[str, Any]:
    return {
        row.key: row.value
        for row in model.select().where(condition).order_by(model.key)
    }


def _seen(project_id: int, condition) -> tuple[dt.datetime | None, dt.datetime | None]:
    first, last = (
        Event.select(fn.MIN(Event.timestamp), fn.MAX(Event.timestamp))
        .where(Event.project == project_id, condition)
        .tuples()
        .get()
    )
    return _datetime(first), _datetime(last)


def _person_groups(person_id: int) -> list[dict[str, Any]]:
    joined = fn.MIN(GroupMembership.timestamp)
    query = (
        GroupMembership.select(Group.group_type, Group.group_key, joined)
        .join(Group)
        .where(GroupMembership.person == person_id)
        .group_by(Group.id, Group.group_type, Group.group_key)
        .order_by(joined, Group.id)
        .tuples()
    )
    return [
        {"group_type": group_type, "group_key": key, "joined_at": _datetime(first)}
        for group_type, key, first in query
    ]


def _merges(project_id: int, person_id: int) -> list[dict[str, Any]]:
    """Return the merges that led into the person, and the refused links it was in.

    Merges are followed back through the persons merged in earlier, so an
    alias chain a -> b -> c shows both merges on the final person.
    """
    persons = {person_id}
    frontier = {person_id}
    for _ in range(MAX_MERGE_DEPTH):
        query = PersonMerge.select(PersonMerge.from_person_id).where(
            PersonMerge.project == project_id,
            PersonMerge.refused == False,  # noqa: E712 - SQL comparison
            PersonMerge.into_person_id.in_(sorted(frontier)),
        )
        frontier = {row.from_person_id for row in query} - persons
        if not frontier:
            break
        persons |= frontier
    rows = PersonMerge.select().where(
        PersonMerge.project == project_id,
        PersonMerge.into_person_id.in_(sorted(persons))
        | PersonMerge.from_person_id.in_(sorted(persons)),
    )
    return [
        {
            "from": row.from_person_id,
            "into": row.into_person_id,
            "reason": row.reason,
            "refused": row.refused,
            "at": row.created_at,
            "distinct_ids": row.distinct_ids or [],
            "message_id": row.message_id,
        }
        for row in rows.order_by(PersonMerge.id)
    ]


def group_profile(
    project_id: int, group_type: str, group_key: str
) -> dict[str, Any] | None:
    """Return a group with its traits and members, or ``None`` when unknown.

    ``first_seen`` and ``last_seen`` span the events that name the group
    themselves (group calls and messages with ``context.groupId`` or
    ``context.groups``).
    """
    group = Group.get_or_none(
        Group.project == project_id,
        Group.group_type == group_type,
        Group.group_key == group_key,
    )
    if group is None:
        return None
    members = group_members(group.id)
    ids = distinct_ids_of([person_id for person_id, _ in members])
    first_seen, last_seen = _seen(project_id, _names_group(group_type, group_key))
    return {
        "group_type": group.group_type,
        "group_key": group.group_key,
        "traits": _traits(GroupTrait, GroupTrait.group == group.id),
        "members": [
            {
                "person_id": person_id,
                "distinct_ids": ids[person_id],
                "joined_at": _datetime(joined),
            }
            for person_id, joined in members
        ],
        "first_seen": first_seen,
        "last_seen": last_seen,
    }


def _names_group(group_type: str, group_key: str):
    """Return the SQL condition "the event's groups map *group_type* to *group_key*"."""
    # NOTE: no index covers this condition, so it scans the project's events.
    if is_postgres():
        return SQL("(groups ->> %s) = %s", [group_type, group_key])
    path = '$."' + group_type.replace('"', '""') + '"'
    return SQL("json_extract(groups, ?) = ?", [path, group_key])
