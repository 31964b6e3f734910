"""The applied-documents ledger (runtime/applied.py): a re-run skips, before parsing, the documents a store already
applied under the same plan and mode, on every store of the conformance list; a changed document or a changed plan
goes through; overwrite, append, --reprocess and commit steps behave as docs/write-contract.md says."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import tidemark
from tests.conformance.stores import STORES, Opener, Store
from tests.conftest import snapshot, write_docs
from tidemark.compile.plan import compile_mapping
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import SinkTerminalError
from tidemark.mapping.loader import load_mapping
from tidemark.raw import open_raw
from tidemark.raw.base import record_from_response
from tidemark.raw.source import RawSource
from tidemark.runtime.applied import plan_hash
from tidemark.sinks.bookkeeping import applied_spec
from tidemark.sinks.duckdb import DuckDBConfig, DuckDBSink
from tidemark.tables import TableSpec

PLAN = compile_mapping(load_mapping("mlb:live_game")[0])
PLAYS = "game.live_game_plays"


@pytest.fixture(params=[pytest.param(s, id=s.name, marks=s.marks) for s in STORES])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    entry: Store = request.param
    return entry.make(request, tmp_path)


def games(feed: dict[str, Any], directory: Path, *pks: int, plays: int = 8, stamp: str = "20240713_020000") -> Path:
    """Small snapshots of the bundled game under other gamePks, as files in ``directory``."""
    write_docs(directory, [snapshot(feed, plays=plays, timestamp=stamp, game_pk=pk) for pk in pks], prefix="g")
    return directory


def tables(opener: Opener) -> dict[str, list[dict[str, Any]]]:
    with opener() as sink:
        out = {}
        for t in PLAN.targets:
            rows = sink.read_table(t.spec).to_pylist()
            out[t.name] = sorted(json.dumps(r, default=str, sort_keys=True) for r in rows)
        return out  # type: ignore[return-value]


def ledger(opener: Opener) -> list[dict[str, Any]]:
    with opener() as sink:
        return sorted(sink.read_table(applied_spec()).to_pylist(), key=lambda r: (r["plan_hash"], r["origin"]))


def run(opener: Opener, inputs: Any, plan: Any = PLAN, **kwargs: Any) -> tidemark.RunResult:
    with opener() as sink:
        result = tidemark.run(plan, inputs, sink, **kwargs)
    assert result.ok, (result.rejected, result.row_errors[:3])
    return result


def test_a_rerun_skips_applied_documents_and_lets_changes_through(
    store: Opener, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    first = games(feed_747175, tmp_path / "a", 1, 2)
    result = run(store, first)
    assert (result.documents, result.unchanged_documents, result.tables[PLAYS].inserted) == (2, 0, 16)
    before = tables(store)
    assert len(ledger(store)) == 2

    again = run(store, first)  # nothing parsed: zero documents, zero rows seen, the tables as they were
    assert (again.documents, again.unchanged_documents, again.counts.rows_seen) == (0, 2, 0)
    assert tables(store) == before

    newer = games(feed_747175, tmp_path / "b", 2, plays=10, stamp="20240713_030000")
    mixed = run(store, [first / "g_0000.json.gz", newer / "g_0000.json.gz"])  # game 1 as before, game 2 newer
    assert (mixed.documents, mixed.unchanged_documents) == (1, 1)
    assert (mixed.tables[PLAYS].inserted, mixed.tables[PLAYS].updated) == (2, 8)

    other_plan = dataclasses.replace(PLAN, source_name="live_game_v2")  # a changed mapping: another plan hash
    replanned = run(store, first, plan=other_plan)
    assert (replanned.documents, replanned.unchanged_documents) == (2, 0)
    assert replanned.tables[PLAYS].skipped == 8  # game 2's older snapshot: the contract still decides each row
    assert len(ledger(store)) == 5
    assert run(store, first, plan=other_plan).unchanged_documents == 2

    over = run(store, first, mode="overwrite")  # never skips; the ledger is emptied with the tables
    assert (over.documents, over.unchanged_documents) == (2, 0)
    assert [(r["plan_hash"], r["mode"]) for r in ledger(store)] == [(plan_hash(PLAN), "upsert")] * 2


def test_reprocess_overwrite_and_append(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    opener = DuckOpener(tmp_path / "t.duckdb")
    docs = games(feed_747175, tmp_path / "a", 1, 2)
    run(opener, docs)
    forced = run(opener, docs, reprocess=True)
    assert (forced.documents, forced.unchanged_documents, forced.tables[PLAYS].unchanged) == (2, 0, 16)

    other = games(feed_747175, tmp_path / "b", 3)
    over = run(opener, other, mode="overwrite")  # never skips; empties the ledger with the tables
    assert (over.documents, over.tables[PLAYS].deleted) == (1, 16)
    assert [r["origin"].endswith("g_0000.json.gz") for r in ledger(opener)] == [True]
    assert [r["mode"] for r in ledger(opener)] == ["upsert"]  # what an overwrite stored, an upsert would
    assert run(opener, docs).documents == 2  # the overwrite removed games 1 and 2: they go through again
    assert run(opener, other).unchanged_documents == 1

    once = run(opener, docs, mode="append_once")  # applied by upsert: an append_once of them changes nothing
    assert (once.documents, once.unchanged_documents) == (2, 0)  # recorded per mode: parsed once under append_once
    assert run(opener, docs, mode="append_once").unchanged_documents == 2


def test_append_never_skips(tmp_path: Path) -> None:
    opener = DuckOpener(tmp_path / "t.duckdb")
    doc = [{"id": 1, "ts": "2024-07-13T02:00:00Z"}]
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "source: {name: points, timestamp: {path: $.ts}}\n"
        "targets:\n  - table: s.points\n    rows: $\n    fields:\n      - {name: id, path: $.id, type: int}\n"
    )
    for _ in (1, 2):
        result = run(opener, [json.dumps(doc[0]).encode()], plan=mapping, mode="append")
        assert (result.documents, result.unchanged_documents, result.tables["s.points"].inserted) == (1, 0, 1)
    with opener() as sink:
        assert sink.read_table(points_spec(mapping)).num_rows == 2
        with pytest.raises(SinkTerminalError, match="does not exist"):
            sink.read_table(applied_spec())


def test_raw_records_reuse_their_content_hash(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    raw = open_raw(f"duckdb:{tmp_path / 'raw.duckdb'}", create=True)
    when = datetime(2024, 7, 13, 3, tzinfo=UTC)
    records = [
        record_from_response(
            "game", "liveGameV1", json.dumps(snapshot(feed_747175, plays=5, game_pk=pk)).encode(), when
        )
        for pk in (1, 2)
    ]
    raw.append(records)
    opener = DuckOpener(tmp_path / "t.duckdb")
    assert run(opener, RawSource(raw)).documents == 2
    assert {r["document_hash"] for r in ledger(opener)} == {r.content_hash for r in records}
    again = run(opener, RawSource(raw))
    assert (again.documents, again.unchanged_documents) == (0, 2)
    raw.close()


class FailingStep(DuckDBSink):
    """A real DuckDB sink whose write of the second game's plays fails (an interrupted run)."""

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        if spec.qualified == PLAYS and 2 in rows.column("game_pk").to_pylist():
            raise SinkTerminalError("disk full")
        return super().write(spec, rows, scopes, mode)


def test_commit_steps_keep_finished_work_and_a_rerun_resumes(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    docs = games(feed_747175, tmp_path / "a", 1, 2, 3)
    whole = DuckOpener(tmp_path / "whole.duckdb")
    run(whole, docs)
    db = tmp_path / "steps.duckdb"
    with FailingStep(DuckDBConfig(path=str(db))) as sink, pytest.raises(SinkTerminalError, match="disk full"):
        tidemark.run(PLAN, docs, sink, commit_every=1, batch_documents=1)
    stepped = DuckOpener(db)
    assert len(ledger(stepped)) == 1  # game 1's step committed, rows and ledger together
    resumed = run(stepped, docs, commit_every=1)
    assert (resumed.documents, resumed.unchanged_documents) == (2, 1)
    assert tables(stepped) == tables(whole)
    assert len(ledger(stepped)) == 3


def test_commit_steps_need_a_mode_that_can_resume(tmp_path: Path) -> None:
    with pytest.raises(tidemark.ConfigError, match="needs --mode upsert or append_once, not overwrite"):
        tidemark.run(PLAN, [], f"duckdb:{tmp_path / 't.duckdb'}", mode="overwrite", commit_every=10)


def test_the_plan_hash_is_stable_and_tells_plans_apart() -> None:
    again = compile_mapping(load_mapping("mlb:live_game")[0])
    assert plan_hash(again) == plan_hash(PLAN)
    assert plan_hash(dataclasses.replace(PLAN, source_name="x")) != plan_hash(PLAN)


def points_spec(mapping: Path) -> TableSpec:
    return compile_mapping(load_mapping(mapping)[0]).targets[0].spec


class DuckOpener:
    """Opens a DuckDB file (picklable like the conformance openers)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __call__(self) -> DuckDBSink:
        return DuckDBSink(DuckDBConfig(path=str(self.path)))
