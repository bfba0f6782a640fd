"""The in-memory plan of a batch: placeholder ids, links, merges, refusals.

:func:`~pug_server.services.identity.apply_messages` reads the stored
person of every id of a batch, applies the batch's messages to a
:class:`Plan` in batch order, then writes the plan in bulk.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from dataclasses import dataclass, field
from typing import Any

#: Values that clients send when they have no id; compared after trimming
#: whitespace and quotes, in any case. "nan" and "[object object]" are what
#: JavaScript makes of a missing number or an object used as a string.
PLACEHOLDER_IDS = frozenset(
    {
        "",
        "null",
        "undefined",
        "none",
        "nil",
        "0",
        "-1",
        "anonymous",
        "guest",
        "nan",
        "[object object]",
    }
)
_ZERO_UUID = re.compile(r"^\{?0{8}-?0{4}-?0{4}-?0{4}-?0{12}\}?$")

#: Merge reasons stored in :class:`PersonMerge`; a refused link is stored
#: with ``refused=True`` and :data:`REFUSED_REASON`.
REASON_IDENTIFY = "identify"
REASON_ALIAS = "alias"
REASON_LINK = "link"
REASON_ADMIN = "admin"
REFUSED_REASON = "both_identified"


def is_placeholder_id(value: str | None) -> bool:
    """Tell whether *value* is a placeholder such as ``"null"`` rather than an id."""
    if value is None:
        return False
    return _is_placeholder_text(value)


# Ids repeat from batch to batch, so the result for each is cached.
@functools.lru_cache(maxsize=8192)
def _is_placeholder_text(value: str) -> bool:
    text = value.strip()
    while len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1].strip()
    text = text.lower()
    return text in PLACEHOLDER_IDS or _ZERO_UUID.match(text) is not None


@dataclass(eq=False)
class PlanPerson:
    """A person in the batch plan, with ``id`` ``None`` until it is created."""

    id: int | None
    identified: bool
    stored_identified: bool = False
    first_id: str | None = None
    merged_into: PlanPerson | None = None

    def resolve(self) -> PlanPerson:
        """Return the person this one ends up in after the batch."""
        person = self
        while person.merged_into is not None:
            person = person.merged_into
        return person

    def target(self) -> PlanPerson:
        """Return the stored or to-be-created person this one is written as now.

        A new person folded into another is never created, so it is written
        as the one it was folded into. A stored person is itself until its
        merge runs.
        """
        person = self
        while person.id is None and person.merged_into is not None:
            person = person.merged_into
        return person


@dataclass
class ParsedMessage:
    """A stored message with its ids checked for placeholders."""

    index: int
    message_id: str
    kind: str
    user_id: str | None
    other_id: str | None
    timestamp: dt.datetime
    message: dict[str, Any]
    row: dict[str, Any]
    placeholder_fields: list[str] = field(default_factory=list)

    @property
    def own_id(self) -> str | None:
        """The id the message's person is found by: userId first."""
        return self.user_id or self.other_id


@dataclass
class PlanOp:
    kind: str  # "merge" or "refuse"
    source: PlanPerson
    into: PlanPerson
    reason: str
    message: ParsedMessage
    distinct_ids: list[str]


@dataclass
class StoredId:
    person: PlanPerson
    is_user_id: bool
    row_id: int | None = None
    #: The stored ``first_seen`` and ``last_seen``, in the driver's form
    #: (text on SQLite, datetimes on PostgreSQL).
    first_seen: Any = None
    last_seen: Any = None


class Plan:
    """The persons, new ids, merges and refusals a batch leads to, in memory.

    Messages are applied in batch order against the stored ids. The plan is
    then written with a fixed number of bulk statements plus a few per
    merge.
    """

    def __init__(self, stored: dict[str, StoredId]) -> None:
        self.owner: dict[str, PlanPerson] = {key: s.person for key, s in stored.items()}
        self.stored_user = {key for key, s in stored.items() if s.is_user_id}
        self.new_ids: dict[str, bool] = {}
        self.user_flags: set[str] = set()
        self.new_persons: list[PlanPerson] = []
        self.ops: list[PlanOp] = []

    def apply(self, message: ParsedMessage) -> None:
        user_id, other_id = message.user_id, message.other_id
        if user_id and other_id and user_id != other_id:
            self._link(user_id, other_id, message)
            return
        if user_id:
            self._ensure(user_id, True)
        if other_id and other_id != user_id:
            self._ensure(other_id, False)

    def _new_person(self, first_id: str, identified: bool) -> PlanPerson:
        person = PlanPerson(None, identified, first_id=first_id)
        self.new_persons.append(person)
        return person

    def _attach(self, distinct_id: str, person: PlanPerson, is_user: bool) -> None:
        self.owner[distinct_id] = person
        self.new_ids[distinct_id] = is_user
        if is_user:
            person.identified = True

    def _ensure(self, distinct_id: str, is_user: bool) -> None:
        if distinct_id not in self.owner:
            self._attach(distinct_id, self._new_person(distinct_id, is_user), is_user)
        elif is_user:
            self._mark_user(distinct_id)

    def _mark_user(self, distinct_id: str) -> None:
        self.owner[distinct_id].resolve().identified = True
        if distinct_id in self.new_ids:
            self.new_ids[distinct_id] = True
        elif distinct_id not in self.stored_user:
            self.user_flags.add(distinct_id)

    def _link(self, user_id: str, other_id: str, message: ParsedMessage) -> None:
        reason = _link_reason(message.kind)
        user_person = self._person_of(user_id)
        other_person = self._person_of(other_id)
        if user_person is None and other_person is None:
            person = self._new_person(user_id, True)
            self._attach(user_id, person, True)
            self._attach(other_id, person, False)
        elif user_person is None:
            if reason == REASON_ALIAS or not other_person.identified:
                self._attach(user_id, other_person, True)
            else:
                person = self._new_person(user_id, True)
                self._attach(user_id, person, True)
                self._refuse(other_person, person, message, [user_id, other_id])
        elif other_person is None:
            self._attach(other_id, user_person, False)
            self._mark_user(user_id)
        elif user_person is other_person:
            self._mark_user(user_id)
        elif user_person.identified and other_person.identified:
            self._refuse(other_person, user_person, message, [user_id, other_id])
            self._mark_user(user_id)
        else:
            if other_person.identified:
                self._merge(user_person, other_person, reason, message)
            else:
                self._merge(other_person, user_person, reason, message)
            self._mark_user(user_id)

    def _person_of(self, distinct_id: str) -> PlanPerson | None:
        person = self.owner.get(distinct_id)
        return person.resolve() if person is not None else None

    def _refuse(
        self,
        source: PlanPerson,
        into: PlanPerson,
        message: ParsedMessage,
        ids: list[str],
    ) -> None:
        self.ops.append(PlanOp("refuse", source, into, REFUSED_REASON, message, ids))

    def _merge(
        self, source: PlanPerson, into: PlanPerson, reason: str, message: ParsedMessage
    ) -> None:
        # Ids first seen in this batch are given one person from the start:
        # a person that was never stored is folded in without a merge record.
        if source.id is not None:
            self.ops.append(PlanOp("merge", source, into, reason, message, []))
        source.merged_into = into
        into.identified = into.identified or source.identified


def _link_reason(kind: str) -> str:
    if kind == "alias":
        return REASON_ALIAS
    if kind == "identify":
        return REASON_IDENTIFY
    return REASON_LINK


def parse_message(
    index: int, message: dict[str, Any], row: dict[str, Any], warnings: list
) -> ParsedMessage:
    kind = message["type"]
    other_key = "previous_id" if kind == "alias" else "anonymous_id"
    fields_ids = {}
    placeholders = []
    for key, wire in (("user_id", "userId"), (other_key, _wire_name(other_key))):
        value = message.get(key)
        if value is not None and is_placeholder_id(value):
            placeholders.append((wire, value))
            value = None
        fields_ids[key] = value or None
    parsed = ParsedMessage(
        index=index,
        message_id=row["message_id"],
        kind=kind,
        user_id=fields_ids["user_id"],
        other_id=fields_ids[other_key],
        timestamp=row["timestamp"],
        message=message,
        row=row,
        placeholder_fields=[wire for wire, _ in placeholders],
    )
    for wire, value in placeholders:
        warnings.append(_placeholder_warning(parsed, wire, value))
    return parsed


def _wire_name(key: str) -> str:
    return {"anonymous_id": "anonymousId", "previous_id": "previousId"}[key]


def _placeholder_warning(
    message: ParsedMessage, wire: str, value: str
) -> dict[str, Any]:
    if message.own_id is None:
        outcome = "the message is stored but belongs to no person"
    else:
        outcome = "it was not given a person and links nothing"
    return {
        "index": message.index,
        "messageId": message.message_id,
        "code": "placeholder_id",
        "field": wire,
        "message": f"{wire} {value[:40]!r} is a placeholder, not an id: {outcome}; "
        "send the real id or leave the field out",
    }


def refusal_warning(op: PlanOp) -> dict[str, Any]:
    """Return the batch warning for a link refused because both persons are identified."""
    message = op.message
    other = "previousId" if message.kind == "alias" else "anonymousId"
    return {
        "index": message.index,
        "messageId": message.message_id,
        "code": "merge_refused",
        "message": f"userId and {other} belong to two different identified "
        "persons, so they were not linked and the refusal was recorded "
        f"(reason {REFUSED_REASON}); if they are one user, merge the persons "
        "with pug-server merge-persons --project <project id> <from id> <into id>",
    }


def batch_ids(messages: list[ParsedMessage]) -> list[str]:
    seen: dict[str, None] = {}
    for message in messages:
        for distinct_id in (message.user_id, message.other_id):
            if distinct_id:
                seen[distinct_id] = None
    return list(seen)
