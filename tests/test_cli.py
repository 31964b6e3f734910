"""The ``tidemark`` command as a user meets it: summaries, exit codes, JSON output, one-line errors, --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.conftest import GAME_747175, ROOT, snapshot, write_docs
from tidemark.cli import main as cli
from tidemark.cli.main import app

META = "game.live_game_metadata"
PLAYS = "game.live_game_plays"
PITCHES = "game.live_game_pitch_events"
COUNTS = ("inserted", "updated", "unchanged", "skipped", "deleted", "error")

runner = CliRunner()


def summary_row(output: str, table: str) -> dict[str, int]:
    """The counts of ``table`` in the Rich summary table."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if table in cells:
            numbers = [int(c.replace(",", "")) for c in cells if c.replace(",", "").isdigit()]
            assert len(numbers) == len(COUNTS), line
            return dict(zip(COUNTS, numbers, strict=True))
    raise AssertionError(f"{table} not in the summary:\n{output}")


def run_args(db: Path, *inputs: Path) -> list[str]:
    args = ["run", "--mapping", "mlb:live_game", "--sink", f"duckdb:{db}"]
    for path in inputs:
        args += ["--input", str(path)]
    return args


def test_run_prints_a_summary_with_every_count(tmp_path: Path) -> None:
    result = runner.invoke(app, run_args(tmp_path / "t.duckdb", GAME_747175))
    assert result.exit_code == 0, result.output
    assert "1 documents" in result.output
    # every count column is shown, also when the output is not a terminal (no cropping to 80 columns)
    assert summary_row(result.output, META) == dict.fromkeys(COUNTS, 0) | {"inserted": 1}
    assert summary_row(result.output, PLAYS) == dict.fromkeys(COUNTS, 0) | {"inserted": 75}
    assert summary_row(result.output, PITCHES) == dict.fromkeys(COUNTS, 0) | {"inserted": 290}
    assert "rejected" not in result.output

    again = runner.invoke(app, run_args(tmp_path / "t.duckdb", GAME_747175))
    assert again.exit_code == 0
    assert "1 documents already applied, skipped" in again.output
    assert summary_row(again.output, PITCHES)["unchanged"] == 0
    forced = runner.invoke(app, [*run_args(tmp_path / "t.duckdb", GAME_747175), "--reprocess"])
    assert forced.exit_code == 0
    assert summary_row(forced.output, PITCHES)["unchanged"] == 290


def test_run_with_a_bad_document_exits_1_and_lists_it(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"response": {"gamePk": 1, ', encoding="utf-8")
    good = write_docs(tmp_path / "good", [snapshot(feed_747175, plays=3)])
    result = runner.invoke(app, run_args(tmp_path / "t.duckdb", bad, *good))
    assert result.exit_code == 1
    output = result.output
    assert "1 document(s) rejected" in output
    assert f"{bad}: not valid JSON" in output.replace("\n", "")
    assert summary_row(output, PLAYS)["inserted"] == 3  # the good document was still loaded


def test_run_with_the_local_engine_named(tmp_path: Path) -> None:
    result = runner.invoke(app, [*run_args(tmp_path / "t.duckdb", GAME_747175), "--engine", "local"])
    assert result.exit_code == 0, result.output
    assert summary_row(result.output, PLAYS) == dict.fromkeys(COUNTS, 0) | {"inserted": 75}


def test_run_json(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    bad = tmp_path / "empty.json"
    bad.write_bytes(b"")
    good = write_docs(tmp_path / "good", [feed_747175])
    result = runner.invoke(app, [*run_args(tmp_path / "t.duckdb", *good, bad), "--json"])
    assert result.exit_code == 1
    summary = json.loads(result.stdout)
    assert summary["documents"] == 1
    assert summary["mode"] == "upsert"
    assert summary["tables"][PLAYS] == dict.fromkeys(COUNTS, 0) | {"inserted": 75}
    assert summary["tables"][PITCHES]["inserted"] == 290
    assert summary["rejected"] == [{"origin": str(bad), "reason": "empty document"}]


def test_tables_lists_the_tables_with_keys() -> None:
    result = runner.invoke(app, ["tables", "mlb:live_game"])
    assert result.exit_code == 0, result.output
    rows = {}
    for line in result.output.splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) > 3 and cells[1].startswith("game."):
            rows[cells[1]] = cells
    assert {META, PLAYS, PITCHES} <= set(rows)
    assert "game_pk, at_bat_index, event_index" in rows[PITCHES]
    assert "game_pk, at_bat_index" in rows[PLAYS]
    assert PLAYS in rows[PITCHES]  # its parent


def test_schema_is_the_committed_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    committed = (ROOT / "docs" / "mapping.schema.json").read_text(encoding="utf-8")
    assert result.stdout == committed, (
        "docs/mapping.schema.json is stale: tidemark schema mapping -o docs/mapping.schema.json"
    )
    assert json.loads(result.stdout)["title"] == "tidemark mapping"


def test_schema_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "schema.json"
    result = runner.invoke(app, ["schema", "-o", str(target)])
    assert result.exit_code == 0
    assert target.read_text(encoding="utf-8") == runner.invoke(app, ["schema"]).stdout


def call_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["tidemark", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--input", "nowhere/feed.json"], "error: input not found: nowhere/feed.json"),
        (["--mode", "upsertt"], "error: unknown mode 'upsertt': use one of overwrite, append, append_once, upsert"),
        (["--engine", "nope"], "error: unknown engine 'nope': use one of local"),
        (["--engine", "locl"], "error: unknown engine 'locl' (did you mean 'local'?): use one of local"),
    ],
    ids=["missing-input", "unknown-mode", "unknown-engine", "misspelt-engine"],
)
def test_a_known_error_prints_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, args: list[str], message: str
) -> None:
    base = ["run", "--mapping", "mlb:live_game", "--sink", f"duckdb:{tmp_path / 't.duckdb'}"]
    if "--input" not in args:
        base += ["--input", str(GAME_747175)]
    assert call_main(monkeypatch, *base, *args) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(message)
    assert "Traceback" not in captured.err + captured.out


def test_an_unknown_sink_names_the_valid_ones(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = call_main(monkeypatch, "run", "-m", "mlb:live_game", "-i", str(GAME_747175), "-s", "duckbd:x.duckdb")
    assert code == 1
    err = capsys.readouterr().err
    assert "unknown sink 'duckbd:x.duckdb'" in err and "duckdb:" in err
    assert "Traceback" not in err


def tidemark_command(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "tidemark"
    return subprocess.run([str(script), *args], capture_output=True, text=True, timeout=120, check=False)


def test_the_console_script_prints_one_line_and_debug_shows_the_traceback(tmp_path: Path) -> None:
    args = ["run", "-m", "mlb:live_game", "-i", str(tmp_path / "missing.json"), "-s", f"duckdb:{tmp_path / 't.db'}"]
    plain = tidemark_command(*args)
    assert plain.returncode == 1
    lines = plain.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: input not found: {tmp_path / 'missing.json'}")
    debug = tidemark_command("--debug", *args)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "tidemark.errors.SourceError: input not found" in debug.stderr
