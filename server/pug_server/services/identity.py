"""Identity resolution: ids to persons, links, merges and person traits.

Every ``userId`` and ``anonymousId`` belongs to exactly one person through
:class:`~pug_server.models.PersonDistinctId`. Events keep their raw ids, so
a merge moves ids, traits and group memberships and never touches events.
Its cost therefore does not depend on how many events either person has.
The rules are written out with examples in ``docs/identity.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Iterable
from typing import Any

from pug_server.db import database, is_postgres
from pug_server.errors import UnavailableError
from pug_server.models import Event, Person, PersonDistinctId, PersonMerge, PersonTrait
from pug_server.models.base import utcnow
from pug_server.models.person import LAST_SEEN_STEP
from pug_server.services import _sql, groups
from pug_server.services._identity_plan import (
    REASON_ADMIN,
    ParsedMessage,
    Plan,
    PlanOp,
    PlanPerson,
    StoredId,
    batch_ids,
    is_placeholder_id,
    parse_message,
    refusal_warning,
)
from pug_server.services._traits import TraitWrite, upsert_traits, writes_from_traits

logger = logging.getLogger(__name__)

# Rounds of "lock the persons, read the ids again" before a batch gives up
# with a 503; each round follows ids that a concurrent merge moved.
MAX_LOCK_ROUNDS = 5
RETRY_AFTER_SECONDS = "1"


def parse_messages(
    items: list[tuple[int, dict[str, Any], dict[str, Any]]],
) -> tuple[list[ParsedMessage], list[dict[str, Any]]]:
    """Read the ids of each message, outside any transaction.

    :param items: ``(index, message, event row)`` for each valid message.
    :returns: the parsed messages in the order of *items*, and a
        ``placeholder_id`` warning for each placeholder id among them.
    """
    warnings: list[dict[str, Any]] = []
    parsed = [
        parse_message(index, message, row, warnings) for index, message, row in items
    ]
    return parsed, warnings


def apply_messages(
    project, messages: list[ParsedMessage], warnings: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Resolve the ids of newly stored messages to persons, inside the caller's transaction.

    Unknown ids get persons, and messages with two ids link them. Identify
    and alias merge persons unless both are identified, in which case the
    merge is recorded as refused. Identify traits and group calls are
    stored. A batch of
    plain track messages costs a fixed number of statements: one read of
    all its ids and bulk inserts for the new ones (plus one advisory lock
    statement on PostgreSQL).

    :param messages: the newly stored messages from :func:`parse_messages`,
        in batch order.
    :param warnings: the parse warnings of *messages*; the list is extended
        and returned.
    :returns: warnings for the batch response: placeholder ids, refused
        links, invalid groups and trait keys too long to store.
    :raises UnavailableError: when concurrent merges kept moving the ids of
        the batch; the transaction rolls back and the client retries.
    """
    distinct_ids = batch_ids(messages)
    if distinct_ids:
        stored = _load_for_update(project.id, distinct_ids, messages)
        plan = Plan(stored)
        for message in messages:
            plan.apply(message)
        spans = _seen_spans(messages)
        _write_plan(project.id, plan, spans)
        _update_seen(stored, spans)
        warnings.extend(refusal_warning(op) for op in plan.ops if op.kind == "refuse")
        _store_person_traits(plan, messages, warnings)
        person_ids = {
            distinct_id: person.resolve().id
            for distinct_id, person in plan.owner.items()
        }
        groups.apply_group_messages(project.id, messages, person_ids, warnings)
    else:
        groups.apply_group_messages(project.id, messages, {}, warnings)
    _fix_placeholder_events(project.id, messages)
    return warnings


def _lock_key(project_id: int, distinct_id: str) -> int:
    digest = hashlib.blake2b(
        f"{project_id}\0{distinct_id}".encode(), digest_size=8
    ).digest()
    return int.from_bytes(digest, "big", signed=True)


def _lock_ids(project_id: int, distinct_ids: Iterable[str]) -> None:
    """Take a transaction advisory lock per id, in key order (PostgreSQL).

    Every batch that creates or links an id holds its lock, so two workers
    never both create a person for one new id, and the sorted order keeps
    two batches from deadlocking on each other's ids.
    """
    keys = sorted({_lock_key(project_id, distinct_id) for distinct_id in distinct_ids})
    database.execute_sql(
        "SELECT pg_advisory_xact_lock(k) FROM "
        "(SELECT unnest(%s::bigint[]) AS k ORDER BY 1) AS ordered",
        (keys,),
    )


def _load(project_id: int, distinct_ids: list[str]) -> dict[str, StoredId]:
    """Read the stored person of each id with one SELECT.

    With the default ``MAX_BATCH_MESSAGES`` of 2,500 and at most two ids a
    message, the IN list stays below SQLite's limit of 32,766 parameters.
    """
    persons: dict[int, PlanPerson] = {}
    stored: dict[str, StoredId] = {}
    marker = _sql.param()
    rows = _sql.fetch_all(
        "SELECT d.distinct_id, d.is_user_id, p.id, p.identified, d.id, "
        "d.first_seen, d.last_seen "
        "FROM person_distinct_id AS d JOIN person AS p ON p.id = d.person_id "
        f"WHERE d.project_id = {marker} "
        f"AND d.distinct_id IN ({_sql.markers(len(distinct_ids), marker)})",
        [project_id, *distinct_ids],
    )
    for distinct_id, is_user_id, person_id, identified, row_id, first, last in rows:
        person = persons.get(person_id)
        if person is None:
            person = PlanPerson(person_id, bool(identified), bool(identified))
            persons[person_id] = person
        stored[distinct_id] = StoredId(person, bool(is_user_id), row_id, first, last)
    return stored


def _load_for_update(
    project_id: int, distinct_ids: list[str], messages: list[ParsedMessage]
) -> dict[str, StoredId]:
    """Read the ids' persons and, on PostgreSQL, lock the persons to be written.

    A concurrent merge can move an id to another person between the read
    and the lock, so the ids are read again after each lock until every
    person they map to is locked.
    """
    if not is_postgres():
        # SQLite opens every write transaction with BEGIN IMMEDIATE, so this
        # transaction is the only writer until it commits.
        return _load(project_id, distinct_ids)
    _lock_ids(project_id, distinct_ids)
    locked: set[int] = set()
    for _ in range(MAX_LOCK_ROUNDS):
        stored = _load(project_id, distinct_ids)
        wanted = _persons_to_lock(stored, messages) - locked
        if not wanted:
            return stored
        _lock_persons(sorted(wanted))
        locked.update(wanted)
    logger.warning(
        "ids kept moving under concurrent merges project_id=%s ids=%d",
        project_id,
        len(distinct_ids),
    )
    raise UnavailableError(
        "the persons of this batch are being merged by another request; "
        "nothing was stored, retry the batch",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _lock_persons(person_ids: list[int]) -> None:
    """Lock the rows of *person_ids* in id order, so two batches do not deadlock on them."""
    marker = _sql.param()
    for chunk in _sql.chunks(person_ids):
        _sql.fetch_all(
            f"SELECT id FROM person WHERE id IN ({_sql.markers(len(chunk), marker)}) "
            "ORDER BY id FOR UPDATE",
            chunk,
        )


def _persons_to_lock(
    stored: dict[str, StoredId], messages: list[ParsedMessage]
) -> set[int]:
    """Return the stored persons this batch may write to or delete."""
    wanted: set[int] = set()
    for message in messages:
        ids = [i for i in (message.user_id, message.other_id) if i and i in stored]
        persons = {stored[i].person.id for i in ids}
        both_known = len(ids) == 2
        writes = (
            message.kind in ("identify", "alias", "group")
            or bool(message.row.get("groups"))
            or (
                message.user_id
                and message.other_id
                and not (both_known and len(persons) == 1)
            )
        )
        if writes:
            wanted.update(persons)
    return wanted


def _write_plan(
    project_id: int, plan: Plan, spans: dict[str, list[dt.datetime]]
) -> None:
    _create_persons(project_id, plan)
    _insert_ids(project_id, plan, spans)
    for op in plan.ops:
        if op.kind == "merge":
            merge_persons(
                project_id,
                op.source.id,
                op.into.target().id,
                reason=op.reason,
                message_id=op.message.message_id,
                from_identified=op.source.stored_identified,
            )
        else:
            _record_refusal(project_id, op)
    _flag_identified(plan)


def _create_persons(project_id: int, plan: Plan) -> None:
    pending = {
        person.first_id: person
        for person in plan.new_persons
        if person.merged_into is None
    }
    if not pending:
        return
    now = utcnow()
    rows = [
        (project_id, now, person.identified, first_id)
        for first_id, person in pending.items()
    ]
    marker = _sql.param()
    for chunk in _sql.chunks(rows):
        returned = _sql.fetch_all(
            "INSERT INTO person (project_id, created_at, identified, first_distinct_id) "
            f"VALUES {_sql.values_rows(len(chunk), 4, marker)} "
            "RETURNING id, first_distinct_id",
            [value for row in chunk for value in row],
        )
        for person_id, first_id in returned:
            pending[first_id].id = person_id
            pending[first_id].stored_identified = pending[first_id].identified


def _insert_ids(
    project_id: int, plan: Plan, spans: dict[str, list[dt.datetime]]
) -> None:
    """Insert the batch's new ids; a lost race rolls the batch back with a 503."""
    now = utcnow()
    no_span = (None, None)
    rows = [
        (
            project_id,
            distinct_id,
            plan.owner[distinct_id].resolve().id,
            is_user,
            now,
            *spans.get(distinct_id, no_span),
        )
        for distinct_id, is_user in plan.new_ids.items()
    ]
    marker = _sql.param()
    inserted = 0
    for chunk in _sql.chunks(rows):
        inserted += len(
            _sql.fetch_all(
                "INSERT INTO person_distinct_id "
                "(project_id, distinct_id, person_id, is_user_id, created_at, "
                "first_seen, last_seen) "
                f"VALUES {_sql.values_rows(len(chunk), 7, marker)} "
                "ON CONFLICT DO NOTHING RETURNING distinct_id",
                [value for row in chunk for value in row],
            )
        )
    if inserted == len(rows):
        return
    # The advisory locks (PostgreSQL) and BEGIN IMMEDIATE (SQLite) make this
    # unreachable unless another writer skips them, such as a manual insert.
    logger.warning(
        "ids created concurrently project_id=%s expected=%d inserted=%d",
        project_id,
        len(rows),
        inserted,
    )
    raise UnavailableError(
        "some ids of this batch were created by another request at the same "
        "time; nothing was stored, retry the batch",
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _seen_spans(messages: list[ParsedMessage]) -> dict[str, list[dt.datetime]]:
    """Return the earliest and latest event time of each id that owns events."""
    spans: dict[str, list[dt.datetime]] = {}
    for message in messages:
        own = message.own_id
        if own is None:
            continue
        span = spans.get(own)
        if span is None:
            spans[own] = [message.timestamp, message.timestamp]
        elif message.timestamp < span[0]:
            span[0] = message.timestamp
        elif message.timestamp > span[1]:
            span[1] = message.timestamp
    return spans


def _update_seen(
    stored: dict[str, StoredId], spans: dict[str, list[dt.datetime]]
) -> None:
    """Move ``first_seen`` and ``last_seen`` of stored ids that the batch extends.

    ``last_seen`` moves only to a time at least :data:`LAST_SEEN_STEP` later
    than the stored one, so most batches write nothing here. The statement
    keeps the earlier first and the later last time, whatever another
    transaction wrote in between.
    """
    # SQLite returns the stored times as the isoformat(" ") text its
    # adapter wrote, which sorts in time order, so the batch's times are
    # compared in that form.
    as_stored = _stored_form()
    changed: list[tuple[int, dt.datetime, dt.datetime]] = []
    for distinct_id, (first, last) in spans.items():
        known = stored.get(distinct_id)
        if known is None or known.row_id is None:
            continue
        if (
            known.first_seen is None
            or known.last_seen is None
            or as_stored(first) < known.first_seen
            or as_stored(last - LAST_SEEN_STEP) >= known.last_seen
        ):
            changed.append((known.row_id, first, last))
    if not changed:
        return
    marker = _sql.param()
    for chunk in _sql.chunks(sorted(changed)):
        database.execute_sql(
            "UPDATE person_distinct_id SET "
            "first_seen = CASE WHEN first_seen IS NULL OR v.column2 < first_seen "
            "THEN v.column2 ELSE first_seen END, "
            "last_seen = CASE WHEN last_seen IS NULL OR v.column3 > last_seen "
            "THEN v.column3 ELSE last_seen END "
            f"FROM (VALUES {_sql.values_rows(len(chunk), 3, marker)}) AS v "
            "WHERE person_distinct_id.id = v.column1",
            [value for row in chunk for value in row],
        )


def _stored_form():
    """Return the function that puts a datetime in the form the driver returns."""
    if is_postgres():
        return lambda value: value
    return lambda value: value.isoformat(" ")


def _flag_identified(plan: Plan) -> None:
    persons = {person.resolve() for person in plan.owner.values()}
    flagged = [p.id for p in persons if p.identified and not p.stored_identified]
    if flagged:
        Person.update(identified=True).where(Person.id.in_(flagged)).execute()
    if plan.user_flags:
        PersonDistinctId.update(is_user_id=True).where(
            PersonDistinctId.distinct_id.in_(sorted(plan.user_flags)),
            PersonDistinctId.person.in_([p.id for p in persons]),
        ).execute()


def _record_refusal(project_id: int, op: PlanOp) -> None:
    source, into = op.source.target(), op.into.target()
    logger.info(
        "refused merge of two identified persons project_id=%s from=%s into=%s "
        "message_id=%s",
        project_id,
        source.id,
        into.id,
        op.message.message_id,
    )
    PersonMerge.create(
        project=project_id,
        from_person_id=source.id,
        into_person_id=into.id,
        distinct_ids=op.distinct_ids,
        reason=op.reason,
        refused=True,
        message_id=op.message.message_id,
    )


def merge_persons(
    project_id: int,
    from_person_id: int,
    into_person_id: int,
    *,
    reason: str,
    message_id: str | None = None,
    from_identified: bool | None = None,
) -> list[str]:
    """Merge one person into another; the caller holds the transaction and locks.

    Ids and group memberships move, traits merge by event time, the source
    person is deleted and the merge is recorded. Events are untouched, so
    the cost is a fixed number of statements whatever the event counts.

    :param from_identified: whether the source person is identified, when
        the caller knows it; read from the database otherwise.
    :returns: the ids that moved.
    """
    from pug_server.models import GroupMembership

    if from_identified is None:
        from_identified = bool(
            Person.select(Person.identified).where(Person.id == from_person_id).scalar()
        )
    moved = [
        distinct_id
        for (distinct_id,) in PersonDistinctId.update(person=into_person_id)
        .where(PersonDistinctId.person == from_person_id)
        .returning(PersonDistinctId.distinct_id)
        .tuples()
        .execute()
    ]
    traits = [
        TraitWrite(into_person_id, row.key, row.value, row.timestamp, row.set_once)
        for row in PersonTrait.select().where(PersonTrait.person == from_person_id)
    ]
    upsert_traits(PersonTrait, "person", traits)
    GroupMembership.update(person=into_person_id).where(
        GroupMembership.person == from_person_id
    ).execute()
    if from_identified:
        Person.update(identified=True).where(Person.id == into_person_id).execute()
    Person.delete().where(Person.id == from_person_id).execute()
    PersonMerge.create(
        project=project_id,
        from_person_id=from_person_id,
        into_person_id=into_person_id,
        distinct_ids=sorted(moved),
        reason=reason,
        message_id=message_id,
    )
    logger.info(
        "merged persons project_id=%s from=%s into=%s reason=%s ids=%d",
        project_id,
        from_person_id,
        into_person_id,
        reason,
        len(moved),
    )
    return moved


def _store_person_traits(
    plan: Plan, messages: list[ParsedMessage], warnings: list[dict[str, Any]]
) -> None:
    """Upsert the traits of identify messages in one statement per 500 traits."""
    writes: list[TraitWrite] = []
    for message in messages:
        traits = message.message.get("traits")
        if message.kind != "identify" or not traits or message.own_id is None:
            continue
        person = plan.owner[message.own_id].resolve()
        found, skipped = writes_from_traits(person.id, traits, message.timestamp)
        writes.extend(found)
        if skipped:
            warnings.append(groups.long_key_warning(message, "traits", skipped))
    upsert_traits(PersonTrait, "person", writes)


def _fix_placeholder_events(project_id: int, messages: list[ParsedMessage]) -> None:
    """Point the stored events of placeholder messages at their real id, or none.

    Ingest stores ``userId`` (else ``anonymousId``) as the event's
    ``distinct_id``. When that value is a placeholder, the event resolves
    through the other id, or through no id at all.
    """
    orphans: list[str] = []
    for message in messages:
        stored = message.row.get("distinct_id")
        if stored is None or not is_placeholder_id(stored):
            continue
        if message.own_id is None:
            orphans.append(message.message_id)
        else:
            Event.update(distinct_id=message.own_id).where(
                Event.project == project_id, Event.message_id == message.message_id
            ).execute()
    if orphans:
        Event.update(distinct_id=None).where(
            Event.project == project_id, Event.message_id.in_(orphans)
        ).execute()


def admin_merge(
    project_id: int, from_distinct_id: str, into_distinct_id: str
) -> list[str]:
    """Merge the person of one id into the person of another, overriding the guard.

    This is the deliberate merge of two identified persons, recorded with
    reason ``admin``. It runs in its own transaction.

    :returns: the ids that moved.
    :raises LookupError: when an id belongs to no person of the project.
    :raises ValueError: when both ids already belong to the same person.
    """
    with database.atomic():
        source, into = _admin_persons(project_id, from_distinct_id, into_distinct_id)
        return merge_persons(
            project_id,
            source.id,
            into.id,
            reason=REASON_ADMIN,
            from_identified=source.stored_identified,
        )


def _admin_persons(
    project_id: int, from_distinct_id: str, into_distinct_id: str
) -> tuple[PlanPerson, PlanPerson]:
    ids = [from_distinct_id, into_distinct_id]
    if is_postgres():
        _lock_ids(project_id, ids)
    locked: set[int] = set()
    for _ in range(MAX_LOCK_ROUNDS):
        stored = _load(project_id, ids)
        for distinct_id in ids:
            if distinct_id not in stored:
                raise LookupError(
                    f"no person has the id {distinct_id!r} in this project"
                )
        source = stored[from_distinct_id].person
        into = stored[into_distinct_id].person
        if source.id == into.id:
            raise ValueError(
                f"{from_distinct_id!r} and {into_distinct_id!r} already belong "
                f"to the same person ({into.id})"
            )
        wanted = {source.id, into.id}
        if not is_postgres() or wanted <= locked:
            return source, into
        list(
            Person.select(Person.id)
            .where(Person.id.in_(sorted(wanted - locked)))
            .order_by(Person.id)
            .for_update()
        )
        locked.update(wanted)
    raise UnavailableError(
        "the persons are being merged by another request; run the command again"
    )
