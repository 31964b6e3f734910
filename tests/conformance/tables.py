"""Tables the conformance tests share: a game's plays, keyed by game and at-bat, scoped (reconciled) by game."""

from __future__ import annotations

from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

PLAYS = TableSpec(
    schema="t",
    name="plays",
    columns=(
        Column("game_pk", LogicalType("bigint"), nullable=False),
        Column("at_bat_index", LogicalType("int"), nullable=False),
        Column("event", LogicalType("string")),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("game_pk", "at_bat_index"),
    timestamp="captured_at",
    scope=("game_pk",),
)
