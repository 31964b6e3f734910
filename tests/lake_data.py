"""Shared data of the lake-sink tests (Delta, Parquet, CSV): a scoped plays table and its batches."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pyarrow as pa

from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

TS = pa.timestamp("us", "UTC")
PLAYS = TableSpec(
    schema="game",
    name="plays",
    columns=(
        Column("game_pk", LogicalType("bigint"), nullable=False),
        Column("at_bat_index", LogicalType("int"), nullable=False),
        Column("season", LogicalType("int")),
        Column("event", LogicalType("string")),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("game_pk", "at_bat_index"),
    timestamp="captured_at",
    scope=("game_pk",),
)
BY_SEASON = dataclasses.replace(PLAYS, name="plays_by_season", partition_by=("season",))


def ts(hour: int) -> datetime:
    return datetime(2024, 7, 13, hour, tzinfo=UTC)


def plays(game_pk: int, at: datetime, indexes: range, event: str = "out", season: int = 2024) -> pa.Table:
    n = len(indexes)
    return pa.table(
        {
            "game_pk": [game_pk] * n,
            "at_bat_index": list(indexes),
            "season": [season] * n,
            "event": [f"{event} {i}" for i in indexes],
            "captured_at": [at] * n,
        },
        schema=pa.schema(
            [
                ("game_pk", pa.int64()),
                ("at_bat_index", pa.int32()),
                ("season", pa.int32()),
                ("event", pa.string()),
                ("captured_at", TS),
            ]
        ),
    )


def scopes(*items: tuple[int, datetime]) -> pa.Table:
    return pa.table(
        {"game_pk": [i[0] for i in items], "captured_at": [i[1] for i in items]},
        schema=pa.schema([("game_pk", pa.int64()), ("captured_at", TS)]),
    )
