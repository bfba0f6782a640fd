"""The filtered event rows a measure aggregates, as one SQL CTE.

Each measure reads ``evf(id, at, name, person_id, group_key, seg, num)``:
one row per qualifying event with its person (through the event's distinct
id, so merged persons count once), its group of the measure's group type,
its segment value and its numeric property.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from pug_server.services.metrics.sql import (
    Fragment,
    JsonValue,
    compare_value,
    postgres,
    split_path,
    split_reference,
    ts,
    ts_param,
)

#: Message types that count as activity when a measure names no event.
ACTIVITY_TYPES = ("track", "page", "screen")


@dataclass
class Scan:
    """The event names, time range, filters and extra columns to read."""

    project_id: int
    names: list[str] | None
    start: dt.datetime | None
    end: dt.datetime | None
    where: list[dict[str, Any]] = field(default_factory=list)
    group_type: str | None = None
    segment: str | None = None
    number: str | None = None
    need_person: bool = False
    need_group: bool = False
    #: ``as_of`` as a naive UTC datetime: later events have not happened
    #: yet for the tile, in any range or window.
    cutoff: dt.datetime | None = None


#: The event's person when ``person_distinct_id`` is not joined: looked up
#: only for the few events that do not name their group themselves.
PERSON_SUBQUERY = (
    "(SELECT pd2.person_id FROM person_distinct_id pd2 "
    "WHERE pd2.project_id = e.project_id AND pd2.distinct_id = e.distinct_id)"
)


def group_key_sql(group_type: str, person: str = "pd.person_id") -> Fragment:
    """Return SQL for the key of an event's group of *group_type*.

    The event's own group wins; else the person's latest membership at or
    before the event; else the person's earliest membership; else NULL.
    *person* is the SQL of the event's person id.
    """
    if postgres():
        own = "(e.groups ->> ?)"
        own_params: list[Any] = [group_type]
    else:
        own = "json_extract(e.groups, ?)"
        own_params = ['$."' + group_type + '"']
    membership = (
        "(SELECT g.group_key FROM group_membership m JOIN groups g ON g.id = m.group_id "
        f"WHERE m.person_id = {person} AND m.group_type = ? {{extra}} "
        "ORDER BY m.timestamp {order}, m.id {order} LIMIT 1)"
    )
    latest = membership.format(extra="AND m.timestamp <= e.timestamp", order="DESC")
    earliest = membership.format(extra="", order="ASC")
    return Fragment(
        f"COALESCE({own}, {latest}, {earliest})", [*own_params, group_type, group_type]
    )


class _Builder:
    def __init__(self, scan: Scan) -> None:
        self.scan = scan
        self.joins: list[Fragment] = []
        self.trait_aliases: dict[tuple[str, str], str] = {}
        self.group_joined = False

    def trait(self, source: str, name: str) -> JsonValue:
        """Join the trait once and return its value.

        The first key of a nested *name* is the trait, the rest a path
        inside its value: ``person.company.size`` reads ``size`` from the
        ``company`` trait.
        """
        trait_key, *inner = split_path(name)
        alias = self.trait_aliases.get((source, trait_key))
        if alias is None:
            alias = f"t{len(self.trait_aliases)}"
            self.trait_aliases[(source, trait_key)] = alias
            if source == "person":
                self.joins.append(
                    Fragment(
                        f"LEFT JOIN person_trait {alias} ON {alias}.person_id = ev.person_id "
                        f"AND {alias}.key = ?",
                        [trait_key],
                    )
                )
            else:
                self._join_group()
                self.joins.append(
                    Fragment(
                        f"LEFT JOIN group_trait {alias} ON {alias}.group_id = gg.id "
                        f"AND {alias}.key = ?",
                        [trait_key],
                    )
                )
        return JsonValue(f"{alias}.value", tuple(inner))

    def _join_group(self) -> None:
        if self.group_joined:
            return
        self.group_joined = True
        self.joins.append(
            Fragment(
                "LEFT JOIN groups gg ON gg.project_id = ? AND gg.group_type = ? "
                "AND gg.group_key = ev.group_key",
                [self.scan.project_id, self.scan.group_type],
            )
        )


def uses_person(scan: Scan) -> bool:
    references = [item["property"] for item in scan.where]
    if scan.segment:
        references.append(scan.segment)
    return scan.need_person or any(
        reference.startswith("person.") for reference in references
    )


def build_scan(scan: Scan, name: str = "evf", *, plan: str | None = None) -> Fragment:
    """Return the CTE *name* (without ``WITH``) for *scan*.

    *plan* hints the planner where its default measured slower in
    ``benchmarks/metrics.py``. ``"inline"`` (``NOT MATERIALIZED``, SQLite
    only) lets a join to the ranges search the event index once per range.
    ``"materialize"`` builds the rows once, so a join by unit uses a hash
    (PostgreSQL) or an automatic index (SQLite) instead of reading a unit's
    events again for every row it joins.
    """
    hint = ""
    if plan == "materialize":
        hint = "MATERIALIZED "
    elif plan == "inline" and not postgres():
        hint = "NOT MATERIALIZED "
    builder = _Builder(scan)
    person = uses_person(scan)
    grouped = scan.group_type is not None and (
        scan.need_group
        or any(item["property"].startswith("group.") for item in scan.where)
        or (scan.segment or "").startswith("group.")
    )
    inner_columns = ["e.id AS id", "e.timestamp AS at", "e.event AS name"]
    inner_params: list[Any] = []
    inner_columns.append("pd.person_id AS person_id" if person else "NULL AS person_id")
    if grouped:
        group_key = group_key_sql(
            scan.group_type, "pd.person_id" if person else PERSON_SUBQUERY
        )
        inner_columns.append(f"{group_key.sql} AS group_key")
        inner_params += group_key.params
    else:
        inner_columns.append("NULL AS group_key")
    for column, reference in (("seg_p", scan.segment), ("num_p", scan.number)):
        if reference and reference.startswith("properties."):
            path = split_path(split_reference(reference)[1])
            properties = JsonValue("e.properties", path)
            value = (
                properties.segment_key() if column == "seg_p" else properties.number()
            )
            inner_columns.append(f"{value.sql} AS {column}")
            inner_params += value.params
    conditions = ["e.project_id = ?"]
    condition_params: list[Any] = [scan.project_id]
    if scan.names is not None:
        conditions.append("e.event IN (" + ", ".join("?" for _ in scan.names) + ")")
        condition_params += scan.names
    else:
        conditions.append("e.type IN (" + ", ".join("?" for _ in ACTIVITY_TYPES) + ")")
        condition_params += list(ACTIVITY_TYPES)
    if scan.start is not None:
        conditions.append(f"e.timestamp >= {ts_param()}")
        condition_params.append(ts(scan.start))
    if scan.end is not None:
        conditions.append(f"e.timestamp < {ts_param()}")
        condition_params.append(ts(scan.end))
    if scan.cutoff is not None:
        conditions.append(f"e.timestamp < {ts_param()}")
        condition_params.append(ts(scan.cutoff))
    outer_conditions: list[Fragment] = []
    for item in scan.where:
        source, key = split_reference(item["property"])
        if source == "properties":
            test = compare_value(
                JsonValue("e.properties", split_path(key)),
                item["op"],
                item.get("value"),
            )
            conditions.append(test.sql)
            condition_params += test.params
        else:
            outer_conditions.append(
                compare_value(builder.trait(source, key), item["op"], item.get("value"))
            )
    joins = ""
    if person:
        joins = (
            " JOIN person_distinct_id pd ON pd.project_id = e.project_id "
            "AND pd.distinct_id = e.distinct_id"
        )
    inner = Fragment(
        f"SELECT {', '.join(inner_columns)} FROM event e{joins} "
        f"WHERE {' AND '.join(conditions)}",
        inner_params + condition_params,
    )
    segment_sql, segment_params = "NULL", []
    if scan.segment:
        source, key = split_reference(scan.segment)
        if source == "properties":
            segment_sql = "ev.seg_p"
        else:
            label = builder.trait(source, key).segment_key()
            segment_sql, segment_params = label.sql, label.params
    number_sql = "ev.num_p" if scan.number else "NULL"
    outer_where = ""
    outer_params: list[Any] = []
    if outer_conditions:
        outer_where = " WHERE " + " AND ".join(item.sql for item in outer_conditions)
        for item in outer_conditions:
            outer_params += item.params
    join_sql = " ".join(item.sql for item in builder.joins)
    join_params = [param for item in builder.joins for param in item.params]
    return Fragment(
        f"{name} AS {hint}(SELECT ev.id AS id, ev.at AS at, ev.name AS name, "
        "ev.person_id AS person_id, ev.group_key AS group_key, "
        f"{segment_sql} AS seg, {number_sql} AS num "
        f"FROM ({inner.sql}) ev {join_sql}{outer_where})",
        segment_params + inner.params + join_params + outer_params,
    )
