"""Bad input to tidemark.write: one clear error naming the column and the row, and the target left untouched."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa
import pytest

import tidemark
from tests.conformance.stores import Opener
from tests.test_write_support import store_fixture, stored
from tidemark.errors import ConfigError, ContractError, SinkTerminalError
from tidemark.tables import TableSpec

any_store = store_fixture()

BEFORE = pa.table(
    {
        "id": pa.array([1, 2], pa.int64()),
        "score": pa.array([10, 20], pa.int64()),
        "updated_at": pa.array(["2024-07-13T10:00:00Z", "2024-07-13T10:00:00Z"]),
    }
)
UPSERT = {"mode": "upsert", "keys": ["id"], "timestamp": "updated_at"}


def seed(opener: Opener) -> TableSpec:
    with opener() as sink:
        result = tidemark.write(BEFORE, sink, "t.scores", **UPSERT)  # type: ignore[arg-type]
    assert result.spec is not None
    return result.spec


def table_of(opener: Opener, spec: TableSpec) -> list[tuple[int, int]]:
    return [(r["id"], r["score"]) for r in stored(opener, spec)]


def newer(ids: list[int | None], stamps: list[str | None]) -> pa.Table:
    return pa.table({"id": pa.array(ids, pa.int64()), "score": [99] * len(ids), "updated_at": stamps})


def test_unparseable_timestamp_strings_name_the_row_and_roll_back(any_store: Opener) -> None:
    spec = seed(any_store)
    data = newer([1, 2, 3, 4], ["2024-07-14T10:00:00Z", "2024-07-14T10:00:00+02:00", "2024-07-14", "yesterday"])
    with (
        pytest.raises(ContractError, match=r"timestamp column 'updated_at': 'yesterday' at row 3 is not an ISO 8601"),
        any_store() as sink,
    ):  # two rows a chunk: the first chunk is written before the bad one is read
        tidemark.write(data, sink, "t.scores", batch_rows=2, **UPSERT)  # type: ignore[arg-type]
    assert table_of(any_store, spec) == [(1, 10), (2, 20)]


def test_mismatched_types_against_an_existing_table(any_store: Opener) -> None:
    spec = seed(any_store)
    data = pa.table({"id": [1], "score": ["ninety"], "updated_at": ["2024-07-14T10:00:00Z"]})
    with (
        pytest.raises(SinkTerminalError, match=r"column 'score' is .* in the store but string in the data"),
        any_store() as sink,
    ):
        tidemark.write(data, sink, "t.scores", **UPSERT)  # type: ignore[arg-type]
    assert table_of(any_store, spec) == [(1, 10), (2, 20)]


def test_duplicates_refused_with_dedup_error_even_across_chunks(any_store: Opener) -> None:
    spec = seed(any_store)
    data = newer([5, 6, 7, 5], ["2024-07-14T10:00:00Z"] * 4)
    with (
        pytest.raises(ContractError, match=r"duplicate key id=5 in the input: row 0 and row 3 \(dedup='error'\)"),
        any_store() as sink,
    ):
        tidemark.write(data, sink, "t.scores", dedup="error", batch_rows=2, **UPSERT)  # type: ignore[arg-type]
    with pytest.raises(ContractError, match=r"duplicate key id=5 in the input: row 0 and row 3"), any_store() as sink:
        tidemark.write(data, sink, "t.scores", dedup="error", **UPSERT)  # type: ignore[arg-type]
    assert table_of(any_store, spec) == [(1, 10), (2, 20)]


def test_null_key_parts_and_timestamps_are_refused_rows(any_store: Opener) -> None:
    spec = seed(any_store)
    data = newer([3, None, 4], ["2024-07-14T10:00:00Z", "2024-07-14T10:00:00Z", None])
    with any_store() as sink:
        result = tidemark.write(data, sink, "t.scores", **UPSERT)  # type: ignore[arg-type]
    assert not result.ok and (result.inserted, result.error) == (1, 2)
    assert [(e.origin, e.reason) for e in result.row_errors] == [
        ("row 1", "key column 'id' is NULL"),
        ("row 2", "updated_at: no timestamp: the write contract needs one to decide which row is newer"),
    ]
    assert (result.keys.incomplete, result.keys.coverage) == (1, pytest.approx(200 / 3))
    assert table_of(any_store, spec) == [(1, 10), (2, 20), (3, 99)]


def test_a_missing_key_column_is_refused_before_anything_is_opened(tmp_path: pytest.TempPathFactory) -> None:
    with pytest.raises(ContractError, match=r"key column 'idd' is not in the data \(did you mean 'id'\?\)"):
        tidemark.write(BEFORE, f"duckdb:{tmp_path}/never.duckdb", "t.scores", mode="upsert", keys=["idd"])
    with pytest.raises(ContractError, match=r"key 'match_id': column 'hme' is not in the data"):
        tidemark.write(BEFORE, "duckdb::memory:", "t.x", mode="upsert", key={"name": "match_id", "from": ["hme"]})
    assert not (tmp_path / "never.duckdb").exists()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"mode": "upsert"}, ContractError, "mode upsert needs keys"),
        ({"mode": "append_once", "timestamp": "updated_at"}, ContractError, "mode append_once needs keys"),
        ({"mode": "upsert", "keys": "id", "timestamp": "updatd_at"}, ContractError, "did you mean 'updated_at'"),
        ({"mode": "upsert", "keys": "id", "timestamp": "flag"}, ContractError, "timestamp column 'flag' is bool"),
        ({"mode": "upsrt", "keys": "id"}, ConfigError, "unknown mode 'upsrt' \\(did you mean 'upsert'\\?\\)"),
        ({"mode": "upsert", "keys": "id", "dedup": "newest"}, ConfigError, "did you mean 'newest_wins'"),
        ({"keys": "id"}, ConfigError, "no mode"),
        ({"mode": "upsert", "key": {"name": "id", "from": ["score"]}}, ContractError, "would overwrite the column"),
        ({"mode": "upsert", "key": {"name": "k", "form": ["id"]}}, ConfigError, "unknown key 'key.form'"),
    ],
)
def test_options_refused_before_writing(options: dict[str, object], error: type[Exception], message: str) -> None:
    data = BEFORE.append_column("flag", pa.array([True, False]))
    with pytest.raises(error, match=message):
        tidemark.write(data, "duckdb::memory:", "t.scores", **options)  # type: ignore[arg-type]


def test_columns_no_store_can_hold_and_data_that_is_not_a_table() -> None:
    data = pa.table({"id": [1], "blob": pa.array([b"\x00"], pa.binary())})
    with pytest.raises(ContractError, match="column 'blob' is binary"):
        tidemark.write(data, "duckdb::memory:", "t.x", mode="append")
    with pytest.raises(ConfigError, match=r"cannot write a builtins\.dict"):
        tidemark.write({"id": [1]}, "duckdb::memory:", "t.x", mode="append")
    with pytest.raises(ConfigError, match=r"table 'a\.b\.c'"):
        tidemark.write(pa.table({"id": [1]}), "duckdb::memory:", "a.b.c", mode="append")


def test_integers_too_large_for_the_column_name_the_row(tmp_path: pytest.TempPathFactory) -> None:
    data = pa.table({"id": pa.array([1, 2**63 + 1], pa.uint64())})
    with pytest.raises(ContractError, match=r"column 'id': a value at row 1 \(9223372036854775809\) does not fit"):
        tidemark.write(data, "duckdb::memory:", "t.x", mode="append")


def test_timestamps_of_other_zones_and_units_are_converted_to_utc(tmp_path: pytest.TempPathFactory) -> None:
    paris = pa.array([datetime(2024, 7, 13, 12, tzinfo=UTC)], pa.timestamp("ns", "Europe/Paris"))
    data = pa.table({"id": [1], "at": paris, "day": ["2024-07-13T14:00:00+02:00"]})
    result = tidemark.write(data, "duckdb::memory:", "t.x", mode="upsert", keys="id", timestamp="day")
    assert result.inserted == 1 and result.spec is not None
    assert [c.type.kind for c in result.spec.columns] == ["bigint", "timestamp", "timestamp"]
