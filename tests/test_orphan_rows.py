"""A document whose child rows have no parent row (issue 18, item 4): PostgreSQL used to roll the whole run back at
its foreign-key check while DuckDB stored the rows. Now, on both, the orphans are quarantined with the key they
miss, everything else is written, and the run exits 1 listing them (docs/write-contract.md, "Foreign keys")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tidemark
from tests.conftest import snapshot, write_docs
from tidemark.cli.main import app
from tidemark.sinks import open_sink
from tidemark.sinks.bookkeeping import quarantine_spec
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

PLAYS = "game.live_game_plays"
PLAYERS = "game.live_game_players"


def without_batter(feed: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """The feed with the first play's batter removed from ``gameData.players``: his rows lose their parent."""
    batter = feed["liveData"]["plays"]["allPlays"][0]["matchup"]["batter"]["id"]

    def drop(doc: dict[str, Any]) -> None:
        del doc["gameData"]["players"][f"ID{batter}"]

    return snapshot(feed, edit=drop), int(batter)


def stored_keys(url: str, table: str, *cols: str) -> list[tuple[Any, ...]]:
    spec = TableSpec("game", table.split(".")[1], tuple(Column(c, LogicalType("bigint"), nullable=False) for c in cols))
    with open_sink(url) as sink:
        return [tuple(r[c] for c in cols) for r in sink.read_table(spec).to_pylist()]


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_orphan_rows_are_quarantined_and_the_rest_written(
    kind: str, tmp_path: Path, feed_747175: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_dsn") if kind == "postgres" else f"duckdb:{tmp_path / 't.duckdb'}"
    doc, batter = without_batter(feed_747175)
    (path,) = write_docs(tmp_path / "docs", [doc])
    result = CliRunner().invoke(app, ["run", "--mapping", "mlb:live_game", "--sink", url, "--input", str(path)])
    assert result.exit_code == 1, result.output
    assert "row(s) refused" in result.output
    assert f"no parent row with game_pk=747175, player_id={batter} is stored" in result.output

    run = tidemark.run("mlb:live_game", [path], url)  # the same again, for its result: the orphans again
    assert not run.ok and run.rejected == []
    # his plays, runs, fielding credits... and, in cascade, the rows of his plays (pitches, runners, actions)
    assert all("no parent row with game_pk=747175" in e.reason for e in run.row_errors)
    assert sum(f"player_id={batter}" in e.reason for e in run.row_errors) >= 4
    his = [p for p in doc["liveData"]["plays"]["allPlays"] if p["matchup"]["batter"]["id"] == batter]
    plays = run.tables[PLAYS]
    assert plays.error == len(his) >= 1 and plays.unchanged + plays.error == 75
    stored_plays = stored_keys(url, PLAYS, "game_pk", "at_bat_index")
    assert len(stored_plays) == 75 - len(his)
    assert (747175, 0) not in stored_plays  # the first play's batter is the missing player
    assert (747175, batter) not in stored_keys(url, PLAYERS, "game_pk", "player_id")
    with open_sink(url) as sink:
        entries = sink.read_table(quarantine_spec()).to_pylist()
    assert len(entries) == 2 * len(run.row_errors)  # both runs quarantined them
    assert {e["reason"] for e in entries} == {e.reason for e in run.row_errors}
