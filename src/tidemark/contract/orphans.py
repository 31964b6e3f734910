"""Foreign keys, checked by the contract on every store: a child row whose parent row is not stored is refused.

The rule (docs/write-contract.md, "Foreign keys"), the same on every store:

- Before a batch of a table with declared foreign keys is written, each row whose foreign-key columns are all
  non-NULL (SQL's ``MATCH SIMPLE``) and match no row of the referenced table is an *orphan*. "Stored" includes what
  the same transaction wrote before: a run writes parents before children (plan order), so a document's parent row
  is there when its child rows come.
- Only a row the write would store (insert / update) can be an orphan: one it skips anyway (older than its
  scope's watermark or than the stored row of its key) stays ``skipped``. Suspects are few, so this second question
  (:data:`WouldWrite`) is asked only when there are any.
- An orphan is not written: it goes to the quarantine with the foreign key and the missing parent key as its
  reason, and counts as ``error``. The rest of the batch is written. A scope with an orphan row is not a complete
  snapshot (its row is in it, only unwritable): it does not reconcile, exactly as a scope with any refused row.
- The referenced table is consulted when it is part of the same transaction (a mapping's parent targets always
  are); a foreign key to a table the transaction does not write is left to the store.

Each store answers one question per foreign key, set-based: which of these parent keys it does not hold
(:data:`Missing`; SQL stores: an anti-join in sinks/sql.py, working-copy stores: sinks/working.py). The rest is here,
in Arrow. PostgreSQL keeps its deferred constraints as a safety net behind this check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.counts import RowError, WriteCounts
from tidemark.tables import HASH_COLUMN, ForeignKey, TableSpec

#: (foreign key, distinct non-NULL child values of its columns) -> the values with no parent row (same column
#: names as the child's), or None when the store does not check this key (its table is not in the transaction)
Missing = Callable[[ForeignKey, pa.Table], "pa.Table | None"]
#: rows -> a mask of those the write would store (insert / update): not older than their scope's watermark, not
#: beaten by the stored row of their key. Only rows that would be written can be orphans: an old snapshot's row
#: whose parent a newer snapshot removed is skipped, as it would be without foreign keys.
WouldWrite = Callable[[pa.Table], pa.Array]
_ROW = "_tm_row"


@dataclass
class Checked:
    """A batch after the check: the rows to write, the scopes that may still reconcile, the refused orphans."""

    rows: pa.Table
    scopes: pa.Table | None
    refused: list[RowError] = field(default_factory=list)

    def charge(self, counts: WriteCounts) -> WriteCounts:
        """``counts`` of the write, with the orphans as ``error`` rows (and ``refused``, for the quarantine)."""
        if self.refused:
            counts.error += len(self.refused)
            counts.refused = [*counts.refused, *self.refused]
        return counts


def referenced(fk: ForeignKey) -> str:
    """The qualified name of the table ``fk`` references (as :attr:`TableSpec.qualified` spells it)."""
    return f"{fk.ref_schema}.{fk.ref_table}" if fk.ref_schema else fk.ref_table


def candidates(spec: TableSpec, rows: pa.Table, fk: ForeignKey) -> pa.Table:
    """The distinct values of ``fk``'s columns in ``rows`` that need a parent: none NULL, and (a table referencing
    itself) not a row of the batch."""
    cols = list(fk.columns)
    values = rows.select(cols)
    mask = None
    for c in cols:
        valid = pc.is_valid(values.column(c))
        mask = valid if mask is None else pc.and_(mask, valid)
    assert mask is not None
    values = values.filter(mask).group_by(cols).aggregate([])
    if referenced(fk) == spec.qualified and values.num_rows:  # its own rows are parents too
        own = rows.select(list(fk.ref_columns)).rename_columns(cols)
        values = values.join(own.group_by(cols).aggregate([]), keys=cols, join_type="left anti")
    return values


def check(
    spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, missing: Missing, would_write: WouldWrite
) -> Checked:
    """Split ``rows`` into the rows to write and the orphans (see the module docstring)."""
    if not spec.foreign_keys or rows.num_rows == 0:
        return Checked(rows, scopes)
    orphan = pa.array([False] * rows.num_rows)
    reasons: dict[int, list[str]] = {}
    for fk in spec.foreign_keys:
        wanted = candidates(spec, rows, fk)
        absent = missing(fk, wanted) if wanted.num_rows else None
        if absent is None or absent.num_rows == 0:
            continue
        hit = _rows_matching(rows, list(fk.columns), absent)
        orphan = pc.or_(orphan, hit)
        for i in pc.indices_nonzero(hit).to_pylist():
            reasons.setdefault(i, []).append(_reason(fk, rows, i))
    if reasons:  # rare: only now ask which of them would be written at all
        suspects = sorted(reasons)
        written = would_write(rows.take(suspects)).to_pylist()
        if scopes is not None and spec.scope and spec.timestamp is not None:  # older than the batch's own snapshot
            written = [
                w and not o for w, o in zip(written, _older_than_batch(spec, rows.take(suspects), scopes), strict=True)
            ]
        reasons = {i: r for i, w in zip(suspects, written, strict=True) if w for r in [reasons[i]]}
        orphan = pc.is_in(pa.array(range(rows.num_rows), pa.int64()), value_set=pa.array(list(reasons), pa.int64()))
    if not reasons:
        return Checked(rows, scopes)
    refused = []
    for i in sorted(reasons):
        row = {k: v for k, v in rows.slice(i, 1).to_pylist()[0].items() if k != HASH_COLUMN}
        key = {k: row[k] for k in spec.primary_key}
        refused.append(RowError(spec.qualified, key, "; ".join(reasons[i]), row, ""))
    kept = rows.filter(pc.invert(orphan))
    return Checked(kept, _complete(spec, rows, scopes, rows.filter(orphan)), refused)


def _older_than_batch(spec: TableSpec, rows: pa.Table, scopes: pa.Table) -> list[bool]:
    """Rows older than the newest snapshot of their scope in this batch (the write skips them)."""
    assert spec.timestamp is not None
    cols, ts = list(spec.scope), spec.timestamp
    newest = scopes.group_by(cols).aggregate([(ts, "max")])
    newest = pa.table(
        [newest.column(c).cast(rows.schema.field(c).type) for c in cols] + [newest.column(f"{ts}_max")],
        names=[*cols, "_tm_mark"],
    )
    indexed = rows.select([*cols, ts]).append_column(_ROW, pa.array(range(rows.num_rows), pa.int64()))
    joined = indexed.join(newest, keys=cols, join_type="left outer").sort_by(_ROW)
    older = pc.fill_null(
        pc.less(joined.column(ts), joined.column("_tm_mark").cast(joined.schema.field(ts).type)), False
    )
    return [bool(v) for v in older.to_pylist()]


def _rows_matching(rows: pa.Table, cols: list[str], values: pa.Table) -> pa.Array:
    """A mask of the rows whose ``cols`` are a row of ``values``."""
    left = rows.select(cols).append_column(_ROW, pa.array(range(rows.num_rows), pa.int64()))
    right = pa.table([values.column(c).cast(left.schema.field(c).type) for c in cols], names=cols)
    found = left.join(right, keys=cols, join_type="left semi").column(_ROW)
    return pc.is_in(pa.array(range(rows.num_rows), pa.int64()), value_set=found.combine_chunks())


def _reason(fk: ForeignKey, rows: pa.Table, i: int) -> str:
    values = ", ".join(
        f"{ref}={rows.column(c)[i].as_py()!r}" for c, ref in zip(fk.columns, fk.ref_columns, strict=True)
    )
    return (
        f"foreign key ({', '.join(fk.columns)}) -> {referenced(fk)} ({', '.join(fk.ref_columns)}): "
        f"no parent row with {values} is stored (was it refused, or is it missing from the document?)"
    )


def _complete(spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, orphans: pa.Table) -> pa.Table | None:
    """The scopes that may still reconcile: not those of an orphan row (all of them when its scope is unknown)."""
    if not spec.scope or spec.timestamp is None:
        return scopes
    cols = list(spec.scope)
    if scopes is None:  # the rows said which scopes they cover: say it explicitly, without the orphans' ones
        scopes = rows.group_by(cols).aggregate([(spec.timestamp, "max")]).rename_columns([*cols, spec.timestamp])
    bad = orphans.select(cols)
    if any(bad.column(c).null_count for c in cols):
        return scopes.slice(0, 0)
    return scopes.filter(pc.invert(_rows_matching(scopes, cols, bad)))
