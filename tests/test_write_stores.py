"""tidemark.write on every store x every mode x (pyarrow, polars, pandas) input: the contract's table of modes."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

import tidemark
from tests.conformance.stores import Opener
from tests.test_write_support import as_input, store_fixture, stored
from tidemark.errors import SinkError

any_store = store_fixture()

INPUTS = ["pyarrow", "polars", "pandas"]
SCHEMA = pa.schema([("id", pa.int64()), ("score", pa.int64()), ("updated_at", pa.timestamp("us", "UTC"))])


def at(hour: int) -> datetime:
    return datetime(2024, 7, 13, hour, tzinfo=UTC)


def rows(*items: tuple[int, int, int]) -> pa.Table:
    return pa.Table.from_pylist([{"id": i, "score": s, "updated_at": at(h)} for i, s, h in items], schema=SCHEMA)


FIRST = rows((1, 10, 1), (2, 20, 1))
# key 1 newer, key 2 older, key 3 twice in the input (the later one newer)
SECOND = rows((1, 11, 2), (2, 19, 0), (3, 30, 1), (3, 31, 2))
EXPECTED = {
    "upsert": ((1, 1, 0, 2, 0), [(1, 11), (2, 20), (3, 31)]),
    "append_once": ((1, 0, 0, 3, 0), [(1, 10), (2, 20), (3, 31)]),
    "overwrite": ((3, 0, 0, 1, 2), [(1, 11), (2, 19), (3, 31)]),
}


def summary(result: tidemark.WriteResult) -> tuple[int, int, int, int, int]:
    return result.inserted, result.updated, result.unchanged, result.skipped, result.deleted


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("mode", ["upsert", "append_once", "overwrite"])
def test_keyed_modes(any_store: Opener, mode: str, kind: str) -> None:
    with any_store() as sink:
        first = tidemark.write(as_input(FIRST, kind), sink, "t.scores", mode=mode, keys=["id"], timestamp="updated_at")
    assert (first.inserted, first.rows) == (2, 2)
    with any_store() as sink:
        second = tidemark.write(
            as_input(SECOND, kind), sink, "t.scores", mode=mode, keys=["id"], timestamp="updated_at"
        )
    counts, table = EXPECTED[mode]
    assert summary(second) == counts
    assert second.keys.duplicates == 1 and second.keys.dropped_older == 1  # key 3's older row
    assert [(r["id"], r["score"]) for r in stored(any_store, second)] == table


@pytest.mark.parametrize("kind", INPUTS)
def test_append(any_store: Opener, kind: str) -> None:
    with any_store() as sink:
        tidemark.write(as_input(FIRST, kind), sink, "t.scores", mode="append", keys=["id"], timestamp="updated_at")
    with any_store() as sink:
        result = tidemark.write(as_input(rows((5, 50, 1), (6, 60, 1)), kind), sink, "t.scores", mode="append")
    assert summary(result) == (2, 0, 0, 0, 0)
    assert [(r["id"], r["score"]) for r in stored(any_store, result)] == [(1, 10), (2, 20), (5, 50), (6, 60)]


def test_append_of_an_existing_key_fails_and_changes_nothing(any_store: Opener) -> None:
    with any_store() as sink:
        first = tidemark.write(FIRST, sink, "t.scores", mode="append", keys=["id"])
    with pytest.raises(SinkError), any_store() as sink:
        tidemark.write(rows((7, 70, 1), (1, 99, 5)), sink, "t.scores", mode="append", keys=["id"])
    assert [(r["id"], r["score"]) for r in stored(any_store, first)] == [(1, 10), (2, 20)]


def test_upsert_through_a_sink_url_and_a_computed_key(any_store: Opener) -> None:
    url = any_store.args[0]  # the conformance openers are partials of open_sink(url)
    data = pa.table({"home": ["A", "B", "A"], "away": ["B", "A", "B"], "goals": [1, 2, 3], "ts": [1, 1, 2]})
    key = {"name": "match_id", "from": ["home", "away"]}
    result = tidemark.write(data, url, "results.matches", mode="upsert", key=key, timestamp="ts")
    assert summary(result) == (2, 0, 0, 1, 0)
    again = tidemark.write(data, url, "results.matches", mode="upsert", key=key, timestamp="ts")
    assert summary(again) == (0, 0, 2, 1, 0)
    assert again.keys.as_dict()["coverage"] == 100.0
    table = stored(any_store, again)
    assert sorted((r["home"], r["away"], r["goals"]) for r in table) == [("A", "B", 3), ("B", "A", 2)]
    assert len({r["match_id"] for r in table}) == 2
