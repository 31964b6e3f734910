"""The document a row refused after extraction came from: the quarantine's ``origin`` of quality and orphan rows.

The engine knows each row's document while it builds a batch (``ExtractBatch.origins``: per table, the origin of
each row, in the table's order). Rows refused later — by a quality rule, for an incomplete computed key, or by the
store as orphans — have been checked, keyed, reduced (in-batch newest wins) and reordered by then, so they are
found again by value: the batch's row with the same key columns and snapshot time is the row that was refused
(the in-batch reduction keeps one row per key: the newest). Only the columns of the refused row's key that the
extracted table has, and its timestamp, are compared; a key computed after extraction (``key:``) is matched on the
row's other scalar columns instead.

The index is built per table and only when a refused row names no document (refusals are rare), from the batch
the rows came from (the Spark engine's executors send theirs). An engine that keeps no origins leaves the origin
empty, as before: the run ledger's inputs then name the run's files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from tidemark.compile.plan import Plan
from tidemark.contract.counts import RowError
from tidemark.engines.base import ExtractBatch

#: a refused row -> the origin of its document ("" when unknown)
OriginOf = Callable[[RowError], str]


def no_origin(error: RowError) -> str:
    """The origin a refused row carries itself (the default of a transaction)."""
    return error.origin


class OriginIndex:
    """Finds the document of rows refused from one batch's tables (see the module docstring)."""

    def __init__(self, plan: Plan, batch: ExtractBatch) -> None:
        self._batch = batch
        # a row error names its table by target name or qualified name (orphans come from the store's spec)
        self._names = {t.spec.qualified: t.name for t in plan.targets} | {t.name: t.name for t in plan.targets}
        self._timestamps = {t.name: t.spec.timestamp for t in plan.targets}
        self._index: dict[tuple[str, tuple[str, ...]], dict[tuple[Any, ...], str]] = {}

    def __call__(self, error: RowError) -> str:
        if error.origin:
            return error.origin
        name = self._names.get(error.table)
        table = self._batch.tables.get(name) if name is not None else None
        origins = self._batch.origins.get(name) if name is not None else None
        if name is None or table is None or origins is None or len(origins) != table.num_rows:
            return ""
        columns = self._columns(error, table, self._timestamps.get(name))
        if not columns:
            return ""
        index = self._index.get((name, columns))
        if index is None:
            index = self._index[(name, columns)] = _index(table, columns, origins)
        return index.get(_values(error.row, columns), "")

    def _columns(self, error: RowError, table: pa.Table, timestamp: str | None) -> tuple[str, ...]:
        """The columns a refused row is found by: its key's (those extracted) and its timestamp."""
        present = [c for c in error.key if c in table.column_names and c in error.row]
        if len(present) < len(error.key):  # a computed key: the row's other scalar values instead
            present = [c for c in table.column_names if c in error.row and _scalar(table.schema.field(c).type)]
        if timestamp is not None and timestamp in table.column_names and timestamp not in present:
            present.append(timestamp)
        return tuple(present)


def _scalar(kind: pa.DataType) -> bool:
    return not (pa.types.is_nested(kind) or pa.types.is_floating(kind))


def _values(row: dict[str, Any], columns: tuple[str, ...]) -> tuple[Any, ...]:
    values = tuple(row.get(c) for c in columns)
    try:
        hash(values)
    except TypeError:  # a nested value cannot be looked up: no origin rather than a wrong one
        return ()
    return values


def _index(table: pa.Table, columns: tuple[str, ...], origins: list[str]) -> dict[tuple[Any, ...], str]:
    """Values of ``columns`` -> the origin of the first row holding them."""
    index: dict[tuple[Any, ...], str] = {}
    for row, origin in zip(table.select(list(columns)).to_pylist(), origins, strict=True):
        values = _values(row, columns)
        if values:
            index.setdefault(values, origin)
    return index


__all__ = ["OriginIndex", "OriginOf", "no_origin"]
