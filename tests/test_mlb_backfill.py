"""tidemark backfill on recorded real responses: schedule -> game pks -> feeds -> raw store -> tables (DuckDB), a
run killed midway and resumed (nothing stored is fetched again, same tables), related endpoints deduplicated."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import DATA, load_envelope
from tests.mlb_replay import add_schedule, client, listed, replay_root
from tidemark.cli.mlb import stream_loader
from tidemark.domains.mlb.client import date_chunks, season_dates
from tidemark.domains.mlb.client.backfill import Backfill, backfill
from tidemark.domains.mlb.client.stored import stored_state
from tidemark.errors import ConfigError
from tidemark.raw import AppendCounts, RawRecord, RawStore, open_raw

JULY = {"sportId": 1, "startDate": "2024-07-01", "endDate": "2024-07-31"}
AUGUST = {"sportId": 1, "startDate": "2024-08-01", "endDate": "2024-08-15"}
SETTINGS = Backfill(season=2024, start=date(2024, 7, 1), end=date(2024, 8, 15))
FINAL = {747175, 718096, 748534, 777687}
SEASON_2024 = DATA / "season" / "seasons" / "seasons_seasonId=2024_sportId=1_b3302db886b2.json.gz"
TABLES = ("game.live_game_metadata", "game.live_game_plays", "game.live_game_players", "game.live_game_runners")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Two months of schedule in two ranged requests: 747175 final; 718096 suspended in July and final when
    resumed in August (listed on both); 633860 postponed; 748534 and 777687 final in August."""
    replay = replay_root(tmp_path)
    add_schedule(
        replay,
        JULY,
        {
            "2024-07-12": [listed(747175, "2024-07-12", "Final", "Final")],
            "2024-07-20": [listed(718096, "2024-07-20", "Live", "Suspended: Rain")],
            "2024-07-21": [listed(633860, "2024-07-21", "Final", "Postponed")],
        },
    )
    add_schedule(
        replay,
        AUGUST,
        {
            "2024-08-02": [listed(718096, "2024-08-02", "Final", "Final")],
            "2024-08-03": [listed(748534, "2024-08-03", "Final", "Final")],
            "2024-08-04": [listed(777687, "2024-08-04", "Final", "Final")],
        },
    )
    return replay


def rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall() if not c[0].startswith("_")]
        quoted = ", ".join(f'"{c}"' for c in columns)
        return sorted(con.execute(f"SELECT {quoted} FROM {table}").fetchall(), key=repr)


def test_a_backfill_fetches_each_final_game_once_and_loads_the_tables(root: Path, tmp_path: Path) -> None:
    api, transport = client(root)
    with api, open_raw(str(tmp_path / "raw"), create=True) as store:
        summary = backfill(api, store, SETTINGS)
        stream_loader("mlb:live_game", store, f"duckdb:{tmp_path / 'mlb.duckdb'}")()
        held = stored_state(store)
    assert summary.ok, summary.failures
    # one ranged schedule request per chunk of dates, not one per day; each final game's feed once
    assert sum(transport.of("schedule").values()) == 2
    feeds = transport.of("liveGameV1")
    assert sorted(feeds) == sorted(f"game/liveGameV1 (game_pk={pk})" for pk in FINAL)
    assert set(feeds.values()) == {1}  # 718096, listed on two dates, fetched once (final)
    assert (summary.games, summary.fetched, summary.stored, summary.not_final) == (4, 4, 0, 1)
    assert summary.appended == 6  # 2 schedules + 4 feeds
    assert held.final_games == FINAL
    metadata = {row[0]: row for row in rows(tmp_path / "mlb.duckdb", "game.live_game_metadata")}
    assert set(metadata) == FINAL
    with duckdb.connect(str(tmp_path / "mlb.duckdb"), read_only=True) as con:
        states = con.execute("SELECT DISTINCT abstract_game_state FROM game.live_game_metadata").fetchall()
        plays = con.execute("SELECT count(*) FROM game.live_game_plays WHERE game_pk = 747175").fetchone()
    assert states == [("Final",)]
    assert plays == (75,)


class Crashing(RawStore):
    """A raw store that dies (like a killed process) when asked to append feed number ``after + 1``."""

    def __init__(self, inner: RawStore, after: int) -> None:
        self.inner, self.after, self.feeds = inner, after, 0
        self.display = inner.display

    def append(self, records: Iterable[RawRecord]) -> AppendCounts:
        batch = list(records)
        feeds = sum(1 for r in batch if r.method == "liveGameV1")
        if self.feeds + feeds > self.after:
            raise RuntimeError("killed")
        self.feeds += feeds
        return self.inner.append(batch)

    def read(self, after: Any = None, **options: Any) -> list[RawRecord]:
        return self.inner.read(after, **options)

    def stats(self) -> Any:
        return self.inner.stats()


def test_a_backfill_killed_midway_resumes_without_fetching_anything_stored_twice(root: Path, tmp_path: Path) -> None:
    settings = Backfill(season=2024, start=SETTINGS.start, end=SETTINGS.end, batch=1)
    first, first_transport = client(root, concurrency=1)
    with first, open_raw(str(tmp_path / "raw"), create=True) as store:
        with pytest.raises(RuntimeError, match="killed"):
            backfill(first, Crashing(store, after=2), settings)
        stored_after_crash = stored_state(store).final_games
    assert len(stored_after_crash) == 2

    second, second_transport = client(root)
    with second, open_raw(str(tmp_path / "raw")) as store:
        summary = backfill(second, store, settings)
        stream_loader("mlb:live_game", store, f"duckdb:{tmp_path / 'resumed.duckdb'}")()
    refetched = {int(k.split("=")[1].rstrip(")")) for k in second_transport.of("liveGameV1")}
    assert refetched == FINAL - stored_after_crash  # only what the killed run did not store
    assert set(second_transport.of("liveGameV1").values()) == {1}
    assert (summary.stored, summary.fetched) == (2, 2)
    assert sum(first_transport.of("liveGameV1").values()) >= 2

    third, third_transport = client(root)
    with third, open_raw(str(tmp_path / "raw")) as store:
        again = backfill(third, store, settings)
    assert (again.stored, again.fetched) == (4, 0)
    assert third_transport.of("liveGameV1") == {}  # a complete store: only the schedules are read again

    clean, _ = client(root)
    with clean, open_raw(str(tmp_path / "clean-raw"), create=True) as store:
        backfill(clean, store, settings)
        stream_loader("mlb:live_game", store, f"duckdb:{tmp_path / 'clean.duckdb'}")()
    for table in TABLES:
        resumed = rows(tmp_path / "resumed.duckdb", table)
        assert resumed, table
        assert resumed == rows(tmp_path / "clean.duckdb", table), table


def test_related_endpoints_ask_for_each_person_and_team_once_per_run(root: Path, tmp_path: Path) -> None:
    settings = Backfill(
        start=SETTINGS.start, end=SETTINGS.end, related=("boxscore", "people", "teams"), people_batch=40
    )
    api, transport = client(root)
    with api, open_raw(str(tmp_path / "raw"), create=True) as store:
        summary = backfill(api, store, settings)
        held = stored_state(store)
    people = {pk: feed.people for pk, feed in held.feeds.items()}
    teams = {pk: feed.teams for pk, feed in held.feeds.items()}
    all_people = set().union(*people.values())
    all_teams = set().union(*teams.values())
    assert sum(len(p) for p in people.values()) > len(all_people)  # the games share players ...
    assert sum(len(t) for t in teams.values()) > len(all_teams)  # ... and teams
    asked_people = [
        int(pid) for key in transport.of("person") for pid in key.split("personIds=")[1].rstrip(")").split(",")
    ]
    assert sorted(asked_people) == sorted(all_people)  # each person once, in batches of at most 40
    assert len(transport.of("person")) == -(-len(all_people) // 40)
    asked_teams = [int(key.split("teamId=")[1].rstrip(")")) for key in transport.of("teams")]
    assert sorted(asked_teams) == sorted(all_teams)
    assert set(transport.of("teams").values()) == {1}
    assert sorted(transport.of("boxscore")) == sorted(f"game/boxscore (game_pk={pk})" for pk in FINAL)
    # only what is recorded answers (747175's boxscore, five teams): the rest fails, is counted, and the run goes on
    assert summary.related["boxscore"] == 1 and held.boxscores == {747175}
    assert len(summary.failures) == len(transport.counts) - summary.appended - summary.duplicates


def test_a_backfill_without_dates_reads_the_season_and_refuses_unknown_related(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--with boxscores: unknown; give any of boxscore, people, teams"):
        Backfill(season=2024, related=("boxscores",))
    with pytest.raises(ConfigError, match="needs --season, or --start and --end"):
        Backfill(start=date(2024, 7, 1))


def test_a_season_backfill_reads_its_dates_then_one_schedule_request_per_chunk(tmp_path: Path) -> None:
    api, transport = client(DATA)
    with api, open_raw(str(tmp_path / "raw"), create=True) as store:
        summary = backfill(api, store, Backfill(season=2024, game_types=("R",)))
    first, last = season_dates(load_envelope(SEASON_2024)["response"], 2024)
    assert (summary.start, summary.end) == (first, last)
    chunks = date_chunks(first, last)
    assert len(chunks) < 12  # a season is a handful of ranged requests, not one per day
    schedules = transport.of("schedule")
    expected = {f"schedule/schedule (endDate={b}, gameType=R, sportId=1, startDate={a})" for a, b in chunks}
    assert set(schedules) == expected and set(schedules.values()) == {1}
    # none of them is recorded: each failure names its URL, nothing else is asked for
    assert len(summary.failures) == len(chunks) and not summary.ok
    assert all("--record" in str(f) and "startDate=" in f.url for f in summary.failures)
    assert transport.of("liveGameV1") == {}
