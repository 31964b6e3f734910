"""Data quality rules of a target (the ``rules:`` block): the models, the SQL expression parser, their checks.

A rule states what a good row looks like; a row that breaks it is handled by the rule's ``action``::

    rules:
      - {name: game_pk_positive, check: "game_pk > 0"}
      - {name: teams_differ, check: "home_team_id <> away_team_id", action: reject_document}
      - {name: speed_physical, range: {column: start_speed, min: 30, max: 110}, action: warn}

The kinds: ``not_null`` (columns), ``unique`` (columns, among the rows of one snapshot), ``range`` (min / max),
``accepted_values``, ``regex`` and ``check``, a boolean SQL expression over the row's columns. As in a SQL ``CHECK``
constraint, a NULL passes every kind but ``not_null``. ``check`` is parsed with sqlglot (standard SQL, rendered per
engine's dialect by compile/rules.py); a rule never is re-written by hand for an engine.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal

import sqlglot
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlglot import exp
from sqlglot.errors import ParseError

from tidemark.errors import did_you_mean

Action = Literal["fail", "quarantine", "warn", "reject_document"]
ACTIONS: tuple[str, ...] = ("fail", "quarantine", "warn", "reject_document")
RuleKind = Literal["not_null", "unique", "range", "accepted_values", "regex", "check"]
KINDS: tuple[RuleKind, ...] = ("not_null", "unique", "range", "accepted_values", "regex", "check")
_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
_ORDERED = {"int", "bigint", "double", "decimal", "date", "timestamp"}
_NUMERIC = {"int", "bigint", "double", "decimal"}
# nodes that make an expression something else than a test of one row
_NOT_ROW_LEVEL = (exp.Query, exp.Subquery, exp.AggFunc, exp.Window, exp.Star, exp.Placeholder, exp.Parameter)

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RangeSpec(_Strict):
    column: str = Field(description="the column tested")
    min: float | str | None = Field(None, description="smallest allowed value (inclusive); dates as 'YYYY-MM-DD'")
    max: float | str | None = Field(None, description="largest allowed value (inclusive)")

    @model_validator(mode="after")
    def _bounds(self) -> RangeSpec:
        if self.min is None and self.max is None:
            raise ValueError("set 'min', 'max' or both")
        return self


class ValuesSpec(_Strict):
    column: str = Field(description="the column tested")
    values: list[str | int | float | bool] = Field(min_length=1, description="the values allowed")


class RegexSpec(_Strict):
    column: str = Field(description="the string column tested")
    pattern: str = Field(description="a regular expression the value must contain a match of (anchor it with ^...$)")

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"bad regular expression {v!r}: {exc}") from None
        return v


class RuleSpec(_Strict):
    """One data quality rule: exactly one kind, a name, and what to do with a row that breaks it."""

    name: str = Field(pattern=_IDENT, description="the rule's name: in quarantine reasons, warnings and errors")
    description: str | None = None
    action: Action = Field(
        "quarantine",
        description="fail: the run is rolled back; quarantine: the row goes to the quarantine, the rest is written; "
        "warn: counted in the result only; reject_document: the whole document is rejected (root '$' targets)",
    )
    severity: Literal["error", "warning", "info"] | None = Field(
        None, description="a label for reports; default: 'warning' for warn, else 'error'"
    )
    not_null: list[str] | None = Field(None, min_length=1, description="these columns must have a value")
    unique: list[str] | None = Field(
        None, min_length=1, description="no two rows of one snapshot share these columns' values"
    )
    range: RangeSpec | None = None
    accepted_values: ValuesSpec | None = None
    regex: RegexSpec | None = None
    check: str | None = Field(
        None, description="a boolean SQL expression over the row, e.g. 'home_team_id <> away_team_id'"
    )

    @field_validator("check")
    @classmethod
    def _check(cls, v: str | None) -> str | None:
        if v is not None:
            parse_check(v)
        return v

    @model_validator(mode="after")
    def _one_kind(self) -> RuleSpec:
        if sum(getattr(self, k) is not None for k in KINDS) != 1:
            raise ValueError(f"set exactly one of {', '.join(KINDS)}")
        return self

    @cached_property
    def kind(self) -> RuleKind:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @cached_property
    def expression(self) -> exp.Expr | None:
        """The parsed ``check`` (None for the other kinds)."""
        return None if self.check is None else parse_check(self.check)

    @cached_property
    def label(self) -> str:
        return self.severity or ("warning" if self.action == "warn" else "error")

    def columns(self) -> list[tuple[str, str]]:
        """``(column, key of the rule naming it)`` for every column the rule reads."""
        if self.not_null is not None:
            return [(c, "not_null") for c in self.not_null]
        if self.unique is not None:
            return [(c, "unique") for c in self.unique]
        if (one := self.range or self.accepted_values or self.regex) is not None:
            return [(one.column, f"{self.kind}.column")]
        assert self.expression is not None
        return [(c.name, "check") for c in self.expression.find_all(exp.Column)]


def parse_check(text: str) -> exp.Expr:
    """Parse a ``check`` expression; raise ValueError when it is not one boolean test of a row's columns."""
    try:
        parsed = sqlglot.parse(text)
    except (ParseError, sqlglot.errors.TokenError) as exc:
        raise ValueError(f"not a SQL expression: {_first_line(exc)}") from None
    if len(parsed) != 1 or parsed[0] is None:
        raise ValueError(f"{text!r}: write one SQL expression, without ';'")
    node = parsed[0]
    bad = next(node.find_all(*_NOT_ROW_LEVEL), None)
    if bad is not None:
        raise ValueError(f"{text!r}: a check tests one row; {bad.key} is not allowed here")
    for col in node.find_all(exp.Column):
        if col.table:
            raise ValueError(f"{text!r}: name columns without a table ({col.sql()!r})")
    inner = node.unnest() if isinstance(node, exp.Paren) else node
    if not isinstance(inner, exp.Predicate | exp.Connector | exp.Not | exp.Boolean | exp.Xor):
        raise ValueError(f"{text!r} is not a condition: write a test such as 'game_pk > 0'")
    return node


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def check_rules(rules: list[RuleSpec], types: dict[str, str], root: bool, here: Loc) -> list[Problem]:
    """Semantic checks of a target's rules: known columns, types that fit the kind, unique names.

    ``types`` maps each column of the target to its type kind; ``root`` tells whether the target has one row per
    document (``rows: $``, no parent), where ``reject_document`` may be used.
    """
    out: list[Problem] = []
    names = [r.name for r in rules]
    for k, rule in enumerate(rules):
        loc: Loc = (*here, "rules", k)
        if names.index(rule.name) != k:
            out.append(((*loc, "name"), f"rule {rule.name!r} is declared twice in this target"))
        for col, key in rule.columns():
            if col not in types:
                out.append(((*loc, *key.split(".")), f"unknown column {col!r}{did_you_mean(col, types)}"))
        if rule.action == "reject_document" and not root:
            out.append(
                ((*loc, "action"), "reject_document needs a target with one row per document ('rows: $', no parent)")
            )
        out += _check_kind(rule, types, loc)
    return out


def _check_kind(rule: RuleSpec, types: dict[str, str], loc: Loc) -> list[Problem]:
    out: list[Problem] = []
    if rule.range is not None and (kind := types.get(rule.range.column)) is not None:
        if kind not in _ORDERED:
            return [((*loc, "range", "column"), f"range needs a number, date or timestamp column, not {kind}")]
        for bound in ("min", "max"):
            value: Any = getattr(rule.range, bound)
            if value is not None and (kind in _NUMERIC) != isinstance(value, int | float):
                want = "a number" if kind in _NUMERIC else "a date / timestamp string"
                out.append(((*loc, "range", bound), f"{bound} of a {kind} column must be {want}"))
    if rule.regex is not None and types.get(rule.regex.column) not in (None, "string", "json"):
        kind = types[rule.regex.column]
        out.append(((*loc, "regex", "column"), f"regex needs a string column, not {kind}"))
    return out
