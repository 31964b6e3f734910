"""Bad input: every kind is a clear error or a rejected document / refused row, and the stored tables do not change.

Each test loads the real game first, then runs bad input over the same DuckDB file and compares.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import GAME_747175, snapshot, write_docs
from tidemark.errors import SourceError
from tidemark.runtime.batch import RunResult

META = "game.live_game_metadata"
PLAYS = "game.live_game_plays"
PITCHES = "game.live_game_pitch_events"
KEYS = {META: "game_pk", PLAYS: "game_pk, at_bat_index", PITCHES: "game_pk, at_bat_index, event_index"}
LATER = "20240713_050000"  # newer than the recorded feed: accepted bad documents would change the tables


def query(db: Path, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql).to_arrow_table().to_pylist()  # type: ignore[no-any-return]
    finally:
        con.close()


def dump(db: Path) -> dict[str, list[dict[str, Any]]]:
    return {t: query(db, f"SELECT * FROM {t} ORDER BY {k}") for t, k in KEYS.items()}


def quarantine(db: Path) -> list[dict[str, Any]]:
    return query(db, "SELECT * FROM _tidemark.quarantine ORDER BY origin, table_name, row_key")


def run(db: Path, paths: list[Path]) -> RunResult:
    return tidemark.run("mlb:live_game", paths, f"duckdb:{db}")


@pytest.fixture
def loaded(tmp_path: Path, feed_747175: dict[str, Any]) -> tuple[Path, dict[str, list[dict[str, Any]]]]:
    """A DuckDB file holding the real game, and its tables as they were."""
    db = tmp_path / "t.duckdb"
    assert run(db, write_docs(tmp_path / "good", [feed_747175])).ok
    return db, dump(db)


def raw_feed(feed: dict[str, Any], **changes: Any) -> bytes:
    return json.dumps({"response": snapshot(feed, **changes)}).encode()


def assert_rejected(result: RunResult, origin: Path, *reason_parts: str) -> None:
    assert not result.ok
    found = [r for r in result.rejected if r.origin == str(origin)]
    assert len(found) == 1, result.rejected
    for part in reason_parts:
        assert part in found[0].reason, found[0].reason


def test_truncated_json_is_rejected_and_nothing_changes(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    db, before = loaded
    path = tmp_path / "truncated.json"
    data = raw_feed(feed_747175, timestamp=LATER)
    path.write_bytes(data[: len(data) // 2])
    result = run(db, [path])
    assert_rejected(result, path, "not valid JSON")
    assert result.documents == 0
    assert dump(db) == before
    (entry,) = quarantine(db)
    assert entry["origin"] == str(path) and entry["table_name"] is None and "not valid JSON" in entry["reason"]


def test_a_bom_is_not_an_error(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    db = tmp_path / "t.duckdb"
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + raw_feed(feed_747175))
    result = run(db, [path])
    assert result.ok
    assert result.tables[PITCHES].inserted == 290


def test_non_utf8_bytes_are_rejected(loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    db, before = loaded
    latin1 = tmp_path / "latin1.json"
    text = raw_feed(feed_747175, timestamp=LATER).decode()
    latin1.write_bytes(text.replace("Chase Field", "Estadio Señor").encode("latin-1"))
    raw_byte = tmp_path / "raw_byte.json"
    raw_byte.write_bytes(raw_feed(feed_747175, timestamp=LATER).replace(b"Chase Field", b"Chase \xff Field"))
    result = run(db, [latin1, raw_byte])
    assert_rejected(result, latin1, "not valid JSON")
    assert_rejected(result, raw_byte, "not valid JSON")
    assert "UTF-8" in result.rejected[0].reason or "utf-8" in result.rejected[0].reason.lower()
    assert dump(db) == before


def test_empty_file_is_rejected(loaded: tuple[Path, Any], tmp_path: Path) -> None:
    db, before = loaded
    empty = tmp_path / "empty.json"
    empty.write_bytes(b"")
    blank = tmp_path / "blank.json"
    blank.write_bytes(b"\xef\xbb\xbf  \n")
    result = run(db, [empty, blank])
    assert_rejected(result, empty, "empty document")
    assert_rejected(result, blank, "empty document")
    assert dump(db) == before


def test_corrupt_gzip_is_rejected(loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    db, before = loaded
    good = gzip.compress(raw_feed(feed_747175, timestamp=LATER))
    cut = tmp_path / "cut.json.gz"
    cut.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.json.gz"
    garbage.write_bytes(b"this is not gzip at all")
    result = run(db, [cut, garbage])
    assert_rejected(result, cut, "cannot read file")
    assert_rejected(result, garbage, "cannot read file")
    assert dump(db) == before


def test_no_snapshot_time_rejects_the_document_and_others_still_load(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    db, before = loaded

    def no_timestamp(doc: dict[str, Any]) -> None:
        del doc["metaData"]["timeStamp"]

    def bad_timestamp(doc: dict[str, Any]) -> None:
        doc["metaData"]["timeStamp"] = "yesterday"

    paths = write_docs(
        tmp_path / "mixed",
        [
            snapshot(feed_747175, game_pk=1, edit=no_timestamp),
            snapshot(feed_747175, game_pk=2, plays=3),  # a good document in the same run
            snapshot(feed_747175, game_pk=3, edit=bad_timestamp),
        ],
    )
    result = run(db, paths)
    assert_rejected(result, paths[0], "no snapshot time at $.metaData.timeStamp")
    assert_rejected(result, paths[2], "'yesterday'", "does not parse", "%Y%m%d_%H%M%S")
    assert result.documents == 1
    assert result.tables[META].inserted == 1 and result.tables[PLAYS].inserted == 3
    after = dump(db)
    assert [r["game_pk"] for r in after[META]] == [2, 747175]
    assert [r for r in after[PLAYS] if r["game_pk"] == 747175] == before[PLAYS]
    assert [r for r in after[PITCHES] if r["game_pk"] == 747175] == before[PITCHES]
    assert {e["origin"] for e in quarantine(db)} == {str(paths[0]), str(paths[2])}


def test_a_document_without_its_plays_does_not_empty_the_game(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    """A newer document missing liveData.plays.allPlays is malformed: rejected, not read as 'the game has no plays'."""
    db, before = loaded

    def no_live_data(doc: dict[str, Any]) -> None:
        del doc["liveData"]

    paths = write_docs(tmp_path / "bad", [snapshot(feed_747175, timestamp=LATER, edit=no_live_data)])
    result = run(db, paths)
    assert_rejected(result, paths[0], "liveData.plays.allPlays")
    assert dump(db) == before


def test_a_required_path_missing_rejects_the_document(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        """\
source: {name: live, document: $.response, timestamp: {path: $.metaData.timeStamp, format: "%Y%m%d_%H%M%S"}}
targets:
  - table: g.plays
    rows: $.liveData.plays.allPlays[*]
    required: true
    primary_key: [game_pk, at_bat_index]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint}
      - {name: at_bat_index, path: about.atBatIndex, type: int}
""",
        encoding="utf-8",
    )

    def no_plays(doc: dict[str, Any]) -> None:
        del doc["liveData"]["plays"]["allPlays"]

    paths = write_docs(tmp_path / "docs", [snapshot(feed_747175, edit=no_plays), snapshot(feed_747175, game_pk=2)])
    result = tidemark.run(mapping, paths, f"duckdb:{tmp_path / 't.duckdb'}")
    assert_rejected(result, paths[0], "required path '$.liveData.plays.allPlays[*]'", "g.plays", "missing")
    assert result.tables["g.plays"].inserted == 75


def test_wrong_type_in_a_field_refuses_the_row_with_column_and_value(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    """The same snapshot again with one bad value: that row is refused and quarantined, nothing else changes."""
    db, before = loaded

    def bad_inning(doc: dict[str, Any]) -> None:
        # play 9 ends a half-inning: no other row derives a value from it (outs_before reads the previous play of
        # the same half-inning), so only this row is affected
        doc["liveData"]["plays"]["allPlays"][9]["about"]["inning"] = "second"

    paths = write_docs(tmp_path / "bad", [snapshot(feed_747175, edit=bad_inning)])
    result = run(db, paths)
    assert not result.ok
    assert result.rejected == []
    (error,) = [e for e in result.row_errors if e.table == PLAYS]
    assert error.key == {"game_pk": 747175, "at_bat_index": 9}
    assert "inning" in error.reason and '"second"' in error.reason and "int" in error.reason
    # the play's pitches in game.statcast_pitches read its inning (^.about.inning) and are refused with it
    pitches = [e for e in result.row_errors if e.table != PLAYS]
    assert pitches and {(e.table, e.key["at_bat_index"]) for e in pitches} == {("game.statcast_pitches", 9)}
    assert error.origin == str(paths[0])
    assert result.tables[PLAYS].error == 1
    assert result.tables[PLAYS].unchanged == 74
    assert dump(db) == before
    (entry,) = [e for e in quarantine(db) if e["table_name"] == PLAYS]
    assert len(quarantine(db)) == 1 + len(pitches)
    assert json.loads(entry["row_key"]) == {"at_bat_index": 9, "game_pk": 747175}
    assert "inning" in entry["reason"] and "second" in entry["reason"]
    assert json.loads(entry["row_data"])["inning"] == "second"
    assert entry["origin"] == str(paths[0])


def test_a_refused_row_in_a_newer_snapshot_keeps_its_previous_version(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    """Reconciliation deletes rows *absent* from a newer snapshot; a refused row is present, only unreadable."""
    db, before = loaded

    def bad_rbi(doc: dict[str, Any]) -> None:  # play 10 is a walk: no other table reads its rbi
        doc["liveData"]["plays"]["allPlays"][10]["result"]["rbi"] = "none"

    paths = write_docs(tmp_path / "bad", [snapshot(feed_747175, timestamp=LATER, edit=bad_rbi)])
    result = run(db, paths)
    assert not result.ok and len(result.row_errors) == 1
    assert result.tables[PLAYS].updated == 74
    assert result.tables[PLAYS].deleted == 0
    kept = [r for r in dump(db)[PLAYS] if r["at_bat_index"] == 10]
    assert kept == [r for r in before[PLAYS] if r["at_bat_index"] == 10]
    assert len(dump(db)[PITCHES]) == 290


def test_wrong_types_in_several_tables(loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    db, before = loaded

    def bad_values(doc: dict[str, Any]) -> None:
        doc["gameData"]["weather"]["temp"] = "hot"
        play = doc["liveData"]["plays"]["allPlays"][3]
        pitch = next(e for e in play["playEvents"] if e.get("isPitch"))
        pitch["pitchData"]["startSpeed"] = {"mph": 95}
        pitch["pitchNumber"] = 1.5

    paths = write_docs(tmp_path / "bad", [snapshot(feed_747175, edit=bad_values)])
    result = run(db, paths)
    reasons = {e.table: e.reason for e in result.row_errors}
    statcast = "game.statcast_pitches"  # the same pitch, Savant-shaped: refused for the same values
    assert set(reasons) == {META, PITCHES, statcast}
    assert "weather_temp_f" in reasons[META] and '"hot"' in reasons[META]
    assert "start_speed" in reasons[PITCHES] and '{"mph":95}' in reasons[PITCHES]
    assert "pitch_number" in reasons[PITCHES] and "1.5" in reasons[PITCHES]
    assert "release_speed" in reasons[statcast] and '{"mph":95}' in reasons[statcast]
    assert dump(db) == before
    assert {e["table_name"] for e in quarantine(db)} == {META, PITCHES, statcast}


def test_a_missing_key_value_is_an_error_row(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    db, before = loaded

    def no_at_bat_index(doc: dict[str, Any]) -> None:
        del doc["liveData"]["plays"]["allPlays"][2]["about"]["atBatIndex"]

    paths = write_docs(tmp_path / "bad", [snapshot(feed_747175, edit=no_at_bat_index)])
    result = run(db, paths)
    assert not result.ok
    play_errors = [e for e in result.row_errors if e.table == PLAYS]
    assert len(play_errors) == 1 and "at_bat_index" in play_errors[0].reason
    assert dump(db) == before


def test_a_missing_input_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"input not found: .*nowhere\.json"):
        run(tmp_path / "t.duckdb", [tmp_path / "nowhere.json"])


def test_bad_ndjson_lines_are_rejected_one_by_one(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    path = tmp_path / "feeds.ndjson"
    good = raw_feed(feed_747175, plays=2)
    path.write_bytes(good + b"\n" + good[:100] + b"\n" + raw_feed(feed_747175, plays=2, game_pk=5) + b"\n")
    db = tmp_path / "t.duckdb"
    result = run(db, [path])
    assert [(r.origin, "not valid JSON" in r.reason) for r in result.rejected] == [(f"{path}:2", True)]
    assert result.documents == 2
    assert [r["game_pk"] for r in dump(db)[META]] == [5, 747175]


def test_a_refused_row_survives_later_replays_until_a_clean_snapshot(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    db, before = loaded
    original = [r for r in before[PLAYS] if r["at_bat_index"] == 10]

    def bad_rbi(doc: dict[str, Any]) -> None:
        doc["liveData"]["plays"]["allPlays"][10]["result"]["rbi"] = "none"

    run(db, write_docs(tmp_path / "bad", [snapshot(feed_747175, timestamp=LATER, edit=bad_rbi)]))
    replay = run(db, write_docs(tmp_path / "replay", [feed_747175]))  # the older, clean snapshot again
    assert replay.ok
    assert replay.tables[PLAYS].deleted == 0
    assert [r for r in dump(db)[PLAYS] if r["at_bat_index"] == 10] == original
    clean = run(db, write_docs(tmp_path / "clean", [snapshot(feed_747175, timestamp=LATER)]))
    assert clean.ok
    assert (clean.tables[PLAYS].updated, clean.tables[PLAYS].unchanged) == (1, 74)
    assert {str(r["captured_at"]) for r in dump(db)[PLAYS]} == {"2024-07-13 05:00:00+00:00"}


def test_a_document_without_its_game_pk_is_refused_and_others_load(
    loaded: tuple[Path, Any], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    db, before = loaded

    def no_game_pk(doc: dict[str, Any]) -> None:
        del doc["gamePk"]

    paths = write_docs(
        tmp_path / "docs",
        [snapshot(feed_747175, timestamp=LATER, edit=no_game_pk), snapshot(feed_747175, game_pk=2, plays=4)],
    )
    result = run(db, paths)
    assert not result.ok
    assert {e.origin for e in result.row_errors} == {str(paths[0])}
    assert any(e.table == META and "game_pk" in e.reason for e in result.row_errors)
    after = dump(db)
    assert [r["game_pk"] for r in after[META]] == [2, 747175]
    assert [r for r in after[PLAYS] if r["game_pk"] == 747175] == before[PLAYS]
    assert len([r for r in after[PLAYS] if r["game_pk"] == 2]) == 4


def test_overwrite_with_every_document_rejected_keeps_the_tables(tmp_path: Path) -> None:
    db = tmp_path / "keep.duckdb"
    assert tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}").ok
    bad = tmp_path / "bad.json"
    bad.write_text('{"gamePk": 1, "liveData": ')
    result = tidemark.run("mlb:live_game", [bad], f"duckdb:{db}", mode="overwrite")
    assert not result.ok and len(result.rejected) == 1
    assert result.tables["game.live_game_plays"].deleted == 0
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*) FROM game.live_game_plays").fetchone() == (75,)
