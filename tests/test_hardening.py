"""Hardening (issue 18): one bad document never costs a run, nothing is dropped silently, every error is one line.

Each case runs the ``tidemark`` command (in-process through its entry point, or as a child process where a signal
or the peak memory matters) on a real DuckDB file, and asserts the exit code, the one-line message, what was written
and what was quarantined.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import snapshot, write_docs
from tidemark.cli import main as cli

PLAYS = "game.live_game_plays"
META = "game.live_game_metadata"


def call_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["tidemark", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def query(db: Path, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.sql(sql).to_arrow_table().to_pylist()  # type: ignore[no-any-return]
    finally:
        con.close()


def quarantine(db: Path) -> list[dict[str, Any]]:
    return query(db, "SELECT * FROM _tidemark.quarantine ORDER BY origin, table_name, row_key")


def run_args(db: Path, *inputs: Path, mapping: str = "mlb:live_game") -> list[str]:
    args = ["run", "--mapping", mapping, "--sink", f"duckdb:{db}"]
    for path in inputs:
        args += ["--input", str(path)]
    return args


# -- item 1: an integer beyond 64 bits ------------------------------------------------------------------------------
def test_an_integer_beyond_64_bits_is_quarantined_and_the_rest_written(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    huge = 2**70

    def huge_inning(doc: dict[str, Any]) -> None:
        doc["liveData"]["plays"]["allPlays"][9]["about"]["inning"] = huge

    paths = write_docs(tmp_path / "docs", [snapshot(feed_747175, edit=huge_inning), snapshot(feed_747175, game_pk=2)])
    db = tmp_path / "t.duckdb"
    assert call_main(monkeypatch, *run_args(db, *paths)) == 1
    out = capsys.readouterr().out
    assert "1 row(s) refused" in out
    (line,) = [x for x in out.splitlines() if str(huge) in x]
    assert f"inning: {huge} is not a valid int" in line and str(paths[0]) in line
    counts = query(db, f"SELECT game_pk, count(*) AS n FROM {PLAYS} GROUP BY game_pk ORDER BY game_pk")
    assert counts == [{"game_pk": 2, "n": 75}, {"game_pk": 747175, "n": 74}]
    assert query(db, f"SELECT count(*) AS n FROM {PLAYS} WHERE game_pk = 747175 AND at_bat_index = 9") == [{"n": 0}]
    (entry,) = quarantine(db)
    assert entry["table_name"] == PLAYS and entry["origin"] == str(paths[0])
    assert json.loads(entry["row_key"]) == {"at_bat_index": 9, "game_pk": 747175}
    assert json.loads(entry["row_data"])["inning"] == huge  # the value as the document held it
    assert str(huge) in entry["reason"]
