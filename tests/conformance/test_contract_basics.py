"""The write contract, on every store in the conformance list (see docs/write-contract.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tests.conformance.tables import GAME_SCORES


def ts(hour: int) -> datetime:
    return datetime(2024, 7, 13, hour, tzinfo=UTC)


def rows(*items: tuple[int, int | None, datetime | None]) -> pa.Table:
    return pa.table(
        {"game_pk": [i[0] for i in items], "score": [i[1] for i in items], "captured_at": [i[2] for i in items]},
        schema=pa.schema([("game_pk", pa.int64()), ("score", pa.int32()), ("captured_at", pa.timestamp("us", "UTC"))]),
    )


def test_newer_updates_older_skips_same_is_unchanged(store: Opener) -> None:
    assert write(store, GAME_SCORES, rows((1, 3, ts(1)), (2, 5, ts(1)))).inserted == 2
    counts = write(store, GAME_SCORES, rows((1, 4, ts(2)), (2, 9, ts(0)), (3, 1, ts(1))))
    assert (counts.inserted, counts.updated, counts.skipped, counts.unchanged) == (1, 1, 1, 0)
    assert write(store, GAME_SCORES, rows((1, 4, ts(2)))).unchanged == 1
    assert [(r["game_pk"], r["score"]) for r in read(store, GAME_SCORES)] == [(1, 4), (2, 5), (3, 1)]
