"""Names a store cannot hold are refused before anything is created (issue 18, item 6): PostgreSQL cuts identifiers
at 63 bytes, so two long table names used to become one table. Derived names (watermarks, indexes, foreign keys)
always fit and never collide."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tests.conformance.conftest import write
from tests.conformance.tables import GAMES, PLAYS
from tests.test_mapping_errors import BASE
from tidemark.cli.main import app
from tidemark.errors import SinkTerminalError
from tidemark.sinks import open_sink
from tidemark.sinks.bookkeeping import MAX_NAME, internal_name
from tidemark.sinks.names import identifier_limit
from tidemark.sinks.postgres import fk_name
from tidemark.tables import Column, ForeignKey, TableSpec
from tidemark.types import LogicalType

T1 = datetime(2024, 7, 13, 1, tzinfo=UTC)
LONG = "plays_of_the_regular_season_games_" + "x" * 40  # 74 bytes: over PostgreSQL's 63, under 255


def games(name: str) -> TableSpec:
    return dataclasses.replace(GAMES, name=name)


def one_game() -> pa.Table:
    return pa.table({"game_pk": pa.array([1], pa.int64()), "status": ["Live"], "captured_at": pa.array([T1])})


@pytest.mark.postgres
def test_two_long_table_names_no_longer_become_one_table_in_postgres(pg_dsn: str) -> None:
    first, second = games(LONG + "_a"), games(LONG + "_b")  # equal in their first 63 bytes
    for spec in (first, second):
        with pytest.raises(SinkTerminalError, match=r"\(76 bytes\) longer than the 63 bytes postgresql://"):
            write(lambda: open_sink(pg_dsn), spec, one_game())
    with open_sink(pg_dsn) as sink:
        assert sink.driver.exec("SELECT count(*) FROM pg_tables WHERE schemaname = 't'") == [(0,)]  # type: ignore[attr-defined]


def test_derived_names_fit_and_differ() -> None:
    a, b = internal_name("wm", "t", LONG + "_a"), internal_name("wm", "t", LONG + "_b")
    assert a != b and len(a.encode()) <= MAX_NAME and len(b.encode()) <= MAX_NAME
    wide = internal_name("wm", "t", "é" * 40)  # cut by bytes, never inside a character
    assert len(wide.encode()) <= MAX_NAME and wide.startswith("wm__t__é")
    child = dataclasses.replace(PLAYS, name="live_game_fielding_credits_of_the_season")
    one = ForeignKey(("game_pk", "at_bat_index", "runner_index"), "t", "runners", ("a", "b", "c"))
    two = ForeignKey(("game_pk", "at_bat_index", "runner_index_2"), "t", "runners", ("a", "b", "c"))
    names = {fk_name(child, one), fk_name(child, two)}
    assert len(names) == 2 and all(len(n) <= MAX_NAME for n in names)
    assert fk_name(PLAYS, ForeignKey(("game_pk",), "t", "games", ("game_pk",))) == "fk_plays_game_pk"  # as before


@pytest.mark.postgres
def test_two_foreign_keys_whose_cut_names_collided_are_both_created_once(pg_dsn: str) -> None:
    parent = TableSpec(
        "t",
        "runners",
        tuple(Column(c, LogicalType("int"), nullable=False) for c in ("a", "b", "c", "d")),
        primary_key=("a", "b", "c"),
        indexes=(),
    )
    cols = tuple(Column(c, LogicalType("int"), nullable=False) for c in ("k", "x_runner_index_1", "x_runner_index_2"))
    child = TableSpec(
        "t",
        "live_game_fielding_credits_of_the_whole_season",
        cols,
        primary_key=("k",),
        foreign_keys=(
            ForeignKey(("k", "x_runner_index_1", "x_runner_index_2"), "t", "runners", ("a", "b", "c")),
            ForeignKey(("k", "x_runner_index_2", "x_runner_index_1"), "t", "runners", ("a", "b", "c")),
        ),
    )
    legacy = [f"fk_{child.name}_{'_'.join(fk.columns)}"[:63] for fk in child.foreign_keys]
    assert legacy[0] == legacy[1]  # the old names: one constraint silently stood for both
    for _ in range(2):  # twice: the second run adds nothing
        with open_sink(pg_dsn) as sink:
            sink.begin()
            sink.ensure_table(parent)
            sink.ensure_table(child)
            sink.commit()
    with open_sink(pg_dsn) as sink:
        found = sink.driver.exec("SELECT conname FROM pg_constraint WHERE contype = 'f' ORDER BY 1")  # type: ignore[attr-defined]
    assert sorted(n for (n,) in found) == sorted(fk_name(child, fk) for fk in child.foreign_keys)


def test_identifier_limits_are_data() -> None:
    assert identifier_limit("postgres") == 63 and identifier_limit("duckdb") is None
    assert identifier_limit("delta") == identifier_limit("parquet") == 255
    assert identifier_limit() == 63  # the strictest store


def test_validate_refuses_a_name_the_strictest_store_cannot_hold(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(BASE.replace("game.plays", f"game.{LONG}"), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert f"targets[1].table: name '{LONG}' is 74 bytes, longer than the 63 a store holds: shorten it" in result.output
    assert "(the strictest store (PostgreSQL); --sink names yours)" in result.output
    ok = CliRunner().invoke(app, ["validate", str(path), "--sink", f"duckdb:{tmp_path / 'x.duckdb'}"])
    assert ok.exit_code == 0, ok.output
    pg = CliRunner().invoke(app, ["validate", str(path), "--sink", "postgresql://u@h/db"])
    assert pg.exit_code == 1 and "(postgresql sink)" in pg.output
