"""The working copy's fast lane: batches whose outcome a few stored columns decide, without the SQL contract.

A lake store (Delta, Parquet, CSV) applies the contract on a working copy (:mod:`tidemark.sinks.working`): it copies
the stored rows a batch touches into an in-memory DuckDB and runs the SQL stores' statements there. For the
batches a season load is made of, the answer is known from the stored rows' key, scope, timestamp and content hash
alone (a *thin* probe, read with statistics-based skipping) and the stored watermarks:

- **unchanged**: every scope's watermark is the batch's snapshot, and the stored rows of those scopes are exactly
  the batch's keys with the same timestamp and hash: every row ``unchanged``, nothing to write;
- **older**: every scope's watermark is newer than the batch's snapshot and no stored row of those scopes is older
  than its watermark: every row ``skipped``, nothing to write;
- **newer** (a first load included): no scope has a watermark at or after the batch's snapshot, and every stored
  row of those scopes is older than it: every batch row is an ``insert`` (new key) or an ``update`` (stored key),
  every other stored row of those scopes is ``deleted`` (reconciled).

That is exactly what the SQL contract answers in those cases (``sql.py``: watermarks, skip, classify, reconcile;
``contract/rules.py``), so the counts are the same. It holds only when the working copy has not touched those
scopes yet in this transaction (the store's snapshot is then the transaction's view of them), the key holds the
scope columns (no key is shared across scopes), the mode is ``upsert`` and every row is of its scope's newest
snapshot in the batch. Anything else takes the contract's path (:meth:`WorkingTable.write`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.counts import Mode, WriteCounts
from tidemark.sinks.rowsets import conform
from tidemark.tables import HASH_COLUMN, TableSpec

#: the newest snapshot of each scope in a batch (a column of the batch's marks)
MARK = "_tm_mark"
STORED_HASH = "_tm_stored_hash"  # the hash a store holds for a row, next to the working copy's view of it
STORED_TS = "_tm_stored_ts"
STORED_MARK = "_tm_stored_mark"
#: ``probe(scopes)``: the thin stored rows (key, scope, timestamp, hash) of those scopes, exactly
Probe = Callable[[pa.Table], "pa.Table | None"]
Scope = tuple[object, ...]


@dataclass
class Decision:
    """What the contract does with a batch (see the module docstring)."""

    kind: Literal["unchanged", "older", "newer"]
    counts: WriteCounts
    #: newer: the stored rows of the batch's scopes (key, scope, timestamp, hash), and the batch's watermarks
    originals: pa.Table | None = None
    marks: pa.Table | None = None


def applies(spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> bool:
    """The batch is of the shape the fast lane decides (the rest of the conditions need the stored rows)."""
    return (
        mode == "upsert"
        and spec.timestamp is not None
        and bool(spec.scope)
        and set(spec.scope) <= set(spec.primary_key)
        and rows.num_rows > 0
        and (scopes is None or scopes.num_rows > 0)
        and set(spec.stored_columns) <= set(rows.column_names)  # else the contract's path says what is missing
        and rows.column(spec.timestamp).null_count == 0
    )


def batch_marks(spec: TableSpec, rows: pa.Table, scopes: pa.Table | None) -> pa.Table | None:
    """The batch's newest snapshot per scope (scope columns + :data:`MARK`), or None when a row is not of its
    scope's newest snapshot or of no scope of the batch."""
    assert spec.timestamp is not None
    scope, ts = list(spec.scope), spec.timestamp
    source = rows if scopes is None else scopes
    marks = source.group_by(scope).aggregate([(ts, "max")]).rename_columns([*scope, MARK])
    if marks.column(MARK).null_count:
        return None
    paired = rows.select([*scope, ts]).join(marks, keys=scope, join_type="left outer")
    if not pc.all(pc.fill_null(pc.equal(paired.column(ts), paired.column(MARK)), False)).as_py():
        return None
    return marks


def scope_set(table: pa.Table, scope: tuple[str, ...]) -> set[Scope]:
    """The distinct scopes of ``table``'s rows, as tuples."""
    if table.num_rows == 0:
        return set()
    distinct = table.select(list(scope)).group_by(list(scope)).aggregate([])
    return set(zip(*(distinct.column(c).to_pylist() for c in scope), strict=True))


def decide(
    spec: TableSpec, rows: pa.Table, marks: pa.Table, stored_marks: pa.Table | None, probe: Probe
) -> Decision | None:
    """The contract's answer for the batch (``marks`` from :func:`batch_marks`), or None when it needs the SQL."""
    assert spec.timestamp is not None
    scope = list(spec.scope)
    marks = _with_stored(marks, scope, spec.timestamp, stored_marks)
    mark, stored = marks.column(MARK), marks.column(STORED_MARK)
    known = pc.invert(pc.is_null(stored))
    if pc.all(pc.fill_null(pc.equal(stored, mark), False)).as_py():
        kind: Literal["unchanged", "older", "newer"] = "unchanged"
    elif pc.all(pc.fill_null(pc.greater(stored, mark), False)).as_py():
        kind = "older"
    elif not pc.any(pc.fill_null(pc.greater_equal(stored, mark), False)).as_py():
        kind = "newer"
    else:
        return None
    thin = probe(marks.select(scope))
    if thin is None:
        thin = pa.table({c: pa.array([], rows.schema.field(c).type) for c in _thin_columns(spec)})
    if kind == "newer":
        return _newer(spec, rows, marks, thin)
    if kind == "older":
        return _older(spec, rows, marks, thin, known)
    return _unchanged(spec, rows, thin)


def thin_columns(spec: TableSpec) -> list[str]:
    """What the fast lane reads of a stored row: key, scope, timestamp, hash."""
    return _thin_columns(spec)


def _thin_columns(spec: TableSpec) -> list[str]:
    names = [*spec.primary_key, *spec.scope, *([spec.timestamp] if spec.timestamp else []), HASH_COLUMN]
    return list(dict.fromkeys(names))


def _with_stored(marks: pa.Table, scope: list[str], ts: str, stored: pa.Table | None) -> pa.Table:
    if stored is None or stored.num_rows == 0:
        return marks.append_column(STORED_MARK, pa.nulls(marks.num_rows, marks.schema.field(MARK).type))
    theirs = stored.select([*scope, ts]).rename_columns([*scope, STORED_MARK])
    theirs = _cast_like(theirs, marks.rename_columns([*scope, STORED_MARK]), [*scope, STORED_MARK])
    return marks.join(theirs, keys=scope, join_type="left outer")


def _older_than_mark(thin: pa.Table, marks: pa.Table, scope: list[str], ts: str, mark: str) -> bool:
    """Some stored row of these scopes is older than ``mark`` of its scope."""
    if thin.num_rows == 0:
        return False
    paired = thin.select([*scope, ts]).join(marks.select([*scope, mark]), keys=scope, join_type="inner")
    return bool(pc.any(pc.fill_null(pc.less(paired.column(ts), paired.column(mark)), True)).as_py())


def _newer(spec: TableSpec, rows: pa.Table, marks: pa.Table, thin: pa.Table) -> Decision | None:
    assert spec.timestamp is not None
    scope, ts = list(spec.scope), spec.timestamp
    if thin.num_rows:
        paired = thin.select([*scope, ts]).join(marks.select([*scope, MARK]), keys=scope, join_type="inner")
        if not pc.all(pc.fill_null(pc.less(paired.column(ts), paired.column(MARK)), False)).as_py():
            return None  # a stored row at or after the batch's snapshot: the classification needs the SQL
    key = list(spec.primary_key)
    matched = _semi(rows, thin, key).num_rows if thin.num_rows else 0
    counts = WriteCounts(inserted=rows.num_rows - matched, updated=matched, deleted=thin.num_rows - matched)
    return Decision("newer", counts, thin, marks.select([*scope, MARK]).rename_columns([*scope, ts]))


def _older(spec: TableSpec, rows: pa.Table, marks: pa.Table, thin: pa.Table, known: pa.Array) -> Decision | None:
    assert spec.timestamp is not None
    if not pc.all(known).as_py():
        return None
    if _older_than_mark(thin, marks, list(spec.scope), spec.timestamp, STORED_MARK):
        return None  # the contract's reconciliation would delete them
    return Decision("older", WriteCounts(skipped=rows.num_rows))


def _unchanged(spec: TableSpec, rows: pa.Table, thin: pa.Table) -> Decision | None:
    assert spec.timestamp is not None
    if thin.num_rows != rows.num_rows or rows.column(HASH_COLUMN).null_count:
        return None
    key, ts = list(spec.primary_key), spec.timestamp
    mine = rows.select([*key, ts, HASH_COLUMN])
    theirs = thin.select([*key, ts, HASH_COLUMN]).rename_columns([*key, "_tm_ts", "_tm_h"])
    theirs = _cast_like(theirs, mine, key)
    paired = mine.join(theirs, keys=key, join_type="inner")
    if paired.num_rows != rows.num_rows:
        return None
    same = pc.and_(
        pc.equal(paired.column(ts), paired.column("_tm_ts").cast(paired.schema.field(ts).type)),
        pc.equal(paired.column(HASH_COLUMN), paired.column("_tm_h").cast(pa.int64())),
    )
    if not pc.all(pc.fill_null(same, False)).as_py():
        return None
    return Decision("unchanged", WriteCounts(unchanged=rows.num_rows))


class Pending:
    """The rows of the batches the fast lane found newer, kept as Arrow (never copied into the working DuckDB,
    whose key index costs more than the write itself) and handed to the store at commit."""

    def __init__(self, spec: TableSpec) -> None:
        self.spec = spec
        self.rows: list[pa.Table] = []  # the batches' rows (the table's Arrow schema)
        self.originals: list[pa.Table] = []  # the stored rows they replace (thin columns)
        self.upserts: list[pa.Table] = []  # rows + what the store held for their key (STORED_HASH, STORED_TS)
        self.tombstones: list[pa.Table] = []  # key + the scope's new watermark of stored rows reconciled away
        self.marks: list[pa.Table] = []  # the batches' scopes and their new watermarks
        self._distinct: dict[tuple[str, ...], list[pa.Table]] = {}  # per column list, each batch's distinct values

    def __bool__(self) -> bool:
        return bool(self.rows)

    def add(self, rows: pa.Table, decision: Decision) -> None:
        spec = self.spec
        assert spec.timestamp is not None and decision.originals is not None and decision.marks is not None
        key, ts, thin = list(spec.primary_key), spec.timestamp, decision.originals
        rows = conform(rows, spec.arrow_schema)
        self.rows.append(rows)
        self.originals.append(thin)
        self.marks.append(decision.marks)
        position = "_tm_i"
        left = rows.select(key).append_column(position, pa.array(range(rows.num_rows), pa.int64()))
        right = _cast_like(thin.select([*key, ts, HASH_COLUMN]), rows, [*key, ts])
        right = right.rename_columns([*key, STORED_TS, STORED_HASH])
        joined = left.join(right, keys=key, join_type="left outer").sort_by(position)
        self.upserts.append(
            rows.append_column(STORED_HASH, joined.column(STORED_HASH).cast(pa.int64())).append_column(
                STORED_TS, joined.column(STORED_TS)
            )
        )
        gone = _cast_like(thin.select(key), rows, key).join(rows.select(key), keys=key, join_type="left anti")
        if gone.num_rows:
            scoped = _cast_like(thin.select(list(dict.fromkeys([*key, *spec.scope]))), rows, key)
            scoped = _cast_like(scoped, decision.marks, list(spec.scope))
            gone = scoped.join(gone, keys=key, join_type="left semi").join(
                decision.marks, keys=list(spec.scope), join_type="inner"
            )
            self.tombstones.append(gone.select([*key, ts]))

    def clear(self) -> None:
        self.rows, self.originals, self.upserts, self.tombstones, self.marks = [], [], [], [], []
        self._distinct = {}

    def absent(self, values: pa.Table, columns: list[str]) -> pa.Table:
        """The rows of ``values`` (named like the table's ``columns``) that match no pending row."""
        distinct = self._distinct.setdefault(tuple(columns), [])
        for rows in self.rows[len(distinct) :]:
            distinct.append(rows.select(columns).group_by(columns).aggregate([]))
        for found in distinct:
            if values.num_rows == 0:
                break
            values = values.join(_cast_like(found, values, columns), keys=columns, join_type="left anti")
        return values

    def replaced(self, stored: pa.Table) -> pa.Table:
        """The rows of ``stored`` (key columns at least) whose key is not one the pending batches replaced."""
        key = list(self.spec.primary_key)
        for thin in self.originals:
            stored = stored.join(_cast_like(thin.select(key), stored, key), keys=key, join_type="left anti")
        return stored

    def gone(self) -> list[pa.Table]:
        """The keys of every stored row replaced or deleted."""
        key = list(self.spec.primary_key)
        return [thin.select(key) for thin in self.originals]


def _semi(rows: pa.Table, thin: pa.Table, key: list[str]) -> pa.Table:
    """The rows of ``rows`` whose key is stored."""
    theirs = _cast_like(thin.select(key), rows, key)
    return rows.select(key).join(theirs, keys=key, join_type="left semi")


def _cast_like(table: pa.Table, like: pa.Table, columns: list[str]) -> pa.Table:
    for c in columns:
        want = like.schema.field(c).type
        if table.schema.field(c).type != want:
            table = table.set_column(table.schema.get_field_index(c), c, table.column(c).cast(want))
    return table
