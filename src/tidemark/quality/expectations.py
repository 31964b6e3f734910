"""Table expectations (mapping/expectations.py) and the store checks of ``tidemark check``, evaluated over the
stored tables.

Each check reads only the columns it needs through the store's ``read_table`` (any store: SQL, Delta, files) and
answers in one DuckDB query over those Arrow tables: rows of a table, child rows without their parent row, values
of one table without a row in another, duplicate keys, rows with an incomplete key. Identifiers are quoted by
sqlglot; the tables are registered under names made here.

:func:`expect` evaluates a mapping's declared expectations (after a run: history/ledger.py; and ``tidemark
check``); :func:`table_checks` adds, per table of the mapping, key coverage, duplicate keys and orphan child rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from sqlglot import exp

from tidemark.errors import SinkTerminalError, TidemarkError
from tidemark.mapping.expectations import ExpectationSpec
from tidemark.sinks.base import Sink
from tidemark.tables import ForeignKey, TableSpec


@dataclass(frozen=True)
class Outcome:
    """One check: ``failing`` counts what broke it (rows, values, keys); ``passed`` says whether it holds."""

    name: str
    kind: str
    table: str
    action: str
    passed: bool
    failing: int
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class ExpectationError(TidemarkError):
    """A ``fail`` expectation does not hold after a run. Expectations look at the stored tables, so they run after
    the commit: the run's rows stay written, and its ledger row says ``failed``."""

    def __init__(self, run_id: str, broken: list[Outcome]) -> None:
        self.run_id, self.broken = run_id, broken
        what = "; ".join(f"{o.name!r} on {o.table}: {o.detail}" for o in broken)
        super().__init__(
            f"expectation {what} (run {run_id}: its rows are committed, the run is recorded as failed in "
            "_tidemark.runs). Fix the data or the mapping, or set the expectation's action to warn"
        )


class _Reader:
    """Reads (and keeps) the few columns each check needs from a store, into one in-memory DuckDB."""

    def __init__(self, sink: Sink, specs: dict[str, TableSpec]) -> None:
        import duckdb

        self.sink, self.specs = sink, specs
        self.con = duckdb.connect(":memory:")
        self.names: dict[tuple[str, tuple[str, ...]], str] = {}
        self.present: set[str] = set()

    def table(self, table: str, columns: Sequence[str]) -> str | None:
        """The registered name of ``table``'s ``columns``; None when the store does not hold the table."""
        key = (table, tuple(columns))
        if key not in self.names:
            spec = self.specs[table]
            part = TableSpec(spec.schema, spec.name, tuple(spec.column(c) for c in columns), hashed=False)
            try:
                rows: pa.Table | None = self.sink.read_table(part)
            except SinkTerminalError as exc:
                if f"table {spec.qualified} does not exist" not in str(exc):
                    raise
                rows = None
            name = f"t{len(self.names)}"
            self.names[key] = name
            if rows is not None:
                self.con.register(name, rows)
                self.present.add(name)
        name = self.names[key]
        return name if name in self.present else None

    def count(self, query: exp.Expr) -> int:
        row = self.con.execute(query.sql(dialect="duckdb")).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        self.con.close()


def _col(table: str, column: str) -> exp.Column:
    return exp.column(column, table=table, quoted=True)


def _count(table: str, where: exp.Expr | None = None) -> exp.Select:
    query = exp.select(exp.func("count", exp.Star())).from_(exp.to_identifier(table, quoted=True))
    return query.where(where) if where is not None else query


def _missing(reader: _Reader, child: str, cols: Sequence[str], parent: str, ref_cols: Sequence[str]) -> int | None:
    """Distinct non-NULL values of ``child.cols`` with no row in ``parent.ref_cols``; None when child is absent."""
    c = reader.table(child, cols)
    if c is None:
        return None
    p = reader.table(parent, ref_cols)
    filled = exp.and_(*(exp.not_(_col(c, x).is_(exp.null())) for x in cols))
    if p is None:
        return reader.count(_count(c, filled))
    match = exp.and_(*(exp.EQ(this=_col(p, r), expression=_col(c, x)) for x, r in zip(cols, ref_cols, strict=True)))
    inner = exp.select(exp.Literal.number(1)).from_(exp.to_identifier(p, quoted=True)).where(match)
    distinct = exp.select(*(_col(c, x) for x in cols)).distinct().from_(exp.to_identifier(c, quoted=True))
    query = distinct.where(exp.and_(filled, exp.not_(exp.Exists(this=inner))))
    outer = exp.select(exp.func("count", exp.Star())).from_(query.subquery("m"))
    return reader.count(outer)


def _row_count(reader: _Reader, e: ExpectationSpec) -> Outcome:
    spec = e.row_count
    assert spec is not None
    key = reader.specs[spec.table].primary_key or reader.specs[spec.table].column_names[:1]
    name = reader.table(spec.table, key)
    rows = 0 if name is None else reader.count(_count(name))
    low, high = spec.min, spec.max
    passed = (low is None or rows >= low) and (high is None or rows <= high)
    bounds = f"between {low if low is not None else 0} and {high if high is not None else 'any'}"
    return Outcome(e.name, e.kind, spec.table, e.action, passed, 0 if passed else rows, f"{rows:,} rows ({bounds})")


def _parents(reader: _Reader, e: ExpectationSpec) -> Outcome:
    spec = e.parents
    assert spec is not None
    fks = [fk for fk in reader.specs[spec.table].foreign_keys if spec.references in (None, _ref(fk))]
    return _orphans(reader, e.name, e.kind, spec.table, e.action, fks)


def _orphans(reader: _Reader, name: str, kind: str, table: str, action: str, fks: list[ForeignKey]) -> Outcome:
    broken, parts = 0, []
    for fk in fks:
        if _ref(fk) not in reader.specs:
            continue  # a table this mapping does not write: the store's own constraint, if any
        missing = _missing(reader, table, fk.columns, _ref(fk), fk.ref_columns) or 0
        broken += missing
        if missing:
            parts.append(f"{missing:,} ({', '.join(fk.columns)}) without a row in {_ref(fk)}")
    detail = "; ".join(parts) or f"every row has its parent ({len(fks)} foreign keys)"
    return Outcome(name, kind, table, action, not broken, broken, detail)


def _coverage(reader: _Reader, e: ExpectationSpec) -> Outcome:
    spec = e.coverage
    assert spec is not None
    missing = _missing(reader, spec.table, spec.columns, spec.within, spec.within_columns or spec.columns) or 0
    cols = ", ".join(spec.columns)
    detail = f"{missing:,} values of ({cols}) without a row in {spec.within}" if missing else f"every ({cols}) covered"
    return Outcome(e.name, e.kind, spec.table, e.action, not missing, missing, detail)


def _ref(fk: ForeignKey) -> str:
    return f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table


_KINDS = {"row_count": _row_count, "parents": _parents, "coverage": _coverage}


def expect(sink: Sink, specs: dict[str, TableSpec], expectations: Sequence[ExpectationSpec]) -> list[Outcome]:
    """Evaluate ``expectations`` over the tables of ``sink``; ``specs`` names the mapping's tables (target name ->
    spec)."""
    if not expectations:
        return []
    reader = _Reader(sink, specs)
    try:
        return [_KINDS[e.kind](reader, e) for e in expectations]
    finally:
        reader.close()


def table_checks(sink: Sink, specs: dict[str, TableSpec]) -> list[Outcome]:
    """Per stored table of the mapping: key coverage (rows with a complete key), duplicate keys, orphan rows."""
    reader = _Reader(sink, specs)
    out = []
    try:
        for name, spec in specs.items():
            key = spec.primary_key
            if not key:
                continue
            t = reader.table(name, key)
            if t is None:
                continue
            rows = reader.count(_count(t))
            incomplete = reader.count(_count(t, exp.or_(*(_col(t, k).is_(exp.null()) for k in key))))
            share = 100.0 if not rows else 100.0 * (rows - incomplete) / rows
            out.append(
                Outcome(
                    "key_coverage",
                    "key_coverage",
                    name,
                    "fail",
                    not incomplete,
                    incomplete,
                    f"{share:.1f}% of {rows:,} rows",
                )
            )
            groups = exp.select(*(_col(t, k) for k in key)).from_(exp.to_identifier(t, quoted=True))
            groups = groups.group_by(*(_col(t, k) for k in key)).having(
                exp.GT(this=exp.func("count", exp.Star()), expression=exp.Literal.number(1))
            )
            dupes = reader.count(exp.select(exp.func("count", exp.Star())).from_(groups.subquery("d")))
            out.append(
                Outcome(
                    "duplicate_keys",
                    "duplicate_keys",
                    name,
                    "fail",
                    not dupes,
                    dupes,
                    f"{dupes:,} keys stored more than once",
                )
            )
            if spec.foreign_keys:
                out.append(_orphans(reader, "orphan_rows", "orphan_rows", name, "fail", list(spec.foreign_keys)))
    finally:
        reader.close()
    return out


__all__ = ["ExpectationError", "Outcome", "expect", "table_checks"]
