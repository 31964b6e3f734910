"""The bundled real game, run through ``tidemark.run`` into every store of the conformance list, gives the counts and
the rows it gives in DuckDB (the reference): a first load, an earlier snapshot then the recorded one (inserts and
updates), the recorded one then a newer, shorter one (reconciliation deletes rows)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tidemark
from tests.conformance.stores import Opener
from tests.conftest import GAME_747175, snapshot, write_docs
from tidemark.compile.plan import compile_mapping
from tidemark.mapping.loader import load_mapping
from tidemark.sinks import open_sink

PLAN = compile_mapping(load_mapping("mlb:live_game")[0])
Counts = list[dict[str, dict[str, int]]]  # per run: table -> counts
Tables = dict[str, list[dict[str, Any]]]


def _first_plays(n: int) -> Callable[[dict[str, Any]], None]:
    def edit(doc: dict[str, Any]) -> None:
        plays = doc["liveData"]["plays"]
        plays["allPlays"] = plays["allPlays"][:n]
        plays["scoringPlays"] = [i for i in plays["scoringPlays"] if i < n]

    return edit


@pytest.fixture(scope="module")
def scenarios(tmp_path_factory: pytest.TempPathFactory, feed_747175: dict[str, Any]) -> dict[str, list[list[Path]]]:
    """Each scenario: the runs to make, in order (each run: its input files)."""
    tmp = tmp_path_factory.mktemp("snapshots")
    stamp = feed_747175["metaData"]["timeStamp"]
    later = stamp[:-6] + ("235959" if stamp[-6:] != "235959" else "235958")
    early = snapshot(feed_747175, timestamp="20240713_020000", edit=_first_plays(30))
    return {
        "recorded": [[GAME_747175]],
        "earlier_then_recorded": [write_docs(tmp / "early", [early]), [GAME_747175]],
        "recorded_then_newer_shorter": [
            [GAME_747175],
            write_docs(tmp / "late", [snapshot(feed_747175, timestamp=later, edit=_first_plays(40))]),
        ],
    }


def load(opener: Opener, runs: list[list[Path]]) -> tuple[Counts, Tables]:
    """Make the runs into the store, then read every table of the mapping back."""
    counts = []
    with opener() as sink:
        for paths in runs:
            result = tidemark.run(PLAN, paths, sink)
            assert result.ok, (result.rejected, result.row_errors[:3])
            counts.append({name: c.as_dict() for name, c in result.tables.items()})
    return counts, tables(opener)


def tables(opener: Opener) -> Tables:
    """Every table as rows sorted by key, JSON compared by value (stores spell JSON text differently)."""
    out: Tables = {}
    with opener() as sink:
        for target in PLAN.targets:
            spec = target.spec
            rows = sink.read_table(spec).to_pylist()
            for row in rows:
                for c in (c.name for c in spec.columns if c.type.kind == "json"):
                    row[c] = None if row[c] is None else json.loads(row[c])
            order = [*spec.primary_key, *(c for c in spec.column_names if c not in spec.primary_key)]
            out[target.name] = sorted(rows, key=lambda r: tuple(str(r[c]) for c in order))
    return out


@pytest.fixture(scope="module")
def in_duckdb(
    tmp_path_factory: pytest.TempPathFactory, scenarios: dict[str, list[list[Path]]]
) -> Callable[[str], tuple[Counts, Tables]]:
    """The reference: a scenario's counts and tables in DuckDB (each made once for the module)."""
    made: dict[str, tuple[Counts, Tables]] = {}

    def reference(name: str) -> tuple[Counts, Tables]:
        if name not in made:
            url = f"duckdb:{tmp_path_factory.mktemp('reference') / f'{name}.duckdb'}"
            made[name] = load(lambda: open_sink(url), scenarios[name])
        return made[name]

    return reference


def same_as_duckdb(
    store: Opener, name: str, scenarios: dict[str, list[list[Path]]], in_duckdb: Callable[[str], tuple[Counts, Tables]]
) -> tuple[Counts, Tables]:
    counts, stored = load(store, scenarios[name])
    expected_counts, expected_tables = in_duckdb(name)
    assert counts == expected_counts
    assert list(stored) == [t.name for t in PLAN.targets]
    for table, rows in stored.items():
        assert rows == expected_tables[table], table
    return counts, stored


def test_the_recorded_game(
    store: Opener, scenarios: dict[str, list[list[Path]]], in_duckdb: Callable[[str], tuple[Counts, Tables]]
) -> None:
    (counts,), stored = same_as_duckdb(store, "recorded", scenarios, in_duckdb)
    assert counts["game.live_game_pitch_events"]["inserted"] == len(stored["game.live_game_pitch_events"]) == 290
    assert all(stored.values())  # the whole game: every table has rows


def test_an_earlier_snapshot_then_the_recorded_one(
    store: Opener, scenarios: dict[str, list[list[Path]]], in_duckdb: Callable[[str], tuple[Counts, Tables]]
) -> None:
    (_, second), stored = same_as_duckdb(store, "earlier_then_recorded", scenarios, in_duckdb)
    assert second["game.live_game_plays"]["inserted"] == 45 and second["game.live_game_plays"]["updated"] > 0
    assert len(stored["game.live_game_plays"]) == 75 and all(stored.values())


def test_the_recorded_game_then_a_newer_shorter_snapshot(
    store: Opener, scenarios: dict[str, list[list[Path]]], in_duckdb: Callable[[str], tuple[Counts, Tables]]
) -> None:
    (_, second), stored = same_as_duckdb(store, "recorded_then_newer_shorter", scenarios, in_duckdb)
    assert second["game.live_game_plays"]["deleted"] == 35
    assert len(stored["game.live_game_plays"]) == 40
