"""Delta's side of the working copy (sinks/delta.py): a table's rows as of one version, the MERGE's source and
guard predicates rendered from the contract's rules, Delta's types, and how failures are told."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract import rules
from tidemark.sinks.bookkeeping import watermark_schema
from tidemark.sinks.rowsets import conform, matching
from tidemark.sinks.working import STORED_HASH, STORED_TS
from tidemark.tables import HASH_COLUMN, TableSpec
from tidemark.types import LogicalType

OP = "_tm_op"
_TYPES = {
    "int": "integer",
    "bigint": "long",
    "double": "double",
    "bool": "boolean",
    "string": "string",
    "date": "date",
    "timestamp": "timestamp",
    "json": "string",
}


class Snapshot:
    """A Delta table's rows as of one version (the working copy's :class:`StoredRows`)."""

    def __init__(self, spec: TableSpec, data: Any, marks: Any) -> None:
        self.spec, self.data, self.marks = spec, data, marks
        self._dataset: Any = None

    def dataset(self) -> Any:
        """The snapshot as a pyarrow dataset (one per transaction: the version does not move under it)."""
        if self._dataset is None:
            self._dataset = self.data.to_pyarrow_dataset()
        return self._dataset

    def probe(self, scopes: pa.Table, columns: list[str]) -> pa.Table | None:
        """The thin columns of the stored rows of ``scopes``: the scan reads only those columns, and skips the files
        and row groups whose statistics (or partition values) exclude the scopes' first column."""
        if self.data is None:
            return None
        found = self._scan(scopes, self.spec.scope[0], columns)
        return found.filter(matching(found, self.spec, None, scopes))

    def _scan(self, rows: pa.Table, first: str, columns: list[str] | None) -> pa.Table:
        import pyarrow.dataset as ds  # imports pandas when installed: only when a Delta table is read

        dataset = self.dataset()
        values = pc.unique(rows.column(first)).cast(dataset.schema.field(first).type)
        try:
            return dataset.to_table(columns=columns, filter=ds.field(first).isin(values))
        except pa.ArrowNotImplementedError:  # files delta-rs wrote with string_view columns, whose statistics
            return dataset.to_table(columns=columns)  # pyarrow cannot compare with a string filter: scan all

    def fetch(
        self,
        keys: pa.Table | None,
        scopes: pa.Table | None,
        *,
        by: tuple[str, ...] | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table | None:
        if self.data is None:
            return None
        import pyarrow.dataset as ds  # imports pandas when installed: only when a Delta table is read

        dataset = self.dataset()
        wanted = None
        for rows, cols in ((keys, by or self.spec.primary_key), (scopes, self.spec.scope)):
            if rows is None or not cols or rows.num_rows == 0:
                continue
            first = cols[0]  # a coarse filter the scan can push down; `matching` is exact
            values = pc.unique(rows.column(first)).cast(dataset.schema.field(first).type)
            term = ds.field(first).isin(values)
            wanted = term if wanted is None else wanted | term
        if wanted is None:
            return None
        try:
            found = dataset.to_table(columns=columns, filter=wanted)
        except pa.ArrowNotImplementedError:  # files delta-rs wrote with string_view columns, whose statistics
            found = dataset.to_table(columns=columns)  # pyarrow cannot compare with a string filter: scan all
        return found.filter(matching(found, self.spec, keys, scopes, by))

    def count(self) -> int:
        return 0 if self.data is None else int(self.data.count())

    def watermarks(self) -> pa.Table | None:
        if self.marks is None:
            return None
        return conform(self.marks.to_pyarrow_table(), watermark_schema(self.spec))


def merge_source(spec: TableSpec, raw: pa.Table, deletes: pa.Table) -> pa.Table:
    """The MERGE's source: the working copy's upserts (``OP`` = 'u', with the stored hash and time each was decided
    against) and its tombstones (``OP`` = 'd')."""
    upserts = conform(raw, spec.arrow_schema)
    for name in (STORED_HASH, STORED_TS):
        upserts = upserts.append_column(name, raw.column(name).cast(raw.schema.field(name).type))
    source = upserts.append_column(OP, pa.array(["u"] * upserts.num_rows, pa.string()))
    if deletes.num_rows:
        tombstones = conform(deletes, spec.arrow_schema)
        for name in (STORED_HASH, STORED_TS):
            kind = upserts.schema.field(name).type
            tombstones = tombstones.append_column(name, pa.nulls(deletes.num_rows, kind))
        tombstones = tombstones.append_column(OP, pa.array(["d"] * deletes.num_rows, pa.string()))
        source = pa.concat_tables([source, tombstones])
    return source


def row_merge(data: Any, spec: TableSpec, source: pa.Table, modes: Collection[str], deletes: bool, props: Any) -> Any:
    """The MERGE of a table's source into ``data`` (a DeltaTable), guarded by the contract: an upsert replaces a
    stored row still as it was read, or one it wins against; a tombstone deletes only a row older than its mark."""
    q = quote
    on = " AND ".join(f"t.{q(c)} = s.{q(c)}" for c in spec.primary_key)
    values = {q(c): f"s.{q(c)}" for c in (*spec.column_names, HASH_COLUMN)}
    is_upsert = f"s.{q(OP)} = 'u'"
    merger = data.merge(source, predicate=on, source_alias="s", target_alias="t", commit_properties=props)
    if "upsert" in modes:
        merger = merger.when_matched_update(
            values, predicate=f"{is_upsert} AND ({unchanged_since_read(spec)} OR {newer(spec)})"
        )
    merger = merger.when_not_matched_insert(values, predicate=is_upsert)
    if deletes:
        assert spec.timestamp is not None
        # a tombstone carries its scope's watermark: the stored row goes only while still older than it
        older = rules.older_sql("delta", spec.timestamp, "t", "s")
        merger = merger.when_matched_delete(predicate=f"s.{q(OP)} = 'd' AND {older}")
    return merger


def mark_merge(marks: Any, wm: TableSpec, changes: pa.Table, props: Any) -> Any:
    """The MERGE of watermark changes: a stored mark moves only forward, to the greater of the two
    (rules.sql_merged_mark)."""
    q = quote
    assert wm.timestamp is not None
    on = " AND ".join(f"t.{q(c)} = s.{q(c)}" for c in wm.primary_key)
    ts = q(wm.timestamp)
    return (
        marks.merge(changes, predicate=on, source_alias="s", target_alias="t", commit_properties=props)
        .when_matched_update({ts: f"s.{ts}"}, predicate=rules.older_sql("delta", wm.timestamp, "t", "s"))
        .when_not_matched_insert_all()
    )


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def partial(names: list[str], done: list[str]) -> str:
    """What a failed commit left: each table is one Delta commit, so some may be published and others not."""
    rest = [n for n in names if n not in done]
    if not done:
        return "No table was written"
    return (
        f"Written before the failure: {', '.join(done)}; not written: {', '.join(rest) or 'the quarantine'}. "
        "Run the same input again: it completes them (a rerun is idempotent)"
    )


def quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def delta_type(ltype: LogicalType) -> str:
    if ltype.kind == "decimal":
        return f"decimal({ltype.precision},{ltype.scale})"
    return _TYPES[ltype.kind]


def unchanged_since_read(spec: TableSpec) -> str:
    """The stored row is still the one the working copy decided against (no other writer got there first)."""
    read = rules.Row("s", STORED_TS if spec.timestamp else None, STORED_HASH)
    return rules.render(rules.sql_same(rules.Row("t", spec.timestamp), read), "delta")


def newer(spec: TableSpec) -> str:
    """The contract's guard: the source row wins (contract/rules.py)."""
    return rules.wins_sql("delta", spec.timestamp, "s", "t", spec.tie)


class DiskFullMeta(type):
    def __instancecheck__(cls, exc: object) -> bool:
        text = str(exc)
        return "No space left on device" in text or "os error 28" in text


class DiskFull(Exception, metaclass=DiskFullMeta):
    """Matches (``isinstance``) any exception whose text says the disk is full: delta-rs reports it as a DeltaError,
    an OSError or a panic, with the OS's words inside."""


class Lost(Exception):
    """Another writer created a table this transaction meant to create: retry against it."""
