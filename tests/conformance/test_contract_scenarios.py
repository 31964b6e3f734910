"""Write-contract scenarios, on every store in the conformance list (see docs/write-contract.md).

Each scenario writes through the contract (prepare + sink.write in one transaction, as a run does) and checks the
stored rows and the counts a user sees.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tests.conformance.tables import GAMES, PLAYS, games_spec
from tidemark.contract.prepare import prepare
from tidemark.errors import SinkError
from tidemark.tables import HASH_COLUMN, Column, TableSpec
from tidemark.types import LogicalType

LOG = TableSpec(  # no key: append only
    schema="t",
    name="log",
    columns=(Column("message", LogicalType("string")), Column("captured_at", LogicalType("timestamp"))),
    timestamp="captured_at",
)

TS = pa.timestamp("us", "UTC")


def ts(hour: int) -> datetime:
    return datetime(2024, 7, 13, hour, tzinfo=UTC)


def games(*items: tuple[int | None, str | None, datetime | None]) -> pa.Table:
    return pa.table(
        {"game_pk": [i[0] for i in items], "status": [i[1] for i in items], "captured_at": [i[2] for i in items]},
        schema=pa.schema([("game_pk", pa.int64()), ("status", pa.string()), ("captured_at", TS)]),
    )


def plays(game_pk: int, at: datetime, indexes: range | list[int], event: str = "out") -> pa.Table:
    n = len(indexes)
    return pa.table(
        {
            "game_pk": [game_pk] * n,
            "at_bat_index": list(indexes),
            "event": [f"{event} {i}" for i in indexes],
            "captured_at": [at] * n,
        },
        schema=pa.schema(
            [("game_pk", pa.int64()), ("at_bat_index", pa.int32()), ("event", pa.string()), ("captured_at", TS)]
        ),
    )


def scopes(*items: tuple[int, datetime]) -> pa.Table:
    return pa.table(
        {"game_pk": [i[0] for i in items], "captured_at": [i[1] for i in items]},
        schema=pa.schema([("game_pk", pa.int64()), ("captured_at", TS)]),
    )


def counts_of(c: object) -> tuple[int, ...]:
    return tuple(getattr(c, n) for n in ("inserted", "updated", "unchanged", "skipped", "deleted", "error"))


def stored(opener: Opener, spec: TableSpec = GAMES) -> list[tuple[object, ...]]:
    return [tuple(r.values()) for r in read(opener, spec)]


def play_keys(opener: Opener) -> list[tuple[object, ...]]:
    return [(r["game_pk"], r["at_bat_index"]) for r in read(opener, PLAYS)]


# -- upsert: the newest-wins guard ---------------------------------------------------------------------------------


def test_first_write_inserts(store: Opener) -> None:
    counts = write(store, GAMES, games((1, "Preview", ts(1)), (2, "Live", ts(1))))
    assert counts_of(counts) == (2, 0, 0, 0, 0, 0)
    assert stored(store) == [(1, "Preview", ts(1)), (2, "Live", ts(1))]


def test_newer_updates(store: Opener) -> None:
    write(store, GAMES, games((1, "Preview", ts(1))))
    counts = write(store, GAMES, games((1, "Live", ts(2))))
    assert counts_of(counts) == (0, 1, 0, 0, 0, 0)
    assert stored(store) == [(1, "Live", ts(2))]


def test_older_is_skipped(store: Opener) -> None:
    write(store, GAMES, games((1, "Final", ts(5))))
    counts = write(store, GAMES, games((1, "Live", ts(2))))
    assert counts_of(counts) == (0, 0, 0, 1, 0, 0)
    assert stored(store) == [(1, "Final", ts(5))]


def test_same_again_is_unchanged(store: Opener) -> None:
    batch = games((1, "Final", ts(5)), (2, "Final", ts(4)))
    write(store, GAMES, batch)
    counts = write(store, GAMES, batch)
    assert counts_of(counts) == (0, 0, 2, 0, 0, 0)
    assert stored(store) == [(1, "Final", ts(5)), (2, "Final", ts(4))]


def test_equal_timestamp_different_content_greater_hash_wins_in_any_order(store: Opener) -> None:
    a = games((1, "Live", ts(3)))
    b = games((1, "Final", ts(3)))
    hash_a = prepare(a, GAMES, "upsert").rows.column(HASH_COLUMN)[0].as_py()
    hash_b = prepare(b, GAMES, "upsert").rows.column(HASH_COLUMN)[0].as_py()
    assert hash_a != hash_b
    winner = "Live" if hash_a > hash_b else "Final"
    ab, ba = games_spec("games_ab"), games_spec("games_ba")
    write(store, ab, a)
    second_ab = write(store, ab, b)
    write(store, ba, b)
    second_ba = write(store, ba, a)
    assert stored(store, ab) == stored(store, ba) == [(1, winner, ts(3))]
    # exactly one of the two second writes replaced the stored row; the other left it alone (counted skipped)
    assert sorted([counts_of(second_ab), counts_of(second_ba)]) == [(0, 0, 0, 1, 0, 0), (0, 1, 0, 0, 0, 0)]


def test_in_batch_duplicates_are_reduced_without_a_store_error(store: Opener) -> None:
    batch = games(
        (1, "Preview", ts(1)),
        (1, "Final", ts(3)),  # newest: wins
        (1, "Final", ts(3)),  # identical to the winner: unchanged
        (1, "Live", ts(2)),
        (2, "Live", ts(2)),
    )
    counts = write(store, GAMES, batch)
    assert counts_of(counts) == (2, 0, 1, 2, 0, 0)
    assert stored(store) == [(1, "Final", ts(3)), (2, "Live", ts(2))]


def test_in_batch_tie_is_broken_by_the_hash_like_across_batches(store: Opener) -> None:
    a, b = games((1, "Live", ts(3))), games((1, "Final", ts(3)))
    write(store, GAMES, pa.concat_tables([a, b]))
    across = games_spec("across")
    write(store, across, b)
    write(store, across, a)
    assert stored(store) == stored(store, across)


def test_null_timestamp_and_null_key_are_error_rows_not_written(store: Opener) -> None:
    counts = write(store, GAMES, games((1, "Live", ts(1)), (2, "Live", None), (None, "Live", ts(1))))
    assert counts_of(counts) == (1, 0, 0, 0, 0, 2)
    assert stored(store) == [(1, "Live", ts(1))]


def test_null_timestamp_reason_names_the_column() -> None:
    prepared = prepare(games((2, "Live", None), (None, "Live", ts(1))), GAMES, "upsert")
    assert prepared.rows.num_rows == 0
    reasons = sorted(e.reason for e in prepared.errors)
    assert reasons[0].startswith("captured_at: no timestamp")
    assert reasons[1].startswith("game_pk: NULL in primary key column")
    assert {e.table for e in prepared.errors} == {"t.games"}


# -- modes ----------------------------------------------------------------------------------------------------------


def test_overwrite_replaces_the_table_and_counts_deleted_rows(store: Opener) -> None:
    write(store, GAMES, games((1, "Final", ts(5)), (2, "Final", ts(5)), (3, "Final", ts(5))))
    counts = write(store, GAMES, games((4, "Live", ts(1)), (1, "Live", ts(1))), mode="overwrite")
    assert counts_of(counts) == (2, 0, 0, 0, 3, 0)
    # an older row replaces a newer one: overwrite starts from an empty table
    assert stored(store) == [(1, "Live", ts(1)), (4, "Live", ts(1))]


def test_overwrite_reduces_duplicates(store: Opener) -> None:
    counts = write(store, GAMES, games((1, "Live", ts(1)), (1, "Final", ts(2))), mode="overwrite")
    assert (counts.inserted, counts.skipped) == (1, 1)
    assert stored(store) == [(1, "Final", ts(2))]


def test_append_adds_every_row(store: Opener) -> None:
    rows = pa.table(
        {"message": ["a", "b"], "captured_at": [ts(1), ts(1)]},
        schema=pa.schema([("message", pa.string()), ("captured_at", TS)]),
    )
    assert write(store, LOG, rows, mode="append").inserted == 2
    assert write(store, LOG, rows, mode="append").inserted == 2
    assert sorted(r["message"] for r in read(store, LOG)) == ["a", "a", "b", "b"]


def test_append_of_new_keys_inserts(store: Opener) -> None:
    write(store, GAMES, games((1, "Live", ts(1))), mode="append")
    counts = write(store, GAMES, games((2, "Live", ts(1))), mode="append")
    assert counts.inserted == 1
    assert stored(store) == [(1, "Live", ts(1)), (2, "Live", ts(1))]


def test_append_once_skips_existing_keys(store: Opener) -> None:
    write(store, GAMES, games((1, "Preview", ts(1))), mode="append_once")
    counts = write(store, GAMES, games((1, "Final", ts(9)), (2, "Live", ts(1))), mode="append_once")
    assert counts_of(counts) == (1, 0, 0, 1, 0, 0)
    assert stored(store) == [(1, "Preview", ts(1)), (2, "Live", ts(1))]


# -- scoped reconciliation ------------------------------------------------------------------------------------------


def test_newer_snapshot_of_a_scope_deletes_its_missing_rows(store: Opener) -> None:
    first = pa.concat_tables([plays(1, ts(1), range(5)), plays(2, ts(1), range(3))])
    assert write(store, PLAYS, first, scopes=scopes((1, ts(1)), (2, ts(1)))).inserted == 8
    counts = write(store, PLAYS, plays(1, ts(2), range(3), "single"), scopes=scopes((1, ts(2))))
    assert counts_of(counts) == (0, 3, 0, 0, 2, 0)
    assert play_keys(store) == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]  # game 2 untouched
    assert {r["event"] for r in read(store, PLAYS) if r["game_pk"] == 1} == {"single 0", "single 1", "single 2"}


def test_older_snapshot_after_a_newer_one_cannot_bring_rows_back(store: Opener) -> None:
    write(store, PLAYS, plays(1, ts(1), range(5)), scopes=scopes((1, ts(1))))
    write(store, PLAYS, plays(1, ts(3), range(2)), scopes=scopes((1, ts(3))))
    before = read(store, PLAYS)
    counts = write(store, PLAYS, plays(1, ts(2), range(5), "late"), scopes=scopes((1, ts(2))))
    assert counts_of(counts) == (0, 0, 0, 5, 0, 0)
    assert read(store, PLAYS) == before
    assert play_keys(store) == [(1, 0), (1, 1)]


def test_an_empty_newer_scope_empties_the_scope(store: Opener) -> None:
    write(
        store,
        PLAYS,
        pa.concat_tables([plays(1, ts(1), range(4)), plays(2, ts(1), range(2))]),
        scopes=scopes((1, ts(1)), (2, ts(1))),
    )
    counts = write(store, PLAYS, plays(1, ts(2), []), scopes=scopes((1, ts(2))))
    assert counts_of(counts) == (0, 0, 0, 0, 4, 0)
    assert play_keys(store) == [(2, 0), (2, 1)]
    # and the emptied scope stays empty for older snapshots
    assert write(store, PLAYS, plays(1, ts(1), range(4)), scopes=scopes((1, ts(1)))).skipped == 4
    assert play_keys(store) == [(2, 0), (2, 1)]


def test_same_snapshot_of_a_scope_again_is_unchanged(store: Opener) -> None:
    write(store, PLAYS, plays(1, ts(1), range(4)), scopes=scopes((1, ts(1))))
    counts = write(store, PLAYS, plays(1, ts(1), range(4)), scopes=scopes((1, ts(1))))
    assert counts_of(counts) == (0, 0, 4, 0, 0, 0)


def test_two_snapshots_of_a_scope_in_one_batch(store: Opener) -> None:
    batch = pa.concat_tables([plays(1, ts(2), range(3), "new"), plays(1, ts(1), range(5), "old")])
    counts = write(store, PLAYS, batch, scopes=scopes((1, ts(2)), (1, ts(1))))
    assert counts.inserted == 3
    assert play_keys(store) == [(1, 0), (1, 1), (1, 2)]
    assert {r["event"] for r in read(store, PLAYS)} == {"new 0", "new 1", "new 2"}


def test_a_batch_that_does_not_reconcile_a_scope_is_still_held_to_its_watermark(store: Opener) -> None:
    """Rows without a scope entry (their snapshot had refused rows): row rules and the stored watermark apply,
    but nothing is deleted and the watermark does not move."""
    write(store, PLAYS, plays(1, ts(1), range(5)), scopes=scopes((1, ts(1))))
    write(store, PLAYS, plays(1, ts(3), range(2)), scopes=scopes((1, ts(3))))
    counts = write(store, PLAYS, plays(1, ts(2), range(5), "late"), scopes=scopes())
    assert counts_of(counts) == (0, 0, 0, 5, 0, 0)  # older than the watermark: plays 2-4 cannot come back
    assert play_keys(store) == [(1, 0), (1, 1)]
    counts = write(store, PLAYS, plays(1, ts(4), [0], "newer"), scopes=scopes())
    assert counts_of(counts) == (0, 1, 0, 0, 0, 0)  # newer: updated, and play 1 is not deleted
    assert play_keys(store) == [(1, 0), (1, 1)]
    # the watermark is still ts(3): a complete snapshot at ts(3) is not skipped (play 1 is unchanged), and play 0,
    # newer than it, stays
    counts = write(store, PLAYS, plays(1, ts(3), [1]), scopes=scopes((1, ts(3))))
    assert counts_of(counts) == (0, 0, 1, 0, 0, 0)
    assert play_keys(store) == [(1, 0), (1, 1)]


def test_overwrite_of_a_scoped_table_resets_its_watermarks(store: Opener) -> None:
    write(store, PLAYS, plays(1, ts(5), range(3)), scopes=scopes((1, ts(5))))
    counts = write(store, PLAYS, plays(1, ts(1), range(2)), scopes=scopes((1, ts(1))), mode="overwrite")
    assert (counts.inserted, counts.deleted) == (2, 3)
    assert play_keys(store) == [(1, 0), (1, 1)]
    # the watermark is now ts(1): a snapshot at ts(2) applies
    assert write(store, PLAYS, plays(1, ts(2), range(1)), scopes=scopes((1, ts(2)))).deleted == 1


# -- all or nothing -------------------------------------------------------------------------------------------------


@pytest.mark.needs("transactional")
def test_a_failure_in_the_middle_of_a_write_leaves_the_previous_state(store: Opener) -> None:
    write(store, GAMES, games((1, "Live", ts(1))))
    write(store, PLAYS, plays(1, ts(1), range(3)), scopes=scopes((1, ts(1))))
    games_before, plays_before = read(store, GAMES), read(store, PLAYS)

    sink = store()
    try:
        sink.begin()
        sink.ensure_table(GAMES)
        sink.ensure_table(PLAYS)
        first = prepare(games((1, "Final", ts(2)), (2, "Live", ts(2))), GAMES, "upsert")
        assert sink.write(GAMES, first.rows, None, "upsert").inserted == 1
        broken = prepare(plays(1, ts(2), range(1)), PLAYS, "upsert").rows.drop_columns(["event"])
        with pytest.raises(SinkError):
            sink.write(PLAYS, broken, scopes((1, ts(2))), "upsert")  # the second table's write fails
        sink.rollback()
    finally:
        sink.close()

    assert read(store, GAMES) == games_before
    assert read(store, PLAYS) == plays_before
    # the store is usable afterwards, and the watermark of the failed write was not kept
    assert write(store, PLAYS, plays(1, ts(1), range(3)), scopes=scopes((1, ts(1)))).unchanged == 3
