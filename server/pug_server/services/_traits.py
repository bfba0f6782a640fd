"""Trait resolution by event time, shared by person and group traits.

Each trait key keeps one value and the event time that set it. A plain
value replaces the stored one when its event time is the same or later. A
``$set_once`` value sets a key that has no value yet, and among set-once
values the earliest event time wins, so an earlier event that arrives
later replaces the value. A plain value always replaces a set-once value,
and a set-once value never replaces a plain one.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

from peewee import Model

from pug_server.db import database
from pug_server.schemas.messages import SET_ONCE_KEY
from pug_server.services import _sql

MAX_TRAIT_KEY_LENGTH = 200


@dataclass
class TraitWrite:
    """One candidate value for one trait key of one owner (person or group)."""

    owner_id: int
    key: str
    value: Any
    timestamp: dt.datetime
    set_once: bool = False


def writes_from_traits(
    owner_id: int, traits: dict[str, Any] | None, timestamp: dt.datetime
) -> tuple[list[TraitWrite], list[str]]:
    """Split a message's traits into writes; return them and the skipped keys.

    Keys longer than :data:`MAX_TRAIT_KEY_LENGTH` characters are skipped.
    The ``$set_once`` key, when it is an object, holds set-once traits.
    """
    writes: list[TraitWrite] = []
    skipped: list[str] = []
    for key, value in (traits or {}).items():
        if key == SET_ONCE_KEY and isinstance(value, dict):
            for once_key, once_value in value.items():
                if len(once_key) > MAX_TRAIT_KEY_LENGTH:
                    skipped.append(once_key)
                    continue
                writes.append(
                    TraitWrite(owner_id, once_key, once_value, timestamp, True)
                )
            continue
        if len(key) > MAX_TRAIT_KEY_LENGTH:
            skipped.append(key)
            continue
        writes.append(TraitWrite(owner_id, key, value, timestamp))
    return writes, skipped


def replaces(new: TraitWrite, old: TraitWrite) -> bool:
    """Tell whether *new* replaces *old*; the rule of the module docstring."""
    if not new.set_once:
        return old.set_once or old.timestamp <= new.timestamp
    return old.set_once and new.timestamp < old.timestamp


def reduce_writes(writes: list[TraitWrite]) -> list[TraitWrite]:
    """Keep the winning write per owner and key, in the order first seen.

    A single ``INSERT ... ON CONFLICT DO UPDATE`` may not touch one row
    twice on PostgreSQL, so the batch is reduced before the upsert.
    """
    winners: dict[tuple[int, str], TraitWrite] = {}
    for write in writes:
        slot = (write.owner_id, write.key)
        current = winners.get(slot)
        if current is None or replaces(write, current):
            winners[slot] = write
    return list(winners.values())


def upsert_traits(
    model: type[Model], owner_field: str, writes: list[TraitWrite]
) -> None:
    """Store *writes* in *model*, keeping each stored value that wins.

    The rule runs in the ``ON CONFLICT DO UPDATE ... WHERE`` clause, so the
    stored row is compared inside the database under the row lock of the
    conflict, and the whole batch costs one statement per 500 rows.
    """
    writes = reduce_writes(writes)
    if not writes:
        return
    table = model._meta.table_name
    owner_column = getattr(model, owner_field).column_name
    marker = _sql.param()
    for chunk in _sql.chunks(writes):
        params: list[Any] = []
        for write in chunk:
            params.extend(
                (
                    write.owner_id,
                    write.key,
                    _sql.json_value(write.value),
                    write.timestamp,
                    write.set_once,
                )
            )
        database.execute_sql(
            _upsert_sql(table, owner_column, len(chunk), marker), params
        )


@functools.lru_cache(maxsize=64)
def _upsert_sql(table: str, owner_column: str, row_count: int, marker: str) -> str:
    """Return the trait upsert for *row_count* rows; the rule of the module docstring."""
    stored = f'"{table}"'
    plain_wins = (
        f'(NOT excluded."set_once" AND ({stored}."set_once" '
        f'OR {stored}."timestamp" <= excluded."timestamp"))'
    )
    earlier_once_wins = (
        f'(excluded."set_once" AND {stored}."set_once" '
        f'AND excluded."timestamp" < {stored}."timestamp")'
    )
    return (
        f'INSERT INTO {stored} ("{owner_column}", "key", "value", "timestamp", '
        f'"set_once") VALUES {_sql.values_rows(row_count, 5, marker)} '
        f'ON CONFLICT ("{owner_column}", "key") DO UPDATE SET '
        '"value" = excluded."value", "timestamp" = excluded."timestamp", '
        '"set_once" = excluded."set_once" '
        f"WHERE {plain_wins} OR {earlier_once_wins}"
    )
