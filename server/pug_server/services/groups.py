"""Groups (teams, companies): group rows, group traits and memberships.

A group call records a membership of the calling person with its event
time and stores the group's traits. A message that names its groups in
``context.groupId`` or ``context.groups`` records a membership only when it
is earlier than every membership of that person in that group, so the
person counts as a member from its first such event without one row per
event. The attribution rule that metrics apply to these tables is written
out in ``docs/identity.md``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from peewee import Tuple, fn

from pug_server.models import Group, GroupMembership, GroupTrait
from pug_server.services._traits import TraitWrite, upsert_traits, writes_from_traits

if TYPE_CHECKING:
    from pug_server.services.identity import ParsedMessage

logger = logging.getLogger(__name__)

MAX_GROUP_TYPE_LENGTH = 100
MAX_GROUP_KEY_LENGTH = 200

GroupRef = tuple[str, str]


def long_key_warning(
    message: ParsedMessage, field_name: str, keys: list[str]
) -> dict[str, Any]:
    """Return the batch warning for trait keys that were too long to store."""
    return {
        "index": message.index,
        "messageId": message.message_id,
        "code": "trait_key_too_long",
        "field": field_name,
        "message": f"{len(keys)} key(s) of {field_name} are longer than 200 "
        "characters and were not stored: shorten the trait names",
    }


def _invalid_group_warning(message: ParsedMessage, group_type: str) -> dict[str, Any]:
    return {
        "index": message.index,
        "messageId": message.message_id,
        "code": "invalid_group",
        "field": "groups",
        "message": f"the group of type {group_type[:40]!r} has a placeholder id or a "
        f"type over {MAX_GROUP_TYPE_LENGTH} or a key over {MAX_GROUP_KEY_LENGTH} "
        "characters and was not recorded: send the real group id",
    }


def apply_group_messages(
    project_id: int,
    messages: list[ParsedMessage],
    person_ids: dict[str, int | None],
    warnings: list[dict[str, Any]],
) -> None:
    """Store the groups, group traits and memberships that *messages* name.

    :param person_ids: the final person id of every id of the batch.
    """
    calls, named = _collect(messages, warnings)
    refs = {ref for _, ref in calls} | {ref for _, ref in named}
    if not refs:
        return
    group_ids = _upsert_groups(project_id, refs)
    trait_writes: list[TraitWrite] = []
    call_rows: list[dict[str, Any]] = []
    for message, ref in calls:
        found, skipped = writes_from_traits(
            group_ids[ref], message.message.get("traits"), message.timestamp
        )
        trait_writes.extend(found)
        if skipped:
            warnings.append(long_key_warning(message, "traits", skipped))
        person_id = person_ids.get(message.own_id) if message.own_id else None
        if person_id is not None:
            call_rows.append(
                _membership(project_id, person_id, group_ids[ref], ref, message)
            )
    upsert_traits(GroupTrait, "group", trait_writes)
    context_rows = _first_context_memberships(
        project_id, named, person_ids, group_ids, call_rows
    )
    rows = call_rows + context_rows
    for start in range(0, len(rows), 500):
        GroupMembership.insert_many(rows[start : start + 500]).execute()


def _collect(
    messages: list[ParsedMessage], warnings: list[dict[str, Any]]
) -> tuple[list[tuple[ParsedMessage, GroupRef]], list[tuple[ParsedMessage, GroupRef]]]:
    """Split the batch's group references into group calls and context names."""
    from pug_server.services.identity import is_placeholder_id

    calls: list[tuple[ParsedMessage, GroupRef]] = []
    named: list[tuple[ParsedMessage, GroupRef]] = []
    for message in messages:
        own: GroupRef | None = None
        if message.kind == "group":
            own = (message.row["group_type"], message.message["group_id"])
        for group_type, group_key in (message.row.get("groups") or {}).items():
            ref = (group_type, group_key)
            if (
                is_placeholder_id(group_key)
                or len(group_type) > MAX_GROUP_TYPE_LENGTH
                or len(group_key) > MAX_GROUP_KEY_LENGTH
            ):
                warnings.append(_invalid_group_warning(message, group_type))
                continue
            if ref == own:
                calls.append((message, ref))
            else:
                named.append((message, ref))
    return calls, named


def _upsert_groups(project_id: int, refs: set[GroupRef]) -> dict[GroupRef, int]:
    """Create the groups not stored yet and return the id of every group."""
    ordered = sorted(refs)
    rows = [
        {Group.project: project_id, Group.group_type: t, Group.group_key: k}
        for t, k in ordered
    ]
    ids: dict[GroupRef, int] = {}
    for start in range(0, len(rows), 500):
        Group.insert_many(rows[start : start + 500]).on_conflict_ignore().execute()
        chunk = ordered[start : start + 500]
        query = (
            Group.select(Group.id, Group.group_type, Group.group_key)
            .where(
                Group.project == project_id,
                Tuple(Group.group_type, Group.group_key).in_(chunk),
            )
            .tuples()
        )
        ids.update({(t, k): group_id for group_id, t, k in query})
    return ids


def _membership(
    project_id: int,
    person_id: int,
    group_id: int,
    ref: GroupRef,
    message: ParsedMessage,
) -> dict[str, Any]:
    return {
        GroupMembership.project: project_id,
        GroupMembership.person: person_id,
        GroupMembership.group: group_id,
        GroupMembership.group_type: ref[0],
        GroupMembership.timestamp: message.timestamp,
    }


def _first_context_memberships(
    project_id: int,
    named: list[tuple[ParsedMessage, GroupRef]],
    person_ids: dict[str, int | None],
    group_ids: dict[GroupRef, int],
    call_rows: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Return membership rows for context names earlier than any stored one."""
    earliest: dict[tuple[int, int], tuple[ParsedMessage, GroupRef]] = {}
    for message, ref in named:
        person_id = person_ids.get(message.own_id) if message.own_id else None
        if person_id is None:
            continue
        slot = (person_id, group_ids[ref])
        current = earliest.get(slot)
        if current is None or message.timestamp < current[0].timestamp:
            earliest[slot] = (message, ref)
    if not earliest:
        return []
    known = _stored_first_joins(list(earliest))
    for row in call_rows:
        slot = (row[GroupMembership.person], row[GroupMembership.group])
        stamp = row[GroupMembership.timestamp]
        if slot in known and known[slot] <= stamp:
            continue
        known[slot] = stamp
    rows = []
    for (person_id, group_id), (message, ref) in earliest.items():
        first = known.get((person_id, group_id))
        if first is None or message.timestamp < first:
            rows.append(_membership(project_id, person_id, group_id, ref, message))
    return rows


def _stored_first_joins(
    slots: list[tuple[int, int]],
) -> dict[tuple[int, int], dt.datetime]:
    """Return the earliest stored membership time per (person id, group id)."""
    found: dict[tuple[int, int], dt.datetime] = {}
    persons = sorted({person_id for person_id, _ in slots})
    group_keys = sorted({group_id for _, group_id in slots})
    query = (
        GroupMembership.select(
            GroupMembership.person,
            GroupMembership.group,
            fn.MIN(GroupMembership.timestamp),
        )
        .where(
            GroupMembership.person.in_(persons),
            GroupMembership.group.in_(group_keys),
        )
        .group_by(GroupMembership.person, GroupMembership.group)
        .tuples()
    )
    for person_id, group_id, first in query:
        if isinstance(first, str):
            # SQLite returns MIN() over a datetime column as its text form.
            first = dt.datetime.fromisoformat(first)
        found[(person_id, group_id)] = first
    return found


def group_members(group_id: int) -> list[tuple[int, dt.datetime]]:
    """Return ``(person id, first joined)`` for each member, earliest first."""
    first = fn.MIN(GroupMembership.timestamp)
    query = (
        GroupMembership.select(GroupMembership.person, first)
        .where(GroupMembership.group == group_id)
        .group_by(GroupMembership.person)
        .order_by(first, GroupMembership.person)
        .tuples()
    )
    return list(query)
