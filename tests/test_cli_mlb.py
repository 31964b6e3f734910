"""tidemark ingest / backfill / live on the command line, replayed from recorded responses (no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.mlb_replay import FEEDS, add_schedule, add_sequence, feed, listed, live_snapshot, replay_root
from tidemark.cli import main as cli
from tidemark.cli.main import app

runner = CliRunner()
REPLAY = ("--replay", str(DATA))
#: the range schedule of the backfills below (every bundled final game on one day) and the day of ``live``
RANGE = ("--start", "2024-07-01", "--end", "2024-07-20")
DAY = "2024-07-12"


@pytest.fixture
def replayed(tmp_path: Path) -> Path:
    """The bundled recordings plus what the commands below ask for: a range schedule listing every bundled final
    game, the schedule of 2024-07-12 (747175 about to start, 718096 final), and 747175's feed as a live sequence
    (Preview, two in-progress snapshots cut from its real feed, then the real final one)."""
    root = replay_root(tmp_path)
    add_schedule(
        root,
        {"sportId": 1, "startDate": "2024-07-01", "endDate": "2024-07-20"},
        {DAY: [listed(pk, DAY, "Final", "Final") for pk in FEEDS]},
    )
    add_schedule(
        root,
        {"sportId": 1, "date": DAY},
        {
            DAY: [
                listed(747175, DAY, "Preview", "Scheduled", "2024-07-13T01:40:00Z"),
                listed(718096, DAY, "Final", "Final"),
            ]
        },
    )
    return root


def live_sequence(root: Path) -> None:
    snapshots = [
        live_snapshot(0, "20240713_012000", "Preview", "Pre-Game"),
        live_snapshot(30, "20240713_021500"),
        live_snapshot(55, "20240713_031500"),
        feed(747175),
    ]
    add_sequence(root, 747175, [(200, doc) for doc in snapshots])


def call_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["tidemark", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def test_ingest_appends_once_and_counts_the_duplicate(tmp_path: Path) -> None:
    args = ["ingest", "mlb:live_game", "gamePk=747175", "--raw", str(tmp_path / "raw"), "--replay", str(DATA)]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "1 appended, 0 duplicates (GET https://statsapi.mlb.com/api/v1.1/game/747175/feed/live" in first.stdout
    again = runner.invoke(app, args)
    assert "0 appended, 1 duplicates" in again.stdout
    schedule = runner.invoke(
        app,
        [
            "ingest",
            "mlb:schedule",
            "startDate=2024-10-20",
            "endDate=2024-10-22",
            "--raw",
            str(tmp_path / "raw"),
            *REPLAY,
        ],
    )
    assert "1 appended" in schedule.stdout
    listing = runner.invoke(app, ["raw", "ls", str(tmp_path / "raw")])
    assert "game/liveGameV1" in listing.stdout and "schedule/schedule" in listing.stdout


def test_a_request_without_recording_names_the_url_and_the_record_fix(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = call_main(
        monkeypatch, "ingest", "mlb:live_game", "gamePk=1", "--raw", str(tmp_path / "raw"), "--replay", str(DATA)
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "no recorded response for GET https://statsapi.mlb.com/api/v1.1/game/1/feed/live" in err
    assert f"record it once with --record {DATA}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["mlb:live_gam", "gamePk=1"], "unknown MLB endpoint 'live_gam' (did you mean 'live_game'?)"),
        (["mlb:live_game", "gamePK=1"], "mlb:live_game has no parameter 'gamePK' (did you mean 'gamePk'?)"),
        (["mlb:live_game", "747175"], "'747175': give parameters as NAME=VALUE"),
        (["nba:games"], "unknown API 'nba'"),
    ],
    ids=["endpoint", "parameter", "no-equals", "other-api"],
)
def test_ingest_refuses_unknown_names_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    assert call_main(monkeypatch, "ingest", *args, "--raw", str(tmp_path / "raw"), "--replay", str(DATA)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines


def test_backfill_command_replayed_into_duckdb_then_resumed(replayed: Path, tmp_path: Path) -> None:
    db = tmp_path / "mlb.duckdb"
    args = ["backfill", *RANGE, "--raw", str(tmp_path / "raw"), "--replay", str(replayed)]
    args += ["--mapping", "mlb:live_game", "--sink", f"duckdb:{db}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "4 final games, 4 fetched, 0 already stored, 0 not final" in result.stdout
    assert "5 requests" in result.stdout and "0 retries, 0 failures" in result.stdout
    assert games_in(db) == sorted(FEEDS)
    again = runner.invoke(app, args)
    assert "4 final games, 0 fetched, 4 already stored" in again.stdout
    assert "1 requests" in again.stdout
    # the load is a stream: its checkpoint is in the sink, and the second load found nothing new
    streams = runner.invoke(app, ["streams", "--sink", f"duckdb:{db}", "--raw", str(tmp_path / "raw")])
    assert f"mlb:live_game <- {tmp_path / 'raw'} [game/liveGameV1]" in streams.stdout
    assert "0 micro-batches committed now" in again.stdout


def games_in(db: Path) -> list[int]:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute("SELECT game_pk FROM game.live_game_metadata ORDER BY game_pk").fetchall()
    return [row[0] for row in found]


def test_live_command_replayed_follows_the_game_until_its_feed_says_final(replayed: Path, tmp_path: Path) -> None:
    live_sequence(replayed)
    db = tmp_path / "live.duckdb"
    args = ["live", "--date", DAY, "--raw", str(tmp_path / "raw"), "--replay", str(replayed)]
    args += ["-m", "mlb:live_game", "-s", f"duckdb:{db}", "--replay-clock", "2024-07-13T01:20:00Z"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"live {DAY}: all games over; games: 747175 Final, 718096 Final" in result.stdout
    assert "5 polls, 5 new snapshots, 0 unchanged, 4 loads, 0 errors" in result.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        plays = con.execute("SELECT count(*) FROM game.live_game_plays WHERE game_pk = 747175").fetchone()
        state = con.execute("SELECT detailed_state FROM game.live_game_metadata WHERE game_pk = 747175").fetchone()
        checkpoint = con.execute("SELECT batch FROM _tidemark.checkpoints").fetchall()
    assert plays == (75,) and state == ("Final",)
    assert len(checkpoint) == 1 and checkpoint[0][0] >= 4  # one stream, a micro-batch (at least) per load


def test_live_command_stops_after_max_polls(replayed: Path, tmp_path: Path) -> None:
    live_sequence(replayed)
    db = tmp_path / "live.duckdb"
    args = ["live", "--date", DAY, "--raw", str(tmp_path / "raw"), "--replay", str(replayed), "--max-polls", "3"]
    args += ["-m", "mlb:live_game", "-s", f"duckdb:{db}", "--replay-clock", "2024-07-13T01:20:00Z"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "max polls reached; games: 747175 In Progress, 718096 Final" in result.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        plays = con.execute("SELECT count(*) FROM game.live_game_plays WHERE game_pk = 747175").fetchone()
    assert plays == (30,)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["backfill", "--start", "2024-07-01"], "a backfill needs --season, or --start and --end"),
        (["backfill", "--season", "2024", "--mapping", "mlb:live_game"], "give --mapping and --sink together"),
        (["backfill", "--season", "2024", "--start", "July"], "--start 'July': give a date as YYYY-MM-DD"),
        (
            ["live", "-m", "mlb:live_game", "-s", "duckdb:x.duckdb", "--min-interval", "30", "--max-interval", "10"],
            "give 0 < min <= max",
        ),
        (["live", "-m", "mlb:live_game", "-s", "duckdb:x.duckdb", "--max-polls", "0"], "--max-polls 0: give at"),
        (["live", "-m", "mlb:live_game", "-s", "duckdb:x.duckdb", "--replay-clock", "noon"], "give a UTC time"),
    ],
    ids=["no-dates", "mapping-without-sink", "bad-date", "intervals", "max-polls", "replay-clock"],
)
def test_backfill_and_live_refuse_bad_flags_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    args: list[str],
    message: str,
) -> None:
    assert call_main(monkeypatch, *args, "--raw", str(tmp_path / "raw"), "--replay", str(DATA)) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
