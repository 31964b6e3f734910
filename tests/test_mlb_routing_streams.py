"""``mlb:*`` wherever a mapping is accepted: ``tidemark stream`` and the MLB load step of ``backfill`` / ``live``
stream each endpoint of the raw store a built-in mapping reads as its own stream (the routing of
domains/mlb/routing.py); records no mapping reads are reported, not dropped silently."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import orjson
import pytest
from typer.testing import CliRunner

from tests.conftest import DATA, GAME_747175
from tests.mlb_replay import FEEDS
from tests.test_cli_mlb import DAY, RANGE, call_main, live_sequence, replayed  # noqa: F401 - replayed: the fixture
from tidemark.cli.main import app

runner = CliRunner()
SCHEDULE = sorted((DATA / "schedule" / "schedule").glob("*.json.gz"))[0]


def raw_store(tmp_path: Path) -> Path:
    """A raw store of a live feed, a schedule and a document of an endpoint no mapping reads."""
    timestamps = {
        "endpoint": "game",
        "method": "liveTimestampv11",
        "path_params": {"game_pk": "747175"},
        "query_params": {},
        "url": "",
        "status_code": 200,
        "response": ["20240713_012000"],
    }
    other = tmp_path / "timestamps.json.gz"
    other.write_bytes(gzip.compress(orjson.dumps(timestamps)))
    raw = tmp_path / "raw"
    imported = runner.invoke(app, ["raw", "import", str(raw), str(GAME_747175), str(SCHEDULE), str(other)])
    assert imported.exit_code == 0, imported.output
    return raw


def count(db: Path, table: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        quoted = ".".join(f'"{part}"' for part in table.split("."))  # the test's own constant names
        row = con.execute(f"SELECT count(*) FROM {quoted}").fetchone()
    assert row is not None
    return int(row[0])


def test_stream_mlb_star_streams_each_endpoint_and_reports_the_others(tmp_path: Path) -> None:
    raw, db = raw_store(tmp_path), tmp_path / "wh.duckdb"
    args = ["stream", "-m", "mlb:*", "--raw", str(raw), "-s", f"duckdb:{db}", "--once"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"stream mlb:live_game <- {raw} [game/liveGameV1]: 1 micro-batches committed now" in result.stdout
    assert f"stream mlb:schedule <- {raw} [schedule/schedule]: 1 micro-batches committed now" in result.stdout
    assert f"not loaded: 1 records of game/liveTimestampv11 in {raw} (no built-in mapping reads them)" in result.stderr
    assert count(db, "game.statcast_pitches") == 290 and count(db, "schedule.schedule_games") > 0
    # each is a stream of its own: a second call finds nothing new, `tidemark streams` lists both
    again = runner.invoke(app, [*args, "--json"])
    assert again.exit_code == 0, again.output
    report = json.loads(again.stdout)
    assert sorted(report["streams"]) == [
        f"mlb:live_game <- {raw} [game/liveGameV1]",
        f"mlb:schedule <- {raw} [schedule/schedule]",
    ]
    assert all(r["documents"] == 0 for r in report["streams"].values())
    assert report["unrouted"] == {"game/liveTimestampv11": {"records": 1, "store": str(raw)}}
    listed = runner.invoke(app, ["streams", "-s", f"duckdb:{db}"])
    assert listed.stdout.count(f"<- {raw} [") == 2


def test_stream_mlb_star_refuses_the_options_of_one_stream(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    raw = raw_store(tmp_path)
    args = ["stream", "-m", "mlb:*", "--raw", str(raw), "-s", f"duckdb:{tmp_path / 'x.duckdb'}", "--once"]
    assert call_main(monkeypatch, *args, "--name", "mine") == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "--mapping mlb:* runs one stream per endpoint" in lines[0], lines


def test_backfill_loads_every_endpoint_it_fetched_with_mlb_star(replayed: Path, tmp_path: Path) -> None:  # noqa: F811
    db, raw = tmp_path / "mlb.duckdb", tmp_path / "raw"
    args = ["backfill", *RANGE, "--raw", str(raw), "--replay", str(replayed), "-m", "mlb:*", "-s", f"duckdb:{db}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert count(db, "game.live_game_metadata") == len(FEEDS)
    assert count(db, "schedule.schedule_games") == len(FEEDS)  # the range schedule the backfill fetched
    # the same stream as `backfill -m mlb:live_game`: a second backfill loads nothing again
    assert f"stream mlb:live_game <- {raw} [game/liveGameV1]" in result.stdout
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert f"stream mlb:live_game <- {raw} [game/liveGameV1]: 0 micro-batches committed now" in again.stdout


def test_live_loads_with_mlb_star(replayed: Path, tmp_path: Path) -> None:  # noqa: F811
    live_sequence(replayed)
    db = tmp_path / "live.duckdb"
    args = ["live", "--date", DAY, "--raw", str(tmp_path / "raw"), "--replay", str(replayed)]
    args += ["-m", "mlb:*", "-s", f"duckdb:{db}", "--replay-clock", "2024-07-13T01:20:00Z"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert f"live {DAY}: all games over; games: 747175 Final, 718096 Final" in result.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        state = con.execute("SELECT detailed_state FROM game.live_game_metadata WHERE game_pk = 747175").fetchone()
    assert state == ("Final",) and count(db, "game.live_game_plays") > 75
