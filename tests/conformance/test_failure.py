"""Failures in the middle of a write leave the previous state, on every store.

A store that cannot make a whole run atomic (``transactional`` False, e.g. Delta) still promises this much: nothing
is visible before ``commit()``. The cross-table case for transactional stores is in test_contract_scenarios.py.
"""

from __future__ import annotations

import multiprocessing
import os
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tests.conformance.tables import PLAYS
from tidemark.contract.prepare import prepare
from tidemark.errors import SinkError

TS = pa.timestamp("us", "UTC")


def ts(hour: int) -> datetime:
    return datetime(2024, 7, 13, hour, tzinfo=UTC)


def plays(game_pk: int, at: datetime, indexes: range, event: str = "out") -> pa.Table:
    n = len(indexes)
    return pa.table(
        {"game_pk": [game_pk] * n, "at_bat_index": list(indexes), "event": [event] * n, "captured_at": [at] * n},
        schema=pa.schema(
            [("game_pk", pa.int64()), ("at_bat_index", pa.int32()), ("event", pa.string()), ("captured_at", TS)]
        ),
    )


def scopes(game_pk: int, at: datetime) -> pa.Table:
    return pa.table(
        {"game_pk": [game_pk], "captured_at": [at]}, schema=pa.schema([("game_pk", pa.int64()), ("captured_at", TS)])
    )


def baseline(store: Opener) -> list[dict[str, object]]:
    write(store, PLAYS, plays(1, ts(1), range(4)), scopes=scopes(1, ts(1)))
    write(store, PLAYS, plays(2, ts(1), range(2)), scopes=scopes(2, ts(1)))
    return read(store, PLAYS)


def test_a_batch_that_fails_after_others_of_the_same_run_leaves_the_table(store: Opener) -> None:
    before = baseline(store)
    sink = store()
    try:
        sink.begin()
        sink.ensure_table(PLAYS)
        # a newer snapshot of game 1 that drops two plays, and a new game: applied to the run, not yet committed
        counts = sink.write(
            PLAYS, prepare(plays(1, ts(2), range(2), "hit"), PLAYS, "upsert").rows, scopes(1, ts(2)), "upsert"
        )
        assert (counts.updated, counts.deleted) == (2, 2)
        sink.write(PLAYS, prepare(plays(3, ts(2), range(3)), PLAYS, "upsert").rows, scopes(3, ts(2)), "upsert")
        broken = prepare(plays(2, ts(2), range(1)), PLAYS, "upsert").rows.drop_columns(["event"])
        with pytest.raises(SinkError):
            sink.write(PLAYS, broken, scopes(2, ts(2)), "upsert")
        sink.rollback()
    finally:
        sink.close()
    assert read(store, PLAYS) == before
    # the watermarks of the failed run were not kept either: the same snapshots again are unchanged
    assert write(store, PLAYS, plays(1, ts(1), range(4)), scopes=scopes(1, ts(1))).unchanged == 4


def test_append_of_a_stored_key_fails_and_keeps_the_table(store: Opener) -> None:
    before = baseline(store)
    with pytest.raises(SinkError, match="append"):
        write(store, PLAYS, pa.concat_tables([plays(5, ts(3), range(2)), plays(1, ts(3), range(1))]), mode="append")
    assert read(store, PLAYS) == before


def _crash_mid_run(opener: Opener) -> None:  # pragma: no cover - runs in the child process
    sink = opener()
    sink.begin()
    sink.ensure_table(PLAYS)
    sink.write(PLAYS, prepare(plays(1, ts(2), range(1), "hit"), PLAYS, "upsert").rows, scopes(1, ts(2)), "upsert")
    sink.write(PLAYS, prepare(plays(4, ts(2), range(5)), PLAYS, "upsert").rows, scopes(4, ts(2)), "upsert")
    os._exit(3)  # the process dies before commit: no rollback, no close, no cleanup


def test_a_process_killed_before_commit_leaves_the_previous_state(store: Opener) -> None:
    before = baseline(store)
    child = multiprocessing.get_context("spawn").Process(target=_crash_mid_run, args=(store,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 3
    assert read(store, PLAYS) == before
    # nothing is left locked or half-applied: the next run writes, and the dead run's watermark did not survive
    counts = write(store, PLAYS, plays(1, ts(1), range(4)), scopes=scopes(1, ts(1)))
    assert counts.unchanged == 4
