"""The contract's prepare step in the Spark executors, where it changes nothing but the hash column.

``contract.prepare`` (refuse rows without a timestamp or key, add the content hash, reduce duplicate keys of the
batch) is a pure function of a table, its spec and the mode. Its costly part is the content hash (``row_hash``:
every column of every row, MD5 over the variable-length values); the rest is a cheap check in the usual case, one
row per key in key order. So each executor, after the local engine made a batch, runs the contract's own functions
over every **eligible** table of it:

    prepare(rows, spec, "append")                   # refuse + hash, the order kept
    reduce_duplicates(hashed, key, timestamp, tie)  # the contract's reduction, as prepare runs it

and when nothing was refused and the reduction returned its input unchanged (no duplicate key, already in key
order), ``prepare(rows, spec, mode)`` is, for every mode, those rows plus the hash column with zero counts. Only
then the executor sends the hash column (8 bytes a row, next to the table's payload) and the driver adopts it
(:func:`adopt`: the rows it already has plus that column, zero copies) instead of preparing the table. Otherwise
(a refused row, a duplicate key, rows out of key order) it sends nothing more and the driver prepares the table as
before, so every count and every quarantined row is the local engine's by construction.

A table is eligible when its target has no computed ``key:`` (a column added on the driver, part of the hash). The
quality rules run on the driver before prepare, from the rules' Spark SQL flags (engines/spark_rules.py): a
quarantined row must not win a reduction, a document rejected by a rule loses its rows in every table. Rules only
ever remove rows, so the writer (runtime/batch.py) adopts the executor's result while the table still has all its
rows, and prepares what is left itself otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from tidemark.compile.plan import Plan
from tidemark.contract.prepare import Prepared, prepare, reduce_duplicates
from tidemark.engines.base import ExtractBatch
from tidemark.tables import HASH_COLUMN, TableSpec

_HASH_FIELD = pa.field(HASH_COLUMN, pa.int64(), nullable=False)


@dataclass(frozen=True)
class Eligible:
    """The targets whose tables the executors prepare (target name -> spec); see the module's text."""

    specs: dict[str, TableSpec]

    @classmethod
    def of(cls, plan: Plan) -> Eligible:
        return cls({t.name: t.spec for t in plan.targets if t.key is None})


def hashes(batch: ExtractBatch, eligible: Eligible) -> Iterator[tuple[str, pa.Table]]:
    """In an executor: per eligible table of ``batch`` that prepare leaves as it is, its hash column."""
    for name, spec in eligible.specs.items():
        rows = batch.tables.get(name)
        if rows is None or rows.num_rows == 0:
            continue
        hashed = prepare(rows, spec, "append")  # the contract's refusal and hash; append: no reduction
        if hashed.errors:
            continue
        if spec.primary_key and hashed.rows.num_rows > 1:
            reduced, _, _ = reduce_duplicates(hashed.rows, spec.primary_key, spec.timestamp, spec.tie)
            if reduced is not hashed.rows:  # a duplicate key or another order: the driver prepares it
                continue
        yield name, hashed.rows.select([HASH_COLUMN])


def adopt(rows: pa.Table, hashed: pa.Table, spec: TableSpec) -> Prepared:
    """On the driver: what ``prepare(rows, spec, mode)`` gives for a table the executor found eligible."""
    if hashed.num_rows != rows.num_rows:  # the payloads of one batch always agree; a mismatch is a bug here
        raise AssertionError(f"{spec.qualified}: {hashed.num_rows} hashes for {rows.num_rows} rows")
    column = hashed.column(HASH_COLUMN)
    return Prepared(rows.select(list(spec.column_names)).append_column(_HASH_FIELD, column))


__all__ = ["Eligible", "adopt", "hashes"]
