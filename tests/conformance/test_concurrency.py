"""Two processes writing the same tables at the same time, on every store that declares ``concurrent_writers``."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pytest

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tests.conformance.tables import PLAYS
from tidemark.errors import SinkTransientError

TS = pa.timestamp("us", "UTC")
GAMES = (1, 2, 3)


def snapshot(hour: int) -> tuple[pa.Table, pa.Table]:
    """Every game as of ``hour``: ``hour`` plays, each saying which snapshot it came from."""
    at = datetime(2024, 7, 13, hour, tzinfo=UTC)
    rows = [
        {"game_pk": g, "at_bat_index": i, "event": f"as of {hour}", "captured_at": at}
        for g in GAMES
        for i in range(hour)
    ]
    schema = pa.schema(
        [("game_pk", pa.int64()), ("at_bat_index", pa.int32()), ("event", pa.string()), ("captured_at", TS)]
    )
    scopes = pa.table({"game_pk": list(GAMES), "captured_at": [at] * len(GAMES)})
    return pa.Table.from_pylist(rows, schema=schema), scopes.cast(
        pa.schema([("game_pk", pa.int64()), ("captured_at", TS)])
    )


def _writer(opener: Opener, hours: list[int], start: Any) -> None:  # pragma: no cover - runs in a child process
    start.wait(timeout=60)
    for hour in hours:
        rows, scopes = snapshot(hour)
        for _ in range(20):  # what the error asks a user to do: run again
            try:
                write(opener, PLAYS, rows, scopes=scopes)
                break
            except SinkTransientError:
                continue
        else:
            raise SystemExit(f"snapshot {hour} could not be written")


@pytest.mark.needs("concurrent_writers")
def test_two_processes_writing_overlapping_snapshots_end_with_the_newest(store: Opener) -> None:
    write(store, PLAYS, *snapshot(1)[:1], scopes=snapshot(1)[1])
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    children = [ctx.Process(target=_writer, args=(store, hours, start)) for hours in ([2, 5, 3], [6, 4, 2])]
    for child in children:
        child.start()
    start.set()
    for child in children:
        child.join(timeout=300)
    assert [c.exitcode for c in children] == [0, 0]
    stored = read(store, PLAYS)
    assert [(r["game_pk"], r["at_bat_index"], r["event"]) for r in stored] == [
        (g, i, "as of 6") for g in GAMES for i in range(6)
    ]
