"""PostgreSQL's foreign keys: the deferred constraints (the safety net) and the contract's orphan probe.

The contract refuses orphan rows before they are written, on every store (contract/orphans.py): for each foreign
key of a batch it asks which parent keys are not stored. PostgreSQL answers with one anti-join whose probe travels
as arrays (``unnest(%s::bigint[], ...)``, bound parameters): no staging table, so no ``CREATE`` / ``COPY`` /
``DROP`` round trips and no catalog churn per key and batch, and the planner knows the probe's size. The parent
is also filtered by the batch's values of the key's first column, so the probe reads the batch's games by the
parent's primary key rather than the whole parent table (whose size grows with the season).

Behind that check the tables carry the keys as ``DEFERRABLE INITIALLY DEFERRED`` constraints, checked at commit.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract import orphans
from tidemark.sinks.bookkeeping import MAX_NAME, internal_name
from tidemark.sinks.pg_driver import PostgresDriver
from tidemark.sinks.sql import SqlContract, SqlState
from tidemark.tables import ForeignKey, TableSpec


def fk_name(spec: TableSpec, fk: ForeignKey) -> str:
    """``fk_<table>_<columns>`` when that fits in 63 bytes (the name existing stores have), else a name derived
    with a digest (sinks/bookkeeping.py), so two keys of one table never share a cut name."""
    name = f"fk_{spec.name}_{'_'.join(fk.columns)}"
    return name if len(name.encode()) <= MAX_NAME else internal_name("fk", spec.name, *fk.columns)


def add_pending(sql: SqlContract, driver: PostgresDriver, state: SqlState, *, at_commit: bool = False) -> None:
    """Add pending foreign keys whose referenced table exists (parents are ensured before children).

    On a table this run created, the key is added just before the commit (``at_commit``), validated by one
    set-based check of all its rows, as ``pg_restore`` does: checking each inserted row at commit instead
    (a deferred trigger per row) cost more than the whole COPY of a first load. Nobody else sees an
    uncommitted table, so nothing can slip in meanwhile. On existing tables the key is added at once."""
    waiting = []
    for spec, fk, created in state.pending_fks:
        if (created and not at_commit) or driver.existing_columns(fk.ref_schema, fk.ref_table) is None:
            waiting.append((spec, fk, created))
            continue
        ref, parent = sql.table_ref(spec), driver.qt(fk.ref_schema, fk.ref_table)
        if _has_foreign_key(driver, ref, parent, fk):
            continue
        cols = ", ".join(sql.q(c) for c in fk.columns)
        ref_cols = ", ".join(sql.q(c) for c in fk.ref_columns)
        driver.exec(
            f"ALTER TABLE {ref} ADD CONSTRAINT {sql.q(fk_name(spec, fk))} FOREIGN KEY ({cols}) "
            f"REFERENCES {parent} ({ref_cols}) DEFERRABLE INITIALLY DEFERRED"
            + ("" if created else " NOT VALID")  # rows stored before are not re-checked
        )
    state.pending_fks = waiting


def _has_foreign_key(driver: PostgresDriver, table: str, parent: str, fk: ForeignKey) -> bool:
    """The table has this foreign key already, under any name (names were once cut at 63 characters, so two
    keys of one table could share one: the definition decides, and no key is added twice)."""
    found = driver.exec(
        "SELECT 1 FROM pg_constraint c WHERE c.conrelid = %s::regclass AND c.contype = 'f' "
        "AND c.confrelid = %s::regclass AND (SELECT array_agg(a.attname::text ORDER BY k.i) "
        "FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n) = %s::text[]",
        [table, parent, list(fk.columns)],
    )
    return bool(found)


def missing_parents(
    sql: SqlContract, driver: PostgresDriver, state: SqlState, spec: TableSpec, fk: ForeignKey, values: pa.Table
) -> pa.Table | None:
    """The rows of ``values`` (``fk``'s columns, distinct) with no row of the referenced table: one anti-join over
    the values as arrays. None when the referenced table is not part of this transaction (not checked)."""
    if orphans.referenced(fk) not in state.ensured:
        return None
    parent = driver.qt(fk.ref_schema, fk.ref_table)
    types = [driver.column_type(spec.column(c).type) for c in fk.columns]
    args = ", ".join(f"%s::{t}[]" for t in types)
    on = " AND ".join(f"p.{sql.q(r)} = c.{sql.q(c)}" for c, r in zip(fk.columns, fk.ref_columns, strict=True))
    # Said again as a filter on the parent alone: the server then reads only the batch's games by the parent's key
    # instead of hashing the whole parent table for every batch (a cost that would grow with the table).
    first = f"p.{sql.q(fk.ref_columns[0])} = ANY(%s::{types[0]}[])"
    found = driver.exec(
        f"SELECT {sql.cols_of(fk.columns, 'c')} FROM unnest({args}) AS c({', '.join(sql.q(c) for c in fk.columns)}) "
        f"WHERE NOT EXISTS (SELECT 1 FROM {parent} AS p WHERE {on} AND {first})",
        [*(values.column(c).to_pylist() for c in fk.columns), pc.unique(values.column(fk.columns[0])).to_pylist()],
    )
    columns = list(zip(*found, strict=True)) if found else [() for _ in fk.columns]
    return pa.table(
        [pa.array(list(v), values.schema.field(c).type) for v, c in zip(columns, fk.columns, strict=True)],
        names=list(fk.columns),
    )
