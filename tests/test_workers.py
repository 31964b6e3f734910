"""Extraction over a pool of processes (engines/pool.py): the same tables, counts, rejections and row errors as one
process, into a real DuckDB file; the option's bad values are refused before anything runs."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

import tidemark
from tests.conftest import GAME_747175, LIVE, load_envelope
from tidemark.cli.main import app
from tidemark.errors import ConfigError


def _corpus(directory: Path) -> Path:
    """The bundled live feeds, a file that is not JSON among them, and a feed with a play whose key is not a number
    (a row error: the rest of its document is written)."""
    directory.mkdir(parents=True)
    for path in sorted(LIVE.glob("*.json.gz")):
        shutil.copy(path, directory / path.name)
    (directory / "liveGameV1_game_pk=1_broken.json").write_bytes(b'{"response": {"gamePk": 1,')
    envelope = load_envelope(GAME_747175)
    envelope["response"]["gamePk"] = 999_001
    envelope["response"]["liveData"]["plays"]["allPlays"][3]["about"]["atBatIndex"] = "third"
    with gzip.open(directory / "liveGameV1_game_pk=999001_bad_row.json.gz", "wb") as fh:
        fh.write(json.dumps(envelope).encode())
    return directory


def _tables(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every user table of the DuckDB file, its rows sorted."""
    with duckdb.connect(str(path), read_only=True) as con:
        names = con.sql("SELECT table_name FROM information_schema.tables WHERE table_schema = 'game'").fetchall()
        return {name: con.sql(f'SELECT * FROM game."{name}" ORDER BY ALL').fetchall() for (name,) in names}


def _summary(result: tidemark.RunResult) -> dict[str, Any]:
    summary = result.as_dict()
    for varies in ("run_id", "sink", "started_at", "seconds"):  # differ between any two runs
        summary.pop(varies, None)
    summary["refused"] = sorted(result.as_dict()["refused"], key=json.dumps)
    return summary


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple[dict[str, Any], dict[str, list[Any]]]]:
    tmp = tmp_path_factory.mktemp("workers")
    corpus = _corpus(tmp / "feeds")
    out = {}
    for workers in (1, 2):
        db = tmp / f"w{workers}.duckdb"
        result = tidemark.run("mlb:live_game", [corpus], f"duckdb:{db}", batch_documents=2, workers=workers)
        out[workers] = (_summary(result), _tables(db))
    return out


def test_two_workers_write_the_same_tables_and_counts_as_one(runs: dict[int, Any]) -> None:
    one, two = runs[1], runs[2]
    assert one[0]["documents"] == 8  # 7 feeds + the one with a bad row; the broken file is rejected
    assert one[0]["counts"]["inserted"] > 5_000
    assert two[0] == one[0]
    assert len(one[1]) == 21
    for name, rows in one[1].items():
        assert two[1][name] == rows, name


def test_the_bad_document_and_the_bad_row_are_reported_as_with_one_worker(runs: dict[int, Any]) -> None:
    summary = runs[2][0]
    assert [r["origin"].rsplit("/", 1)[-1] for r in summary["rejected"]] == ["liveGameV1_game_pk=1_broken.json"]
    assert "not valid JSON" in summary["rejected"][0]["reason"]
    assert summary["row_errors"] >= 1
    assert any("at_bat_index" in r["reason"] and "999001_bad_row" in r["origin"] for r in summary["refused"])


@pytest.mark.parametrize("workers", [0, -2, "many"])
def test_a_bad_number_of_workers_is_refused(tmp_path: Path, workers: int | str) -> None:
    with pytest.raises(ConfigError, match="workers"):
        tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{tmp_path / 'x.duckdb'}", workers=workers)
    assert not (tmp_path / "x.duckdb").exists()


def test_the_cli_takes_workers(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    args = ["run", "-m", "mlb:live_game", "-i", str(GAME_747175), "--sink", f"duckdb:{db}", "--workers", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _tables(db)["live_game_metadata"][0][0] == 747175
    bad = CliRunner().invoke(app, [*args[:-1], "none"])
    assert bad.exit_code != 0
    assert isinstance(bad.exception, ConfigError)  # main() prints it in one line
    assert "workers 'none'" in str(bad.exception)


def test_a_stream_with_two_workers_writes_what_one_writes(tmp_path: Path) -> None:
    """Micro-batches of a raw directory (the recorded layout) through one pool kept across them."""
    from tidemark.runtime.stream import stream

    raw = tmp_path / "raw" / "game" / "liveGameV1"
    _corpus(raw)
    out = {}
    for workers in (1, 2):
        db = tmp_path / f"s{workers}.duckdb"
        done = stream(
            "mlb:live_game", str(tmp_path / "raw"), f"duckdb:{db}", once=True, batch_documents=3, workers=workers
        )
        out[workers] = (done.batches, done.result.documents, done.result.counts.as_dict(), len(done.result.rejected))
        out[workers] += (_tables(db),)
    assert out[1][:4] == (3, 8, out[1][2], 1)
    assert out[1][2]["inserted"] > 5_000
    assert out[2] == out[1]
