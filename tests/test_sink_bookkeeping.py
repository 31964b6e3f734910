"""Names tidemark derives (watermark tables, sinks/bookkeeping.py; indexes, sinks/sql.py) cannot collide, and
watermark tables of earlier versions are migrated."""

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
from tidemark.sinks.duckdb import DuckDBSink
from tidemark.sinks.postgres import PostgresSink
from tidemark.sinks.sql import index_name
from tidemark.tables import Column, Index, TableSpec
from tidemark.types import LogicalType

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
        assert isinstance(sink, DuckDBSink | PostgresSink)
        current, legacy = sink.sql.watermark_ref(PLAYS), sink.q(legacy_watermark_name(PLAYS))
        sink.sql.driver.exec(f"ALTER TABLE {current} RENAME TO {legacy}")
    with open_sink(url) as sink:
        assert _write(sink, PLAYS, NINE) == {**_zero(), "skipped": 1}  # older than the kept watermark
        assert isinstance(sink, DuckDBSink | PostgresSink)
        existing = sink.sql.driver.existing_columns
        assert existing(META_SCHEMA, legacy_watermark_name(PLAYS)) is None
        assert existing(META_SCHEMA, watermark_spec(PLAYS).name) is not None


def _zero() -> dict[str, int]:
    return dict.fromkeys(("inserted", "updated", "unchanged", "skipped", "deleted", "error"), 0)


def test_index_names_equal_in_their_first_60_characters_do_not_collide(url: str) -> None:
    table = "a_table_name_long_enough_to_push_derived_index_names_on"  # 55 characters
    columns = tuple(Column(c, LogicalType("bigint")) for c in ("id", "col_1", "col_2"))
    spec = TableSpec("t", table, columns, primary_key=("id",), indexes=(Index(("col_1",)), Index(("col_2",))))
    names = [index_name(spec, i) for i in spec.indexes]
    assert f"ix_{table}_col_1"[:60] == f"ix_{table}_col_2"[:60]  # the names derived before: one name for both
    assert len(set(names)) == 2 and all(len(n) <= MAX_NAME for n in names)
    with open_sink(url) as sink:
        sink.begin()
        sink.ensure_table(spec)
        sink.commit()
        assert isinstance(sink, DuckDBSink | PostgresSink)
        if isinstance(sink, DuckDBSink):
            query = "SELECT index_name FROM duckdb_indexes() WHERE table_name = ?"
        else:
            query = "SELECT indexname FROM pg_indexes WHERE tablename = %s AND indexname LIKE 'ix%%'"
        stored = {r[0] for r in sink.sql.driver.exec(query, [table])}
    assert stored == set(names)  # both indexes exist (the second was silently skipped before)
