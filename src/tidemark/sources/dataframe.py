"""A Spark DataFrame whose rows are documents: ``tidemark.run(mapping, df, sink, engine="spark")``.

One column holds each document, as JSON text (``string``) or its bytes (``binary``); two optional columns give its
origin (``string``: what the quarantine names; ``row <n>`` without it) and its snapshot time (``timestamp``: the
``captured_at`` of mappings whose timestamp is ``captured_at``). The documents are the DataFrame's rows in its order
(partition after partition), at positions ``(n,)``, n counting from 0.

The Spark engine reads the rows in its executors (engines/spark_frame.py: the documents never pass through the
driver); any other engine reads them here, on the driver, a partition at a time (``read``). Both make each
document with :func:`document`, so the two agree document for document. A DataFrame is a query: ``read`` may run
it again (a retry after a conflict), so the source is replayable when the query gives the same rows in the same
order each time (one over stored files does; a shuffle without a sort need not).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from tidemark.documents import Position, RawDocument, checked
from tidemark.errors import ConfigError

DEFAULT_COLUMN = "document"


def is_spark_frame(value: Any) -> bool:
    """True for a pyspark DataFrame (classic or Spark Connect), without importing pyspark."""
    kind = type(value)
    return kind.__name__ == "DataFrame" and kind.__module__.startswith("pyspark.sql")


class DataFrameSource:
    """The documents of a Spark DataFrame (see the module's text). The columns are checked when it is made."""

    replayable = True
    total_bytes = 0
    files = 0

    def __init__(
        self,
        frame: Any,
        *,
        documents_column: str = DEFAULT_COLUMN,
        origin_column: str | None = None,
        captured_at_column: str | None = None,
    ) -> None:
        if not is_spark_frame(frame):
            raise ConfigError(f"DataFrameSource takes a Spark DataFrame, got a {type(frame).__name__}")
        self.frame = frame
        self.documents_column = documents_column
        self.origin_column, self.captured_at_column = origin_column, captured_at_column
        types = dict(frame.dtypes)
        _check(types, documents_column, ("string", "binary"), "documents_column", "JSON text or its bytes")
        if origin_column is not None:
            _check(types, origin_column, ("string",), "origin_column", "text")
        if captured_at_column is not None:
            _check(types, captured_at_column, ("timestamp", "timestamp_ntz"), "captured_at_column", "timestamps")

    @property
    def columns(self) -> list[str]:
        """The columns read, in this order: the document, its origin, its snapshot time (those given)."""
        return [c for c in (self.documents_column, self.origin_column, self.captured_at_column) if c is not None]

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        """On the driver: the documents after ``after``, fetched a partition at a time (``dataframe_batches``)."""
        from tidemark.engines.spark import dataframe_batches

        start = -1 if after is None else int(after[0])
        _, batches = dataframe_batches(self.frame.select(*self.columns))
        index = 0
        for batch in batches:
            for values in zip(*(batch.column(i).to_pylist() for i in range(batch.num_columns)), strict=True):
                if index > start:
                    yield document(index, *self._fields(values))
                index += 1

    def _fields(self, values: tuple[Any, ...]) -> tuple[Any, str | None, datetime | None]:
        rest = iter(values[1:])
        origin = next(rest) if self.origin_column is not None else None
        captured_at = next(rest) if self.captured_at_column is not None else None
        return values[0], origin, captured_at


def run_inputs(inputs: Any, sink: Any, documents: Any, engine: str) -> tuple[Any, Any]:
    """``tidemark.run``'s inputs and sink once its ``documents=`` keyword is taken into account.

    ``documents=`` names the run's input when it is a DataFrame of documents: a Spark DataFrame (its ``document``
    column) or a :class:`DataFrameSource`. Either it or ``inputs`` is given, not both; and the sink is given.
    """
    if documents is not None:
        if inputs is not None:
            raise ConfigError(
                "tidemark.run got both inputs and documents=: give the documents once, as inputs (paths, "
                "documents, a Source) or as documents= (a Spark DataFrame)"
            )
        if not (is_spark_frame(documents) or isinstance(documents, DataFrameSource)):
            raise ConfigError(
                f"documents= takes a Spark DataFrame with a {DEFAULT_COLUMN!r} column (or a DataFrameSource), got a "
                f"{type(documents).__name__} (engine {engine!r}): give paths or documents as the inputs instead"
            )
        inputs = documents
    if inputs is None:
        raise ConfigError("tidemark.run needs its documents: give inputs (paths, documents, a Source) or documents=")
    if sink is None:
        raise ConfigError("tidemark.run needs a sink: e.g. sink='duckdb:out.duckdb'")
    return inputs, sink


def document(index: int, value: Any, origin: str | None, captured_at: datetime | None) -> RawDocument:
    """The row at ``index`` as a document; a NULL document is a rejected one (it names the row)."""
    where = origin or f"row {index}"
    if captured_at is not None and captured_at.tzinfo is None:  # a timestamp_ntz column: taken as UTC
        captured_at = captured_at.replace(tzinfo=UTC)
    if value is None:
        return RawDocument(b"", where, captured_at, "the document column is NULL", position=(index,))
    data = value.encode() if isinstance(value, str) else bytes(value)
    return checked(RawDocument(data, where, captured_at, position=(index,)))


def _check(types: dict[str, str], column: str, kinds: tuple[str, ...], option: str, what: str) -> None:
    """The column exists and has one of ``kinds``; else one error naming it, what there is and what to do."""
    if column not in types:
        close = difflib.get_close_matches(column, list(types), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"the DataFrame has no column {column!r}{hint}; its columns: {', '.join(types) or 'none'}. "
            f"Name the column holding {what} with {option}=..."
        )
    if types[column] not in kinds:
        fix = " (e.g. F.to_json(F.struct(...)) or .cast('string'))" if option == "documents_column" else ""
        raise ConfigError(
            f"the DataFrame's column {column!r} is {types[column]}, but {option} must be {' or '.join(kinds)} "
            f"holding {what}: cast it{fix}"
        )


__all__ = ["DEFAULT_COLUMN", "DataFrameSource", "document", "is_spark_frame", "run_inputs"]
