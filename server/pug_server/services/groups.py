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

from peewee import fn

from pug_server.db import database
from pug_server.models import GroupMembership, GroupTrait
from pug_server.models.base import utcnow
from pug_server.services import _sql
from pug_server.services._traits import TraitWrite, upsert_traits, writes_from_traits

if TYPE_CHECKING:
    from pug_server.services.identity import ParsedMessage

logger = logging.getLogger(__name__)


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


def _invalid_group_warning(
    message: ParsedMessage, wire: str, reason: str
) -> dict[str, Any]:
    return {
        "index": message.index,
        "messageId": message.message_id,
        "code": "invalid_group",
        "field": wire,
        "message": f"{wire[:140]}: {reason}, so no group or membership was "
        "recorded; the event is stored without it",
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
    call_rows: list[tuple[Any, ...]] = []
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
    _insert_memberships(call_rows + context_rows)


def _collect(
    messages: list[ParsedMessage], warnings: list[dict[str, Any]]
) -> tuple[list[tuple[ParsedMessage, GroupRef]], list[tuple[ParsedMessage, GroupRef]]]:
    """Split the batch's group references into group calls and context names.

    Ingest has left invalid entries out of ``row["groups"]``; each gets its
    ``invalid_group`` warning here.
    """
    calls: list[tuple[ParsedMessage, GroupRef]] = []
    named: list[tuple[ParsedMessage, GroupRef]] = []
    for message in messages:
        for wire, reason in message.message.get("invalid_groups", ()):
            warnings.append(_invalid_group_warning(message, wire, reason))
        own: GroupRef | None = None
        if message.kind == "group":
            own = (message.row["group_type"], message.message["group_id"])
        for ref in (message.row.get("groups") or {}).items():
            if ref == own:
                calls.append((message, ref))
            else:
                named.append((message, ref))
    return calls, named


def _upsert_groups(project_id: int, refs: set[GroupRef]) -> dict[GroupRef, int]:
    """Create the groups not stored yet and return the id of every group.

    Most batches name groups that exist already, so the ids are read first
    and only the missing groups are inserted.
    """
    ids = _stored_group_ids(project_id, refs)
    missing = sorted(refs - ids.keys())
    if not missing:
        return ids
    marker = _sql.param()
    now = utcnow()
    for chunk in _sql.chunks(missing):
        params: list[Any] = []
        for group_type, group_key in chunk:
            params.extend((project_id, group_type, group_key, now))
        rows = _sql.fetch_all(
            "INSERT INTO groups (project_id, group_type, group_key, created_at) "
            f"VALUES {_sql.values_rows(len(chunk), 4, marker)} "
            "ON CONFLICT DO NOTHING RETURNING id, group_type, group_key",
            params,
        )
        ids.update({(t, k): group_id for group_id, t, k in rows})
    if len(ids) < len(refs):
        # Another transaction created some of them between the read and
        # the insert (PostgreSQL); its rows are visible once it commits.
        ids.update(_stored_group_ids(project_id, refs - ids.keys()))
    return ids


def _stored_group_ids(project_id: int, refs: set[GroupRef]) -> dict[GroupRef, int]:
    """Return the id of each of *refs* that is stored, with one SELECT per 500."""
    ids: dict[GroupRef, int] = {}
    marker = _sql.param()
    for chunk in _sql.chunks(sorted(refs)):
        types = sorted({group_type for group_type, _ in chunk})
        keys = sorted({group_key for _, group_key in chunk})
        rows = _sql.fetch_all(
            "SELECT id, group_type, group_key FROM groups "
            f"WHERE project_id = {marker} "
            f"AND group_type IN ({_sql.markers(len(types), marker)}) "
            f"AND group_key IN ({_sql.markers(len(keys), marker)})",
            [project_id, *types, *keys],
        )
        # The two IN lists match every pairing of a type and a key, so
        # pairs the batch did not name are dropped here.
        ids.update({(t, k): group_id for group_id, t, k in rows if (t, k) in refs})
    return ids


def _membership(
    project_id: int,
    person_id: int,
    group_id: int,
    ref: GroupRef,
    message: ParsedMessage,
) -> tuple[Any, ...]:
    """Return a membership row in :data:`_MEMBERSHIP_COLUMNS` order."""
    return (project_id, person_id, group_id, ref[0], message.timestamp)


_MEMBERSHIP_COLUMNS = ("project_id", "person_id", "group_id", "group_type", "timestamp")


def _insert_memberships(rows: list[tuple[Any, ...]]) -> None:
    marker = _sql.param()
    columns = ", ".join(_MEMBERSHIP_COLUMNS)
    for chunk in _sql.chunks(rows):
        params = [value for row in chunk for value in row]
        database.execute_sql(
            f"INSERT INTO group_membership ({columns}) "
            f"VALUES {_sql.values_rows(len(chunk), len(_MEMBERSHIP_COLUMNS), marker)}",
            params,
        )


def _first_context_memberships(
    project_id: int,
    named: list[tuple[ParsedMessage, GroupRef]],
    person_ids: dict[str, int | None],
    group_ids: dict[GroupRef, int],
    call_rows: list[tuple[Any, ...]],
) -> list[tuple[Any, ...]]:
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
    known = _stored_first_joins({slot: ref[0] for slot, (_, ref) in earliest.items()})
    for _, person_id, group_id, _, stamp in call_rows:
        slot = (person_id, group_id)
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
    slots: dict[tuple[int, int], str],
) -> dict[tuple[int, int], dt.datetime]:
    """Return the earliest stored membership time per (person id, group id).

    *slots* maps each pair to its group type. There is one SELECT per 500
    persons, and the pairs outside *slots* that the IN lists also match
    are dropped.
    """
    found: dict[tuple[int, int], dt.datetime] = {}
    group_types = sorted(set(slots.values()))
    group_keys = sorted({group_id for _, group_id in slots})
    marker = _sql.param()
    for persons in _sql.chunks(sorted({person_id for person_id, _ in slots})):
        rows = _sql.fetch_all(
            "SELECT person_id, group_id, MIN(timestamp) FROM group_membership "
            f"WHERE person_id IN ({_sql.markers(len(persons), marker)}) "
            f"AND group_type IN ({_sql.markers(len(group_types), marker)}) "
            # The unary plus keeps SQLite off the group_id index. Without
            # ANALYZE statistics it prefers that index, which reads every
            # membership of the group rather than the persons' own rows.
            f"AND +group_id IN ({_sql.markers(len(group_keys), marker)}) "
            "GROUP BY person_id, group_id",
            [*persons, *group_types, *group_keys],
        )
        for person_id, group_id, first in rows:
            if (person_id, group_id) in slots:
                found[(person_id, group_id)] = _sql.to_datetime(first)
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
