"""A target's quality rules compiled to one SQL predicate each (a sqlglot expression), rendered per dialect.

Every kind becomes the condition a good row meets (``passes``); an engine evaluates ``violation`` (``NOT
COALESCE(passes, TRUE)``: NULL passes, as in a SQL ``CHECK``) over its rows in its own dialect: DuckDB over Arrow
for the local engine (quality/), Spark SQL later, from the same expression through :meth:`RulePlan.sql`.

Safety: column names are the mapping's identifiers (checked against the target's columns) and are rendered quoted;
values (range bounds, accepted values, regex patterns) become SQL literals built by sqlglot, never pasted text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlglot import exp

from tidemark.mapping.rules import Action, RuleKind, RuleSpec
from tidemark.tables import TableSpec


@dataclass(frozen=True)
class RulePlan:
    """One compiled rule. ``passes`` is true (or NULL) for a good row; ``columns`` are those it reads."""

    name: str
    kind: RuleKind
    action: Action
    severity: str
    columns: tuple[str, ...]
    passes: exp.Expr
    text: str  # the rule as the user reads it in reasons, e.g. "start_speed BETWEEN 30 AND 110"

    @property
    def violation(self) -> exp.Expr:
        """True for a row that breaks the rule."""
        return exp.not_(exp.func("COALESCE", self.passes.copy(), exp.true()))

    def sql(self, dialect: str = "duckdb") -> str:
        """``passes`` in a SQL dialect sqlglot knows (duckdb, spark, postgres, ...)."""
        return self.passes.sql(dialect=dialect)

    def violation_sql(self, dialect: str = "duckdb") -> str:
        return self.violation.sql(dialect=dialect)


def compile_rules(rules: list[RuleSpec], spec: TableSpec) -> tuple[RulePlan, ...]:
    """Compile a target's (checked) rules against its table."""
    types: dict[str, str] = {c.name: c.type.kind for c in spec.columns}
    return tuple(_compile(rule, spec, types) for rule in rules)


def _compile(rule: RuleSpec, spec: TableSpec, types: dict[str, str]) -> RulePlan:
    passes = _passes(rule, spec, types)
    text = _text(rule)
    columns = tuple(dict.fromkeys(c for c, _ in rule.columns()))
    return RulePlan(rule.name, rule.kind, rule.action, rule.label, columns, passes, text)


def _text(rule: RuleSpec) -> str:
    """The rule as its author wrote it, for reasons and errors."""
    if rule.check is not None:
        return rule.check
    if (columns := rule.not_null or rule.unique) is not None:
        return f"{rule.kind} {', '.join(columns)}"
    if rule.range is not None:
        low = "" if rule.range.min is None else f" >= {rule.range.min}"
        high = "" if rule.range.max is None else f" <= {rule.range.max}"
        return f"{rule.range.column}{low}{' and' if low and high else ''}{high}"
    if rule.accepted_values is not None:
        return f"{rule.accepted_values.column} in {rule.accepted_values.values}"
    assert rule.regex is not None
    return f"{rule.regex.column} matches {rule.regex.pattern!r}"


def _passes(rule: RuleSpec, spec: TableSpec, types: dict[str, str]) -> exp.Expr:
    if rule.not_null is not None:
        return exp.and_(*(exp.not_(exp.Is(this=_col(c), expression=exp.null())) for c in rule.not_null))
    if rule.unique is not None:
        return _unique(rule.unique, spec)
    if rule.range is not None:
        r = rule.range
        kind = types[r.column]
        tests: list[exp.Expr] = []
        if r.min is not None:
            tests.append(exp.GTE(this=_col(r.column), expression=_literal(r.min, kind)))
        if r.max is not None:
            tests.append(exp.LTE(this=_col(r.column), expression=_literal(r.max, kind)))
        return exp.and_(*tests)
    if rule.accepted_values is not None:
        v = rule.accepted_values
        return exp.In(this=_col(v.column), expressions=[_literal(x, "") for x in v.values])
    if rule.regex is not None:
        return exp.RegexpLike(this=_col(rule.regex.column), expression=exp.Literal.string(rule.regex.pattern))
    assert rule.expression is not None
    return _quoted(rule.expression.copy())


def _unique(columns: list[str], spec: TableSpec) -> exp.Expr:
    """No other row of the same snapshot (timestamp) has these values; a row with a NULL among them passes."""
    partition = [_col(c) for c in columns] + ([_col(spec.timestamp)] if spec.timestamp else [])
    count = exp.Window(this=exp.Count(this=exp.Star()), partition_by=partition)
    alone = exp.EQ(this=count, expression=exp.Literal.number(1))
    nulls = [exp.Is(this=_col(c), expression=exp.null()) for c in columns]
    return exp.or_(alone, *nulls)


def _col(name: str) -> exp.Column:
    return exp.column(name, quoted=True)


def _quoted(node: exp.Expr) -> exp.Expr:
    for col in node.find_all(exp.Column):
        col.this.set("quoted", True)
    return node


def _literal(value: Any, kind: str) -> exp.Expr:
    if isinstance(value, bool):
        return exp.true() if value else exp.false()
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    text = exp.Literal.string(str(value))
    if kind in ("date", "timestamp"):
        return exp.cast(text, "DATE" if kind == "date" else "TIMESTAMP")
    return text
