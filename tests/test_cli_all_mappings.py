"""``mlb:*`` wherever a command takes a mapping: inspection commands run over every built-in mapping of mlb (each
table once), and a command that needs exactly one mapping refuses it in one line."""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import DATA
from tidemark.artifacts import combined_plan, plan_for
from tidemark.cli import main as cli
from tidemark.cli.main import app
from tidemark.errors import MappingError
from tidemark.mapping.loader import builtin_names, expand_refs, load_mapping

runner = CliRunner()
MLB = builtin_names("mlb")
#: every table of every built-in mapping of mlb (qualified), each once
TABLES = sorted({t.spec.qualified for ref in MLB for t in plan_for(ref).targets})


def call_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["tidemark", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def test_the_one_helper_expands_mlb_star_to_every_builtin_once() -> None:
    assert len(MLB) > 10 and "mlb:live_game" in MLB and sorted(MLB) == MLB
    assert expand_refs(["mlb:*"]) == MLB
    rest = [ref for ref in MLB if ref != "mlb:live_game"]  # each once, where first named
    assert expand_refs(["mlb:live_game", "mlb:*", "x.yaml"]) == ["mlb:live_game", *rest, "x.yaml"]
    with pytest.raises(MappingError, match="no built-in domain 'nope'"):
        expand_refs(["nope:*"])


def test_validate_checks_every_builtin_mapping() -> None:
    result = runner.invoke(app, ["validate", "mlb:*"])
    assert result.exit_code == 0, result.output
    checked = [line for line in result.stdout.splitlines() if line.startswith("✓")]
    assert len(checked) == len(MLB)
    assert any("live_game.yaml" in line for line in checked)


def test_tables_lists_the_tables_per_mapping() -> None:
    result = runner.invoke(app, ["tables", "mlb:*"])
    assert result.exit_code == 0, result.output
    titles = [line for line in result.stdout.splitlines() if line.strip().startswith("mlb:")]
    assert [t.strip().split(":")[0] + ":" + t.strip().split(":")[1] for t in titles] == MLB
    for qualified in TABLES:
        assert qualified in result.stdout


def test_schema_ddl_creates_every_table_once() -> None:
    result = runner.invoke(app, ["schema", "ddl", "mlb:*", "--dialect", "duckdb"])
    assert result.exit_code == 0, result.output
    assert result.stdout.count("CREATE TABLE") == len(TABLES)
    for qualified in TABLES:
        schema, _, table = qualified.partition(".")
        assert result.stdout.count(f'"{schema}"."{table}"') >= 1


def test_schema_avro_and_json_hold_every_table(tmp_path: Path) -> None:
    avro = runner.invoke(app, ["schema", "avro", "mlb:*"])
    assert avro.exit_code == 0, avro.output
    assert sorted(json.loads(avro.stdout)) == TABLES
    out = tmp_path / "rows.json"
    written = runner.invoke(app, ["schema", "json", "mlb:*", "-o", str(out)])
    assert written.exit_code == 0, written.output
    assert sorted(json.loads(out.read_text())["$defs"]) == TABLES


def test_a_table_of_two_mappings_appears_once_or_is_refused_when_they_differ() -> None:
    game = plan_for("mlb:live_game")
    twice = combined_plan("both", [game, game])
    assert [t.spec.qualified for t in twice.targets] == [t.spec.qualified for t in game.targets]
    first = game.targets[0]
    changed = replace(first, spec=replace(first.spec, primary_key=("other",)))
    other = replace(game, source_name="changed", targets=(changed,))
    with pytest.raises(MappingError, match=f"table {first.spec.qualified} is defined differently by"):
        combined_plan("both", [game, other])


def test_check_runs_the_checks_of_every_builtin_mapping(tmp_path: Path) -> None:
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    feed = next((DATA / "game" / "liveGameV1").glob("*747175*"))
    loaded = runner.invoke(app, ["run", "--mapping", "mlb:live_game", "--input", str(feed), "--sink", sink])
    assert loaded.exit_code == 0, loaded.output
    one = runner.invoke(app, ["check", "--mapping", "mlb:live_game", "--sink", sink, "--json"])
    every = runner.invoke(app, ["check", "--mapping", "mlb:*", "--sink", sink, "--json"])
    assert one.exit_code == 0 and every.exit_code == 0, every.output
    ones = {(c["table"], c["name"]) for c in json.loads(one.stdout)["checks"]}
    alls = {(c["table"], c["name"]) for c in json.loads(every.stdout)["checks"]}
    assert ones and ones <= alls


def test_quarantine_replay_refuses_mlb_star_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    code = call_main(monkeypatch, "quarantine", "--replay", "--mapping", "mlb:*", "--sink", sink)
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "--mapping mlb:live_game" in err and "Traceback" not in err


def test_loading_mlb_star_as_one_mapping_names_the_builtins() -> None:
    with pytest.raises(MappingError, match="mlb:\\* names every built-in mapping of mlb; this takes one mapping"):
        load_mapping("mlb:*")
