"""The sports-results case end to end: flat JSON matches without ids, corrections, an older re-scrape.

data/examples/results holds three made-up scrapes. Whatever the order and however often they are loaded, the table
holds one row per match with the corrected score, and the counts say what happened.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tidemark
from tests.conformance.stores import Opener
from tests.test_write_support import store_fixture, stored
from tidemark.cli.main import app
from tidemark.write.files import read_files

any_store = store_fixture()

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "data" / "examples" / "results"
FIRST = RESULTS / "results_2024-05-26.json"
CORRECTIONS = RESULTS / "results_2024-05-27_corrections.json"
RESCRAPE = RESULTS / "results_2024-05-25_rescrape.json"
CONFIG = RESULTS / "write.yaml"
KEY = {
    "name": "match_id",
    "from": ["league", "match_date", "home_team", "away_team", "players"],
    "trim": True,
    "casefold": True,
    "sort_lists": True,
}
CORRECTED = {
    ("2024-05-11", "Drop Shots"): (2, 0),
    ("2024-05-18", "Court Jesters"): (2, 1),
    ("2024-05-25", "Net Gains"): (2, 1),
}


def by_match(rows: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, int]]:
    """(date, away team) identifies a match in this dataset (stored names keep the winning scrape's spelling)."""
    return {(str(r["match_date"]), r["away_team"].strip()): (r["home_sets"], r["away_sets"]) for r in rows}


def load(paths: list[Path], sink: Any) -> tidemark.WriteResult:
    return tidemark.write(read_files(paths), sink, "results.matches", mode="upsert", key=KEY, timestamp="scraped_at")


def test_all_three_files_in_one_write_twice(any_store: Opener) -> None:
    with any_store() as sink:
        first = load([RESCRAPE, FIRST, CORRECTIONS], sink)
    assert (first.rows, first.inserted, first.updated, first.skipped, first.error) == (20, 12, 0, 8, 0)
    assert (first.keys.duplicates, first.keys.dropped_older, first.keys.coverage) == (8, 8, 100.0)
    with any_store() as sink:
        second = load([CORRECTIONS, RESCRAPE, FIRST], sink)
    assert (second.inserted, second.updated, second.unchanged, second.skipped) == (0, 0, 12, 8)
    table = by_match(stored(any_store, second))
    assert len(table) == 12
    for match, score in CORRECTED.items():
        assert table[match] == score
    assert table[("2024-05-25", "Drop Shots")] == (2, 1)  # the older re-scrape (1-1, in play) did not win


@pytest.mark.parametrize(
    "order",
    list(itertools.permutations([FIRST, CORRECTIONS, RESCRAPE])),
    ids=lambda o: "-".join(p.name.split("_")[1][5:10] for p in o),
)
def test_any_order_file_by_file_gives_the_same_table(tmp_path: Path, order: tuple[Path, ...]) -> None:
    url = f"duckdb:{tmp_path / 'wh.duckdb'}"
    results = [load([path], url) for path in order]
    assert sum(r.inserted for r in results) == 12  # one row per match, whatever came first
    again = [load([path], url) for path in order]
    assert [(r.inserted, r.updated) for r in again] == [(0, 0)] * 3  # a re-run changes nothing
    with tidemark.open_sink(url) as sink:
        assert again[0].spec is not None
        table = by_match(sink.read_table(again[0].spec).to_pylist())
    assert len(table) == 12 and all(table[m] == s for m, s in CORRECTED.items())


def test_the_cli_with_the_example_write_block(tmp_path: Path) -> None:
    """The README's command: flat files + write.yaml, a summary with the counts and the key report."""
    runner = CliRunner()
    files = [str(p) for p in (FIRST, CORRECTIONS, RESCRAPE)]
    args = ["write", *files, "--config", str(CONFIG), "--connection", f"warehouse=duckdb:{tmp_path / 'wh.duckdb'}"]
    done = runner.invoke(app, args)
    assert done.exit_code == 0, done.output
    assert "results.matches" in done.output and "100.00% keyed (20 of 20 rows" in done.output
    assert "8 duplicate key(s) in the input, resolved by newest_wins: 8 older dropped" in done.output
    again = runner.invoke(app, [*args, "--json"])
    summary = json.loads(again.output)
    assert summary["counts"] == {"inserted": 0, "updated": 0, "unchanged": 12, "skipped": 8, "deleted": 0, "error": 0}


def test_the_cli_with_options_only(tmp_path: Path) -> None:
    runner = CliRunner()
    db = tmp_path / "wh.duckdb"
    args = ["write", str(RESULTS), "--sink", f"duckdb:{db}", "--table", "results.matches", "--timestamp", "scraped_at"]
    key = "match_id=league,match_date,home_team,away_team,players"
    done = runner.invoke(app, [*args, "--key", key, "--json"])
    assert done.exit_code == 0, done.output
    counts = json.loads(done.output)["counts"]
    # without trim / case folding / sorted players, the differently spelled scrapes are other matches
    assert counts["inserted"] > 12 and counts["inserted"] + counts["skipped"] == 20
