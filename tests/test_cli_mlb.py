"""tidemark ingest / backfill / live on the command line, replayed from recorded responses (no network)."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tests.mlb_replay import add_schedule, listed, replay_root
from tidemark.cli import main as cli
from tidemark.cli.main import app

runner = CliRunner()
REPLAY = ("--replay", str(DATA))


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


def test_backfill_command_replayed_into_duckdb_then_resumed(tmp_path: Path) -> None:
    root = replay_root(tmp_path)
    add_schedule(
        root,
        {"sportId": 1, "startDate": "2024-07-01", "endDate": "2024-07-20"},
        {
            "2024-07-12": [
                listed(747175, "2024-07-12", "Final", "Final"),
                listed(718096, "2024-07-12", "Final", "Final"),
            ]
        },
    )
    db = tmp_path / "mlb.duckdb"
    args = ["backfill", "--start", "2024-07-01", "--end", "2024-07-20", "--raw", str(tmp_path / "raw")]
    args += ["--replay", str(root), "--mapping", "mlb:live_game", "--sink", f"duckdb:{db}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "2 final games, 2 fetched, 0 already stored, 0 not final" in result.stdout
    assert "3 requests" in result.stdout and "0 retries, 0 failures" in result.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        games = con.execute("SELECT game_pk FROM game.live_game_metadata ORDER BY game_pk").fetchall()
    assert games == [(718096,), (747175,)]
    again = runner.invoke(app, args)
    assert "2 final games, 0 fetched, 2 already stored" in again.stdout
    assert "1 requests" in again.stdout


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
    ],
    ids=["no-dates", "mapping-without-sink", "bad-date", "intervals"],
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
