"""Several batches of a table in one transaction, starting from nothing: the stores' first-load shortcuts (DuckDB and
PostgreSQL insert the rows of a table created by the transaction without classifying them) must give the contract's
answer in the cases where a shortcut would be wrong."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from tests.conformance.conftest import read
from tests.conformance.stores import Opener
from tests.conformance.tables import PLAYS
from tidemark.contract.prepare import prepare
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

T1 = datetime(2024, 7, 13, 1, tzinfo=UTC)
T2 = datetime(2024, 7, 13, 2, tzinfo=UTC)
TS = pa.timestamp("us", "UTC")
ROSTER = TableSpec(  # scoped by game, keyed by player alone: two games may carry the same key
    schema="t",
    name="roster",
    columns=(
        Column("player_id", LogicalType("bigint"), nullable=False),
        Column("game_pk", LogicalType("bigint"), nullable=False),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("player_id",),
    timestamp="captured_at",
    scope=("game_pk",),
)


def one_run(store: Opener, spec: TableSpec, batches: list[tuple[dict[str, list[Any]], list[int]]]) -> list[Any]:
    """Batches of one table in one transaction, as a run writes them (each with the games it covers whole);
    the counts of each batch."""
    sink = store()
    out = []
    try:
        sink.begin()
        sink.ensure_table(spec)
        for data, games in batches:
            n = len(data["captured_at"])
            table = pa.table({c.name: pa.array(data.get(c.name, [None] * n), c.type.arrow) for c in spec.columns})
            at = max(data["captured_at"])
            scopes = pa.table({"game_pk": pa.array(games, pa.int64()), "captured_at": pa.array([at] * len(games), TS)})
            counts = sink.write(spec, prepare(table, spec, "upsert").rows, scopes, "upsert")
            out.append((counts.inserted, counts.updated, counts.deleted))
        sink.commit()
    finally:
        sink.close()
    return out


def test_a_key_without_the_scope_comes_again_from_another_game_in_the_same_run(store: Opener) -> None:
    counts = one_run(
        store,
        ROSTER,
        [
            ({"player_id": [5, 6], "game_pk": [1, 1], "captured_at": [T1, T1]}, [1]),
            ({"player_id": [5], "game_pk": [2], "captured_at": [T2]}, [2]),
        ],
    )
    assert counts == [(2, 0, 0), (0, 1, 0)]
    assert [(r["player_id"], r["game_pk"]) for r in read(store, ROSTER)] == [(5, 2), (6, 1)]


def test_a_game_first_written_by_an_incomplete_snapshot_is_reconciled_later_in_the_run(store: Opener) -> None:
    """An incomplete snapshot (a refused row: its game is not in the scopes) writes rows without a watermark; the
    complete one after it, in the same run, must still replace them and delete the play it no longer has."""
    counts = one_run(
        store,
        PLAYS,
        [
            ({"game_pk": [1, 1, 1], "at_bat_index": [0, 1, 2], "captured_at": [T1] * 3}, []),
            ({"game_pk": [1, 1], "at_bat_index": [0, 1], "captured_at": [T2] * 2}, [1]),
        ],
    )
    assert counts == [(3, 0, 0), (0, 2, 1)]
    assert [(r["at_bat_index"], r["captured_at"]) for r in read(store, PLAYS)] == [(0, T2), (1, T2)]


def test_two_snapshots_of_a_game_in_one_batch_keep_only_the_newest(store: Opener) -> None:
    counts = one_run(
        store,
        PLAYS,
        [({"game_pk": [1, 1, 1, 1], "at_bat_index": [0, 1, 2, 0], "captured_at": [T1, T1, T1, T2]}, [1])],
    )
    assert counts == [(1, 0, 0)]  # plays 1 and 2 are older than the game's newest snapshot: skipped, not stored
    assert [(r["at_bat_index"], r["captured_at"]) for r in read(store, PLAYS)] == [(0, T2)]
