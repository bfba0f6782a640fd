"""Marshmallow schemas of metric definitions, dashboards and tile queries."""

from __future__ import annotations

import math
import re
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates,
    validates_schema,
)

from pug_server.services.metrics.funnels import duration_seconds
from pug_server.services.metrics.periods import (
    COMPARE_MODES,
    PERIODS,
    WEEKDAYS,
    resolve_zone,
)
from pug_server.services.metrics.sql import split_reference

#: Metric and dashboard keys. The first character is a letter or digit, so
#: no key is "." or ".." (which HTTP clients remove from a URL path) or
#: starts like a hidden or option-like name.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
KEY_RULE = (
    "invalid key: use 1 to 100 letters, digits, _ . or -, starting with a "
    "letter or digit"
)
#: Group types, with the rule and message ingest applies to ``groupType``,
#: so a metric can only name a group type that events can carry.
GROUP_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
GROUP_TYPE_RULE = "must be 1 to 100 letters, digits, '_', '.' or '-', for example team"
SIMPLE_TYPES = ("events", "unique_persons", "unique_groups", "sum", "average")
MEASURE_TYPES = (*SIMPLE_TYPES, "ratio", "funnel", "activation", "retention", "churn")
OPERATORS = (
    "eq",
    "neq",
    "in",
    "not_in",
    "gt",
    "gte",
    "lt",
    "lte",
    "contains",
    "is_set",
    "is_not_set",
)
MAX_FILTERS = 20
MAX_LIST_VALUES = 100
MAX_FUNNEL_STEPS = 10
MAX_SERIES_PERIODS = 120


def _required(what: str) -> dict[str, str]:
    return {"required": f"missing: {what}", "null": f"must not be null: {what}"}


def check_reference(value: str) -> None:
    """Raise :class:`ValidationError` unless *value* is a property reference."""
    if not isinstance(value, str):
        raise ValidationError("must be a string such as properties.plan or person.plan")
    try:
        split_reference(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def check_duration(value: str) -> None:
    try:
        duration_seconds(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


def check_group_type(value: str) -> None:
    if not GROUP_TYPE_PATTERN.match(value):
        raise ValidationError(f"invalid group type {value!r}: {GROUP_TYPE_RULE}")


def check_unit(value: str) -> None:
    if value == "person":
        return
    if value.startswith("group:"):
        check_group_type(value.partition(":")[2])
        return
    raise ValidationError(
        f"invalid unit {value!r}: use 'person' or 'group:<group type>'"
    )


class Text(fields.String):
    """A string without NUL characters, which PostgreSQL cannot store."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL (\\x00) characters")
        return text


def _is_number(value: Any) -> bool:
    """Tell whether *value* is a finite number that SQLite and PostgreSQL bind."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _is_scalar(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" not in value
    return isinstance(value, bool) or _is_number(value)


class FilterSchema(Schema):
    """One ``where`` condition: ``{"property", "op", "value"}``."""

    class Meta:
        unknown = RAISE

    property = Text(
        required=True,
        validate=check_reference,
        error_messages=_required("a reference such as properties.plan"),
    )
    op = Text(
        required=True,
        validate=validate.OneOf(
            OPERATORS, error="invalid op {input!r}: use one of {choices}"
        ),
        error_messages=_required("one of " + ", ".join(OPERATORS)),
    )
    value = fields.Raw(allow_none=True)

    @validates_schema
    def check_value(self, data: dict[str, Any], **kwargs: Any) -> None:
        op = data.get("op")
        value = data.get("value")
        if op in ("is_set", "is_not_set"):
            if value is not None:
                raise ValidationError(f"{op} takes no value: remove it", "value")
            return
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not all(
                _is_scalar(item) for item in value
            ):
                raise ValidationError(
                    f"{op} needs a list of strings, numbers or booleans "
                    "(integers within 64 bits, strings without NUL)",
                    "value",
                )
            if len(value) > MAX_LIST_VALUES:
                raise ValidationError(f"at most {MAX_LIST_VALUES} values", "value")
            return
        if op in ("gt", "gte", "lt", "lte"):
            if not _is_number(value):
                raise ValidationError(f"{op} needs a finite number", "value")
            return
        if op == "contains" and not (isinstance(value, str) and _is_scalar(value)):
            raise ValidationError(
                "contains needs a string without NUL characters", "value"
            )
        if op in ("eq", "neq") and not _is_scalar(value):
            raise ValidationError(
                f"{op} needs a string, number or boolean; use is_not_set to match "
                "a missing or null value",
                "value",
            )


class _MeasureBase(Schema):
    class Meta:
        unknown = RAISE

    type = Text(required=True)
    where = fields.List(
        fields.Nested(FilterSchema),
        load_default=list,
        validate=validate.Length(
            max=MAX_FILTERS, error=f"at most {MAX_FILTERS} filters"
        ),
    )
    group_type = Text(validate=check_group_type)

    @validates_schema
    def check_group_references(self, data: dict[str, Any], **kwargs: Any) -> None:
        unit = data.get("unit") or ""
        if data.get("group_type") or unit.startswith("group:"):
            return
        for item in data.get("where") or []:
            if item["property"].startswith("group."):
                raise ValidationError(
                    "required when a filter references group.<name>: name the group "
                    "type, for example 'team'",
                    "group_type",
                )


class SimpleMeasureSchema(_MeasureBase):
    """events, unique_persons, unique_groups, sum or average."""

    event = Text(validate=validate.Length(min=1, max=200))
    property = Text()

    @validates_schema
    def check_kind(self, data: dict[str, Any], **kwargs: Any) -> None:
        kind = data["type"]
        if kind == "unique_groups" and not data.get("group_type"):
            raise ValidationError(
                "required for unique_groups: the group type to count, such as 'team'",
                "group_type",
            )
        if kind in ("sum", "average"):
            reference = data.get("property")
            if not reference:
                raise ValidationError(
                    f"required for {kind}: an event property such as properties.amount",
                    "property",
                )
            check_reference(reference)
            if not reference.startswith("properties."):
                raise ValidationError(
                    f"{kind} reads an event property: use properties.<name>", "property"
                )
        elif data.get("property"):
            raise ValidationError(
                f"only sum and average take a property, not {kind}", "property"
            )


class RatioMeasureSchema(_MeasureBase):
    numerator = fields.Raw(required=True, error_messages=_required("a measure"))
    denominator = fields.Raw(required=True, error_messages=_required("a measure"))

    @validates("numerator")
    def check_numerator(self, value: Any, **kwargs: Any) -> None:
        load_simple_measure(value)

    @validates("denominator")
    def check_denominator(self, value: Any, **kwargs: Any) -> None:
        load_simple_measure(value)


class FunnelMeasureSchema(_MeasureBase):
    steps = fields.List(
        Text(validate=validate.Length(min=1, max=200)),
        required=True,
        validate=validate.Length(
            min=2,
            max=MAX_FUNNEL_STEPS,
            error=f"use 2 to {MAX_FUNNEL_STEPS} event names",
        ),
        error_messages=_required("a list of 2 or more event names"),
    )
    window = Text(load_default="7d", validate=check_duration)
    unit = Text(load_default="person", validate=check_unit)


class ActivationMeasureSchema(_MeasureBase):
    start = Text(validate=validate.Length(min=1, max=200))
    action = Text(
        required=True,
        validate=validate.Length(min=1, max=200),
        error_messages=_required("the event name that counts as activated"),
    )
    within = Text(load_default="7d", validate=check_duration)
    unit = Text(load_default="person", validate=check_unit)


class RetentionMeasureSchema(_MeasureBase):
    event = Text(validate=validate.Length(min=1, max=200))
    unit = Text(load_default="person", validate=check_unit)


MEASURE_SCHEMAS: dict[str, type[Schema]] = {
    **dict.fromkeys(SIMPLE_TYPES, SimpleMeasureSchema),
    "ratio": RatioMeasureSchema,
    "funnel": FunnelMeasureSchema,
    "activation": ActivationMeasureSchema,
    "retention": RetentionMeasureSchema,
    "churn": RetentionMeasureSchema,
}


def _measure_type(value: Any, allowed: tuple[str, ...]) -> type[Schema]:
    if not isinstance(value, dict):
        raise ValidationError(
            "must be an object with a type, such as {'type': 'events'}"
        )
    kind = value.get("type")
    if kind not in allowed:
        raise ValidationError(
            {
                "type": [
                    f"invalid measure type {kind!r}: use one of {', '.join(allowed)}"
                ]
            }
        )
    return MEASURE_SCHEMAS[kind]


def load_simple_measure(value: Any) -> dict[str, Any]:
    """Load the numerator or denominator of a ratio."""
    return _measure_type(value, SIMPLE_TYPES)().load(value)


MEASURE_DESCRIPTION = (
    "an object with a type ("
    + ", ".join(MEASURE_TYPES)
    + ") and the fields of that type; see docs/metrics.md"
)


class MeasureField(fields.Field):
    """A measure object, validated by the schema of its ``type``."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> Any:
        schema = _measure_type(value, MEASURE_TYPES)
        loaded = schema().load(value)
        if loaded["type"] == "ratio":
            loaded["numerator"] = load_simple_measure(loaded["numerator"])
            loaded["denominator"] = load_simple_measure(loaded["denominator"])
        return loaded


class MetricSchema(Schema):
    """A metric definition as stored and returned."""

    class Meta:
        unknown = RAISE

    key = Text(
        required=True,
        validate=validate.Regexp(KEY_PATTERN, error=KEY_RULE),
        error_messages=_required("a key such as weekly_active_teams"),
    )
    name = Text(
        required=True,
        validate=validate.Length(min=1, max=200),
        error_messages=_required("a display name"),
    )
    description = Text(validate=validate.Length(max=2000))
    period = Text(
        load_default="week",
        validate=validate.OneOf(
            PERIODS, error="invalid period {input!r}: use one of {choices}"
        ),
    )
    measure = MeasureField(
        required=True,
        error_messages=_required("a measure object"),
        metadata={"description": MEASURE_DESCRIPTION},
    )


class DashboardSchema(Schema):
    """A dashboard: a North Star metric key and its input metric keys."""

    class Meta:
        unknown = RAISE

    key = Text(
        required=True,
        validate=validate.Regexp(KEY_PATTERN, error=KEY_RULE),
        error_messages=_required("a key such as growth"),
    )
    name = Text(
        required=True,
        validate=validate.Length(min=1, max=200),
        error_messages=_required("a display name"),
    )
    north_star = Text(required=True, error_messages=_required("a metric key"))
    inputs = fields.List(
        Text(),
        load_default=list,
        validate=validate.Length(max=20, error="at most 20 input metrics"),
    )

    @validates_schema
    def check_inputs(self, data: dict[str, Any], **kwargs: Any) -> None:
        seen: set[str] = set()
        for key in data.get("inputs") or []:
            if key == data.get("north_star"):
                raise ValidationError(
                    f"{key!r} is the north_star: list each metric once, the North "
                    "Star outside inputs",
                    "inputs",
                )
            if key in seen:
                raise ValidationError(
                    f"{key!r} is listed twice: list each input metric once", "inputs"
                )
            seen.add(key)


def _check_zone(value: str) -> None:
    try:
        resolve_zone(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None


class TileQuerySchema(Schema):
    """Tile query parameters; unset ones come from the metric and project."""

    class Meta:
        unknown = RAISE

    period = Text(
        validate=validate.OneOf(
            PERIODS, error="invalid period {input!r}: use one of {choices}"
        )
    )
    at = Text(metadata={"description": "date or date-time in the current period"})
    as_of = Text(
        metadata={"description": "the instant coverage and completeness are judged at"}
    )
    periods = fields.Integer(
        load_default=12,
        validate=validate.Range(
            min=1, max=MAX_SERIES_PERIODS, error=f"use 1 to {MAX_SERIES_PERIODS}"
        ),
    )
    compare = Text(
        load_default="previous",
        validate=validate.OneOf(
            COMPARE_MODES, error="invalid compare {input!r}: use one of {choices}"
        ),
    )
    timezone = Text(validate=_check_zone)
    week_start = Text(
        load_default="monday",
        validate=validate.OneOf(
            WEEKDAYS, error="invalid week_start {input!r}: use one of {choices}"
        ),
    )
    segment_by = Text(validate=check_reference)
    segment_limit = fields.Integer(
        load_default=10, validate=validate.Range(min=1, max=100, error="use 1 to 100")
    )


class QueryMeasureSchema(Schema):
    """The definition part of ``POST /v1/query``: its ``measure`` alone."""

    measure = MeasureField(
        required=True,
        error_messages=_required("a measure object"),
        metadata={"description": MEASURE_DESCRIPTION},
    )


class QuerySchema(TileQuerySchema, QueryMeasureSchema):
    """``POST /v1/query``: an ad-hoc measure with the tile parameters.

    The endpoint loads the two parts apart: an invalid ``measure`` gets 422
    like a stored definition, an invalid tile parameter 400 like one in a
    query string.
    """


def first_error(messages: Any, prefix: str = "") -> str:
    """Return ``field.path: message`` for the first of marshmallow's errors."""
    if isinstance(messages, dict):
        for field_name, inner in messages.items():
            name = f"{prefix}.{field_name}" if prefix else str(field_name)
            return first_error(inner, name)
    if isinstance(messages, list) and messages:
        return first_error(messages[0], prefix)
    return f"{prefix}: {messages}" if prefix else str(messages)


class ChangeSchema(Schema):
    """The change from the comparison period to the current one."""

    absolute = fields.Float(
        allow_none=True, metadata={"description": "current - previous"}
    )
    relative = fields.Float(
        allow_none=True,
        metadata={"description": "absolute / |previous|; null for rates"},
    )
    relative_reason = Text(
        allow_none=True,
        metadata={
            "description": "why relative is null: previous_zero, points or no_value"
        },
    )


class StepSchema(Schema):
    """One funnel step of a period."""

    event = Text()
    count = fields.Integer()
    rate = fields.Float(allow_none=True, metadata={"description": "count / entered"})


class PeriodSchema(Schema):
    """One period of a tile: a half-open range ``[start, end)`` with its value."""

    start = Text(metadata={"description": "ISO 8601 instant with its offset"})
    end = Text(metadata={"description": "ISO 8601 instant with its offset"})
    value = fields.Float(allow_none=True)
    complete = fields.Boolean()
    coverage = fields.Float(
        metadata={"description": "elapsed fraction at as_of, 0 to 1"}
    )
    numerator = fields.Float(
        metadata={"description": "ratio, activation, retention, churn"}
    )
    denominator = fields.Float(
        metadata={"description": "ratio, activation, retention, churn"}
    )
    steps = fields.List(fields.Nested(StepSchema), metadata={"description": "funnels"})
    window_closed = fields.Boolean(metadata={"description": "funnels and activation"})


class SegmentRowSchema(Schema):
    """One segment value with its current and previous values."""

    segment = Text(metadata={"description": "the value, (none) or (other)"})
    current = fields.Float(allow_none=True)
    previous = fields.Float(allow_none=True)
    change = fields.Nested(ChangeSchema)
    current_detail = fields.Dict(
        metadata={"description": "numerator and denominator, or funnel steps"}
    )


class TileSchema(Schema):
    """A KPI tile."""

    metric = Text(allow_none=True)
    unit = Text(metadata={"description": "events, persons, group:<type>, rate, ..."})
    period = Text()
    timezone = Text()
    week_start = Text()
    as_of = Text()
    current = fields.Nested(PeriodSchema)
    previous = fields.Nested(PeriodSchema, allow_none=True)
    change = fields.Nested(ChangeSchema)
    series = fields.List(
        fields.Nested(PeriodSchema), metadata={"description": "oldest first"}
    )
    segments = fields.List(fields.Nested(SegmentRowSchema))


class DashboardTilesSchema(Schema):
    """A dashboard with every tile computed."""

    key = Text()
    name = Text()
    north_star = fields.Nested(TileSchema)
    inputs = fields.List(fields.Nested(TileSchema))
