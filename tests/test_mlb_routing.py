"""``--mapping mlb:*``: one run over recorded documents of every endpoint sends each to the mapping its envelope
names (the catalog's ``recorded`` / ``mapping``); documents no mapping reads are reported, not dropped silently.
``tidemark mappings`` lists the built-ins with what they read and the tables they write."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import orjson
from typer.testing import CliRunner

from tests.conftest import DATA, GAME_747175
from tidemark.cli.main import app
from tidemark.domains.mlb.routing import builtin_mappings, routes

runner = CliRunner()
RECORDED = sorted(p for p in DATA.rglob("*.json*") if len(p.relative_to(DATA).parts) == 3)


def tables_of(db: Path) -> set[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables WHERE table_schema <> '_tidemark'"
        ).fetchall()
    return {row[0] for row in found}


def test_every_recorded_document_goes_to_its_mapping(tmp_path: Path) -> None:
    db = tmp_path / "all.duckdb"
    result = runner.invoke(app, ["run", "-m", "mlb:*", "-i", str(DATA), "-s", f"duckdb:{db}", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["unrouted"] == {}
    assert sorted(report["mappings"]) == sorted({name for name, _, _ in builtin_mappings()})
    assert sum(r["documents"] for r in report["mappings"].values()) == len(RECORDED) > 20
    assert report["mappings"]["mlb:live_game"]["documents"] == len(list((DATA / "game" / "liveGameV1").glob("*")))
    every_table = {table for _, _, tables in builtin_mappings() for table in tables}
    assert every_table <= tables_of(db)


def test_documents_no_mapping_reads_are_reported(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "feeds").mkdir(parents=True)
    shutil.copy(GAME_747175, folder / "feeds" / GAME_747175.name)
    timestamps = {
        "endpoint": "game",
        "method": "liveTimestampv11",
        "path_params": {"game_pk": "747175"},
        "query_params": {},
        "url": "",
        "status_code": 200,
        "response": ["20240713_012000"],
    }
    (folder / "timestamps.json.gz").write_bytes(gzip.compress(orjson.dumps(timestamps)))
    (folder / "bare.json").write_bytes(orjson.dumps({"gamePk": 1}))
    db = tmp_path / "some.duckdb"
    args = ["run", "-m", "mlb:*", "-i", str(folder), "-s", f"duckdb:{db}"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "mlb:live_game:" in result.stdout
    assert "not loaded: 1 documents of game/liveTimestampv11 (no built-in mapping reads them" in result.stderr
    assert (
        f"not loaded: 1 documents of no envelope (no built-in mapping reads them; the first: {folder / 'bare.json'}"
        in result.stderr
    )
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT game_pk FROM game.live_game_metadata").fetchall() == [(747175,)]
    strict = runner.invoke(app, [*args, "--strict"])
    assert strict.exit_code == 1


def test_mlb_star_over_a_raw_store(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    picked = [GAME_747175, *sorted((DATA / "schedule" / "schedule").glob("*.json.gz"))[:1]]
    imported = runner.invoke(app, ["raw", "import", str(raw), *map(str, picked)])
    assert imported.exit_code == 0, imported.output
    db = tmp_path / "raw.duckdb"
    result = runner.invoke(app, ["run", "-m", "mlb:*", "--raw", str(raw), "-s", f"duckdb:{db}", "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(json.loads(result.stdout)["mappings"]) == ["mlb:live_game", "mlb:schedule"]
    assert {"game.live_game_plays", "schedule.schedule_games"} <= tables_of(db)


def test_mappings_lists_each_builtin_with_what_it_reads_and_its_tables() -> None:
    result = runner.invoke(app, ["mappings", "--json"])
    assert result.exit_code == 0, result.output
    listed = {item["mapping"]: item for item in json.loads(result.stdout)}
    assert len(listed) == 21
    assert listed["mlb:live_game"]["reads"] == ["game/liveGameV1"]
    assert "game.live_game_metadata" in listed["mlb:live_game"]["tables"]
    assert listed["mlb:schedule"]["reads"] == ["schedule/schedule", "schedule/tieGames"]
    assert set(routes().values()) == set(listed)  # every mapping reads something the catalog names
    table = runner.invoke(app, ["mappings"])
    assert "mlb:win_probability" in table.stdout and "game/getWinProbability" in table.stdout
