"""Runs over snapshots of the real 747175 feed into DuckDB: the write contract as a user of the live feed meets it.

Snapshots are copies of the recorded feed, truncated (an in-progress game has fewer plays and an earlier
``metaData.timeStamp``) or edited.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import snapshot, write_docs
from tidemark.runtime.batch import RunResult

META = "game.live_game_metadata"
PLAYS = "game.live_game_plays"
PITCHES = "game.live_game_pitch_events"
KEYS = {META: "game_pk", PLAYS: "game_pk, at_bat_index", PITCHES: "game_pk, at_bat_index, event_index"}
FINAL_TS = "20240713_041909"  # the recorded feed's own metaData.timeStamp


def counts(result: RunResult, table: str) -> tuple[int, ...]:
    c = result.tables[table]
    return (c.inserted, c.updated, c.unchanged, c.skipped, c.deleted, c.error)


@cache
def all_keys() -> dict[str, str]:
    """Every table of the built-in mapping and its key (the comparisons cover all of them, not only three)."""
    plan = tidemark.compile_mapping(tidemark.load_mapping("mlb:live_game")[0])
    return {t.name: ", ".join(t.spec.primary_key) for t in plan.targets}


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored row of every table of the mapping (hash included), in key order."""
    assert KEYS.items() <= all_keys().items()
    return {t: query(db, f"SELECT * FROM {t} ORDER BY {key}") for t, key in all_keys().items()}


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """Rows as tuples (through Arrow: time-zone-aware values without pytz)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [tuple(row.values()) for row in con.sql(sql).to_arrow_table().to_pylist()]
    finally:
        con.close()


def pitches_of(feed: dict[str, Any], plays: int | None = None) -> int:
    all_plays = feed["liveData"]["plays"]["allPlays"][:plays]
    return sum(1 for p in all_plays for e in p["playEvents"] if e.get("isPitch") is True)


def in_progress(feed: dict[str, Any], plays: int, timestamp: str) -> dict[str, Any]:
    """The game as it looked earlier: ``plays`` plays, the last one still going (one pitch so far)."""

    def cut(doc: dict[str, Any]) -> None:
        last = doc["liveData"]["plays"]["allPlays"][-1]
        first_pitch = next(i for i, e in enumerate(last["playEvents"]) if e.get("isPitch"))
        last["playEvents"] = last["playEvents"][: first_pitch + 1]
        last["about"]["isComplete"] = False
        last["result"] = {"type": "atBat", "isOut": False}
        doc["gameData"]["status"]["abstractGameState"] = "Live"

    return snapshot(feed, plays=plays, timestamp=timestamp, edit=cut)


def run(db: Path, paths: list[Path], **kwargs: Any) -> RunResult:
    result = tidemark.run("mlb:live_game", paths, f"duckdb:{db}", **kwargs)
    assert result.ok, (result.rejected, result.row_errors[:3])
    return result


@pytest.fixture
def full(tmp_path: Path, feed_747175: dict[str, Any]) -> list[Path]:
    return write_docs(tmp_path / "full", [feed_747175])


def test_first_load(tmp_path: Path, full: list[Path]) -> None:
    db = tmp_path / "t.duckdb"
    result = run(db, full)
    assert result.documents == 1
    assert counts(result, META) == (1, 0, 0, 0, 0, 0)
    assert counts(result, PLAYS) == (75, 0, 0, 0, 0, 0)
    assert counts(result, PITCHES) == (290, 0, 0, 0, 0, 0)
    assert query(db, f"SELECT count(*) FROM {PLAYS}") == [(75,)]
    assert query(db, f"SELECT count(*) FROM {PITCHES}") == [(290,)]


def test_newer_snapshot_updates(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    db = tmp_path / "t.duckdb"
    early = in_progress(feed_747175, 40, "20240713_030000")
    run(db, write_docs(tmp_path / "a", [early]))
    assert query(db, f"SELECT abstract_game_state FROM {META}") == [("Live",)]
    result = run(db, write_docs(tmp_path / "b", [feed_747175]))
    assert counts(result, META) == (0, 1, 0, 0, 0, 0)
    assert counts(result, PLAYS) == (35, 40, 0, 0, 0, 0)
    early_pitches = pitches_of(early)
    assert counts(result, PITCHES) == (290 - early_pitches, early_pitches, 0, 0, 0, 0)
    assert query(db, f"SELECT abstract_game_state FROM {META}") == [("Final",)]
    last = feed_747175["liveData"]["plays"]["allPlays"][39]
    assert query(db, f"SELECT is_complete, description FROM {PLAYS} WHERE at_bat_index = 39") == [
        (True, last["result"]["description"])
    ]
    assert query(db, f"SELECT DISTINCT captured_at FROM {PLAYS}") == query(db, f"SELECT captured_at FROM {META}")


def test_older_snapshot_backfill_is_skipped(tmp_path: Path, full: list[Path], feed_747175: dict[str, Any]) -> None:
    db = tmp_path / "t.duckdb"
    run(db, full)
    before = dump(db)
    early = in_progress(feed_747175, 30, "20240713_030000")
    result = run(db, write_docs(tmp_path / "old", [early]))
    assert counts(result, META) == (0, 0, 0, 1, 0, 0)
    assert counts(result, PLAYS) == (0, 0, 0, 30, 0, 0)
    assert counts(result, PITCHES) == (0, 0, 0, pitches_of(early), 0, 0)
    assert dump(db) == before


def test_same_snapshot_again_is_unchanged(tmp_path: Path, full: list[Path]) -> None:
    db = tmp_path / "t.duckdb"
    run(db, full)
    before = dump(db)
    skipped = run(db, full)  # applied before under the same mapping: skipped before parsing (runtime/applied.py)
    assert (skipped.documents, skipped.unchanged_documents, skipped.counts.rows_seen) == (0, 1, 0)
    result = run(db, full, reprocess=True)  # parsed and applied again: every row is unchanged
    assert counts(result, META) == (0, 0, 1, 0, 0, 0)
    assert counts(result, PLAYS) == (0, 0, 75, 0, 0, 0)
    assert counts(result, PITCHES) == (0, 0, 290, 0, 0, 0)
    assert dump(db) == before


@pytest.mark.slow
def test_reverse_order_gives_the_same_tables(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    docs = [
        in_progress(feed_747175, 10, "20240713_020000"),
        in_progress(feed_747175, 45, "20240713_030000"),
        feed_747175,
    ]
    forward, backward = tmp_path / "f.duckdb", tmp_path / "b.duckdb"
    for i, path in enumerate(write_docs(tmp_path / "snaps", docs)):
        run(forward, [path])
        assert len(dump(forward)[PLAYS]) == [10, 45, 75][i]
    for path in reversed(write_docs(tmp_path / "snaps", docs)):
        run(backward, [path])
    assert dump(forward) == dump(backward)
    assert len(dump(backward)[PITCHES]) == 290


def test_two_snapshots_in_one_batch(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    early = in_progress(feed_747175, 20, "20240713_030000")
    paths = write_docs(tmp_path / "both", [feed_747175, early])
    together, apart = tmp_path / "together.duckdb", tmp_path / "apart.duckdb"
    result = run(together, paths)
    assert result.documents == 2
    assert counts(result, META) == (1, 0, 0, 1, 0, 0)
    assert counts(result, PLAYS) == (75, 0, 0, 20, 0, 0)
    assert counts(result, PITCHES) == (290, 0, 0, pitches_of(early), 0, 0)
    for path in paths:
        run(apart, [path])
    assert dump(together) == dump(apart)


def test_a_snapshot_that_drops_a_play_deletes_it_and_its_pitches(
    tmp_path: Path, full: list[Path], feed_747175: dict[str, Any]
) -> None:
    db = tmp_path / "t.duckdb"
    run(db, full)
    dropped = feed_747175["liveData"]["plays"]["allPlays"][5]
    dropped_pitches = sum(1 for e in dropped["playEvents"] if e.get("isPitch") is True)
    assert dropped_pitches > 0

    def drop_play_5(doc: dict[str, Any]) -> None:  # e.g. the feed corrected a play that was recorded by mistake
        del doc["liveData"]["plays"]["allPlays"][5]

    corrected = snapshot(feed_747175, timestamp="20240713_050000", edit=drop_play_5)
    result = run(db, write_docs(tmp_path / "corrected", [corrected]))
    assert counts(result, PLAYS) == (0, 74, 0, 0, 1, 0)
    assert counts(result, PITCHES) == (0, 290 - dropped_pitches, 0, 0, dropped_pitches, 0)
    assert query(db, f"SELECT count(*) FROM {PLAYS} WHERE at_bat_index = 5") == [(0,)]
    assert query(db, f"SELECT count(*) FROM {PITCHES} WHERE at_bat_index = 5") == [(0,)]
    assert query(db, f"SELECT count(*) FROM {PITCHES}") == [(290 - dropped_pitches,)]
    # the full snapshot is older now: running it again (parsed again) cannot bring the play back
    result = run(db, full, reprocess=True)
    assert counts(result, PLAYS) == (0, 0, 0, 75, 0, 0)
    assert query(db, f"SELECT count(*) FROM {PLAYS} WHERE at_bat_index = 5") == [(0,)]


def test_other_games_are_not_reconciled(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    db = tmp_path / "t.duckdb"
    run(db, write_docs(tmp_path / "a", [feed_747175, snapshot(feed_747175, game_pk=1)]))
    shorter = snapshot(feed_747175, plays=10, timestamp="20240713_050000")
    result = run(db, write_docs(tmp_path / "b", [shorter]))
    assert counts(result, PLAYS) == (0, 10, 0, 0, 65, 0)
    assert query(db, f"SELECT game_pk, count(*) FROM {PLAYS} GROUP BY 1 ORDER BY 1") == [(1, 75), (747175, 10)]


@pytest.mark.slow
def test_split_into_small_batches_gives_the_same_tables(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    times = {5: "20240713_020000", 30: "20240713_030000", 60: "20240713_040000"}
    docs = [in_progress(feed_747175, n, at) for n, at in times.items()] + [feed_747175]
    paths = write_docs(tmp_path / "s", docs)
    one, small = tmp_path / "one.duckdb", tmp_path / "small.duckdb"
    run(one, paths)
    result = run(small, list(reversed(paths)), batch_documents=1)
    assert dump(one) == dump(small)
    assert result.tables[PLAYS].inserted == 75
    assert query(one, f"SELECT DISTINCT strftime(captured_at, '%Y%m%d_%H%M%S') FROM {PLAYS}") == [(FINAL_TS,)]
