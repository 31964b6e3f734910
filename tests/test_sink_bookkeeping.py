"""tidemark's own tables (sinks/bookkeeping.py): names that cannot collide, and stores of earlier versions migrated."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conformance.tables import PLAYS
from tidemark.contract.prepare import prepare
from tidemark.sinks import open_sink
from tidemark.sinks.base import META_SCHEMA, Sink
from tidemark.sinks.bookkeeping import MAX_NAME, internal_name, legacy_watermark_name, watermark_spec
from tidemark.tables import TableSpec

TEN, NINE = datetime(2024, 7, 13, 10, tzinfo=UTC), datetime(2024, 7, 13, 9, tzinfo=UTC)


def _write(sink: Sink, spec: TableSpec, at: datetime) -> dict[str, int]:
    rows = pa.table(
        {"game_pk": [1], "at_bat_index": [0], "event": ["single"], "captured_at": [at]},
        schema=pa.schema([pa.field(c.name, c.type.arrow) for c in spec.columns]),
    )
    prepared = prepare(rows, spec, "upsert")
    scopes = pa.table({"game_pk": pa.array([1], pa.int64()), "captured_at": pa.array([at], pa.timestamp("us", "UTC"))})
    sink.begin()
    sink.ensure_table(spec)
    counts = sink.write(spec, prepared.rows, scopes, "upsert")
    sink.commit()
    return counts.as_dict()


def test_internal_names_are_distinct_and_short() -> None:
    assert internal_name("wm", "a__b", "c") != internal_name("wm", "a", "b__c")
    long_a, long_b = internal_name("wm", "s", "x" * 80 + "a"), internal_name("wm", "s", "x" * 80 + "b")
    assert long_a != long_b
    assert max(len(long_a), len(long_b)) <= MAX_NAME


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        return str(request.getfixturevalue("pg_dsn"))
    return f"duckdb:{tmp_path / 'store.duckdb'}"


def test_tables_whose_names_joined_collided_keep_their_own_watermarks(url: str) -> None:
    first = dataclasses.replace(PLAYS, schema="a__b", name="c")
    second = dataclasses.replace(PLAYS, schema="a", name="b__c")
    with open_sink(url) as sink:
        assert _write(sink, first, TEN)["inserted"] == 1
        # with one watermark table for both, game 1 would be at 10:00 already and this row skipped
        assert _write(sink, second, NINE)["inserted"] == 1


def test_a_watermark_table_of_an_earlier_version_is_renamed_and_kept(url: str) -> None:
    with open_sink(url) as sink:
        _write(sink, PLAYS, TEN)
    with open_sink(url) as sink:  # as an earlier version left it
        assert isinstance(sink, Sink)
        sink._exec(  # type: ignore[attr-defined]
            f"ALTER TABLE {sink.watermark_ref(PLAYS)} RENAME TO {sink.q(legacy_watermark_name(PLAYS))}"  # type: ignore[attr-defined]
        )
    with open_sink(url) as sink:
        assert _write(sink, PLAYS, NINE) == {**_zero(), "skipped": 1}  # older than the kept watermark
        existing = sink._existing_columns  # type: ignore[attr-defined]
        assert existing(META_SCHEMA, legacy_watermark_name(PLAYS)) is None
        assert existing(META_SCHEMA, watermark_spec(PLAYS).name) is not None


def _zero() -> dict[str, int]:
    return dict.fromkeys(("inserted", "updated", "unchanged", "skipped", "deleted", "error"), 0)
