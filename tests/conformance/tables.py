"""Tables the conformance tests share: a game's row keyed by game (two flavours), and a game's plays, keyed by game
and at-bat, scoped (reconciled) by game."""

from __future__ import annotations

from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType


def games_spec(name: str = "games", payload: Column | None = None) -> TableSpec:
    """``t.<name>``: one row per game (``game_pk``), one payload column (default: ``status``), the snapshot time;
    not scoped."""
    return TableSpec(
        schema="t",
        name=name,
        columns=(
            Column("game_pk", LogicalType("bigint"), nullable=False),
            payload or Column("status", LogicalType("string")),
            Column("captured_at", LogicalType("timestamp"), nullable=False),
        ),
        primary_key=("game_pk",),
        timestamp="captured_at",
    )


GAMES = games_spec()  # status: 'Preview', 'Live', 'Final'
GAME_SCORES = games_spec(payload=Column("score", LogicalType("int")))  # the same table with an int score

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
