"""``tidemark run --raw RAW --since/--until/--game``: rebuild tables from part of a raw store (a time range of
fetches, some games) without touching the checkpoint of any stream that writes to the same sink."""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from tests.stream_data import wave
from tidemark.cli import main as cli
from tidemark.cli.main import app
from tidemark.raw import open_raw
from tidemark.sinks import open_sink

runner = CliRunner()
WAVE_0 = [900_000, 900_001]  # fetched from 2024-07-13T03:00Z on
WAVE_1 = [900_100, 900_101]  # fetched from 2024-07-13T04:00Z on


@pytest.fixture
def raw(tmp_path: Path) -> str:
    url = f"duckdb:{tmp_path / 'raw.duckdb'}"
    with open_raw(url, create=True) as store:
        store.append(wave(0, seed=3))
        store.append(wave(1, seed=3))
    return url


def games(db: Path) -> list[int]:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute("SELECT game_pk FROM game.live_game_metadata ORDER BY game_pk").fetchall()
    return [row[0] for row in found]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--game", "900100"], [900_100]),
        (["--game", "900001", "--game", "900101"], [900_001, 900_101]),
        (["--since", "2024-07-13T03:30:00Z"], WAVE_1),
        (["--until", "2024-07-13T03:30:00+00:00"], WAVE_0),
        (["--since", "2024-07-13", "--until", "2024-07-13T03:30:00", "--game", "900000"], [900_000]),
        (["--since", "2024-07-14"], []),
    ],
    ids=["one-game", "two-games", "since", "until", "range-and-game", "nothing"],
)
def test_run_raw_keeps_only_the_records_asked_for(
    raw: str, tmp_path: Path, flags: list[str], expected: list[int]
) -> None:
    db = tmp_path / "part.duckdb"
    result = runner.invoke(app, ["run", "-m", "mlb:live_game", "--raw", raw, "-s", f"duckdb:{db}", *flags])
    assert result.exit_code == 0, result.output
    assert games(db) == expected


def test_run_raw_with_filters_leaves_the_checkpoint_of_a_stream_alone(raw: str, tmp_path: Path) -> None:
    db = tmp_path / "mlb.duckdb"
    streamed = runner.invoke(app, ["stream", "-m", "mlb:live_game", "--raw", raw, "-s", f"duckdb:{db}", "--once"])
    assert streamed.exit_code == 0, streamed.output
    with open_sink(f"duckdb:{db}") as sink:
        before = sink.read_checkpoints()
    assert len(before) == 1 and before[0].batch >= 1
    rebuilt = runner.invoke(app, ["run", "-m", "mlb:live_game", "--raw", raw, "-s", f"duckdb:{db}", "--game", "900000"])
    assert rebuilt.exit_code == 0, rebuilt.output
    with open_sink(f"duckdb:{db}") as sink:
        assert sink.read_checkpoints() == before
    assert games(db) == sorted(WAVE_0 + WAVE_1)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--raw", "R", "--since", "yesterday"], "--since 'yesterday': give a UTC date or time"),
        (["--raw", "R", "--since", "2024-07-14", "--until", "2024-07-13"], "is not before --until"),
        (["--input", "x.json", "--game", "1"], "--game pick records of a raw store: give --raw too"),
    ],
    ids=["bad-time", "empty-range", "without-raw"],
)
def test_bad_filters_are_refused_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, flags: list[str], message: str
) -> None:
    flags = [str(tmp_path / "raw") if f == "R" else f for f in flags]
    (tmp_path / "raw").mkdir()
    monkeypatch.setattr(sys, "argv", ["tidemark", "run", "-m", "mlb:live_game", "-s", "duckdb:x.duckdb", *flags])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], lines
