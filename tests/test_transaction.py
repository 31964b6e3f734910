"""The one transaction loop: commit or roll back as a whole, and start over after a conflict with another writer by
reading the source again (never a copy of it); a stream that cannot be read again is not retried. The engine
registry names the engine a run uses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tidemark
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.documents import Position, RawDocument
from tidemark.engines import ENGINES, open_engine
from tidemark.engines.local import LocalEngine
from tidemark.errors import ConfigError, SinkConflictError
from tidemark.mapping.loader import parse_mapping
from tidemark.runtime.transaction import retry_conflicts
from tidemark.sinks.base import META_SCHEMA
from tidemark.sinks.duckdb import DuckDBConfig, DuckDBSink
from tidemark.sources import DocumentsSource
from tidemark.tables import TableSpec

MAPPING = """
source: {name: scores, timestamp: {path: $.at}}
targets:
  - table: s.points
    rows: $.points[*]
    primary_key: [id]
    fields:
      - {name: id, path: id, type: int}
      - {name: v, path: v, type: int}
"""
PLAN = tidemark.compile_mapping(parse_mapping(MAPPING))


def docs() -> list[bytes]:
    at = "2024-05-01T10:00:00Z"
    pages = [[{"id": 1, "v": 10}, {"id": 2, "v": 20}], [{"id": 3, "v": 30}]]
    return [json.dumps({"at": at, "points": p}).encode() for p in pages] + [b"not json"]


class ConflictingSink(DuckDBSink):
    """A real DuckDB sink whose first ``conflicts`` writes fail as a deadlock would (fault injection)."""

    def __init__(self, path: Path, conflicts: int = 1) -> None:
        super().__init__(DuckDBConfig(path=str(path)))
        self.conflicts = conflicts
        self.raised = 0
        self.writes = 0

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        if spec.schema == META_SCHEMA:  # tidemark's own tables (the run ledger records the failed run after it)
            return super().write(spec, rows, scopes, mode)
        self.writes += 1
        if self.raised < self.conflicts:
            self.raised += 1
            raise SinkConflictError(f"deadlock detected while writing {spec.qualified}")
        return super().write(spec, rows, scopes, mode)


class CountingSource(DocumentsSource):
    """Documents in memory that count how often they are read."""

    def __init__(self, documents: list[bytes]) -> None:
        super().__init__(documents)
        self.reads = 0

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        self.reads += 1
        return super().read(after)


def stored(path: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_conflict_starts_the_run_over_and_reads_the_source_again(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    sink, source = ConflictingSink(db), CountingSource(docs())
    result = tidemark.run(PLAN, source, sink, batch_documents=1)
    sink.close()
    assert (sink.raised, source.reads) == (1, 2)
    assert result.tables["s.points"].as_dict() == {**WriteCounts().as_dict(), "inserted": 3}  # not 3 + what failed
    assert [r.origin for r in result.rejected] == ["document 2"] and result.documents == 2
    assert stored(db, "SELECT id, v FROM s.points ORDER BY id") == [(1, 10), (2, 20), (3, 30)]
    assert stored(db, "SELECT origin FROM _tidemark.quarantine") == [("document 2",)]  # once: the first try was undone


def test_a_stream_of_documents_is_not_retried_and_says_why(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    sink = ConflictingSink(db)
    with pytest.raises(SinkConflictError, match=r"deadlock detected .*not retried: the input is a stream"):
        tidemark.run(PLAN, (d for d in docs()), sink)
    sink.close()
    assert (sink.raised, sink.writes) == (1, 1)
    # nothing stays, not even the table the rolled-back try created
    assert stored(db, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'points'") == [(0,)]


def test_a_stream_is_read_as_it_is_written_never_copied_first(tmp_path: Path) -> None:
    """Bounded memory: with one document per batch, the first write happens after at most two were read."""
    pulled: list[int] = []

    def stream() -> Iterator[bytes]:
        for i, doc in enumerate(docs()[:2] * 3):
            pulled.append(i)
            yield doc

    seen: list[int] = []

    class Watching(DuckDBSink):
        def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
            if spec.schema != META_SCHEMA:  # not the ledgers' rows (runs, applied documents), written at the end
                seen.append(len(pulled))
            return super().write(spec, rows, scopes, mode)

    sink = Watching(DuckDBConfig(path=str(tmp_path / "t.duckdb")))
    result = tidemark.run(PLAN, stream(), sink, batch_documents=1)
    sink.close()
    assert seen[0] <= 2 and len(seen) == 6 and len(pulled) == 6
    assert result.tables["s.points"].inserted == 3 and result.tables["s.points"].unchanged == 6


def test_conflicts_are_retried_a_bounded_number_of_times() -> None:
    calls: list[int] = []

    def attempt() -> str:
        calls.append(1)
        raise SinkConflictError("serialization failure")

    with pytest.raises(SinkConflictError, match="serialization failure"):
        retry_conflicts(attempt, replayable=True, retries=2)
    assert len(calls) == 3
    assert retry_conflicts(lambda: "done", replayable=False) == "done"


def test_write_starts_over_from_a_table_but_not_from_a_reader(tmp_path: Path) -> None:
    table = pa.table({"id": [1, 2, 2], "v": [1, 2, 3], "ts": [1, 1, 2]})
    sink = ConflictingSink(tmp_path / "w.duckdb")
    result = tidemark.write(table, sink, "s.w", mode="upsert", keys=["id"], timestamp="ts")
    assert sink.raised == 1 and (result.inserted, result.keys.duplicates) == (2, 1)
    sink.conflicts = 2  # one more conflict, now with a reader that is consumed as it is read
    with pytest.raises(SinkConflictError, match="not retried"):
        tidemark.write(table.to_reader(), sink, "s.w", mode="upsert", keys=["id"], timestamp="ts")
    assert sink.raised == 2
    assert sorted(sink.read_table(result.spec).to_pylist(), key=lambda r: r["id"]) == [  # type: ignore[arg-type]
        {"id": 1, "v": 1, "ts": 1},
        {"id": 2, "v": 3, "ts": 2},
    ]
    sink.close()


def test_the_engine_registry_opens_engines_by_name_with_a_did_you_mean() -> None:
    assert set(ENGINES) == {"local", "spark"}
    assert isinstance(open_engine("local", PLAN), LocalEngine)
    with pytest.raises(ConfigError, match=r"unknown engine 'locl' \(did you mean 'local'\?\): use one of local, spark"):
        open_engine("locl", PLAN)


def test_run_names_its_engine_and_refuses_an_unknown_one_before_opening_the_sink(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    result = tidemark.run(PLAN, docs()[:2], f"duckdb:{db}", engine="local")
    assert result.tables["s.points"].inserted == 3
    with pytest.raises(ConfigError, match="unknown engine 'flink'"):
        tidemark.run(PLAN, docs(), f"duckdb:{tmp_path / 'never.duckdb'}", engine="flink")
    assert not (tmp_path / "never.duckdb").exists()
