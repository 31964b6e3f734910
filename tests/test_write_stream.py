"""Inputs of tidemark.write: readers stream chunk by chunk in one transaction; duplicates across chunks are counted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa

import tidemark
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.sinks.duckdb import DuckDBConfig, DuckDBSink
from tidemark.tables import TableSpec

SCHEMA = pa.schema([("id", pa.int64()), ("v", pa.string()), ("ts", pa.int64())])


class RecordingSink(DuckDBSink):
    """A real DuckDB sink that also notes when it writes and commits."""

    def __init__(self, path: Path, events: list[str]) -> None:
        super().__init__(DuckDBConfig(path=str(path)))
        self.events = events

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        self.events.append(f"write {rows.num_rows}")
        return super().write(spec, rows, scopes, mode)

    def commit(self) -> None:
        self.events.append("commit")
        super().commit()


def batches(events: list[str], n: int) -> Iterator[pa.RecordBatch]:
    for i in range(n):
        events.append(f"read {i}")
        yield pa.RecordBatch.from_pylist([{"id": i, "v": f"x{i}", "ts": 1}, {"id": 100 + i, "v": "y", "ts": 1}], SCHEMA)


def test_a_reader_is_streamed_chunk_by_chunk_inside_one_transaction(tmp_path: Path) -> None:
    events: list[str] = []
    reader = pa.RecordBatchReader.from_batches(SCHEMA, batches(events, 3))
    with RecordingSink(tmp_path / "s.duckdb", events) as sink:
        result = tidemark.write(reader, sink, "t.x", mode="upsert", keys="id", timestamp="ts", batch_rows=2)
    # the last write before the commit is the run ledger's row (_tidemark.runs), in the same transaction
    assert events == ["read 0", "write 2", "read 1", "write 2", "read 2", "write 2", "write 1", "commit"]
    assert (result.rows, result.inserted) == (6, 6)


def test_arrow_stream_objects_lists_of_batches_and_frames(tmp_path: Path) -> None:
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    relation = duckdb.sql("SELECT range AS id, 'r' || range AS v, 1 AS ts FROM range(5)")  # __arrow_c_stream__
    assert tidemark.write(relation, url, "t.x", mode="upsert", keys="id", timestamp="ts").inserted == 5
    parts = [pa.RecordBatch.from_pylist([{"id": i, "v": "b", "ts": 2}], SCHEMA) for i in range(3, 7)]
    result = tidemark.write(parts, url, "t.x", mode="upsert", keys="id", timestamp="ts")
    assert (result.inserted, result.updated) == (2, 2)
    frame = pl.DataFrame({"id": [7], "v": ["p"], "ts": [3]})
    assert tidemark.write(frame, url, "t.x", mode="upsert", keys="id", timestamp="ts").inserted == 1
    with tidemark.open_sink(url) as sink:
        assert result.spec is not None
        assert sink.read_table(result.spec).num_rows == 8


def test_duplicates_across_chunks_are_resolved_by_the_contract_and_reported(tmp_path: Path) -> None:
    data = pa.Table.from_pylist(
        [
            {"id": 1, "v": "old", "ts": 1},
            {"id": 2, "v": "same", "ts": 1},
            {"id": 1, "v": "new", "ts": 2},  # a later chunk: newer, replaces the row written before
            {"id": 2, "v": "same", "ts": 1},  # identical
            {"id": 1, "v": "older", "ts": 0},  # older than what this write already wrote
        ],
        schema=SCHEMA,
    )
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    chunked = tidemark.write(data, url, "t.x", mode="upsert", keys="id", timestamp="ts", batch_rows=2)
    report = chunked.keys
    assert (report.duplicates, report.replaced, report.dropped_identical, report.dropped_older) == (3, 1, 1, 1)
    assert (chunked.inserted, chunked.updated, chunked.unchanged, chunked.skipped) == (2, 1, 1, 1)
    whole = tidemark.write(data, f"duckdb:{tmp_path / 'w.duckdb'}", "t.x", mode="upsert", keys="id", timestamp="ts")
    assert (whole.keys.duplicates, whole.keys.dropped_identical, whole.keys.dropped_older) == (3, 1, 2)
    assert (whole.inserted, whole.unchanged, whole.skipped) == (2, 1, 2)
    for name in ("s", "w"):
        with tidemark.open_sink(f"duckdb:{tmp_path / name}.duckdb") as sink:
            assert chunked.spec is not None
            assert sorted(sink.read_table(chunked.spec).to_pylist(), key=lambda r: r["id"]) == [
                {"id": 1, "v": "new", "ts": 2},
                {"id": 2, "v": "same", "ts": 1},
            ]


def test_overwrite_with_no_rows_empties_the_table(tmp_path: Path) -> None:
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    tidemark.write(pa.Table.from_pylist([{"id": 1, "v": "a", "ts": 1}], schema=SCHEMA), url, "t.x", mode="append")
    result = tidemark.write(SCHEMA.empty_table(), url, "t.x", mode="overwrite")
    assert (result.rows, result.deleted) == (0, 1)


def test_pandas_frames_key_like_arrow_even_when_nulls_made_floats(tmp_path: Path) -> None:
    """pandas turns an int column with a missing value into floats; the computed key does not change."""
    url = f"duckdb:{tmp_path / 's.duckdb'}"
    key: dict[str, Any] = {"name": "k", "from": ["team", "season"]}
    ints = pa.table({"team": ["A", "B"], "season": pa.array([2024, 2025], pa.int64()), "ts": [1, 1]})
    first = tidemark.write(ints, url, "t.ints", mode="upsert", key=key, timestamp="ts")
    frame = pd.DataFrame({"team": ["A", "C"], "season": [2024, None], "ts": [1, 1]})
    assert frame["season"].dtype.kind == "f"
    second = tidemark.write(frame, url, "t.floats", mode="upsert", key=key, timestamp="ts")
    assert (first.inserted, second.inserted, second.error) == (2, 1, 1)
    assert second.row_errors[0].reason == "k: key input 'season' is NULL (a key is never made from NULL)"
    assert second.row_errors[0].origin == "row 1"
    with tidemark.open_sink(url) as sink:
        assert first.spec is not None and second.spec is not None
        a = {r["team"]: r["k"] for r in sink.read_table(first.spec).to_pylist()}
        b = {r["team"]: r["k"] for r in sink.read_table(second.spec).to_pylist()}
    assert a["A"] == b["A"]


def test_the_result_is_the_result_of_a_run_with_one_table(tmp_path: Path) -> None:
    result = tidemark.write(pa.table({"id": [1, 2]}), f"duckdb:{tmp_path / 's.duckdb'}", "t.x", mode="append")
    assert isinstance(result, tidemark.RunResult) and tidemark.WriteResult is tidemark.RunResult
    assert isinstance(result.counts, tidemark.WriteCounts) and list(result.tables) == ["t.x"]
    counts = {"inserted": 2, "updated": 0, "unchanged": 0, "skipped": 0, "deleted": 0, "error": 0}
    assert result.counts.as_dict() == result.tables["t.x"].as_dict() == result.as_dict()["counts"] == counts
    assert (result.inserted, result.updated, result.error) == (2, 0, 0)
    assert result.counts == tidemark.WriteCounts(inserted=2) and result.rows_seen == 2
    assert result.summary()["table"] == "t.x" and result.table == "t.x" and result.ok
