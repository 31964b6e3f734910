"""The lake sinks' fast lane (sinks/fastlane.py) and Parquet's rewrite of only the touched files.

The fast lane decides unchanged / older / newer batches from the stored rows' key, scope, timestamp and hash; the
contract's SQL path takes the rest. Mixed in one transaction (a fast batch, then a batch of the same game that
needs the SQL), every store must still give DuckDB's counts batch by batch and DuckDB's table.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance.tables import PLAYS
from tidemark.contract.prepare import prepare
from tidemark.runtime.transaction import Transaction
from tidemark.sinks import open_sink

TS = pa.timestamp("us", "UTC")
SCHEMA = pa.schema([("game_pk", pa.int64()), ("at_bat_index", pa.int32()), ("event", pa.string()), ("captured_at", TS)])
Snapshot = tuple[int, int, dict[int, str]]  # game, hour, at_bat_index -> event


def hour(h: int) -> datetime:
    return datetime(2024, 7, 13, h, tzinfo=UTC)


def batch(snapshots: list[Snapshot]) -> tuple[pa.Table, pa.Table]:
    rows = [
        {"game_pk": g, "at_bat_index": i, "event": e, "captured_at": hour(h)}
        for g, h, plays in snapshots
        for i, e in plays.items()
    ]
    scopes = pa.table({"game_pk": [g for g, _, _ in snapshots], "captured_at": [hour(h) for _, h, _ in snapshots]})
    return pa.Table.from_pylist(rows, schema=SCHEMA), scopes.cast(
        pa.schema([("game_pk", pa.int64()), ("captured_at", TS)])
    )


def run(url: str, transactions: list[list[list[Snapshot]]]) -> tuple[list[dict[str, int]], list[dict[str, Any]]]:
    """Each transaction's batches written in one Transaction; the counts of every write and the final table."""
    counts = []
    for batches in transactions:
        sink = open_sink(url)
        try:
            with Transaction(sink, [PLAYS], run_id="fastlane") as tx:
                for snapshots in batches:
                    rows, scopes = batch(snapshots)
                    prepared = prepare(rows, PLAYS, "upsert")
                    written = tx.write(PLAYS, prepared.rows, scopes, "upsert")
                    written += prepared.counts
                    counts.append(written.as_dict())
        finally:
            sink.close()
    sink = open_sink(url)
    try:
        table = sink.read_table(PLAYS).to_pylist()
    finally:
        sink.close()
    return counts, sorted(table, key=lambda r: (r["game_pk"], r["at_bat_index"]))


snapshots = st.tuples(
    st.sampled_from([1, 2, 3]),
    st.integers(1, 3),
    st.dictionaries(st.integers(0, 3), st.sampled_from(["out", "single"]), max_size=3),
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(st.lists(snapshots, min_size=1, max_size=3), min_size=1, max_size=3), min_size=1, max_size=3))
def test_lake_stores_give_duckdbs_counts_and_table_whatever_the_lane(transactions: list[list[list[Snapshot]]]) -> None:
    transactions = [*transactions, transactions[0]]  # a run again: mostly unchanged or older
    with tempfile.TemporaryDirectory() as tmp:
        expected = run(f"duckdb:{Path(tmp) / 'db.duckdb'}", transactions)
        for kind in ("delta", "parquet", "csv"):
            assert run(f"{kind}:{Path(tmp) / kind}", transactions) == expected, kind


def test_the_same_snapshot_again_is_unchanged_and_writes_nothing(tmp_path: Path) -> None:
    games = [[[(g, 1, {0: "out", 1: "single"}) for g in (1, 2)]]]
    for kind in ("delta", "parquet"):
        url = f"{kind}:{tmp_path / kind}"
        run(url, games)
        files = sorted(p for p in (tmp_path / kind).rglob("*") if p.is_file() and "_tidemark" not in p.parts)
        counts, table = run(url, games)
        assert counts == [{"inserted": 0, "updated": 0, "unchanged": 4, "skipped": 0, "deleted": 0, "error": 0}]
        assert len(table) == 4
        after = sorted(p for p in (tmp_path / kind).rglob("*") if p.is_file() and "_tidemark" not in p.parts)
        assert after == files, kind  # no data file and no Delta log entry


def test_parquet_rewrites_only_the_files_holding_replaced_rows(tmp_path: Path) -> None:
    url = f"parquet:{tmp_path}"
    run(url, [[[(1, 1, {0: "out", 1: "single"})]], [[(2, 1, {0: "out"})]]])  # one file per run: game 1, game 2
    by_game = {frozenset(_games(tmp_path, f)): f for f in _files(tmp_path)}
    counts, table = run(url, [[[(1, 2, {0: "single"})]]])  # a newer snapshot of game 1: one play is gone
    assert counts == [{"inserted": 0, "updated": 1, "unchanged": 0, "skipped": 0, "deleted": 1, "error": 0}]
    assert [(r["game_pk"], r["at_bat_index"], r["event"]) for r in table] == [(1, 0, "single"), (2, 0, "out")]
    after = _files(tmp_path)
    assert set(by_game) == {frozenset({1}), frozenset({2})}
    assert by_game[frozenset({2})] in after  # game 2's file is kept as it was
    assert by_game[frozenset({1})] not in after  # game 1's file was replaced
    assert len(after) == 2


def _files(root: Path) -> list[str]:
    manifest = json.loads((root / "_tidemark" / "manifest.json").read_text())
    return [f["path"] for f in manifest["tables"]["t.plays"]["files"]]


def _games(root: Path, path: str) -> set[int]:
    import pyarrow.parquet as pq

    return set(pq.read_table(root / path, columns=["game_pk"]).column("game_pk").to_pylist())
