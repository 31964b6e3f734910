"""tidemark live replayed on a manual clock: the day's schedule, game 747175 polled snapshot by snapshot (earlier
snapshots cut from its real feed) until its own feed says Final, each round loaded into DuckDB at once."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.mlb_replay import add_schedule, add_sequence, client, feed, listed, live_snapshot
from tests.mlb_replay import replay_root as copy_recordings
from tidemark.cli.mlb import stream_loader
from tidemark.domains.mlb.client.live import LiveOptions, LiveSummary, live
from tidemark.errors import ConfigError
from tidemark.http import ManualClock
from tidemark.raw import open_raw

DAY = date(2024, 7, 12)
START = datetime(2024, 7, 13, 1, 20, tzinfo=UTC)  # 20 minutes before the first pitch of 747175
PREVIEW = live_snapshot(0, "20240713_012000", "Preview", "Pre-Game")
EARLY = live_snapshot(30, "20240713_021500")
LATE = live_snapshot(55, "20240713_031500")
NOT_FOUND = {"messageNumber": 10, "message": "Object not found"}


def day_replay(tmp_path: Path, snapshots: list[tuple[int, Any]]) -> Path:
    """The day's schedule (747175 about to start, 718096 already final) and 747175's feed as a sequence."""
    root = copy_recordings(tmp_path)
    add_schedule(
        root,
        {"sportId": 1, "date": "2024-07-12"},
        {
            "2024-07-12": [
                listed(747175, "2024-07-12", "Preview", "Scheduled", "2024-07-13T01:40:00Z"),
                listed(718096, "2024-07-12", "Final", "Final"),
            ]
        },
    )
    add_sequence(root, 747175, snapshots)
    return root


def follow(
    tmp_path: Path, root: Path, *, stop_after_loads: int | None = None
) -> tuple[LiveSummary, list[tuple[int, str]], Any, ManualClock]:
    """Run the live day; after every load, note 747175's plays and state as the tables show them."""
    clock = ManualClock(START)
    api, transport = client(root, clock)
    db = tmp_path / "live.duckdb"
    seen: list[tuple[int, str]] = []
    stop = threading.Event()
    with api, open_raw(str(tmp_path / "raw"), create=True) as store:
        load = stream_loader("mlb:live_game", store, f"duckdb:{db}")

        def load_and_look() -> None:
            load()
            seen.append(tables_of(db))
            if stop_after_loads is not None and len(seen) >= stop_after_loads:
                stop.set()  # what SIGTERM does

        summary = live(
            api, store, DAY, load=load_and_look, options=LiveOptions(min_interval=5, max_interval=60), stop=stop
        )
    return summary, seen, transport, clock


def tables_of(db: Path) -> tuple[int, str]:
    with duckdb.connect(str(db), read_only=True) as con:
        plays = con.execute("SELECT count(*) FROM game.live_game_plays WHERE game_pk = 747175").fetchone()
        state = con.execute("SELECT detailed_state FROM game.live_game_metadata WHERE game_pk = 747175").fetchone()
    assert plays is not None and state is not None
    return int(plays[0]), str(state[0])


def test_a_live_game_replayed_ends_with_the_final_snapshot_and_polling_stopped(tmp_path: Path) -> None:
    final = feed(747175)
    root = day_replay(tmp_path, [(200, PREVIEW), (200, EARLY), (200, LATE), (200, final)])
    summary, seen, transport, clock = follow(tmp_path, root)
    assert summary.reason == "all games over"
    assert summary.games == {747175: "Final", 718096: "Final"}
    # each round's snapshot in the tables at once: Preview, in progress, in progress, Final
    assert seen == [(0, "Pre-Game"), (30, "In Progress"), (55, "In Progress"), (75, "Final")]
    # polled until its own feed said Final, then never again; the game already final: one fetch
    assert transport.of("liveGameV1") == {"game/liveGameV1 (game_pk=747175)": 4, "game/liveGameV1 (game_pk=718096)": 1}
    assert sum(transport.of("schedule").values()) == 1
    # at the interval the feed asks for (metaData.wait = 10 s, within [5, 60]), on the manual clock: no real sleep
    assert [s for s in clock.sleeps if s >= 1] == pytest.approx([10.0, 10.0, 10.0])
    assert (summary.polls, summary.snapshots, summary.loads, summary.errors) == (5, 5, 4, [])


def test_out_of_order_snapshots_and_api_errors_still_end_with_the_newest(tmp_path: Path) -> None:
    # the newer in-progress snapshot arrives first, then a 404, then an older one (a stale cache), then Final
    root = day_replay(tmp_path, [(200, PREVIEW), (200, LATE), (404, NOT_FOUND), (200, EARLY), (200, feed(747175))])
    summary, seen, transport, _ = follow(tmp_path, root)
    assert seen == [(0, "Pre-Game"), (55, "In Progress"), (55, "In Progress"), (75, "Final")]
    assert len(summary.errors) == 1 and summary.errors[0].status == 404  # logged, not retried, the game goes on
    assert transport.of("liveGameV1")["game/liveGameV1 (game_pk=747175)"] == 5
    assert summary.reason == "all games over"


def test_a_stop_ends_the_day_after_the_round_in_progress(tmp_path: Path) -> None:
    root = day_replay(tmp_path, [(200, PREVIEW), (200, EARLY), (200, LATE), (200, feed(747175))])
    summary, seen, transport, _ = follow(tmp_path, root, stop_after_loads=2)
    assert summary.reason == "stopped"
    assert seen == [(0, "Pre-Game"), (30, "In Progress")]  # the second round loaded whole, then nothing more
    assert transport.of("liveGameV1")["game/liveGameV1 (game_pk=747175)"] == 2


def test_a_day_without_games_ends_at_once_and_bad_intervals_are_refused(tmp_path: Path) -> None:
    root = copy_recordings(tmp_path)
    add_schedule(root, {"sportId": 1, "date": "2024-12-25"}, {})
    api, transport = client(root)
    with api, open_raw(str(tmp_path / "raw"), create=True) as store:
        summary = live(api, store, date(2024, 12, 25))
    assert summary.reason == "no games" and sum(transport.counts.values()) == 1
    with pytest.raises(ConfigError, match="give 0 < min <= max"):
        LiveOptions(min_interval=30, max_interval=10)
