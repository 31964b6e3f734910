"""tidemark schema ddl / avro / json: golden files, the DDL run in DuckDB and used by a run, rows of the bundled
game validated against the Avro and JSON schemas."""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
from pathlib import Path
from typing import Any

import duckdb
import fastavro
import jsonschema
import pytest
from typer.testing import CliRunner

import tidemark
from tests.conftest import GAME_747175
from tidemark.artifacts import plan_for
from tidemark.artifacts.ddl import DIALECTS
from tidemark.cli.main import app

GOLDEN = Path(__file__).parent / "golden" / "schema"
UPDATE = os.environ.get("TIDEMARK_UPDATE_GOLDEN") == "1"  # regenerate: TIDEMARK_UPDATE_GOLDEN=1 pytest ...
runner = CliRunner()


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} missing: run with TIDEMARK_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} changed: check the diff, then TIDEMARK_UPDATE_GOLDEN=1"


def _cli(*args: str) -> str:
    result = runner.invoke(app, ["schema", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("dialect", DIALECTS)
def test_ddl_golden(dialect: str) -> None:
    _golden(f"live_game.{dialect}.sql", _cli("ddl", "mlb:live_game", "--dialect", dialect))


def test_avro_golden() -> None:
    _golden("live_game.avsc.json", _cli("avro", "mlb:live_game"))


def test_json_schema_golden() -> None:
    _golden("live_game.schema.json", _cli("json", "mlb:live_game"))


def test_unknown_dialect_is_one_clear_error() -> None:
    result = runner.invoke(app, ["schema", "ddl", "mlb:live_game", "--dialect", "postgress"])
    assert result.exit_code != 0
    assert "unknown dialect 'postgress'" in str(result.exception)
    assert "postgres" in str(result.exception)


def test_mapping_schema_moved_and_plain_schema_still_works() -> None:
    assert _cli("mapping") == _cli()
    assert json.loads(_cli("mapping"))["title"]


def test_duckdb_ddl_creates_the_tables_a_run_then_fills(tmp_path: Path) -> None:
    db = tmp_path / "pre.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute(_cli("ddl", "mlb:live_game", "--dialect", "duckdb"))
        created = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'game'").fetchone()
    plan = plan_for("mlb:live_game")
    assert created == (len(plan.targets),)
    result = tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}")
    assert result.ok
    assert result.inserted > 1000  # the pre-created tables took the game's rows (no schema mismatch)


@pytest.fixture(scope="module")
def game_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Rows per table of the bundled game, as stored by a run (the content hash left out)."""
    db = tmp_path_factory.mktemp("game") / "game.duckdb"
    tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}")
    plan = plan_for("mlb:live_game")
    rows = {}
    for t in plan.targets:
        table = tidemark.read(f"duckdb:{db}", t.spec.qualified, engine="arrow")
        rows[t.spec.qualified] = table.select(list(t.spec.column_names)).to_pylist()
    assert sum(len(r) for r in rows.values()) > 1000
    return rows


def test_avro_schemas_validate_the_game_rows(game_rows: dict[str, list[dict[str, Any]]], tmp_path: Path) -> None:
    schemas = json.loads(_cli("avro", "mlb:live_game"))
    assert set(schemas) == set(game_rows)
    checked = 0
    for table, rows in game_rows.items():
        parsed = fastavro.parse_schema(schemas[table])
        for row in rows:
            fastavro.validation.validate(row, parsed, raise_errors=True)
            checked += 1
        # and they round-trip through an Avro file
        with (tmp_path / "t.avro").open("wb") as fh:
            fastavro.writer(fh, parsed, rows)
        with (tmp_path / "t.avro").open("rb") as fh:
            assert sum(1 for _ in fastavro.reader(fh)) == len(rows)
    assert checked == sum(len(r) for r in game_rows.values())


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def test_json_schema_validates_the_game_rows(game_rows: dict[str, list[dict[str, Any]]]) -> None:
    document = json.loads(_cli("json", "mlb:live_game"))
    jsonschema.Draft202012Validator.check_schema(document)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    checked = 0
    for table, rows in game_rows.items():
        schema = {"$schema": document["$schema"], "$defs": document["$defs"], "$ref": f"#/$defs/{table}"}
        validator = jsonschema.Draft202012Validator(schema, format_checker=checker)
        for row in rows:
            validator.validate({k: _jsonable(v) for k, v in row.items()})
            checked += 1
    assert checked == sum(len(r) for r in game_rows.values())
    bad = {**game_rows["game.live_game_metadata"][0], "game_pk": "not a number"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(
            {"$defs": document["$defs"], "$ref": "#/$defs/game.live_game_metadata"}
        ).validate({k: _jsonable(v) for k, v in bad.items()})


@pytest.mark.postgres
def test_postgres_ddl_creates_the_tables_a_run_then_fills(pg_dsn: str) -> None:
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(_cli("ddl", "mlb:live_game", "--dialect", "postgres").encode())
        created = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'game'").fetchone()
    assert created == (len(plan_for("mlb:live_game").targets),)
    result = tidemark.run("mlb:live_game", [GAME_747175], pg_dsn)
    assert result.ok
    assert result.inserted > 1000
