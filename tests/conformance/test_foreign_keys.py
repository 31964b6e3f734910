"""Foreign keys under the contract, the same on every store (contract/orphans.py): a child row whose parent row is
not stored is quarantined with the key it misses; the rest of the run is written; its scope does not reconcile."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pyarrow as pa

from tests.conformance.conftest import read
from tests.conformance.stores import Opener
from tests.conformance.tables import GAMES, PLAYS
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.contract.prepare import prepare
from tidemark.runtime.transaction import Transaction
from tidemark.sinks.bookkeeping import quarantine_spec
from tidemark.tables import Column, ForeignKey, TableSpec
from tidemark.types import LogicalType

TS = pa.timestamp("us", "UTC")
T1, T2 = (datetime(2024, 7, 13, h, tzinfo=UTC) for h in (1, 2))

PLAYS_FK = dataclasses.replace(PLAYS, foreign_keys=(ForeignKey(("game_pk",), "t", "games", ("game_pk",)),))
RUNNERS = TableSpec(
    schema="t",
    name="runners",
    columns=(
        Column("game_pk", LogicalType("bigint"), nullable=False),
        Column("at_bat_index", LogicalType("int"), nullable=False),
        Column("runner_id", LogicalType("int"), nullable=False),
        Column("movement", LogicalType("string")),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("game_pk", "at_bat_index", "runner_id"),
    timestamp="captured_at",
    scope=("game_pk",),
    foreign_keys=(ForeignKey(("game_pk", "at_bat_index"), "t", "plays", ("game_pk", "at_bat_index")),),
)
Batch = tuple[TableSpec, pa.Table, "pa.Table | None"]


def games(pks: list[int], at: datetime) -> pa.Table:
    n = len(pks)
    return pa.table(
        {"game_pk": pa.array(pks, pa.int64()), "status": ["Live"] * n, "captured_at": pa.array([at] * n, TS)}
    )


def plays(rows: list[tuple[int, int]], at: datetime) -> pa.Table:
    return pa.table(
        {
            "game_pk": pa.array([g for g, _ in rows], pa.int64()),
            "at_bat_index": pa.array([a for _, a in rows], pa.int32()),
            "event": ["out"] * len(rows),
            "captured_at": pa.array([at] * len(rows), TS),
        }
    )


def runners(rows: list[tuple[int, int, int]], at: datetime, movement: str = "1B") -> pa.Table:
    return pa.table(
        {
            "game_pk": pa.array([r[0] for r in rows], pa.int64()),
            "at_bat_index": pa.array([r[1] for r in rows], pa.int32()),
            "runner_id": pa.array([r[2] for r in rows], pa.int32()),
            "movement": [movement] * len(rows),
            "captured_at": pa.array([at] * len(rows), TS),
        }
    )


def scopes(pks: list[int], at: datetime) -> pa.Table:
    return pa.table({"game_pk": pa.array(pks, pa.int64()), "captured_at": pa.array([at] * len(pks), TS)})


def run(opener: Opener, batches: list[Batch], mode: Mode = "upsert") -> dict[str, WriteCounts]:
    """One transaction over every table (parents first, as a run's plan orders them), the batches in order."""
    specs = list(dict.fromkeys(spec for spec, _, _ in batches))
    sink = opener()
    out: dict[str, WriteCounts] = {}
    try:
        with Transaction(sink, specs, run_id="fk") as tx:
            for spec, rows, batch_scopes in batches:
                counts = tx.write(spec, prepare(rows, spec, mode).rows, batch_scopes, mode)
                out.setdefault(spec.name, WriteCounts()).__iadd__(counts)
    finally:
        sink.close()
    return out


def quarantined(opener: Opener) -> list[dict[str, object]]:
    sink = opener()
    try:
        rows = sink.read_table(quarantine_spec()).to_pylist()
    finally:
        sink.close()
    return sorted(rows, key=lambda r: str(r["row_key"]))


def keys(rows: list[dict[str, object]], *cols: str) -> list[tuple[object, ...]]:
    return [tuple(r[c] for c in cols) for r in rows]


def test_a_child_row_without_its_parent_is_quarantined_and_the_rest_written(store: Opener) -> None:
    counts = run(store, [(GAMES, games([1], T1), None), (PLAYS_FK, plays([(1, 0), (1, 1), (2, 0)], T1), None)])
    plays_counts = counts["plays"]
    assert (plays_counts.inserted, plays_counts.error) == (2, 1)
    (refused,) = plays_counts.refused
    assert refused.table == "t.plays" and refused.key == {"game_pk": 2, "at_bat_index": 0}
    assert refused.reason == (
        "foreign key (game_pk) -> t.games (game_pk): no parent row with game_pk=2 is stored "
        "(was it refused, or is it missing from the document?)"
    )
    assert keys(read(store, PLAYS_FK), "game_pk", "at_bat_index") == [(1, 0), (1, 1)]
    (entry,) = quarantined(store)
    assert (entry["run_id"], entry["table_name"], entry["reason"]) == ("fk", "t.plays", refused.reason)
    assert entry["row_key"] == '{"at_bat_index":0,"game_pk":2}'


def test_parents_stored_before_or_written_earlier_in_the_run_are_found(store: Opener) -> None:
    run(store, [(GAMES, games([1], T1), None), (PLAYS_FK, plays([(1, 0)], T1), None)])
    # game 1 is stored by the first run, game 2 is written by this run before its plays; game 3 is nowhere
    counts = run(
        store,
        [(GAMES, games([2], T1), None), (PLAYS_FK, plays([(1, 1), (2, 0), (3, 0)], T2), scopes([1, 2, 3], T2))],
    )["plays"]
    assert (counts.inserted, counts.error, counts.deleted) == (2, 1, 1)  # game 1's at-bat 0 reconciled away
    assert [e.key for e in counts.refused] == [{"game_pk": 3, "at_bat_index": 0}]
    assert keys(read(store, PLAYS_FK), "game_pk", "at_bat_index") == [(1, 1), (2, 0)]
    assert len(quarantined(store)) == 1


def test_the_scope_of_an_orphan_row_does_not_reconcile(store: Opener) -> None:
    run(
        store,
        [
            (PLAYS, plays([(1, 0), (1, 1)], T1), scopes([1], T1)),
            (RUNNERS, runners([(1, 0, 7), (1, 1, 8)], T1), scopes([1], T1)),
        ],
    )
    # a newer snapshot of game 1 whose runner of at-bat 5 has no play: refused; game 1's runners are then not a
    # complete snapshot, so runner 8 (absent from it) is not deleted, and the scope's watermark does not move
    counts = run(
        store,
        [
            (PLAYS, plays([(1, 0), (1, 1)], T2), scopes([1], T2)),
            (RUNNERS, runners([(1, 0, 7), (1, 5, 9)], T2, "2B"), scopes([1], T2)),
        ],
    )["runners"]
    assert (counts.updated, counts.deleted, counts.error) == (1, 0, 1)
    assert counts.refused[0].reason.startswith(
        "foreign key (game_pk, at_bat_index) -> t.plays (game_pk, at_bat_index): no parent row with game_pk=1, "
        "at_bat_index=5 is stored"
    )
    stored = read(store, RUNNERS)
    assert keys(stored, "at_bat_index", "runner_id", "movement") == [(0, 7, "2B"), (1, 8, "1B")]
    # the same complete snapshot again (without the orphan) reconciles: runner 8 goes
    again = run(store, [(RUNNERS, runners([(1, 0, 7)], T2, "2B"), scopes([1], T2))])["runners"]
    assert (again.unchanged, again.deleted, again.error) == (1, 1, 0)


def test_a_null_foreign_key_is_not_checked_and_a_table_may_reference_itself(store: Opener) -> None:
    tree = TableSpec(
        schema="t",
        name="tree",
        columns=(
            Column("id", LogicalType("int"), nullable=False),
            Column("parent_id", LogicalType("int")),
            Column("captured_at", LogicalType("timestamp"), nullable=False),
        ),
        primary_key=("id",),
        timestamp="captured_at",
        foreign_keys=(ForeignKey(("parent_id",), "t", "tree", ("id",)),),
    )
    rows = pa.table(
        {
            "id": pa.array([1, 2, 3], pa.int32()),
            "parent_id": pa.array([None, 1, 4], pa.int32()),
            "captured_at": pa.array([T1] * 3, TS),
        }
    )
    counts = run(store, [(tree, rows, None)])["tree"]
    assert (counts.inserted, counts.error) == (2, 1)
    assert [e.key for e in counts.refused] == [{"id": 3}]
    assert keys(read(store, tree), "id", "parent_id") == [(1, None), (2, 1)]


def test_an_older_snapshot_whose_parent_a_newer_one_removed_is_skipped_not_refused(store: Opener) -> None:
    """Rows a write would skip anyway (older than their scope's watermark) are never orphans: an old snapshot's
    runner of a play that the newer snapshot removed is skipped, as without foreign keys."""
    run(store, [(PLAYS, plays([(1, 0)], T2), scopes([1], T2)), (RUNNERS, runners([(1, 0, 7)], T2), scopes([1], T2))])
    counts = run(
        store,
        [
            (PLAYS, plays([(1, 0), (1, 1)], T1), scopes([1], T1)),
            (RUNNERS, runners([(1, 0, 7), (1, 1, 8)], T1), scopes([1], T1)),
        ],
    )
    assert (counts["plays"].skipped, counts["runners"].skipped, counts["runners"].error) == (2, 2, 0)
    assert keys(read(store, RUNNERS), "at_bat_index", "runner_id") == [(0, 7)]
