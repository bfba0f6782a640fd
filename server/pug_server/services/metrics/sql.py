"""SQL fragments that read the same on SQLite and PostgreSQL.

Fragments are written with ``?`` placeholders and every value, property name
included, is bound as a parameter; :func:`run` swaps in the backend's
placeholder. No fragment contains a literal ``?``, and no PostgreSQL
fragment a literal ``%``, so the swap is safe.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pug_server.db import database, is_postgres

logger = logging.getLogger(__name__)

#: Property, trait and group type names that may be referenced. Quotes and
#: backslashes are excluded so a name is also safe inside a JSON path.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_$ .:-]{1,100}$")
REFERENCE_SOURCES = ("properties", "person", "group")
#: Integral numbers below this magnitude get an integer segment key, so the
#: number 1 and the number 1.0 fall in one row on both backends.
INTEGRAL_LIMIT = 2**63 - 1


@dataclass
class Fragment:
    """SQL text with its bound parameters, in order."""

    sql: str
    params: list[Any] = field(default_factory=list)


def postgres() -> bool:
    return is_postgres()


def ts(value: dt.datetime) -> Any:
    """Return a naive UTC datetime in the bound form of the event table."""
    if postgres():
        return value
    # SQLite stores peewee's str(datetime); text comparison orders it.
    return value.isoformat(sep=" ")


def ts_param() -> str:
    """A placeholder typed as a timestamp (PostgreSQL needs the cast)."""
    return "CAST(? AS timestamp)" if postgres() else "?"


def add_seconds(column: str, seconds: int) -> str:
    """Return SQL for *column* plus a whole number of seconds (inlined int)."""
    seconds = int(seconds)
    if postgres():
        return f"({column} + {seconds} * interval '1 second')"
    # NOTE: strftime's %f keeps milliseconds only, so on SQLite a window
    # can end up to one millisecond early.
    return f"strftime('%Y-%m-%d %H:%M:%f', {column}, '+{seconds} seconds')"


def split_reference(reference: str) -> tuple[str, str]:
    """Split ``properties.plan`` into ``("properties", "plan")``.

    The name may be a nested path such as ``address.city``; see
    :func:`split_path`.

    :raises ValueError: when the source or the name is not allowed.
    """
    source, _, name = reference.partition(".")
    if source not in REFERENCE_SOURCES or not name:
        raise ValueError(
            f"invalid property reference {reference!r}: use properties.<name>, "
            "person.<name> or group.<name>"
        )
    if not NAME_PATTERN.match(name) or "" in name.split("."):
        raise ValueError(
            f"invalid property name {name!r}: use 1 to 100 letters, digits, "
            "spaces or the characters _ $ : -, with . between the keys of a "
            "nested path (no quotes, no empty key)"
        )
    return source, name


def split_path(name: str) -> tuple[str, ...]:
    """Split a validated name into its keys: ``address.city`` is nested."""
    return tuple(name.split("."))


def json_path(path: tuple[str, ...]) -> str:
    """Return the SQLite JSON path of nested object keys, ``$`` for none.

    The keys contain no quotes or backslashes (:data:`NAME_PATTERN`), so
    each one is safe inside the quoted path step.
    """
    return "$" + "".join('."' + key + '"' for key in path)


@dataclass
class JsonValue:
    """A JSON value in a row: an event property or a trait's stored value.

    ``document`` is the SQL of a JSON column; ``path`` is the keys of the
    nested objects leading to the value inside it, empty when the column
    is the value itself (a trait without a nested path).
    """

    document: str
    path: tuple[str, ...] = ()

    def _sqlite_args(self) -> tuple[str, list[Any]]:
        return f"{self.document}, ?", [json_path(self.path)]

    def jsonb(self) -> Fragment:
        """PostgreSQL: the value as ``jsonb``, one bound ``->`` per key."""
        steps = "".join(" -> ?" for _ in self.path)
        if not steps:
            return Fragment(self.document)
        return Fragment(f"({self.document}{steps})", list(self.path))

    def native(self) -> Fragment:
        """The value as an SQL scalar (SQLite) or ``jsonb`` (PostgreSQL)."""
        if postgres():
            return self.jsonb()
        args, params = self._sqlite_args()
        return Fragment(f"json_extract({args})", params)

    def type_name(self) -> Fragment:
        """The JSON type, spelt SQLite's way: text, integer, real, true, ..."""
        if postgres():
            inner = self.jsonb()
            return Fragment(
                f"(CASE jsonb_typeof({inner.sql}) WHEN 'string' THEN 'text' "
                f"WHEN 'number' THEN 'real' WHEN 'boolean' THEN 'bool' "
                f"ELSE jsonb_typeof({inner.sql}) END)",
                inner.params * 2,
            )
        args, params = self._sqlite_args()
        return Fragment(f"json_type({args})", params)

    def text(self) -> Fragment:
        """The value rendered as text, or NULL when absent or JSON null."""
        if postgres():
            inner = self.jsonb()
            return Fragment(
                f"(CASE jsonb_typeof({inner.sql}) WHEN 'null' THEN NULL "
                f"WHEN 'string' THEN {inner.sql} #>> '{{}}' ELSE {inner.sql}::text END)",
                inner.params * 3,
            )
        args, params = self._sqlite_args()
        return Fragment(
            f"(CASE json_type({args}) WHEN 'null' THEN NULL WHEN 'true' THEN 'true' "
            f"WHEN 'false' THEN 'false' ELSE CAST(json_extract({args}) AS TEXT) END)",
            params * 2,
        )

    def segment_key(self) -> Fragment:
        """The value as a typed grouping key, or NULL when absent or JSON null.

        The first letter is the JSON type: ``s`` a string, ``n`` a number
        (an integral one as an integer, so 1 and 1.0 share a key), ``b`` a
        boolean, ``j`` an array or object as JSON text. Python turns a key
        into its label, see ``measures.segment_label``.
        """
        if postgres():
            inner = self.jsonb()
            template = (
                "(CASE jsonb_typeof({v}) WHEN 'string' THEN 's' || ({v} #>> '{{}}') "
                "WHEN 'number' THEN 'n' || (CASE WHEN ({v} #>> '{{}}')::numeric "
                "= trunc(({v} #>> '{{}}')::numeric) "
                f"AND abs(({{v}} #>> '{{{{}}}}')::numeric) < {INTEGRAL_LIMIT} "
                "THEN trunc(({v} #>> '{{}}')::numeric)::text "
                "ELSE (({v} #>> '{{}}')::float8)::text END) "
                "WHEN 'boolean' THEN 'b' || ({v} #>> '{{}}') "
                "WHEN 'null' THEN NULL ELSE 'j' || {v}::text END)"
            )
            return _repeat(template, inner.sql, inner.params)
        args, params = self._sqlite_args()
        template = (
            "(CASE json_type({v}) WHEN 'text' THEN 's' || json_extract({v}) "
            "WHEN 'integer' THEN 'n' || CAST(json_extract({v}) AS TEXT) "
            "WHEN 'real' THEN 'n' || (CASE WHEN json_extract({v}) = "
            "CAST(json_extract({v}) AS INTEGER) "
            f"AND abs(json_extract({{v}})) < {INTEGRAL_LIMIT} "
            "THEN CAST(CAST(json_extract({v}) AS INTEGER) AS TEXT) "
            # 17 significant digits tell every two doubles apart.
            "ELSE printf('%!.17g', json_extract({v})) END) "
            "WHEN 'true' THEN 'btrue' WHEN 'false' THEN 'bfalse' "
            "WHEN 'null' THEN NULL ELSE 'j' || json_extract({v}) END)"
        )
        return _repeat(template, args, params)

    def number(self) -> Fragment:
        """The value as a float when it is a JSON number, else NULL."""
        if postgres():
            inner = self.jsonb()
            return Fragment(
                f"(CASE WHEN jsonb_typeof({inner.sql}) = 'number' "
                f"THEN ({inner.sql} #>> '{{}}')::float8 END)",
                inner.params * 2,
            )
        args, params = self._sqlite_args()
        # REAL as on PostgreSQL: SUM over SQLite integers raises "integer
        # overflow" past 2**63, where a float sum only loses precision.
        return Fragment(
            f"(CASE WHEN json_type({args}) IN ('integer', 'real') "
            f"THEN CAST(json_extract({args}) AS REAL) END)",
            params * 2,
        )


def _repeat(template: str, inner: str, params: list[Any]) -> Fragment:
    """Fill each ``{v}`` of *template* with *inner* and repeat its parameters."""
    count = template.count("{v}")
    return Fragment(template.format(v=inner), params * count)


def compare_value(value: JsonValue, op: str, operand: Any) -> Fragment:
    """Return a boolean SQL condition for one filter ``value op operand``.

    Equality is typed: numbers equal numbers (``1`` equals ``1.0``), strings
    equal strings and booleans equal booleans, so ``true``, ``1`` and
    ``"1"`` are three different values. ``neq`` and ``not_in`` also match
    rows where the value is absent or JSON null.
    """
    if op in ("is_set", "is_not_set"):
        kind = value.type_name()
        test = "<>" if op == "is_set" else "="
        return Fragment(f"(COALESCE({kind.sql}, 'null') {test} 'null')", kind.params)
    if op in ("gt", "gte", "lt", "lte"):
        number = value.number()
        symbol = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}[op]
        return Fragment(f"({number.sql} {symbol} ?)", [*number.params, float(operand)])
    if op == "contains":
        text = value.text()
        kind = value.type_name()
        position = "strpos" if postgres() else "instr"
        return Fragment(
            f"(COALESCE({kind.sql}, '') = 'text' AND {position}({text.sql}, ?) > 0)",
            [*kind.params, *text.params, str(operand)],
        )
    operands = list(operand) if op in ("in", "not_in") else [operand]
    if not operands:
        return Fragment("(1 = 0)" if op == "in" else "(1 = 1)")
    match = (
        _postgres_match(value, operands)
        if postgres()
        else _sqlite_match(value, operands)
    )
    false = "false" if postgres() else "0"
    # An absent or null value makes the match NULL, which counts as no match.
    membership = f"COALESCE({match.sql}, {false})"
    if op in ("eq", "in"):
        return Fragment(f"({membership})", match.params)
    return Fragment(f"(NOT {membership})", match.params)


def _postgres_match(value: JsonValue, operands: list[Any]) -> Fragment:
    """Match with ``jsonb`` equality, which is typed and numeric for numbers."""
    native = value.jsonb()
    placeholders = ", ".join("CAST(? AS jsonb)" for _ in operands)
    bound = [json.dumps(item) for item in operands]
    return Fragment(f"({native.sql} IN ({placeholders}))", [*native.params, *bound])


def _sqlite_match(value: JsonValue, operands: list[Any]) -> Fragment:
    """Match on ``json_type`` and value, because ``json_extract`` turns
    ``true`` into 1 and a JSON string into the same SQL text as a number's."""
    args, params = value._sqlite_args()
    kind = f"json_type({args})"
    strings = [item for item in operands if isinstance(item, str)]
    numbers = [
        item
        for item in operands
        if isinstance(item, (int, float)) and not isinstance(item, bool)
    ]
    booleans = sorted({item for item in operands if isinstance(item, bool)})
    tests: list[str] = []
    bound: list[Any] = []
    for kinds, group in (("('text')", strings), ("('integer', 'real')", numbers)):
        if group:
            marks = ", ".join("?" for _ in group)
            tests.append(f"({kind} IN {kinds} AND json_extract({args}) IN ({marks}))")
            bound += [*params, *params, *group]
    for flag in booleans:
        tests.append(f"({kind} = '{'true' if flag else 'false'}')")
        bound += params
    return Fragment("(" + " OR ".join(tests) + ")", bound)


def values_table(
    name: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]
) -> Fragment:
    """Return ``name(columns) AS (VALUES ...)`` for a CTE; timestamps typed.

    Columns whose name ends in ``_at`` hold timestamps.
    """
    cells = []
    params: list[Any] = []
    for row in rows:
        parts = []
        for column, cell in zip(columns, row, strict=True):
            parts.append(ts_param() if column.endswith("_at") else "?")
            params.append(ts(cell) if column.endswith("_at") else cell)
        cells.append("(" + ", ".join(parts) + ")")
    sql = f"{name}({', '.join(columns)}) AS (VALUES {', '.join(cells)})"
    return Fragment(sql, params)


def run(sql: str, params: Sequence[Any]) -> list[tuple]:
    """Execute *sql* written with ``?`` placeholders and return every row."""
    if not postgres():
        return list(database.execute_sql(sql, list(params)).fetchall())
    with database.atomic():
        # The correlated membership lookups inflate the planner's cost
        # estimate past jit_above_cost, and compiling the plan then takes
        # longer than running it (about 0.5 s of 0.6 s on 50,000 events).
        database.execute_sql("SET LOCAL jit = off")
        cursor = database.execute_sql(sql.replace("?", "%s"), list(params))
        return list(cursor.fetchall())
