"""Replay directories for the MLB workflow tests, made of the bundled real responses (data/statsapi) and edited
copies of them: schedules listing the bundled games, and live sequences of game 747175 (earlier snapshots made by
truncating its real feed, with earlier ``metaData.timeStamp``), written as the recorder writes them."""

from __future__ import annotations

import copy
import gzip
import shutil
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson

from tests.conftest import DATA, load_envelope
from tidemark.domains.mlb.client import StatsApiClient, builtin_catalog
from tidemark.http import ManualClock, ReplayTransport
from tidemark.http.recording import RequestKey, envelope_bytes, request_key

SCHEDULE = DATA / "schedule" / "schedule"
RANGE_SCHEDULE = SCHEDULE / "schedule_endDate=2024-10-22_sportId=1_startDate=2024-10-20_57a3094d70f0.json.gz"
#: the bundled final feeds (game pk -> file), and the one with a full game to cut into live snapshots
FEEDS = {
    747175: "liveGameV1_game_pk=747175_4240fc08a038.json.gz",
    718096: "liveGameV1_game_pk=718096_rebootmotion-a25bcc0.json.gz",
    748534: "liveGameV1_game_pk=748534_gamefeedapi-1e13ffc.json.gz",
    777687: "liveGameV1_game_pk=777687_mlbt-5c8270b.json.gz",
}


def replay_root(tmp_path: Path) -> Path:
    """A copy of the bundled recordings (schedules and sequences are added to it)."""
    root = tmp_path / "replay"
    shutil.copytree(DATA, root)
    return root


def write_envelope(path: Path, key: RequestKey, url: str, response: Any, status: int = 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = orjson.dumps(response)
    path.write_bytes(gzip.compress(envelope_bytes(key, url, status, "2024-07-13T00:00:00+00:00", body), mtime=0))
    return path


def listed(game_pk: int, day: str, abstract: str, detailed: str, game_date: str | None = None) -> dict[str, Any]:
    """A schedule entry: the real one of the bundled range schedule, edited to another game, date and state."""
    game = copy.deepcopy(load_envelope(RANGE_SCHEDULE)["response"]["dates"][0]["games"][0])
    game.update(gamePk=game_pk, officialDate=day, gameDate=game_date or f"{day}T23:05:00Z", gameType="R")
    game["link"] = f"/api/v1.1/game/{game_pk}/feed/live"
    game["status"] = {**game["status"], "abstractGameState": abstract, "detailedState": detailed}
    return game


def schedule_document(days: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    document = copy.deepcopy(load_envelope(RANGE_SCHEDULE)["response"])
    template = document["dates"][0]
    document["dates"] = [{**template, "date": day, "games": games, "events": []} for day, games in days.items()]
    document["totalGames"] = sum(len(games) for games in days.values())
    return document


def add_schedule(root: Path, params: dict[str, object], days: dict[str, list[dict[str, Any]]]) -> Path:
    request = builtin_catalog().prepare("schedule", params)
    path = root / "schedule" / "schedule" / f"{request.key.stem}.json.gz"
    return write_envelope(path, request.key, request.full_url, schedule_document(days))


def feed(game_pk: int) -> dict[str, Any]:
    return load_envelope(DATA / "game" / "liveGameV1" / FEEDS[game_pk])["response"]  # type: ignore[no-any-return]


def live_snapshot(plays: int, timestamp: str, abstract: str = "Live", detailed: str = "In Progress") -> dict[str, Any]:
    """An in-progress (or preview) snapshot of game 747175: its real final feed cut to ``plays`` plays."""
    doc = copy.deepcopy(feed(747175))
    doc["liveData"]["plays"]["allPlays"] = doc["liveData"]["plays"]["allPlays"][:plays]
    doc["metaData"]["timeStamp"] = timestamp
    doc["gameData"]["status"].update(abstractGameState=abstract, detailedState=detailed)
    return doc


def add_sequence(root: Path, game_pk: int, responses: list[tuple[int, Any]]) -> Path:
    """A recorded sequence of the feed request of ``game_pk``: (status, document) served one per request."""
    request = builtin_catalog().prepare("live_game", {"gamePk": game_pk})
    folder = root / "game" / "liveGameV1" / request.key.stem
    for i, (status, response) in enumerate(responses, 1):
        write_envelope(folder / f"{i:06d}.json.gz", request.key, request.full_url, response, status)
    return folder


class CountingTransport(httpx.BaseTransport):
    """The replay transport, counting the requests it answers by their key; ``fail_after`` feed requests raise."""

    def __init__(self, root: Path) -> None:
        self.inner = ReplayTransport(root)
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        key = request_key(request)
        with self._lock:
            self.counts[key.describe()] += 1
        return self.inner.handle_request(request)

    def of(self, method: str) -> Counter[str]:
        return Counter({k: v for k, v in self.counts.items() if k.split(" ")[0].endswith("/" + method)})


def client(
    root: Path, clock: ManualClock | None = None, concurrency: int = 4
) -> tuple[StatsApiClient, CountingTransport]:
    transport = CountingTransport(root)
    api = StatsApiClient(transport=transport, clock=clock or ManualClock(), rate=1e6, concurrency=concurrency)
    return api, transport
