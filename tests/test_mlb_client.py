"""The MLB client on the recorded real responses of data/statsapi/: the catalog, canonical requests, replay
(matched by the envelopes, not by file names), live sequences, and what a schedule says."""

from __future__ import annotations

import copy
import gzip
import itertools
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DATA, load_envelope, snapshot
from tidemark.domains.mlb.client import (
    StatsApiClient,
    builtin_catalog,
    date_chunks,
    day_schedule_params,
    game_pks,
    load_catalog,
    range_schedule_params,
    schedule_requests,
    scheduled_games,
    season_dates,
)
from tidemark.errors import ConfigError
from tidemark.http import ManualClock, NoRecordingError
from tidemark.mapping.loader import resolve_mapping_path

#: the bundled recording that does not replay under its own parameters (see endpoints.yaml: divisions)
NOT_CANONICAL = {"divisions_divisionId=200_3267f057aed9.json.gz"}


def catalog_request(envelope: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The catalog name and parameters of a recorded envelope (its request, as a user would ask for it)."""
    path, query = envelope["path_params"], envelope["query_params"]
    for name, entry in builtin_catalog().endpoints.items():
        recorded_as = {(p.recorded_as or k): k for k, p in entry.path_params.items()}
        if (entry.recorded.endpoint, entry.recorded.method) != (envelope["endpoint"], envelope["method"]):
            continue
        if set(path) == set(recorded_as) and set(query) <= set(entry.query_params):
            return name, {**{recorded_as[k]: v for k, v in path.items()}, **query}
    raise AssertionError(f"no catalog entry for {envelope['endpoint']}/{envelope['method']} {path} {query}")


RECORDED = sorted(p for p in DATA.rglob("*.json.gz") if p.name not in NOT_CANONICAL)


@pytest.mark.parametrize("path", RECORDED, ids=lambda p: p.name)
def test_every_recorded_response_replays_through_the_catalog(path: Path) -> None:
    envelope = load_envelope(path)
    name, params = catalog_request(envelope)
    with StatsApiClient(replay=DATA, clock=ManualClock()) as api:
        response = api.fetch(name, params)
    assert response.status_code == 200
    assert response.json() == envelope["response"]
    assert response.key.ident == api.prepare(name, params).key.ident
    assert json.loads(response.envelope)["path_params"] == envelope["path_params"]


def test_replay_matches_envelopes_not_file_names(tmp_path: Path) -> None:
    source = DATA / "team" / "teams" / "teams_teamId=147_2b2939a35d30.json.gz"
    folder = tmp_path / "team" / "teams"
    folder.mkdir(parents=True)
    (folder / "whatever-name.json.gz").write_bytes(source.read_bytes())
    with StatsApiClient(replay=tmp_path) as api:
        assert api.fetch("teams", {"teamId": "147"}).json() == load_envelope(source)["response"]
        with pytest.raises(NoRecordingError) as caught:
            api.fetch("teams", {"teamId": 111})
    message = str(caught.value)
    assert "https://statsapi.mlb.com/api/v1/teams?teamId=111" in message
    assert f"--record {tmp_path}" in message


def test_every_catalog_mapping_exists() -> None:
    mappings = {entry.mapping for entry in builtin_catalog().endpoints.values() if entry.mapping}
    assert len(mappings) >= 15
    for mapping in mappings:
        assert resolve_mapping_path(mapping).is_file(), mapping


def test_catalog_covers_the_issue_list() -> None:
    names = set(builtin_catalog().endpoints)
    wanted = {"schedule", "live_game", "live_game_timestamps", "boxscore", "linescore", "play_by_play"}
    wanted |= {"win_probability", "person", "people", "teams", "roster", "seasons", "draft", "game_changes"}
    assert wanted <= names
    feed = builtin_catalog().endpoint("live_game")
    assert feed.url == "/api/v1.1/game/{gamePk}/feed/live" and set(feed.query_params) == {"timecode", "fields"}
    assert builtin_catalog().endpoint("game_changes").query_params["updatedSince"].required


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("shedule", {}, "unknown MLB endpoint 'shedule' (did you mean 'schedule'?)"),
        ("mlb:live_gmae", {"gamePk": 1}, "did you mean 'live_game'?"),
        ("schedule", {"startdate": "2024-07-01"}, "no parameter 'startdate' (did you mean 'startDate'?)"),
        ("live_game", {}, "mlb:live_game needs gamePk"),
        ("schedule", {"startDate": "2024-07-01"}, "startDate needs endDate as well"),
        ("live_game", {"gamePk": "abc"}, "'abc' is not a valid int"),
        ("schedule", {"date": "07/01/2024"}, "is not a valid date"),
        ("live_game", {"gamePk": 1, "timecode": "2024-10-27"}, "does not match"),
    ],
)
def test_catalog_errors_say_what_and_what_next(name: str, params: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        builtin_catalog().prepare(name, params)
    assert message in str(caught.value)


def test_a_bad_catalog_file_is_a_config_error(tmp_path: Path) -> None:
    bad = tmp_path / "endpoints.yaml"
    bad.write_text(
        "base_url: https://x\nendpoints:\n  feed:\n    url: /game/{gamePk}\n"
        "    recorded: {endpoint: game, method: live}\n    mapping: null\n    query_params:\n"
        "      gamePk: {type: int, requird: true}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_catalog(bad)
    assert str(bad) in str(caught.value) and "requird" in str(caught.value)


def test_canonical_requests() -> None:
    catalog = builtin_catalog()
    feed = catalog.prepare("live_game", {"gamePk": 747175})
    assert feed.full_url == "https://statsapi.mlb.com/api/v1.1/game/747175/feed/live" and feed.query == []
    at = catalog.prepare("live_game", {"gamePk": "747175", "timecode": "20241027_000000"})
    assert at.query == [("timecode", "20241027_000000")]
    backfill = catalog.prepare("schedule", range_schedule_params(date(2024, 7, 1), date(2024, 7, 31)))
    assert dict(backfill.query) == {"sportId": "1", "startDate": "2024-07-01", "endDate": "2024-07-31"}
    typed = catalog.prepare("schedule", range_schedule_params(date(2024, 10, 1), date(2024, 10, 31), ["F", "D"]))
    assert dict(typed.query) == {"sportId": "1", "gameType": "F,D", "startDate": "2024-10-01", "endDate": "2024-10-31"}
    live = catalog.prepare("schedule", day_schedule_params(date(2024, 10, 27)))
    assert dict(live.query) == {"sportId": "1", "date": "2024-10-27"}
    # values compare as strings: the same request however the value was given
    assert catalog.prepare("schedule", {"date": date(2024, 10, 27)}).key == live.key
    assert catalog.prepare("schedule", {"date": "2024-10-27", "sportId": "1"}).key == live.key
    people = catalog.prepare("people", {"personIds": [545361, 592450]})
    assert people.query == [("personIds", "545361,592450")]


def test_backfill_schedule_is_chunked_not_daily() -> None:
    start, end = date(2024, 2, 22), date(2024, 10, 30)
    chunks = date_chunks(start, end, days=31)
    assert len(chunks) == 9
    assert chunks[0][0] == start and chunks[-1][1] == end
    assert all((b - a).days < 31 for a, b in chunks)
    assert all((nxt[0] - cur[1]).days == 1 for cur, nxt in itertools.pairwise(chunks))
    requests = schedule_requests(start, end, ["R"])
    assert len(requests) == 9 and requests[0] == {
        "sportId": 1,
        "startDate": "2024-02-22",
        "endDate": "2024-03-23",
        "gameType": "R",
    }
    with pytest.raises(ConfigError):
        date_chunks(end, start)


def test_season_dates_from_the_recorded_seasons() -> None:
    with StatsApiClient(replay=DATA) as api:
        seasons = api.fetch("season", {"seasonId": 2024}).json()
    assert isinstance(seasons, dict)
    assert season_dates(seasons, 2024) == (date(2024, 2, 22), date(2024, 10, 30))


def test_schedule_game_pks_from_recorded_schedules() -> None:
    with StatsApiClient(replay=DATA) as api:
        ranged = api.fetch("schedule", {"startDate": "2024-10-20", "endDate": "2024-10-22"}).json()
        day = api.fetch("schedule", day_schedule_params(date(2024, 10, 26))).json()
    assert isinstance(ranged, dict) and isinstance(day, dict)
    assert game_pks(ranged) == [775302]
    [game] = scheduled_games(day)
    assert game.is_final and game.is_over and game.dates == ("2024-10-26",)


def test_a_suspended_game_listed_on_two_dates_is_one_game() -> None:
    ranged = load_envelope(next((DATA / "schedule" / "schedule").glob("schedule_endDate=*")))["response"]
    [day] = ranged["dates"]
    suspended = copy.deepcopy(day)
    suspended["date"] = "2024-10-19"
    suspended["games"][0]["status"] = {"abstractGameState": "Final", "detailedState": "Suspended: Rain"}
    other = copy.deepcopy(day["games"][0]) | {"gamePk": 1}
    resumed = copy.deepcopy(day)
    resumed["games"].append(other)
    document = {"dates": [resumed, suspended]}  # out of order on purpose
    games = scheduled_games(document)
    assert [g.game_pk for g in games] == [775302, 1]
    assert games[0].dates == ("2024-10-19", "2024-10-20") and games[0].is_final
    assert not scheduled_games({"dates": [suspended]})[0].is_final


def write_sequence(root: Path, docs: list[dict[str, Any]], game_pk: int) -> Path:
    """Envelopes of one request in a sequence folder named like that request's file without .json.gz."""
    key = builtin_catalog().prepare("live_game", {"gamePk": game_pk}).key
    folder = root / "game" / "liveGameV1" / key.stem
    folder.mkdir(parents=True)
    for i, doc in enumerate(docs):
        envelope = {
            "endpoint": "game",
            "method": "liveGameV1",
            "path_params": {"game_pk": str(game_pk)},
            "query_params": {},
            "url": f"https://statsapi.mlb.com/api/v1.1/game/{game_pk}/feed/live",
            "status_code": 200,
            "response": doc,
        }
        (folder / f"{i:03d}.json.gz").write_bytes(gzip.compress(json.dumps(envelope).encode()))
    return folder


def test_a_live_sequence_is_served_in_order_and_the_last_repeats(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    def live(doc: dict[str, Any]) -> None:
        doc["gameData"]["status"] = {"abstractGameState": "Live", "detailedState": "In Progress"}

    snapshots = [
        snapshot(feed_747175, plays=10, timestamp="20240713_013000", edit=live),
        snapshot(feed_747175, plays=40, timestamp="20240713_023000", edit=live),
        feed_747175,
    ]
    write_sequence(tmp_path, snapshots, 747175)
    with StatsApiClient(replay=tmp_path) as api:
        served = [api.fetch("live_game", {"gamePk": 747175}).json() for _ in range(5)]
    stamps = [doc["metaData"]["timeStamp"] for doc in served]  # type: ignore[index]
    assert stamps == ["20240713_013000", "20240713_023000", "20240713_041909", "20240713_041909", "20240713_041909"]
    plays = [len(doc["liveData"]["plays"]["allPlays"]) for doc in served]  # type: ignore[index]
    assert plays == [10, 40, 75, 75, 75]


def test_a_sequence_of_mixed_requests_is_refused(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    folder = write_sequence(tmp_path, [feed_747175], 747175)
    stray = json.loads(gzip.decompress((folder / "000.json.gz").read_bytes()))
    stray["path_params"] = {"game_pk": "1"}
    (folder / "001.json.gz").write_bytes(gzip.compress(json.dumps(stray).encode()))
    with StatsApiClient(replay=tmp_path) as api, pytest.raises(Exception, match="mixes requests"):
        api.fetch("live_game", {"gamePk": 747175})


def test_replay_and_record_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="exclude each other"):
        StatsApiClient(replay=DATA, record=tmp_path)


def test_docs_list_every_catalog_endpoint() -> None:
    text = (DATA.parent.parent / "docs" / "mlb.md").read_text(encoding="utf-8")
    for name, entry in builtin_catalog().endpoints.items():
        assert f"| `{name}` | `{entry.url}` |" in text, f"docs/mlb.md does not list mlb:{name}"


class ListStore:
    """The raw store's append interface over a list (the raw store itself is another branch's work)."""

    def __init__(self) -> None:
        self.batches: list[list[Any]] = []

    def append(self, records: Any) -> Any:
        self.batches.append(list(records))
        return None


def test_ingest_fetches_schedule_games_and_appends_in_batches() -> None:
    from tidemark.domains.mlb.client import ingest

    with StatsApiClient(replay=DATA) as api:
        schedule = api.fetch("schedule", {"startDate": "2024-10-20", "endDate": "2024-10-22"}).json()
        assert isinstance(schedule, dict)
        pks = [*game_pks(schedule), 747175, 1]  # 1: not recorded -> a failure, the others go on
        requests = [api.prepare("boxscore", {"gamePk": pk}) for pk in (747175,)]
        requests += [api.prepare("live_game", {"gamePk": pk}) for pk in pks]
        store = ListStore()
        summary = ingest(api, requests, store, batch=2, to_record=lambda response: response.envelope)
    assert summary.responses == 2 and summary.appended == 2
    assert [type(e).__name__ for e in summary.failures] == ["NoRecordingError", "NoRecordingError"]
    assert {f.url for f in summary.failures} == {
        "https://statsapi.mlb.com/api/v1.1/game/775302/feed/live",
        "https://statsapi.mlb.com/api/v1.1/game/1/feed/live",
    }
    envelopes = [json.loads(e) for batch in store.batches for e in batch]
    assert sorted((e["method"], e["path_params"]["game_pk"]) for e in envelopes) == [
        ("boxscore", "747175"),
        ("liveGameV1", "747175"),
    ]
