"""append_once on a scoped (reconciled) table inserts new keys only: it never deletes and keeps no watermark."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

PLAYS = TableSpec(
    schema="t",
    name="plays",
    columns=(
        Column("game_pk", LogicalType("bigint"), nullable=False),
        Column("at_bat_index", LogicalType("int"), nullable=False),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("game_pk", "at_bat_index"),
    timestamp="captured_at",
    scope=("game_pk",),
)


def plays(count: int, hour: int) -> pa.Table:
    at = datetime(2024, 7, 13, hour, tzinfo=UTC)
    return pa.table(
        {"game_pk": [1] * count, "at_bat_index": list(range(count)), "captured_at": [at] * count},
        schema=pa.schema(
            [("game_pk", pa.int64()), ("at_bat_index", pa.int32()), ("captured_at", pa.timestamp("us", "UTC"))]
        ),
    )


def scopes(hour: int) -> pa.Table:
    at = datetime(2024, 7, 13, hour, tzinfo=UTC)
    return pa.table({"game_pk": pa.array([1], pa.int64()), "captured_at": pa.array([at], pa.timestamp("us", "UTC"))})


def test_append_once_on_a_scoped_table_keeps_existing_rows(store: Opener) -> None:
    assert write(store, PLAYS, plays(10, 1), "append_once", scopes(1)).inserted == 10
    counts = write(store, PLAYS, plays(12, 2), "append_once", scopes(2))
    assert (counts.inserted, counts.skipped, counts.deleted) == (2, 10, 0)
    assert len(read(store, PLAYS)) == 12
    # an older, shorter snapshot: nothing is deleted, nothing new to insert
    counts = write(store, PLAYS, plays(3, 0), "append_once", scopes(0))
    assert (counts.inserted, counts.skipped, counts.deleted) == (0, 3, 0)
    assert len(read(store, PLAYS)) == 12
