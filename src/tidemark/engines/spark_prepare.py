"""The contract's prepare step in the Spark executors: the content hash and the in-batch reduction.

``contract.prepare`` (refuse rows without a timestamp or key, add the content hash, reduce duplicate keys of the
batch for the keyed modes) is a pure function of a table, its spec and the mode. Its costly part is the content hash
(``row_hash``: every column of every row, MD5 over the variable-length values); the reduction (two snapshots of one
key in one batch) is a sort of the batch. So each executor, after the local engine made a batch, runs the
contract's own functions over every **eligible** table of it:

    hashed = prepare(rows, spec, "append")              # refuse + hash, the order kept
    reduce_duplicates(hashed + row numbers, key, ...)   # the contract's reduction, as prepare runs it

and when nothing was refused it sends the hash column (8 bytes a row) and, when the reduction changed the table
(a duplicate key, rows out of key order), its outcome: the winners' row numbers in the reduced order, and its
``unchanged`` / ``skipped`` counts. ``prepare(rows, spec, mode)`` is then, exactly, for ``append`` the rows plus the
hash, and for the keyed modes the winners plus the hash with those counts: the driver rebuilds that
(:func:`adopt`, from the rows it already has) instead of preparing the table. The executors do not know the mode;
the engine learns it from the run (its ledger; a stream's engine is told ``upsert``): where it does not, a reduced
table is prepared on the driver. A table with a refused row is prepared on the driver too (its quarantine entries
are made there), so every count and every quarantined row is the local engine's by construction.

A table is eligible when its target has no computed ``key:`` (a column added on the driver, part of the hash). The
quality rules run on the driver before prepare, from the rules' Spark SQL flags (engines/spark_rules.py): a
quarantined row must not win a reduction, a document rejected by a rule loses its rows in every table. Rules only
ever remove rows, so the writer (runtime/batch.py) adopts the executor's result while the table still has all its
rows (``Reduced.extracted`` for a reduced one), and prepares what is left itself otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from tidemark.compile.plan import Plan
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.contract.prepare import Prepared, prepare, reduce_duplicates
from tidemark.engines.base import ExtractBatch
from tidemark.tables import HASH_COLUMN, TableSpec

_HASH_FIELD = pa.field(HASH_COLUMN, pa.int64(), nullable=False)
#: the column numbering a table's rows while the executor reduces it (never sent, never written)
_ROW = "__tidemark_row"


@dataclass(frozen=True)
class Eligible:
    """The targets whose tables the executors prepare (target name -> spec); see the module's text."""

    specs: dict[str, TableSpec]

    @classmethod
    def of(cls, plan: Plan) -> Eligible:
        return cls({t.name: t.spec for t in plan.targets if t.key is None})


@dataclass
class Reduced(Prepared):
    """A table the executor reduced (or put in key order): ``extracted`` rows came in, fewer may go out. The writer
    adopts it while the table still has ``extracted`` rows (no quality rule removed one since)."""

    extracted: int = 0


def hashes(batch: ExtractBatch, eligible: Eligible) -> Iterator[tuple[str, pa.Table, pa.Table | None]]:
    """In an executor: per eligible table of ``batch`` without a refused row, its hash column and, when the
    contract's reduction changes it, the reduction (:func:`reduction`)."""
    for name, spec in eligible.specs.items():
        rows = batch.tables.get(name)
        if rows is None or rows.num_rows == 0:
            continue
        hashed = prepare(rows, spec, "append")  # the contract's refusal and hash; append: no reduction
        if hashed.errors:  # refused rows go to the quarantine with the driver's origin: the driver prepares it
            continue
        reduced = reduction(hashed.rows, spec) if spec.primary_key and hashed.rows.num_rows > 1 else None
        yield name, hashed.rows.select([HASH_COLUMN]), reduced


def reduction(hashed: pa.Table, spec: TableSpec) -> pa.Table | None:
    """In an executor: the contract's own ``reduce_duplicates`` over the hashed rows, as the row numbers of the
    winners in the reduced order and its counts (the schema's metadata); None when it leaves the rows as they are."""
    numbered = hashed.append_column(_ROW, pa.array(np.arange(hashed.num_rows, dtype=np.int64)))
    reduced, unchanged, skipped = reduce_duplicates(numbered, spec.primary_key, spec.timestamp, spec.tie)
    if reduced is numbered:
        return None
    counts = {b"unchanged": str(unchanged).encode(), b"skipped": str(skipped).encode()}
    return reduced.select([_ROW]).replace_schema_metadata(counts)


def adopt(
    rows: pa.Table, hashed: pa.Table, spec: TableSpec, reduced: pa.Table | None = None, mode: Mode | None = None
) -> Prepared | None:
    """On the driver: what ``prepare(rows, spec, mode)`` gives for a table the executor prepared; None when that
    depends on a mode the engine was not told (a reduction: the driver prepares the table)."""
    if hashed.num_rows != rows.num_rows:  # the payloads of one batch always agree; a mismatch is a bug here
        raise AssertionError(f"{spec.qualified}: {hashed.num_rows} hashes for {rows.num_rows} rows")
    column = hashed.column(HASH_COLUMN)
    full = rows.select(list(spec.column_names)).append_column(_HASH_FIELD, column)
    if reduced is None or mode == "append":  # append never reduces: the rows plus their hash
        return Prepared(full)
    if mode is None:
        return None
    meta = reduced.schema.metadata
    counts = WriteCounts(unchanged=int(meta[b"unchanged"]), skipped=int(meta[b"skipped"]))
    return Reduced(full.take(reduced.column(_ROW)), counts=counts, extracted=rows.num_rows)


__all__ = ["Eligible", "Reduced", "adopt", "hashes", "reduction"]
