"""The 20 liveGameV1 tables of the MLB pack on the recorded feeds: counts (the issue's figures for game 747175, and a
plain walk of the JSON for every feed), values, derived columns, foreign keys checked in SQL, and the odd feeds (in
progress, pre-game, World Series, 2021-era) loading without a rejected document, an error row or a shifted column.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import GAME_747175, LIVE, snapshot, write_docs
from tidemark.compile.plan import Plan, compile_mapping
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import load_mapping
from tidemark.sources.files import iter_documents

T = "game.live_game_"
STATCAST = "game.statcast_pitches"
FEEDS = sorted(LIVE.glob("*.json.gz"))


def load(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rb") as fh:
        return json.loads(fh.read())["response"]  # type: ignore[no-any-return]


def walk_counts(feed: dict[str, Any]) -> dict[str, int]:
    """Rows each table should get, counted by walking the JSON directly (independent of the mapping)."""
    live = feed["liveData"]
    plays = live["plays"]["allPlays"]
    events = [e for p in plays for e in p.get("playEvents", [])]
    runners = [r for p in plays for r in p.get("runners", [])]
    box = live["boxscore"]["teams"]
    counts = {
        "metadata": 1,
        "linescore_innings": len(live["linescore"].get("innings", [])),
        "players": len(feed["gameData"]["players"]),
        "plays": len(plays),
        "pitch_events": sum(e.get("isPitch") is True for e in events),
        "play_actions": sum(e.get("isPitch") is not True for e in events),
        "hit_data": sum(e.get("isPitch") is True and "hitData" in e for e in events),
        "runners": len(runners),
        "fielding_credits": sum(len(r.get("credits", [])) for r in runners),
        "scoring_plays": len(live["plays"].get("scoringPlays", [])),
        "umpires": len(live["boxscore"].get("officials", [])),
        "venue_details": 1 if "venue" in feed["gameData"] else 0,
    }
    for side in ("home", "away"):
        for name, key in (("batting_order", "battingOrder"), ("pitchers", "pitchers"), ("bench", "bench")):
            counts[f"{side}_{name}"] = len(box[side].get(key, []))
        counts[f"{side}_bullpen"] = len(box[side].get("bullpen", []))
    return counts


ISSUE_747175 = {
    "metadata": 1,
    "linescore_innings": 9,
    "players": 51,
    "plays": 75,
    "pitch_events": 290,
    "play_actions": 41,
    "hit_data": 48,
    "runners": 101,
    "fielding_credits": 80,
    "scoring_plays": 8,
    "umpires": 4,
    "venue_details": 1,
    "home_batting_order": 9,
    "away_batting_order": 9,
    "home_pitchers": 3,
    "away_pitchers": 6,
    "home_bench": 3,
    "away_bench": 3,
    "home_bullpen": 10,
    "away_bullpen": 6,
}


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_mapping(load_mapping("mlb:live_game")[0])


@pytest.fixture(scope="module")
def tables(plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Game 747175 extracted alone: table -> rows."""
    (batch,) = LocalEngine(plan).extract(iter_documents([GAME_747175]))
    assert batch.rejected == [] and batch.row_errors == []
    return {name.removeprefix(T): t.to_pylist() for name, t in batch.tables.items()}


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tidemark.RunResult]:
    """Every recorded liveGameV1 feed loaded into one DuckDB file."""
    db = tmp_path_factory.mktemp("live") / "mlb.duckdb"
    result = tidemark.run("mlb:live_game", [LIVE], f"duckdb:{db}")
    return db, result


def rows_by(rows: list[dict[str, Any]], *key: str) -> dict[tuple[Any, ...], dict[str, Any]]:
    out = {tuple(r[k] for k in key): r for r in rows}
    assert len(out) == len(rows), "duplicate keys"
    return out


def test_the_mapping_has_the_twenty_tables_of_the_issue(plan: Plan) -> None:
    assert {t.name.removeprefix(T) for t in plan.targets if t.name.startswith(T)} == set(ISSUE_747175)
    assert {t.name for t in plan.targets if not t.name.startswith(T)} == {STATCAST}  # and the Savant-shaped one
    assert all(t.name.startswith("game.") for t in plan.targets)


def test_747175_counts_are_the_issues_and_a_walk_of_the_json(tables: dict[str, list[dict[str, Any]]]) -> None:
    assert {name: len(rows) for name, rows in tables.items()} == {**ISSUE_747175, STATCAST: 290}  # a row per pitch
    assert walk_counts(load(GAME_747175)) == ISSUE_747175


def test_every_feed_loads_without_rejects_or_error_rows(warehouse: tuple[Path, tidemark.RunResult]) -> None:
    _, result = warehouse
    assert result.ok, (result.rejected, result.row_errors[:3])
    assert result.documents == len(FEEDS) == 7
    assert len(result.tables) == 21 and all(c.error == 0 for c in result.tables.values())


def test_every_game_has_the_rows_a_walk_of_its_feed_finds(warehouse: tuple[Path, tidemark.RunResult]) -> None:
    db, _ = warehouse
    con = duckdb.connect(str(db), read_only=True)
    checked = 0
    for path in FEEDS:
        feed = load(path)
        for name, expected in walk_counts(feed).items():
            sql = f"SELECT count(*) FROM game.live_game_{name} WHERE game_pk = ?"  # name from a fixed list
            assert con.execute(sql, [feed["gamePk"]]).fetchone() == (expected,), (path.name, name)
            checked += 1
    assert checked == len(FEEDS) * len(ISSUE_747175) == 7 * 20  # every table of every feed


def test_every_declared_foreign_key_holds_on_every_loaded_game(
    plan: Plan, warehouse: tuple[Path, tidemark.RunResult]
) -> None:
    db, _ = warehouse
    con = duckdb.connect(str(db), read_only=True)
    checked = 0
    for target in plan.targets:
        spec = target.spec
        for fk in spec.foreign_keys:
            on = " AND ".join(f'p."{r}" = c."{c}"' for c, r in zip(fk.columns, fk.ref_columns, strict=True))
            present = " AND ".join(f'c."{c}" IS NOT NULL' for c in fk.columns)
            child, parent = f'"{spec.schema}"."{spec.name}"', f'"{fk.ref_schema}"."{fk.ref_table}"'
            orphans = con.sql(
                f"SELECT count(*) FROM {child} c WHERE {present} AND NOT EXISTS (SELECT 1 FROM {parent} p WHERE {on})"
            ).fetchone()
            rows = con.sql(f"SELECT count(*) FROM {child} c WHERE {present}").fetchone()
            assert orphans == (0,), f"{spec.name} {fk.columns} -> {fk.ref_table}: {orphans[0] if orphans else '?'}"
            assert rows is not None and rows[0] > 0, f"{spec.name} {fk.columns}: nothing to check"
            checked += 1
    assert checked >= 30  # every child table declares at least one


def test_metadata_values(tables: dict[str, list[dict[str, Any]]]) -> None:
    (meta,) = tables["metadata"]
    assert (meta["game_pk"], meta["game_type"], meta["season"]) == (747175, "R", 2024)
    assert (meta["away_team_abbreviation"], meta["home_team_abbreviation"]) == ("TOR", "AZ")
    assert (meta["away_score"], meta["home_score"], meta["home_hits"], meta["home_left_on_base"]) == (4, 5, 6, 10)
    assert (meta["winning_pitcher_id"], meta["losing_pitcher_id"], meta["save_pitcher_id"]) == (679885, 643338, None)
    assert (meta["attendance"], meta["weather_temp_f"], meta["duration_minutes"]) == (24441, 78, 159)
    assert meta["scheduled_innings"] == 9 and meta["linescore_note"] == "Two out when winning run scored."
    assert (meta["away_mound_visits_used"], meta["home_mound_visits_used"]) == (5, 1)
    assert meta["abs_challenges"] is None and meta["status_reason"] is None


def test_innings_players_and_venue_values(tables: dict[str, list[dict[str, Any]]]) -> None:
    innings = rows_by(tables["linescore_innings"], "inning")
    assert sum(r["home_runs"] for r in innings.values()) == 5 and sum(r["away_runs"] for r in innings.values()) == 4
    assert (innings[(9,)]["home_runs"], innings[(9,)]["away_runs"], innings[(9,)]["inning_ordinal"]) == (1, 0, "9th")
    burr = rows_by(tables["players"], "player_id")[(621114,)]
    assert (burr["full_name"], str(burr["birth_date"]), burr["weight"], burr["pitch_hand"]) == (
        "Ryan Burr",
        "1994-05-28",
        220,
        "R",
    )
    (venue,) = tables["venue_details"]
    assert (venue["venue_id"], venue["name"], venue["roof_type"], venue["capacity"]) == (
        15,
        "Chase Field",
        "Retractable",
        48359,
    )
    assert (venue["time_zone"], venue["center_ft"], venue["latitude"]) == ("America/Phoenix", 407, 33.445302)


def test_plays_know_the_outs_and_runners_when_they_began(tables: dict[str, list[dict[str, Any]]]) -> None:
    play = rows_by(tables["plays"], "at_bat_index")[(19,)]
    assert (play["event"], play["inning"], play["half_inning"], play["rbi"]) == ("Single", 3, "bottom", 1)
    assert (play["outs_before"], play["outs"]) == (1, 1)
    assert (play["runner_on_first_before_id"], play["runner_on_second_before_id"]) == (None, 621028)
    assert (play["runner_on_first_after_id"], play["men_on_base"]) == (682998, "Men_On")


@pytest.mark.parametrize("path", FEEDS, ids=lambda p: p.name.split("_")[2])
def test_outs_before_every_play_is_what_the_previous_play_of_the_half_inning_left(plan: Plan, path: Path) -> None:
    (batch,) = LocalEngine(plan).extract(iter_documents([path]))
    rows = rows_by(batch.tables[T + "plays"].to_pylist(), "at_bat_index")
    plays = load(path)["liveData"]["plays"]["allPlays"]
    assert len(rows) == len(plays) > 0  # every play row is checked below (every recorded feed has a play)
    previous = None
    for play in plays:
        about = play["about"]
        same_half = previous is not None and (previous["about"]["inning"], previous["about"]["isTopInning"]) == (
            about["inning"],
            about["isTopInning"],
        )
        row = rows[(about["atBatIndex"],)]
        assert row["outs_before"] == (previous["count"]["outs"] if same_half else 0)
        made = sum(bool(r["movement"].get("isOut")) for r in play["runners"])
        if about["isComplete"]:
            assert row["outs_before"] + made == row["outs"], about["atBatIndex"]  # the baseball sense holds too
        previous = play


@pytest.mark.parametrize("path", FEEDS, ids=lambda p: p.name.split("_")[2])
def test_the_count_before_every_pitch_is_the_count_after_the_event_before_it(plan: Plan, path: Path) -> None:
    (batch,) = LocalEngine(plan).extract(iter_documents([path]))
    rows = rows_by(batch.tables[T + "pitch_events"].to_pylist(), "at_bat_index", "event_index")
    seen = 0
    for play in load(path)["liveData"]["plays"]["allPlays"]:
        events = play["playEvents"]
        for i, event in enumerate(events):
            if event.get("isPitch") is not True:
                continue
            before = events[i - 1]["count"] if i else {"balls": 0, "strikes": 0}
            row = rows[(play["about"]["atBatIndex"], i)]
            assert (row["balls_before"], row["strikes_before"]) == (before["balls"], before["strikes"])
            # one pitch adds at most one ball or one strike
            added = (row["balls_after"] - row["balls_before"], row["strikes_after"] - row["strikes_before"])
            assert added in {(0, 0), (1, 0), (0, 1)}, (play["about"]["atBatIndex"], i)
            seen += 1
    assert seen == len(rows)


def test_pitch_action_hit_runner_and_credit_values(tables: dict[str, list[dict[str, Any]]]) -> None:
    pitch = rows_by(tables["pitch_events"], "at_bat_index", "event_index")[(19, 3)]
    assert (pitch["pitch_type_code"], pitch["start_speed"], pitch["balls_before"], pitch["strikes_before"]) == (
        "SL",
        84.1,
        2,
        1,
    )
    assert (pitch["spin_rate"], pitch["extension"], pitch["pitch_call"]) == (
        2902.0,
        6.5849560925237824,
        "In play, run(s)",
    )
    hit = rows_by(tables["hit_data"], "at_bat_index", "event_index")[(19, 3)]
    assert (hit["launch_speed"], hit["launch_angle"], hit["total_distance"], hit["trajectory"]) == (
        70.5,
        22.0,
        214.0,
        "line_drive",
    )
    assert (hit["location"], hit["coord_x"], hit["batter_id"], hit["event"]) == ("9", 163.03, 682998, "Single")
    action = rows_by(tables["play_actions"], "at_bat_index", "event_index")[(0, 0)]
    assert (action["event_type_group"], action["event_type"], action["description"]) == (
        "action",
        "game_advisory",
        "Status Change - Pre-Game",
    )
    runners = rows_by(tables["runners"], "at_bat_index", "runner_index")
    newman = runners[(19, 1)]
    assert (newman["runner_id"], newman["start_base"], newman["end_base"], newman["responsible_pitcher_id"]) == (
        621028,
        "2B",
        "score",
        684320,
    )
    assert (newman["rbi"], newman["earned"], newman["is_scoring_event"], newman["play_event_index"]) == (
        True,
        True,
        True,
        3,
    )
    credit = rows_by(tables["fielding_credits"], "at_bat_index", "runner_index", "credit_index")[(19, 0, 0)]
    assert (credit["fielder_id"], credit["position"], credit["credit"]) == (543807, "RF", "f_fielded_ball")


def test_scoring_plays_are_joined_to_their_play(tables: dict[str, list[dict[str, Any]]]) -> None:
    feed = load(GAME_747175)
    plays = {p["about"]["atBatIndex"]: p for p in feed["liveData"]["plays"]["allPlays"]}
    rows = tables["scoring_plays"]
    assert (
        [r["at_bat_index"] for r in rows]
        == feed["liveData"]["plays"]["scoringPlays"]
        == [19, 30, 35, 43, 51, 59, 65, 74]
    )
    for order, row in enumerate(rows, start=1):
        play = plays[row["at_bat_index"]]
        assert row["scoring_order"] == order
        assert (row["event"], row["description"], row["inning"]) == (
            play["result"]["event"],
            play["result"]["description"],
            play["about"]["inning"],
        )
        assert (row["away_score"], row["home_score"], row["batter_id"]) == (
            play["result"]["awayScore"],
            play["result"]["homeScore"],
            play["matchup"]["batter"]["id"],
        )


def test_boxscore_lists_keep_their_order_and_join_the_players_line(tables: dict[str, list[dict[str, Any]]]) -> None:
    box = load(GAME_747175)["liveData"]["boxscore"]["teams"]
    for side in ("home", "away"):
        order = sorted(tables[f"{side}_batting_order"], key=lambda r: r["batting_slot"])
        assert [r["player_id"] for r in order] == box[side]["battingOrder"]
        assert [r["batting_slot"] for r in order] == list(range(1, 10))
        for r in order:
            player = box[side]["players"][f"ID{r['player_id']}"]
            assert (r["full_name"], r["batting_order_code"], r["hits"]) == (
                player["person"]["fullName"],
                player["battingOrder"],
                player["stats"]["batting"]["hits"],
            )
        pitchers = sorted(tables[f"{side}_pitchers"], key=lambda r: r["pitching_order"])
        assert [r["player_id"] for r in pitchers] == box[side]["pitchers"]
        for kind in ("bench", "bullpen"):
            assert [r["player_id"] for r in sorted(tables[f"{side}_{kind}"], key=lambda r: r["list_order"])] == box[
                side
            ][kind]
    nelson = rows_by(tables["home_pitchers"], "player_id")[(669194,)]
    assert (
        nelson["full_name"],
        nelson["pitching_order"],
        nelson["innings_pitched_decimal"],
        nelson["outs_recorded"],
        nelson["pitches_thrown"],
    ) == (
        "Ryne Nelson",
        1,
        7.0,  # the feed's "7.0"
        21,
        98,
    )
    carroll = rows_by(tables["home_batting_order"], "batting_slot")[(1,)]
    assert (carroll["player_id"], carroll["full_name"], carroll["batting_order_code"], carroll["position"]) == (
        682998,
        "Corbin Carroll",
        "100",
        "RF",
    )
    bullpen = rows_by(tables["home_bullpen"], "player_id")[(528748,)]
    assert bullpen["pitch_hand"] is not None and bullpen["full_name"] is not None
    umpires = rows_by(tables["umpires"], "official_type")
    assert (umpires[("Home Plate",)]["official_name"], umpires[("Home Plate",)]["official_id"]) == (
        "Doug Eddings",
        427139,
    )


def _meta(db: Path, game_pk: int) -> dict[str, Any]:
    con = duckdb.connect(str(db), read_only=True)
    (row,) = (
        con.execute("SELECT * FROM game.live_game_metadata WHERE game_pk = ?", [game_pk]).to_arrow_table().to_pylist()
    )
    return row


def test_in_progress_2021_feed_has_nulls_where_data_is_missing(warehouse: tuple[Path, tidemark.RunResult]) -> None:
    db, _ = warehouse
    meta = _meta(db, 633860)
    assert (meta["abstract_game_state"], meta["current_inning"], meta["inning_state"]) == ("Live", 7, "Bottom")
    assert (meta["winning_pitcher_id"], meta["attendance"], meta["away_mound_visits_used"]) == (None, None, None)
    assert meta["game_date"] is None and str(meta["original_date"]) == "2021-06-03"  # no officialDate in 2021
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql(
        "SELECT home_runs, away_runs FROM game.live_game_linescore_innings WHERE game_pk = 633860 AND inning = 7"
    ).fetchone() == (None, 2)
    assert con.sql(
        "SELECT at_bat_index, is_complete FROM game.live_game_plays WHERE game_pk = 633860 ORDER BY 1 DESC LIMIT 1"
    ).fetchone() == (61, False)


def test_pre_game_feed_with_2026_fields(warehouse: tuple[Path, tidemark.RunResult]) -> None:
    db, _ = warehouse
    meta = _meta(db, 824370)
    assert (meta["detailed_state"], meta["home_score"], meta["winning_pitcher_id"]) == ("Warmup", 0, None)
    assert json.loads(meta["abs_challenges"])["home"]["remaining"] == 2
    con = duckdb.connect(str(db), read_only=True)
    counts = con.sql(
        "SELECT (SELECT count(*) FROM game.live_game_plays WHERE game_pk = 824370),"
        " (SELECT count(*) FROM game.live_game_pitch_events WHERE game_pk = 824370),"
        " (SELECT count(*) FROM game.live_game_play_actions WHERE game_pk = 824370),"
        " (SELECT count(*) FROM game.live_game_home_batting_order WHERE game_pk = 824370)"
    ).fetchone()
    assert counts == (1, 0, 2, 9)


def test_world_series_and_home_team_not_batting_in_the_ninth(warehouse: tuple[Path, tidemark.RunResult]) -> None:
    db, _ = warehouse
    ws = _meta(db, 748534)
    assert (ws["game_type"], ws["save_pitcher_id"], ws["away_score"], ws["home_score"]) == ("W", 622250, 5, 0)
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql("SELECT count(*) FROM game.live_game_umpires WHERE game_pk = 748534").fetchone() == (6,)
    assert con.sql(
        "SELECT home_runs, away_runs FROM game.live_game_linescore_innings WHERE game_pk = 777687 AND inning = 9"
    ).fetchone() == (None, 1)


def test_loading_the_same_feeds_again_changes_nothing(warehouse: tuple[Path, tidemark.RunResult]) -> None:
    db, _ = warehouse
    again = tidemark.run("mlb:live_game", [LIVE], f"duckdb:{db}")
    assert again.ok
    assert {name.removeprefix(T) for name in again.tables} == {*ISSUE_747175, STATCAST}  # every table is reported
    for name, counts in again.tables.items():
        assert (counts.inserted, counts.updated, counts.deleted) == (0, 0, 0), name


def test_a_newer_shorter_snapshot_reconciles_every_child_table(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    db = f"duckdb:{tmp_path / 'r.duckdb'}"
    assert tidemark.run("mlb:live_game", [GAME_747175], db).ok
    shorter = snapshot(feed_747175, plays=20, timestamp="20240713_050000")  # newer, but only the first 20 plays
    shorter["liveData"]["plays"]["scoringPlays"] = [19]
    result = tidemark.run("mlb:live_game", write_docs(tmp_path / "docs", [shorter]), db)
    assert result.ok
    plays = shorter["liveData"]["plays"]["allPlays"]
    runners = sum(len(p["runners"]) for p in plays)
    assert result.tables[T + "plays"].deleted == 55
    assert result.tables[T + "runners"].deleted == 101 - runners
    assert result.tables[T + "scoring_plays"].deleted == 7
    con = duckdb.connect(tmp_path.joinpath("r.duckdb").as_posix(), read_only=True)
    assert con.sql("SELECT count(*) FROM game.live_game_runners").fetchone() == (runners,)
    assert con.sql("SELECT count(*) FROM game.live_game_home_batting_order").fetchone() == (9,)
