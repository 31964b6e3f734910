"""End to end on the bundled real game: the README's main job, through the Python API."""

from __future__ import annotations

from pathlib import Path

import duckdb

import tidemark
from tests.conftest import GAME_747175


def test_bundled_game_loads_into_duckdb(tmp_path: Path) -> None:
    db = tmp_path / "mlb.duckdb"
    result = tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}")
    assert result.ok
    assert result.tables["game.live_game_metadata"].inserted == 1
    assert result.tables["game.live_game_plays"].inserted == 75
    assert result.tables["game.live_game_pitch_events"].inserted == 290
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*) FROM game.live_game_pitch_events").fetchone() == (290,)
    assert con.sql("SELECT home_team_name, away_team_name FROM game.live_game_metadata").fetchone() == (
        "Arizona Diamondbacks",
        "Toronto Blue Jays",
    )
