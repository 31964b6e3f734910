"""``tidemark.write``: any Arrow-exporting table -> one table in a sink, under the same write contract as a run.

A mapping run is "documents -> Arrow -> write"; this is "any table -> the same write": the same ``prepare`` (NULL
refusal, content hash, in-batch reduction), the same ``Sink.write`` per chunk, all chunks in one
:class:`~tidemark.runtime.transaction.Transaction` (the run's)::

    with Transaction(sink, [spec]) as tx:     # begin, ensure the table
        for chunk in input:                   # batch_rows rows at a time, never the whole input
            conform -> compute the key -> refuse incomplete rows -> prepare -> tx.write; tx.refuse(refused rows)
    # committed; or rolled back on any error: the target is untouched

Duplicate keys inside one chunk are reduced by ``prepare`` (newest wins, then the greater content hash). A key
seen in an earlier chunk of the same write is written in a second ``Sink.write`` call of that chunk, so the
contract resolves it against the row written before and the :class:`~tidemark.contract.keys.KeyReport` can say how.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping as MappingABC
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.counts import WriteCounts
from tidemark.contract.keys import KeyRecipe, KeyReport, compute_keys, incomplete_reasons
from tidemark.contract.prepare import RowError, prepare
from tidemark.errors import ConfigError, ContractError
from tidemark.history.ledger import write_record
from tidemark.keyspec import KeySpec
from tidemark.runtime.result import NullReporter, Reporter, RunResult
from tidemark.runtime.transaction import Transaction, retry_conflicts
from tidemark.sinks import open_sink
from tidemark.sinks.base import Sink
from tidemark.write.config import WriteConfig, WriteOptions, connection_sink, load_write_config, resolve
from tidemark.write.inputs import Chunk, Locator, chunks, drop_origin, is_pandas, open_data
from tidemark.write.inputs import Source as InputSource
from tidemark.write.plan import WritePlan, build_plan, conform

#: rows per chunk: bounds memory whatever the input size (a chunk is prepared and written as one batch)
DEFAULT_BATCH_ROWS = 500_000
ROW = "_tm_row"  # the global row number of each row, carried while a chunk is processed

#: the result of a write: the result of a run, with one table (kept as a name for the users of tidemark.write)
WriteResult = RunResult
#: a write's reporter is a run's (kept as a name for the users of tidemark.write)
WriteReporter = Reporter


def write(
    data: Any,
    sink: str | Sink | Any | None = None,
    table: str | None = None,
    *,
    mode: str | None = None,
    keys: Sequence[str] | str | None = None,
    timestamp: str | None = None,
    dedup: str | None = None,
    key: KeySpec | KeyRecipe | MappingABC[str, Any] | None = None,
    config: WriteConfig | MappingABC[str, Any] | str | Path | None = None,
    connections: MappingABC[str, Any] | None = None,
    connection: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    reporter: Reporter | None = None,
) -> RunResult:
    """Write ``data`` to ``table`` in ``sink`` under the write contract; all-or-nothing on transactional sinks.

    - ``data``: a pyarrow Table / RecordBatch / RecordBatchReader / list of batches, a pandas DataFrame, anything
      with ``__arrow_c_stream__`` (polars, DuckDB results), or a Spark DataFrame (fetched to the driver one partition
      at a time). Streamed ``batch_rows`` rows at a time.
    - ``mode``: overwrite | append | append_once | upsert. ``upsert`` and ``append_once`` need ``keys`` (or ``key``).
    - ``timestamp``: the column deciding which version of a row is newer (a time, a date, a number, or ISO 8601
      strings); without it an upsert replaces a stored row whenever the content differs.
    - ``dedup``: ``newest_wins`` (default) reduces duplicate keys in the input by the contract; ``error`` refuses them.
    - ``key``: ``{"name": "match_id", "from": [...], "trim": True, ...}`` computes a deterministic key column.
    - ``config``: a ``write:`` block (dict, YAML text or file) with ``connections`` naming its connections.
    - ``connection``: instead of ``sink``, a name of ``connections`` or, without them, of the project's
      (``tidemark.yaml``, docs/project.md).

    Rows without a complete key or timestamp are refused (``result.row_errors``, quarantined); anything else that is
    wrong raises before the transaction commits, leaving the target untouched. The result is a one-table
    :class:`RunResult`: ``result.inserted``, ``result.keys.coverage``, ... are that table's. A conflict with another
    writer starts the write over when ``data`` can be read again (a table, batches, a pandas DataFrame).
    """
    if connection is not None:
        if sink is not None:
            raise ConfigError(f"give sink= or connection={connection!r}, not both")
        sink = connection_sink(connection, connections)
    args = {
        "sink": sink,
        "table": table,
        "mode": mode,
        "keys": (tuple(keys) if not isinstance(keys, str) else keys) if keys is not None else None,
        "timestamp": timestamp,
        "dedup": dedup,
        "key": key,
    }
    opts = resolve(load_write_config(config) if config is not None else None, connections, args)
    if batch_rows < 1:
        raise ContractError(f"batch_rows must be at least 1, not {batch_rows}")
    opened = [_open(data)]  # serves the first attempt; a retry opens ``data`` again
    plan = build_plan(drop_origin(opened[0].schema), opts.table, opts.mode, opts.keys, opts.timestamp, opts.key)
    reporter = reporter or NullReporter()
    owns_sink = not isinstance(opts.sink, Sink)
    target: Sink = open_sink(opts.sink) if owns_sink else opts.sink
    run_id = uuid.uuid4().hex[:12]
    if (planned := getattr(reporter, "planned", None)) is not None:  # observers that describe the table (lineage)
        planned(plan, target.display)
    reporter.start(opened[0].total_bytes, opened[0].files, opened[0].total_rows)

    def attempt() -> RunResult:
        source = opened.pop() if opened else _open(data)
        result = RunResult.start(run_id, target.display, opts.mode, {plan.spec.qualified: plan.spec})
        result.keys[plan.spec.qualified] = KeyReport(strategy=opts.dedup, column=opts.key.name if opts.key else None)
        with (
            write_record(target, result, plan.spec, _described(data, source)) as record,  # _tidemark.runs
            Transaction(target, [plan.spec], run_id=run_id, schema_from="data") as tx,
        ):
            writer = _Writer(tx, plan, opts, result)
            locator = Locator()
            for chunk in chunks(source, batch_rows, locator):
                writer.write_chunk(chunk, locator)
                reporter.advance(rows=chunk.table.num_rows)
            reporter.advance(bytes_read=source.total_bytes)  # the files' bytes (0 for a table in memory)
            writer.finish()
            record.write(tx)  # the run ledger's row, committed with the rows
        return result

    try:
        result = retry_conflicts(attempt, replayable=_replayable(data))
    finally:
        if owns_sink:
            target.close()
    reporter.finish(result)
    return result


def _open(data: Any) -> InputSource:
    """``data`` as batches: a Spark DataFrame fetched partition by partition (engines/spark.py), else ``open_data``."""
    if _is_spark(data):
        from tidemark.engines.spark import dataframe_batches

        schema, batches = dataframe_batches(data)
        return InputSource(schema, batches)
    return open_data(data)


def _described(data: Any, source: InputSource) -> dict[str, Any]:
    """The ledger's ``inputs`` of a write: what was given, and how many rows and files when known."""
    given = "files" if isinstance(data, InputSource) else f"{type(data).__module__}.{type(data).__name__}"
    return {"data": given, "rows": source.total_rows, "files": source.files or None}


def _is_spark(data: Any) -> bool:
    """A pyspark DataFrame (classic or Spark Connect), recognized without importing pyspark."""
    return type(data).__module__.startswith("pyspark.") and type(data).__name__ == "DataFrame"


def _replayable(data: Any) -> bool:
    """Whether ``data`` gives the same rows when opened again (a reader or a DuckDB result is consumed once; a Spark
    DataFrame is a query, computed again)."""
    if isinstance(data, pa.Table | pa.RecordBatch) or is_pandas(data) or _is_spark(data):
        return True
    return isinstance(data, list | tuple) and all(isinstance(b, pa.RecordBatch | pa.Table) for b in data)


class _Writer:
    """The per-chunk steps of one write, and what it remembers across chunks (keys already written)."""

    def __init__(self, tx: Transaction, plan: WritePlan, opts: WriteOptions, result: RunResult) -> None:
        self.tx = tx
        self.plan = plan
        self.opts = opts
        self.result = result
        self.counts = result.tables[plan.spec.qualified]
        self.report = result.keys[plan.spec.qualified]
        self.keys = plan.spec.primary_key
        self.seen: list[pa.Table] = []  # key columns + ROW of the rows written by earlier chunks
        self.reduce = bool(self.keys) and opts.mode != "append"
        self.wrote = False

    def finish(self) -> None:
        """An overwrite with no rows at all still empties the table."""
        if not self.wrote and self.opts.mode == "overwrite":
            empty = prepare(pa.Table.from_pylist([], self.plan.target), self.plan.spec, "overwrite")
            self.counts.deleted += self.tx.write(self.plan.spec, empty.rows, None, "overwrite").deleted

    def write_chunk(self, chunk: Chunk, locate: Locator) -> None:
        result = self.result
        result.rows += chunk.table.num_rows
        self.report.rows += chunk.table.num_rows
        table = conform(chunk.table, self.plan, locate, chunk.start)
        table = table.append_column(ROW, chunk.rowids())
        if self.plan.key is not None:  # from the values as read (a list stays a list, not its JSON text)
            keys = compute_keys(chunk.table, self.plan.key)
            table = table.add_column(0, self.plan.key.name, keys)
        table, errors = self._refuse_incomplete(table, chunk, locate)
        if self.opts.dedup == "error" and self.keys:
            self._refuse_duplicates(table, locate)
        repeat = self._repeats(table) if self.reduce else None
        if repeat is None:
            self._apply(table, errors, again=False)
        else:
            self._apply(table.filter(pc.invert(repeat)), errors, again=False)
            self._apply(table.filter(repeat), [], again=True)

    def _refuse_incomplete(self, table: pa.Table, chunk: Chunk, locate: Locator) -> tuple[pa.Table, list[RowError]]:
        """Rows with a NULL key part (or no complete computed key) or a NULL timestamp: error rows, not written."""
        key = self.plan.key
        key_columns = list(dict.fromkeys([*([key.name] if key else []), *self.keys]))
        ts = self.plan.spec.timestamp
        bad = None
        for column in [*key_columns, *([ts] if ts else [])]:
            missing = pc.is_null(table.column(column))
            bad = missing if bad is None else pc.or_(bad, missing)
        if bad is None or not pc.any(bad).as_py():
            return table, []
        refused = table.take(pc.indices_nonzero(bad))
        at = pc.subtract(refused.column(ROW), chunk.start)  # positions in the chunk as read (lists still lists)
        computed = incomplete_reasons(chunk.table, key, at.combine_chunks()) if key else []
        data_columns = [c for c in refused.column_names if c != ROW and (key is None or c != key.name)]
        errors = []
        for i, row in enumerate(refused.to_pylist()):
            reasons = [
                f"key column {k!r} is NULL" for k in key_columns if row[k] is None and (key is None or k != key.name)
            ]
            if key is not None and row[key.name] is None:
                reasons.insert(0, computed[i])
            self.report.incomplete += bool(reasons)
            if ts is not None and row[ts] is None:
                reasons.append(f"{ts}: no timestamp: the write contract needs one to decide which row is newer")
            key_values = {k: row[k] for k in key_columns} if key is None else {c: row[c] for c in key.columns}
            errors.append(
                RowError(
                    self.plan.spec.qualified,
                    key_values,
                    "; ".join(reasons),
                    {c: row[c] for c in data_columns},
                    locate(row[ROW]),
                )
            )
        return table.filter(pc.invert(bad)), errors

    def _refuse_duplicates(self, table: pa.Table, locate: Locator) -> None:
        """``dedup="error"``: a key twice in the input (in this chunk, or again after an earlier one) is an error."""
        keys = list(self.keys)
        groups = table.select([*keys, ROW]).group_by(keys).aggregate([(ROW, "count"), (ROW, "min"), (ROW, "max")])
        twice = groups.filter(pc.greater(groups.column(f"{ROW}_count"), 1))
        if twice.num_rows:
            first = twice.sort_by(f"{ROW}_min").slice(0, 1).to_pylist()[0]
            self._duplicate({k: first[k] for k in keys}, first[f"{ROW}_min"], first[f"{ROW}_max"], locate)
        if self.seen:
            pairs = table.select([*keys, ROW]).join(
                pa.concat_tables(self.seen), keys=keys, join_type="inner", right_suffix="_seen"
            )
            if pairs.num_rows:
                first = pairs.sort_by(ROW).slice(0, 1).to_pylist()[0]
                self._duplicate({k: first[k] for k in keys}, first[f"{ROW}_seen"], first[ROW], locate)

    def _duplicate(self, key: dict[str, Any], a: int, b: int, locate: Locator) -> None:
        raise ContractError(
            f"duplicate key {_show(key)} in the input: {locate(a)} and {locate(b)} (dedup='error'); "
            "nothing was written. Remove the duplicates, or use dedup='newest_wins' to keep the newest"
        )

    def _repeats(self, table: pa.Table) -> pa.Array | None:
        """Rows whose key was written by an earlier chunk of this write (None when there are none)."""
        if not self.seen or table.num_rows == 0:
            return None
        keys = list(self.keys)
        seen = pa.concat_tables(self.seen).select(keys).combine_chunks()
        hits = table.select([*keys, ROW]).join(seen, keys=keys, join_type="left semi").column(ROW)
        if len(hits) == 0:
            return None
        return pc.is_in(table.column(ROW), value_set=hits.combine_chunks())

    def _apply(self, table: pa.Table, errors: list[RowError], *, again: bool) -> None:
        """Prepare and write one set of rows; ``again``: rows whose keys an earlier chunk wrote already."""
        spec, result = self.plan.spec, self.result
        prepared = prepare(table, spec, self.opts.mode)
        counts = WriteCounts()
        if table.num_rows:  # (an overwrite whose rows were all refused still empties the table: see finish)
            counts = self.tx.write(spec, prepared.rows, None, self.opts.mode)
            self.wrote = True
        counts += prepared.counts
        counts.error += len(errors)
        self.counts += counts
        report = self.report
        if again:  # every row here repeats a key: the contract resolved it against the row written before
            report.duplicates += table.num_rows
            report.dropped_identical += counts.unchanged
            report.dropped_older += counts.skipped
            report.replaced += counts.updated
        else:
            report.add_reduced(prepared.counts)
        if self.reduce and prepared.rows.num_rows:  # remember the keys written (with rows, for dedup="error")
            remembered = table if self.opts.dedup == "error" else prepared.rows
            self.seen.append(remembered.select([*self.keys, ROW] if self.opts.dedup == "error" else list(self.keys)))
        errors = errors + prepared.errors
        result.row_errors.extend(errors)
        self.tx.refuse(errors)


def _show(key: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in key.items())
