"""The project file: tidemark.yaml found and checked (file:line:col, did-you-mean, the fix), secrets by reference
only, the precedence flag > TIDEMARK_... > file, and `tidemark init` / `run PIPELINE` / `pipelines` as a user meets
them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tests.conftest import GAME_747175
from tidemark import write
from tidemark.cli.main import app
from tidemark.errors import ConfigError
from tidemark.project import find_project, load_project

runner = CliRunner()

PROJECT = """\
connections:
  warehouse: duckdb:wh.duckdb
  pg:
    type: postgres
    host: db.internal
    database: mlb
    user: tidemark
    password_env: TM_TEST_PG_PASSWORD
raw:
  mlb: raw/
pipelines:
  sample:
    mapping: mlb:live_game
    input: games/
    connection: warehouse
  season:
    mapping: mlb:live_game
    raw: mlb
    connection: pg
    ingest: {backfill: {season: 2024}}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project directory with one bundled game under games/, as the current directory."""
    monkeypatch.delenv("TIDEMARK_PROJECT", raising=False)
    (tmp_path / "tidemark.yaml").write_text(PROJECT)
    (tmp_path / "games").mkdir()
    shutil.copy(GAME_747175, tmp_path / "games")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def broken(project: Path, old: str, new: str) -> str:
    (project / "tidemark.yaml").write_text(PROJECT.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_project()
    return str(caught.value)


def test_found_from_a_subdirectory_and_paths_are_the_projects(project: Path) -> None:
    (project / "sub" / "deeper").mkdir(parents=True)
    assert find_project(project / "sub" / "deeper") == project / "tidemark.yaml"
    loaded = load_project(find_project(project / "sub" / "deeper"))
    assert loaded.connection("warehouse") == f"duckdb:{project / 'wh.duckdb'}"
    assert loaded.raw_store("mlb") == str(project / "raw")
    assert loaded.pipeline("sample").input == ["games/"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "connection: warehouse",
            "connection: warehose",
            r":15:5: pipelines.sample.connection: unknown connection "
            r"'warehose' (did you mean 'warehouse'?); connections: pg, warehouse (add it under connections:",
        ),
        (
            "    type: postgres",
            "    type: postgress",
            ":4:5: connections.pg.type: unknown kind 'postgress' (did you "
            "mean 'postgres'?); give type: one of duckdb, postgres, delta, parquet, csv",
        ),
        ("    host: db", "    hots: db", ":5:5: connections.pg.hots: unknown key (did you mean 'host'?)"),
        (
            "    input: games/",
            "    inptu: games/",
            ":14:5: pipelines.sample.inptu: unknown key (did you mean 'input'?)",
        ),
        ("    raw: mlb", "    raw: mbl", ":18:5: pipelines.season.raw: unknown raw store 'mbl' (did you mean 'mlb'?)"),
        (
            "  warehouse: duckdb:wh.duckdb",
            "  warehouse: postgresql://u:hunter2@h/db",
            ":2:3: connections.warehouse: a "
            "password is written in the file: write postgresql://user:${TIDEMARK_PG_PASSWORD}@host/db",
        ),
        (
            "    user: tidemark",
            "    user: tidemark\n    password: hunter2",
            ":8:5: connections.pg.password: secrets are references only: write password_env",
        ),
        (
            "    connection: warehouse\n  season",
            "    connection: warehouse\n    mode: upsrt\n  season",
            ":16:5: pipelines.sample.mode: 'upsrt' (did you mean 'upsert'?) is not one of overwrite, append, "
            "append_once, upsert",
        ),
    ],
)
def test_errors_name_the_place_the_key_and_the_fix(project: Path, old: str, new: str, expected: str) -> None:
    message = broken(project, old, new)
    assert message.startswith(str(project / "tidemark.yaml") + expected), message
    assert "hunter2" not in message


def test_an_unset_secret_is_named_with_its_place_never_its_value(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TM_TEST_PG_PASSWORD", raising=False)
    loaded = load_project()
    with pytest.raises(ConfigError) as caught:
        loaded.connection("pg")
    assert str(caught.value) == (
        f"{project / 'tidemark.yaml'}:3:3: connections.pg: environment variable TM_TEST_PG_PASSWORD is not set: "
        "export TM_TEST_PG_PASSWORD=... before running (on a cluster: a key of the Kubernetes Secret, docs/deploy.md)"
    )
    monkeypatch.setenv("TM_TEST_PG_PASSWORD", "s3cr/et")
    config = loaded.connection("pg")
    assert config.type == "postgres"
    assert config.dsn == "postgresql://tidemark:s3cr%2Fet@db.internal:5432/mlb"  # type: ignore[union-attr]
    assert "s3cr" not in repr(config) and "s3cr" not in repr(loaded)
    result = runner.invoke(app, ["pipelines"])
    assert result.exit_code == 0, result.output
    assert "s3cr" not in result.output and "TM_TEST_PG_PASSWORD" not in result.output
    assert "pg (postgres: db.internal/mlb)" in result.output


def test_references_in_urls_are_read_when_the_connection_opens(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (project / "tidemark.yaml").write_text(PROJECT.replace("duckdb:wh.duckdb", "duckdb:${TM_TEST_DIR}/wh.duckdb"))
    monkeypatch.setenv("TM_TEST_DIR", "/data")
    assert load_project().connection("warehouse") == "duckdb:/data/wh.duckdb"


def test_precedence_flag_over_environment_over_file(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_project().pipeline("sample").mode == "upsert"  # the file's default
    monkeypatch.setenv("TIDEMARK_PIPELINES__SAMPLE__MODE", "append")
    monkeypatch.setenv("TIDEMARK_CONNECTIONS__WAREHOUSE", "duckdb:env.duckdb")
    loaded = load_project()
    assert loaded.pipeline("sample").mode == "append"
    assert loaded.connection("warehouse") == f"duckdb:{project / 'env.duckdb'}"
    flagged = load_project(flags={"pipelines": {"sample": {"mode": "overwrite", "batch_documents": 8}}})
    assert (flagged.pipeline("sample").mode, flagged.pipeline("sample").batch_documents) == ("overwrite", 8)
    assert flagged.pipeline("sample").mapping == "mlb:live_game"  # the rest still from the file


def run_json(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["run", *args, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def test_run_pipeline_with_the_same_precedence_on_the_command_line(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = run_json("sample")
    assert first["mode"] == "upsert" and first["documents"] == 1
    assert first["tables"]["game.live_game_metadata"]["inserted"] == 1  # type: ignore[index]
    monkeypatch.setenv("TIDEMARK_PIPELINES__SAMPLE__MODE", "append_once")
    assert run_json("sample")["mode"] == "append_once"
    again = run_json("sample", "--mode", "overwrite")  # the flag wins over the environment
    assert again["mode"] == "overwrite"
    other = run_json("sample", "--sink", f"duckdb:{project / 'other.duckdb'}")  # --sink stands in for connection
    assert other["tables"]["game.live_game_metadata"]["inserted"] == 1  # type: ignore[index]
    with duckdb.connect(str(project / "wh.duckdb")) as con:
        assert con.execute("select count(*) from game.live_game_metadata").fetchone() == (1,)


def test_run_errors_for_an_unknown_pipeline_and_no_project(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = runner.invoke(app, ["run", "sampel"])
    assert result.exit_code == 1
    assert "no pipeline 'sampel' (did you mean 'sample'?); pipelines: sample, season" in str(result.exception)
    monkeypatch.chdir(tmp_path_factory.mktemp("empty"))
    result = runner.invoke(app, ["run", "sample"])
    assert "no tidemark.yaml in this directory or a parent: run `tidemark init`" in str(result.exception)


def test_explicit_project_file(
    project: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    result = runner.invoke(app, ["--project", str(project / "tidemark.yaml"), "pipelines"])
    assert result.exit_code == 0, result.output
    assert "sample" in result.output and "warehouse (duckdb:" in result.output
    assert "season" in result.output and "backfill 2024" in result.output


def test_write_takes_the_projects_connections(project: Path) -> None:
    table = pa.table({"id": [1, 2], "at": ["2024-01-01", "2024-01-02"]})
    result = write(table, table="main.items", connection="warehouse", mode="upsert", keys=["id"], timestamp="at")
    assert result.inserted == 2
    block = {"connection": "warehouse", "table": "main.items", "mode": "upsert", "keys": ["id"], "timestamp_col": "at"}
    assert write(table, config=block).unchanged == 2
    with duckdb.connect(str(project / "wh.duckdb")) as con:
        assert con.execute("select count(*) from main.items").fetchone() == (2,)
    with pytest.raises(ConfigError, match=r"unknown connection 'warehose' \(did you mean 'warehouse'\?\)"):
        write(table, table="main.items", connection="warehose", mode="upsert", keys=["id"])


def test_init_then_run_the_sample(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEMARK_PROJECT", raising=False)
    target = tmp_path / "new"
    result = runner.invoke(app, ["init", str(target), "--example", "mlb"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in target.iterdir()} == {"tidemark.yaml", ".gitignore", "README.md", "samples"}
    assert "*.duckdb" in (target / ".gitignore").read_text()
    monkeypatch.chdir(target)
    listed = runner.invoke(app, ["pipelines"])
    assert [n for n in ("sample", "season", "live") if f"│ {n} " in listed.output] == ["sample", "season", "live"]
    ran = runner.invoke(app, ["run", "sample"])
    assert ran.exit_code == 0, ran.output
    assert "-> duckdb:" in ran.output and "(upsert, 1 documents)" in ran.output
    with duckdb.connect(str(target / "warehouse.duckdb")) as con:
        assert con.execute("select game_pk from game.live_game_metadata").fetchall() == [(747175,)]
        assert con.execute("select count(*) from game.live_game_plays").fetchone()[0] > 50  # type: ignore[index]
    again = runner.invoke(app, ["init", str(target)])
    assert again.exit_code == 1 and "tidemark.yaml exists: edit it, or give --force" in str(again.exception)


def test_stream_pipeline_follows_its_raw_store(project: Path) -> None:
    imported = runner.invoke(
        app, ["raw", "import", "raw", str(project / "games"), "--endpoint", "game", "--method", "liveGameV1"]
    )
    assert imported.exit_code == 0, imported.output
    text = PROJECT.replace(
        "    connection: pg\n    ingest: {backfill: {season: 2024}}\n", "    connection: warehouse\n"
    )
    (project / "tidemark.yaml").write_text(text)
    result = runner.invoke(app, ["stream", "season", "--once", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["stream"] == "season" and data["batches"] == 1
    assert data["result"]["tables"]["game.live_game_metadata"]["inserted"] == 1
    with duckdb.connect(str(project / "wh.duckdb")) as con:
        assert con.execute("select game_pk from game.live_game_metadata").fetchall() == [(747175,)]


def test_run_an_ingesting_pipeline_backfills_then_loads(project: Path) -> None:
    from tests.mlb_replay import add_schedule, listed, replay_root

    root = replay_root(project)
    days = {"2024-07-12": [listed(747175, "2024-07-12", "Final", "Final")]}
    add_schedule(root, {"sportId": 1, "startDate": "2024-07-01", "endDate": "2024-07-20"}, days)
    backfill = "ingest: {backfill: {start: '2024-07-01', end: '2024-07-20'}, replay: replay}"
    text = PROJECT.replace(
        "connection: pg\n    ingest: {backfill: {season: 2024}}", f"connection: warehouse\n    {backfill}"
    )
    (project / "tidemark.yaml").write_text(text)
    result = runner.invoke(app, ["run", "season"])
    assert result.exit_code == 0, result.output
    assert "1 final games, 1 fetched, 0 already stored, 0 not final" in result.stdout
    assert (project / "raw").is_dir()  # the project's raw store, relative to the file
    with duckdb.connect(str(project / "wh.duckdb"), read_only=True) as con:
        assert con.execute("SELECT game_pk FROM game.live_game_metadata").fetchall() == [(747175,)]


def test_a_bad_value_from_the_environment_is_named_as_such(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TIDEMARK_PIPELINES__SAMPLE__BATCH_DOCUMENTS", "many")
    with pytest.raises(ConfigError) as caught:
        load_project()
    assert str(caught.value).startswith(
        f"{project / 'tidemark.yaml'}:12:3: pipelines.sample.batch_documents (set by "
        "TIDEMARK_PIPELINES__SAMPLE__BATCH_DOCUMENTS or a flag): Input should be a valid integer"
    ), caught.value
    monkeypatch.delenv("TIDEMARK_PIPELINES__SAMPLE__BATCH_DOCUMENTS")
    result = runner.invoke(app, ["run", "sample", "--mode", "upsrt"])
    assert result.exit_code == 1
    assert "pipelines.sample.mode (set by TIDEMARK_PIPELINES__SAMPLE__MODE or a flag): 'upsrt' (did you mean " in str(
        result.exception
    )


def test_write_command_block_names_a_project_connection(project: Path) -> None:
    (project / "items.csv").write_text("id,at\n1,2024-01-01\n2,2024-01-02\n")
    (project / "write.yaml").write_text(
        "write:\n  connection: warehouse\n  table: main.items\n  mode: upsert\n  keys: [id]\n  timestamp_col: at\n"
    )
    result = runner.invoke(app, ["write", str(project / "items.csv"), "--config", str(project / "write.yaml")])
    assert result.exit_code == 0, result.output
    with duckdb.connect(str(project / "wh.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from main.items").fetchone() == (2,)


def test_init_without_an_example_has_a_connection_and_no_pipelines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TIDEMARK_PROJECT", raising=False)
    (tmp_path / "README.md").write_text("mine\n")
    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "README.md").read_text() == "mine\n"  # never over the user's own
    loaded = load_project(tmp_path / "tidemark.yaml")
    assert loaded.connection("warehouse") == f"duckdb:{tmp_path.resolve() / 'warehouse.duckdb'}"
    assert loaded.raw_store("main") == str(tmp_path.resolve() / "raw") and loaded.settings.pipelines == {}
    monkeypatch.chdir(tmp_path)
    assert "no pipelines (add them under pipelines:" in runner.invoke(app, ["pipelines"]).output


def test_check_a_pipeline_then_an_orphan_fails_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TIDEMARK_PROJECT", raising=False)
    assert runner.invoke(app, ["init", str(tmp_path), "--example", "mlb"]).exit_code == 0
    monkeypatch.chdir(tmp_path)
    ran = runner.invoke(app, ["run", "sample"])
    assert ran.exit_code == 0, ran.output
    checked = runner.invoke(app, ["check", "sample"])
    assert checked.exit_code == 0, checked.output
    assert "checks of sample in duckdb:" in checked.output
    assert "game.live_game_pitch_events" in checked.output and "game.live_game_plays" in checked.output
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:  # a pitch whose play does not exist
        con.execute(
            "insert into game.live_game_pitch_events "
            "select * replace (9999 as at_bat_index) from game.live_game_pitch_events limit 1"
        )
    broken = runner.invoke(app, ["check", "sample", "--json"])
    assert broken.exit_code == 1, broken.output
    failed = [c for c in json.loads(broken.output)["checks"] if not c["passed"]]
    assert {(c["table"], c["name"]) for c in failed} == {
        ("game.live_game_pitch_events", "orphan_rows"),  # the table check
        ("game.live_game_pitch_events", "pitches_have_their_play"),  # the mapping's expectation
    }
    assert any("game.live_game_plays" in c["detail"] for c in failed)
    flags = runner.invoke(app, ["check", "--mapping", "mlb:live_game", "--sink", "duckdb:warehouse.duckdb"])
    assert flags.exit_code == 1 and "FAILED" in flags.output
    neither = runner.invoke(app, ["check"])
    assert neither.exit_code == 1 and "a PIPELINE of tidemark.yaml, or --mapping and --sink" in str(neither.exception)
