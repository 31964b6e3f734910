"""Nesting far below the root of a document (issue 18 #2): the document or the row is refused alone, never a raw
``RecursionError`` aborting the run.

JSON text nested 100,000 levels deep inside a play is rejected as a document (the parser stops at 1024 levels) and
quarantined with that reason; the other documents are written. A value kept whole as JSON text (a ``json`` column)
nested deeper than the encoders go refuses its row, quarantined with the rest of the row.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import snapshot
from tidemark.cli.main import app
from tidemark.sinks import open_sink
from tidemark.sinks.bookkeeping import quarantine_spec
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

MARK = "@@deep@@"
PLAYS = "game.live_game_plays"
META = "game.live_game_metadata"


def write_deep(path: Path, doc: dict[str, Any], levels: int) -> Path:
    """An enveloped .json.gz whose ``MARK`` string becomes ``levels`` nested arrays (too deep to build in Python)."""
    text = json.dumps({"endpoint": "game", "method": "liveGameV1", "response": doc})
    assert text.count(f'"{MARK}"') == 1
    text = text.replace(f'"{MARK}"', "[" * levels + "1" + "]" * levels)
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write(text)
    return path


def write_plain(path: Path, doc: dict[str, Any]) -> Path:
    return write_deep(path, {**doc, "extra": MARK}, 0)


def read(url: str, table: str) -> list[dict[str, Any]]:
    if table == "quarantine":
        spec = quarantine_spec()
    else:
        schema, name = table.split(".")
        spec = TableSpec(schema, name, (Column("game_pk", LogicalType("bigint"), nullable=False),))
    with open_sink(url) as sink:
        return sink.read_table(spec).to_pylist()  # type: ignore[no-any-return]


def in_play(feed: dict[str, Any]) -> dict[str, Any]:
    def deepen(doc: dict[str, Any]) -> None:
        doc["liveData"]["plays"]["allPlays"][9]["playEvents"][0]["details"]["deep"] = MARK

    return snapshot(feed, edit=deepen)


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_document_nested_100000_levels_inside_its_plays_is_rejected_alone(
    kind: str, tmp_path: Path, feed_747175: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue("pg_dsn") if kind == "postgres" else f"duckdb:{tmp_path / 't.duckdb'}"
    deep = write_deep(tmp_path / "docs" / "a_deep.json.gz", in_play(feed_747175), 100_000)
    good = write_plain(tmp_path / "docs" / "b_good.json.gz", snapshot(feed_747175, game_pk=2))
    result = CliRunner().invoke(app, ["run", "--mapping", "mlb:live_game", "--sink", url, "--input", str(deep.parent)])
    assert result.exit_code == 1, result.output
    assert "RecursionError" not in result.output and "Traceback" not in result.output
    assert "1 document(s) rejected" in result.output
    (line,) = [x for x in result.output.splitlines() if "a_deep.json.gz" in x]
    assert "nested deeper than 1024 levels" in line
    plays = read(url, PLAYS)
    assert len(plays) == 75 and {p["game_pk"] for p in plays} == {2}
    assert [m["game_pk"] for m in read(url, META)] == [2]
    (entry,) = read(url, "quarantine")
    assert entry["origin"] == str(deep) and entry["table_name"] is None
    assert "nested deeper than 1024 levels" in entry["reason"]
    assert good.exists()


def test_a_json_column_nested_too_deeply_refuses_its_row(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    # 1000 levels: the parser takes it (its limit is 1024), no encoder writes it back as JSON text
    doc = snapshot(feed_747175, edit=lambda d: d["gameData"].__setitem__("absChallenges", MARK))
    deep = write_deep(tmp_path / "docs" / "a_deep.json.gz", doc, 1000)
    write_plain(tmp_path / "docs" / "b_good.json.gz", snapshot(feed_747175, game_pk=2))
    url = f"duckdb:{tmp_path / 't.duckdb'}"
    result = CliRunner().invoke(app, ["run", "--mapping", "mlb:live_game", "--sink", url, "--input", str(deep.parent)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "row(s) refused" in result.output
    assert [m["game_pk"] for m in read(url, META)] == [2]
    # the game's other rows are refused with it, as children of its missing metadata row (issue 18 #4)
    assert {p["game_pk"] for p in read(url, PLAYS)} == {2}
    entries = [e for e in read(url, "quarantine") if e["table_name"] == META]
    assert len(entries) == 1
    assert entries[0]["reason"] == "abs_challenges: a value nested too deeply is not a valid json"
    row = json.loads(entries[0]["row_data"])
    assert row["game_pk"] == 747175 and row["venue_name"] == "Chase Field"
    assert "nested too deeply" in row["abs_challenges"]
