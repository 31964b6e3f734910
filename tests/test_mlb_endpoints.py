"""Every other recorded Stats API endpoint through its MLB mapping into DuckDB: rows counted by a plain walk of the
recorded JSON, keys, spot-checked values, the play-by-play tables equal to the live feed's, and the snapshot time of
documents that carry none (the record's captured_at, else the recorded file's modification time).
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import DATA, GAME_747175

# mapping -> recorded directories it reads (relative to data/statsapi)
ENDPOINTS: dict[str, list[str]] = {
    "schedule": ["schedule/schedule", "schedule/tieGames"],
    "postseason_schedule_series": ["schedule/postseasonScheduleSeries"],
    "boxscore": ["game/boxscore"],
    "linescore": ["game/linescore"],
    "play_by_play": ["game/playByPlay"],
    "content": ["game/content"],
    "win_probability": ["game/getWinProbability"],
    "game_context_metrics": ["game/getGameContextMetrics"],
    "person": ["person/person"],
    "free_agents": ["person/freeAgents"],
    "teams": ["team/teams"],
    "team_stats": ["team/stats"],
    "roster": ["team/roster"],
    "coaches": ["team/coaches"],
    "alumni": ["team/alumni"],
    "seasons": ["season/seasons", "season/allSeasons"],
    "divisions": ["division/divisions"],
    "draft_picks": ["draft/draftPicks"],
    "draft_prospects": ["draft/draftProspects"],
    "latest_draft_picks": ["draft/latestDraftPicks"],
}


def docs(directory: str) -> Iterator[dict[str, Any]]:
    """The recorded documents of a directory (without their envelope), in file order."""
    for path in sorted((DATA / directory).glob("*.json.gz")):
        with gzip.open(path, "rb") as fh:
            yield json.loads(fh.read())["response"]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[duckdb.DuckDBPyConnection, dict[str, Any]]:
    """All endpoint mappings run over their recorded files into one DuckDB file (plus the live feed of 747175)."""
    db = tmp_path_factory.mktemp("endpoints") / "mlb.duckdb"
    results = {
        name: tidemark.run(f"mlb:{name}", [DATA / d for d in dirs], f"duckdb:{db}") for name, dirs in ENDPOINTS.items()
    }
    results["live_game"] = tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}")
    return duckdb.connect(str(db)), results


def count(con: duckdb.DuckDBPyConnection, table: str, where: str = "") -> int:
    row = con.sql(f"SELECT count(*) FROM {table} {where}").fetchone()  # test-owned table names only
    assert row is not None
    return int(row[0])


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    return con.sql(sql).to_arrow_table().to_pylist()  # type: ignore[no-any-return]


def test_there_is_a_mapping_for_every_recorded_endpoint() -> None:
    recorded = {p.parent.relative_to(DATA).as_posix() for p in DATA.rglob("*.json.gz")}
    covered = {d for dirs in ENDPOINTS.values() for d in dirs} | {"game/liveGameV1"}
    assert recorded == covered


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_recorded_file_loads_without_rejects_or_error_rows(
    warehouse: tuple[Any, dict[str, Any]], name: str
) -> None:
    result = warehouse[1][name]
    files = sum(len(list((DATA / d).glob("*.json.gz"))) for d in ENDPOINTS[name])
    assert result.ok, (result.rejected, result.row_errors[:3])
    assert result.documents == files


def test_schedule_one_row_per_game_per_date(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    games = {
        (g["gamePk"], d["date"])
        for s in ("schedule/schedule", "schedule/tieGames")
        for doc in docs(s)
        for d in doc["dates"]
        for g in d["games"]
    }
    assert count(con, "schedule.schedule_games") == len(games) == 4  # 3 received, 747175 derived (data/PROVENANCE.md)
    assert count(con, "schedule.schedule_dates") == len({d for _, d in games})
    (ws1,) = rows(con, "SELECT * FROM schedule.schedule_games WHERE game_pk = 775300")
    assert (ws1["away_team_name"], ws1["home_team_name"], ws1["away_score"], ws1["home_score"]) == (
        "New York Yankees",
        "Los Angeles Dodgers",
        3,
        6,
    )
    assert (ws1["description"], str(ws1["schedule_date"]), ws1["series_description"]) == (
        "World Series Game 1",
        "2024-10-25",
        "World Series",
    )


def test_a_suspended_game_is_kept_on_both_of_its_dates(tmp_path: Path) -> None:
    """A real schedule entry listed on a second date (as the API lists a suspended game): two rows, one per date."""
    (doc,) = list(docs("schedule/schedule"))[:1]
    day = doc["dates"][0]
    resumed = json.loads(json.dumps(day))
    resumed["date"] = "2024-10-26"
    resumed["games"][0]["resumedFromDate"] = day["date"]
    doc["dates"].append(resumed)
    path = tmp_path / "schedule.json.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(json.dumps({"response": doc}).encode())
    db = tmp_path / "s.duckdb"
    assert tidemark.run("mlb:schedule", [path], f"duckdb:{db}").ok
    con = duckdb.connect(str(db), read_only=True)
    got = con.sql(
        "SELECT game_pk, schedule_date::VARCHAR, resumed_from_date::VARCHAR FROM schedule.schedule_games ORDER BY 2"
    ).fetchall()
    assert got == [(775300, "2024-10-25", None), (775300, "2024-10-26", "2024-10-25")]


def test_postseason_series(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    (doc,) = list(docs("schedule/postseasonScheduleSeries"))
    assert count(con, "schedule.postseason_series") == len(doc["series"]) == 11
    assert count(con, "schedule.postseason_series_games") == sum(len(s["games"]) for s in doc["series"]) == 43
    (ws,) = rows(con, "SELECT * FROM schedule.postseason_series WHERE series_id = 'W_1'")
    assert (ws["season"], ws["game_type"], ws["series_description"], ws["total_games"]) == (
        2024,
        "W",
        "World Series",
        5,
    )
    assert count(con, "schedule.postseason_series_games", "WHERE series_id = 'W_1' AND season = 2024") == 5


def test_boxscore(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    (doc,) = list(docs("game/boxscore"))
    assert count(con, "game.boxscore_teams") == 2
    assert count(con, "game.boxscore_players") == sum(len(t["players"]) for t in doc["teams"].values()) == 51
    assert count(con, "game.boxscore_officials") == len(doc["officials"]) == 4
    assert count(con, "game.boxscore_info") == len(doc["info"]) == 13
    (home,) = rows(con, "SELECT * FROM game.boxscore_teams WHERE side = 'home'")
    assert (home["game_pk"], home["team_id"], home["runs"], home["hits"]) == (747175, 109, 5, 6)
    (nelson,) = rows(con, "SELECT * FROM game.boxscore_players WHERE player_id = 669194")
    assert (nelson["side"], nelson["outs_recorded"], nelson["pitches_thrown"], nelson["pitching_strike_outs"]) == (
        "home",
        21,  # the feed's "7.0" innings
        98,
        5,
    )
    assert nelson["innings_pitched_decimal"] == 7.0 and isinstance(nelson["season_era"], float)
    # the boxscore agrees with the live feed's boxscore lists
    assert con.sql(
        "SELECT count(*) FROM game.live_game_home_batting_order o JOIN game.boxscore_players p "
        "ON p.game_pk = o.game_pk AND p.player_id = o.player_id AND p.batting_order_code = o.batting_order_code"
    ).fetchone() == (9,)


# Issue 23: a quantity has one name in every table that holds it (old names in docs/mlb.md, "Renamed columns").
PITCHING_LINE = ("full_name", "outs_recorded", "pitches_thrown", "pitching_strikes", "hits_allowed", "runs_allowed")
PITCHING_LINE += ("earned_runs_allowed", "pitching_base_on_balls", "pitching_strike_outs")


def test_sibling_tables_name_a_pitchers_line_alike(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    columns = ", ".join(PITCHING_LINE)
    for side in ("home", "away"):
        pitchers = rows(con, f"SELECT player_id, {columns} FROM game.live_game_{side}_pitchers ORDER BY player_id")
        box = rows(
            con,
            f"SELECT player_id, {columns} FROM game.boxscore_players WHERE side = '{side}' AND player_id IN "
            f"(SELECT player_id FROM game.live_game_{side}_pitchers) ORDER BY player_id",
        )
        assert len(pitchers) >= 3 and pitchers == box, side  # both tables of the same feed, same names, same values
    (nelson,) = rows(con, "SELECT * FROM game.live_game_home_pitchers WHERE player_id = 669194")
    assert (nelson["hits_allowed"], nelson["earned_runs_allowed"], nelson["home_runs_allowed"]) == (
        5,
        3,
        0,
    )  # "7.0 IP, 3 ER, 5 K, 0 BB"
    # Savant's player_name is the pitcher as "Last, First": only game.statcast_pitches uses the name
    named = con.sql(
        "SELECT table_schema || '.' || table_name FROM information_schema.columns WHERE column_name = 'player_name'"
    ).fetchall()
    assert named == [("game.statcast_pitches",)]


def test_linescore(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    (doc,) = list(docs("game/linescore"))
    assert count(con, "game.linescore_innings") == len(doc["innings"]) == 9
    (line,) = rows(con, "SELECT * FROM game.linescore")
    assert (
        line["game_pk"],
        line["away_runs"],
        line["home_runs"],
        line["home_is_winner"],
        line["defense_pitcher_id"],
    ) == (
        747175,
        4,
        5,
        True,
        643338,
    )
    same = con.sql(
        "SELECT count(*) FROM game.linescore_innings l JOIN game.live_game_linescore_innings g USING (game_pk, inning) "
        "WHERE l.home_runs IS NOT DISTINCT FROM g.home_runs AND l.away_hits = g.away_hits"
    ).fetchone()
    assert same == (9,)


# -- playByPlay = the live feed's play tables --------------------------------------------------------------------------
PLAY_TABLES = ["plays", "pitch_events", "play_actions", "hit_data", "runners", "fielding_credits", "scoring_plays"]


@pytest.mark.parametrize("table", PLAY_TABLES)
def test_play_by_play_gives_the_live_feeds_rows(warehouse: tuple[Any, dict[str, Any]], table: str) -> None:
    con, _ = warehouse
    pbp, live = f"game.play_by_play_{table}", f"game.live_game_{table}"
    columns = [r[0] for r in con.sql(f"DESCRIBE {pbp}").fetchall() if r[0] not in ("captured_at", "_tidemark_hash")]
    live_columns = [r[0] for r in con.sql(f"DESCRIBE {live}").fetchall()]
    assert set(columns) <= set(live_columns)
    cols = ", ".join(f'"{c}"' for c in columns)
    assert count(con, pbp) == count(con, live) > 0
    only_pbp = f"SELECT {cols} FROM {pbp} EXCEPT SELECT {cols} FROM {live}"
    only_live = f"SELECT {cols} FROM {live} EXCEPT SELECT {cols} FROM {pbp}"
    diff = con.sql(f"({only_pbp}) UNION ALL ({only_live})")
    assert diff.fetchall() == []


def test_play_by_play_counts_are_the_issues(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, results = warehouse
    expected = {
        "plays": 75,
        "pitch_events": 290,
        "play_actions": 41,
        "hit_data": 48,
        "runners": 101,
        "fielding_credits": 80,
        "scoring_plays": 8,
    }
    assert {t: count(con, f"game.play_by_play_{t}") for t in PLAY_TABLES} == expected
    assert results["play_by_play"].tables["game.play_by_play_plays"].inserted == 75


def test_content(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    (doc,) = list(docs("game/content"))
    assert count(con, "game.content_highlights") == len(doc["highlights"]["highlights"]["items"]) == 15
    assert count(con, "game.content_broadcast_groups") == len(doc["media"]["epg"]) == 3
    assert count(con, "game.content_broadcasts") == sum(len(e["items"]) for e in doc["media"]["epg"]) == 8
    (summary,) = rows(con, "SELECT * FROM game.content_summary")
    assert (summary["game_pk"], summary["recap_headline"], summary["has_recap_article"]) == (
        747175,
        "Perdomo, D-backs walk off to go above .500",
        True,
    )


def test_win_probability_and_context_metrics(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    (plays,) = list(docs("game/getWinProbability"))
    assert count(con, "game.win_probability") == len(plays) == 75
    (first,) = rows(con, "SELECT * FROM game.win_probability WHERE at_bat_index = 0")
    assert (first["game_pk"], first["home_win_probability"], first["away_win_probability"]) == (747175, 52.2, 47.8)
    (last,) = rows(con, "SELECT * FROM game.win_probability WHERE at_bat_index = 74")
    assert last["home_win_probability"] == 100.0
    (metrics,) = rows(con, "SELECT * FROM game.game_context_metrics")
    assert (
        metrics["game_pk"],
        metrics["home_win_probability"],
        metrics["timecode"],
        metrics["series_game_number"],
    ) == (
        747175,
        100.0,
        "20241027_120000",
        1,
    )
    assert metrics["left_field_sac_fly_probability"] == "{}"


def test_people_and_free_agents(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    people = [p for doc in docs("person/person") for p in doc["people"]]
    assert count(con, "person.people") == len(people) == 5
    (trout,) = rows(con, "SELECT * FROM person.people WHERE person_id = 545361")
    assert (trout["full_name"], trout["nick_name"], str(trout["mlb_debut_date"]), trout["primary_position"]) == (
        "Mike Trout",
        "Kiiiiid",
        "2011-07-08",
        "RF",
    )
    (fa_doc,) = list(docs("person/freeAgents"))
    assert count(con, "person.free_agents") == len(fa_doc["freeAgents"]) == 478
    (adames,) = rows(con, "SELECT * FROM person.free_agents WHERE player_id = 642715")
    assert (
        adames["full_name"],
        adames["season"],
        adames["new_team_name"],
        str(adames["date_signed"]),
        adames["notes"],
    ) == (
        "Willy Adames",
        2024,
        "San Francisco Giants",
        "2024-12-10",
        "Seven-Year Contract",
    )
    unsigned = sum(1 for f in fa_doc["freeAgents"] if "dateSigned" not in f)
    assert count(con, "person.free_agents", "WHERE date_signed IS NULL") == unsigned > 0


def test_teams_and_team_stats(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    teams = {(t["id"], t["season"]) for doc in docs("team/teams") for t in doc["teams"]}
    assert count(con, "team.teams") == len(teams) == 35  # 30 teams of 2024 + 5 single-team requests of 2025
    (yankees,) = rows(con, "SELECT * FROM team.teams WHERE team_id = 147 AND season = 2025")
    assert (yankees["name"], yankees["venue_name"], yankees["division_name"]) == (
        "New York Yankees",
        "Yankee Stadium",
        "American League East",
    )
    (stats_doc,) = list(docs("team/stats"))
    assert count(con, "team.team_stats") == len(stats_doc["stats"][0]["splits"]) == 30
    (padres,) = rows(con, "SELECT * FROM team.team_stats WHERE team_id = 135")
    assert (padres["season"], padres["stat_group"], padres["home_runs"], padres["avg"], padres["rank"]) == (
        2024,
        "hitting",
        190,
        0.263,  # the API's ".263"
        1,
    )
    assert json.loads(padres["stat"])["numberOfPitches"] == 23637


def test_roster_coaches_and_alumni(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    (roster,) = list(docs("team/roster"))
    assert count(con, "team.roster") == len(roster["roster"]) == 54
    (andrews,) = rows(con, "SELECT * FROM team.roster WHERE person_id = 677076")
    assert (andrews["team_id"], andrews["roster_type"], andrews["status_code"], andrews["requested_season"]) == (
        147,
        "fullSeason",
        "MIN",
        2024,
    )
    (coaches,) = list(docs("team/coaches"))
    assert count(con, "team.coaches") == len(coaches["roster"]) == 11
    (boone,) = rows(con, "SELECT * FROM team.coaches WHERE person_id = 111213")
    assert (boone["job_id"], boone["title"], boone["jersey_number"]) == ("MNGR", "Manager", "17")
    (alumni,) = list(docs("team/alumni"))
    assert count(con, "team.alumni", "WHERE team_id = 147 AND season = 2024") == len(alumni["people"]) == 31
    (andujar,) = rows(con, "SELECT * FROM team.alumni WHERE person_id = 609280")
    assert (andujar["full_name"], andujar["alumni_last_season"]) == ("Miguel Andujar", 2022)


def test_seasons_and_divisions(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    seasons = {
        s["seasonId"] for d in ("season/seasons", "season/allSeasons") for doc in docs(d) for s in doc["seasons"]
    }
    assert count(con, "season.seasons") == len(seasons) == 151
    (s2024,) = rows(con, "SELECT * FROM season.seasons WHERE season_id = 2024")
    assert (s2024["sport_id"], str(s2024["regular_season_start_date"]), str(s2024["all_star_date"])) == (
        1,
        "2024-03-20",
        "2024-07-16",
    )
    (divisions,) = list(docs("division/divisions"))
    assert count(con, "league.divisions") == len(divisions["divisions"]) == 63
    (acl,) = rows(con, "SELECT * FROM league.divisions WHERE division_id = 570")
    assert (acl["name"], acl["league_id"], acl["sport_id"], acl["num_playoff_teams"]) == (
        "Arizona Complex League Central",
        121,
        16,
        1,
    )


def test_draft(warehouse: tuple[Any, dict[str, Any]]) -> None:
    con, _ = warehouse
    drafts = [doc["drafts"] for doc in docs("draft/draftPicks")]
    picks = {(d["draftYear"], p["pickNumber"]) for d in drafts for r in d["rounds"] for p in r["picks"]}
    assert count(con, "draft.draft_picks") == len(picks) == 775
    assert count(con, "draft.draft_rounds") == sum(len(d["rounds"]) for d in drafts) == 34
    (first,) = rows(con, "SELECT * FROM draft.draft_picks WHERE year = 2024 AND pick_number = 1")
    assert (first["full_name"], first["team_name"], first["signing_bonus"], first["round"]) == (
        "Travis Bazzana",
        "Cleveland Guardians",
        8950000,
        "1",
    )
    prospects = {(int(p["year"]), p["person"]["id"]) for doc in docs("draft/draftProspects") for p in doc["prospects"]}
    assert count(con, "draft.draft_prospects") == len(prospects) == 6  # the API repeats some prospects
    (latest,) = rows(con, "SELECT * FROM draft.latest_draft_picks")
    assert (latest["year"], latest["pick_number"], latest["full_name"], latest["next_up"]) == (
        2024,
        615,
        "Mac Rose",
        "[]",
    )


def test_documents_without_a_time_take_the_recorded_files_time(tmp_path: Path) -> None:
    src = next((DATA / "team" / "coaches").glob("*.json.gz"))
    copy = tmp_path / src.name
    copy.write_bytes(src.read_bytes())
    written = datetime(2024, 10, 27, 12, 0, tzinfo=UTC)
    os.utime(copy, (written.timestamp(), written.timestamp()))
    db = tmp_path / "t.duckdb"
    assert tidemark.run("mlb:coaches", [copy], f"duckdb:{db}").ok
    with duckdb.connect(str(db), read_only=True) as con:
        stored = con.sql("SELECT DISTINCT captured_at FROM team.coaches").to_arrow_table().to_pylist()
    assert stored == [{"captured_at": written}]
    # a record that says when it was captured wins over the file's time, and (newer) replaces the rows
    record = json.loads(gzip.decompress(src.read_bytes()))
    record["captured_at"] = "2024-10-28T08:00:00Z"
    record["response"]["roster"] = record["response"]["roster"][:3]
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(record), encoding="utf-8")
    result = tidemark.run("mlb:coaches", [newer], f"duckdb:{db}")
    assert result.ok
    assert (
        result.tables["team.coaches"].unchanged + result.tables["team.coaches"].updated,
        result.tables["team.coaches"].deleted,
    ) == (3, 8)
