"""The local engine on the bundled real game 747175: row counts, keys and values checked against the JSON itself."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conftest import GAME_747175, snapshot, write_docs
from tidemark import compile_mapping, load_mapping
from tidemark.compile.plan import Plan
from tidemark.engines.base import ExtractBatch
from tidemark.engines.local import LocalEngine
from tidemark.sources.files import expand_inputs, iter_documents

META = "game.live_game_metadata"
PLAYS = "game.live_game_plays"
PITCHES = "game.live_game_pitch_events"
CAPTURED_AT = datetime(2024, 7, 13, 4, 19, 9, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_mapping(load_mapping("mlb:live_game")[0])


def extract(plan: Plan, paths: list[Path], batch_documents: int = 64) -> list[ExtractBatch]:
    return list(LocalEngine(plan).extract(iter_documents(expand_inputs(paths)), batch_documents=batch_documents))


def combined(batches: list[ExtractBatch], target: str) -> pa.Table:
    return pa.concat_tables([b.tables[target] for b in batches])


@pytest.fixture(scope="module")
def tables(plan: Plan) -> dict[str, pa.Table]:
    batches = extract(plan, [GAME_747175])
    assert len(batches) == 1
    assert batches[0].rejected == [] and batches[0].row_errors == []
    assert batches[0].documents == 1
    return batches[0].tables


def pitches_in(feed: dict[str, Any]) -> dict[tuple[int, int, int], dict[str, Any]]:
    """Every play event with isPitch true, by (game_pk, at_bat_index, event_index), found by walking the JSON."""
    out = {}
    for play in feed["liveData"]["plays"]["allPlays"]:
        for i, event in enumerate(play["playEvents"]):
            if event.get("isPitch") is True:
                out[(feed["gamePk"], play["about"]["atBatIndex"], i)] = event
    return out


def by_key(table: pa.Table, key: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    rows = table.to_pylist()
    found = {tuple(r[k] for k in key): r for r in rows}
    assert len(found) == len(rows), "duplicate keys"
    return found


def test_row_counts_match_a_walk_of_the_json(tables: dict[str, pa.Table], feed_747175: dict[str, Any]) -> None:
    plays = feed_747175["liveData"]["plays"]["allPlays"]
    assert tables[META].num_rows == 1
    assert tables[PLAYS].num_rows == len(plays) == 75
    assert tables[PITCHES].num_rows == len(pitches_in(feed_747175)) == 290


def test_keys_are_the_json_keys(tables: dict[str, pa.Table], feed_747175: dict[str, Any]) -> None:
    plays = by_key(tables[PLAYS], ("game_pk", "at_bat_index"))
    assert set(plays) == {(747175, p["about"]["atBatIndex"]) for p in feed_747175["liveData"]["plays"]["allPlays"]}
    pitches = by_key(tables[PITCHES], ("game_pk", "at_bat_index", "event_index"))
    assert set(pitches) == set(pitches_in(feed_747175))


def test_metadata_values(tables: dict[str, pa.Table], feed_747175: dict[str, Any]) -> None:
    (row,) = tables[META].to_pylist()
    game = feed_747175["gameData"]
    assert row["game_pk"] == 747175
    assert row["home_team_name"] == game["teams"]["home"]["name"] == "Arizona Diamondbacks"
    assert row["away_team_name"] == game["teams"]["away"]["name"] == "Toronto Blue Jays"
    assert row["venue_name"] == game["venue"]["name"]
    assert row["season"] == int(game["game"]["season"])
    assert str(row["game_date"]) == game["datetime"]["officialDate"]
    assert row["home_score"] == feed_747175["liveData"]["linescore"]["teams"]["home"]["runs"]
    assert row["captured_at"] == CAPTURED_AT


def test_play_values(tables: dict[str, pa.Table], feed_747175: dict[str, Any]) -> None:
    plays = by_key(tables[PLAYS], ("game_pk", "at_bat_index"))
    assert len(plays) == len(feed_747175["liveData"]["plays"]["allPlays"]) == 75  # every play is checked below
    for play in feed_747175["liveData"]["plays"]["allPlays"]:
        row = plays[(747175, play["about"]["atBatIndex"])]
        assert row["description"] == play["result"].get("description")
        assert row["batter_id"] == play["matchup"]["batter"]["id"]
        assert row["batter_name"] == play["matchup"]["batter"]["fullName"]
        assert row["inning"] == play["about"]["inning"]
        assert row["is_top_inning"] is play["about"]["isTopInning"]
    walk = plays[(747175, 10)]
    assert walk["description"] == "Christian Walker walks."
    assert walk["batter_id"] == 572233
    assert walk["start_time"] == datetime(2024, 7, 13, 2, 5, 44, 674000, tzinfo=UTC)


def test_pitch_values(tables: dict[str, pa.Table], feed_747175: dict[str, Any]) -> None:
    rows = by_key(tables[PITCHES], ("game_pk", "at_bat_index", "event_index"))
    assert len(rows) == len(pitches_in(feed_747175)) == 290  # every pitch is checked below
    for key, event in pitches_in(feed_747175).items():
        row = rows[key]
        assert row["play_id"] == event.get("playId")
        assert row["call_code"] == event["details"]["call"]["code"]
        speed = event.get("pitchData", {}).get("startSpeed")
        assert row["start_speed"] == (None if speed is None else float(speed))
        assert row["pitch_number"] == event.get("pitchNumber")
    first = rows[(747175, 10, 0)]
    assert first["play_id"] == "ac9a0cf4-c601-44c8-884c-0a15df025f82"
    assert first["start_speed"] == 93.7
    assert first["call_code"] == "B" and first["call_description"] == "Ball"
    assert first["pitch_type_description"] == "Four-Seam Fastball"
    assert first["batter_id"] == 572233  # read from the parent play with ^.matchup.batter.id


def test_timestamps_are_tz_aware_utc(tables: dict[str, pa.Table]) -> None:
    assert len(tables) == 21  # every table of the mapping (the 20 live_game_* and statcast_pitches)
    for name, table in tables.items():
        assert table.schema.field("captured_at").type == pa.timestamp("us", tz="UTC"), name
        assert set(table.column("captured_at").to_pylist()) == {CAPTURED_AT}, name
    start = tables[PITCHES].column("start_time").to_pylist()
    assert len(start) == 290
    assert all(t is not None and t.utcoffset() is not None and t.utcoffset().total_seconds() == 0 for t in start)


def test_whole_number_floats_written_as_ints_load_as_float(tables: dict[str, pa.Table]) -> None:
    # the real feed writes spinRate as an int (2319) although it is a double column
    assert tables[PITCHES].schema.field("spin_rate").type == pa.float64()
    first = by_key(tables[PITCHES], ("game_pk", "at_bat_index", "event_index"))[(747175, 10, 0)]
    assert first["spin_rate"] == 2319.0 and isinstance(first["spin_rate"], float)


def test_int_speeds_mixed_with_float_speeds(plan: Plan, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    def ints(doc: dict[str, Any]) -> None:
        play = doc["liveData"]["plays"]["allPlays"][10]
        play["playEvents"][0]["pitchData"]["startSpeed"] = 95  # `95` instead of `95.0`
        play["playEvents"][0]["pitchData"]["endSpeed"] = 88.0

    batches = extract(plan, write_docs(tmp_path, [snapshot(feed_747175, edit=ints)]))
    assert batches[0].row_errors == []
    rows = by_key(combined(batches, PITCHES), ("game_pk", "at_bat_index", "event_index"))
    assert rows[(747175, 10, 0)]["start_speed"] == 95.0
    assert isinstance(rows[(747175, 10, 0)]["start_speed"], float)
    assert rows[(747175, 10, 0)]["end_speed"] == 88.0
    untouched = feed_747175["liveData"]["plays"]["allPlays"][10]["playEvents"][1]["pitchData"]["startSpeed"]
    assert rows[(747175, 10, 1)]["start_speed"] == untouched


def test_ndjson_input_gives_the_same_rows(
    plan: Plan, tables: dict[str, pa.Table], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    path = tmp_path / "feeds.ndjson"
    docs = [snapshot(feed_747175), snapshot(feed_747175, game_pk=1)]
    path.write_text("".join(json.dumps({"response": d}) + "\n" for d in docs) + "\n", encoding="utf-8")
    batches = extract(plan, [path])
    assert sum(b.documents for b in batches) == 2
    plays = combined(batches, PLAYS)
    assert plays.num_rows == 150
    assert sorted(set(plays.column("game_pk").to_pylist())) == [1, 747175]
    original = combined(batches, PITCHES).filter(pa.compute.equal(combined(batches, PITCHES)["game_pk"], 747175))
    assert original.sort_by("at_bat_index").equals(tables[PITCHES].sort_by("at_bat_index"))


def test_gzipped_ndjson_with_bare_documents(plan: Plan, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    path = tmp_path / "feeds.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(snapshot(feed_747175, plays=3)) + "\n")  # no envelope: the mapping also reads `$`
    batches = extract(plan, [path])
    assert combined(batches, PLAYS).num_rows == 3
    assert batches[0].rejected == []


def test_directory_input(plan: Plan, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    write_docs(tmp_path / "in" / "game" / "liveGameV1", [snapshot(feed_747175, game_pk=k) for k in (1, 2, 3)])
    (tmp_path / "in" / "notes.txt").write_text("not a document")
    batches = extract(plan, [tmp_path / "in"])
    assert sum(b.documents for b in batches) == 3
    assert sorted(combined(batches, META).column("game_pk").to_pylist()) == [1, 2, 3]
    assert combined(batches, PITCHES).num_rows == 3 * 290


def test_bom_is_stripped(plan: Plan, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"response": feed_747175}).encode())
    batches = extract(plan, [path])
    assert batches[0].rejected == []
    assert combined(batches, PITCHES).num_rows == 290


def test_bounded_batches(plan: Plan, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    docs = [snapshot(feed_747175, plays=4, game_pk=k) for k in range(5)]
    batches = extract(plan, write_docs(tmp_path, docs), batch_documents=2)
    assert [b.documents for b in batches] == [2, 2, 1]
    for batch in batches:
        assert batch.tables[META].num_rows == batch.documents
        assert batch.tables[PLAYS].num_rows == 4 * batch.documents
        assert batch.scopes[PLAYS].num_rows == batch.documents
    assert [g for b in batches for g in b.tables[META].column("game_pk").to_pylist()] == [0, 1, 2, 3, 4]


def test_scopes_cover_documents_without_rows(plan: Plan, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    batches = extract(plan, write_docs(tmp_path, [snapshot(feed_747175, plays=0)]))
    assert combined(batches, PLAYS).num_rows == 0
    assert batches[0].scopes[PLAYS].to_pylist() == [{"game_pk": 747175, "captured_at": CAPTURED_AT}]
    assert batches[0].scopes[PITCHES].to_pylist() == [{"game_pk": 747175, "captured_at": CAPTURED_AT}]
