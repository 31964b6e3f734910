"""The README's offline backfill, exactly as written there: the recorded schedule of 2024-07-12 lists game 747175,
its final feed is fetched from the recordings into the raw store and loaded into DuckDB; a re-run fetches nothing."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT
from tidemark.cli.main import app


def readme_backfill() -> list[str]:
    lines = re.findall(r"^tidemark backfill .*--replay data/statsapi.*$", (ROOT / "README.md").read_text(), re.M)
    assert len(lines) == 1, lines  # the README shows one offline backfill
    return shlex.split(lines[0])[1:]


def test_the_readme_backfill_runs_offline_and_loads_the_game(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "data").symlink_to(ROOT / "data")  # the command's relative paths, from a fresh directory
    monkeypatch.chdir(tmp_path)
    args = readme_backfill()
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "1 final games, 1 fetched, 0 already stored, 0 not final" in first.output
    assert "2 requests" in first.output and "raw/: 2 appended, 0 duplicates" in first.output
    with duckdb.connect(str(tmp_path / "mlb.duckdb"), read_only=True) as con:
        game = con.sql(
            "SELECT game_pk, away_team_name, home_team_name, away_score, home_score FROM game.live_game_metadata"
        ).fetchall()
        pitches = con.sql("SELECT count(*) FROM game.statcast_pitches WHERE game_pk = 747175").fetchone()
    assert game == [(747175, "Toronto Blue Jays", "Arizona Diamondbacks", 4, 5)]
    assert pitches == (290,)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "0 fetched, 1 already stored" in again.output and "raw/: 0 appended, 1 duplicates" in again.output
    assert (tmp_path / "raw").is_dir()  # the raw store is the README's raw/, next to the command
