"""Run history as a user meets it (DuckDB; every store: tests/conformance/test_run_ledger.py): ``tidemark runs``,
``status``, ``quarantine`` (listing, replay, a document that is gone), ``check`` and its exit code, one ledger row
per micro-batch of a stream, and the expectations block checked like the rest of a mapping."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import tidemark
from tests.stream_data import MAPPING as LIVE_GAME
from tests.stream_data import wave
from tests.test_quality_rules import MAPPING, game, plan
from tidemark.cli.main import app
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import MappingError
from tidemark.history.ledger import read_runs
from tidemark.mapping.loader import parse_mapping
from tidemark.raw import open_raw
from tidemark.runtime.stream import stream
from tidemark.sinks import open_sink
from tidemark.sinks.duckdb import DuckDBConfig, DuckDBSink
from tidemark.tables import TableSpec

runner = CliRunner()
RULES = "- {name: speed_physical, range: {column: speed, min: 30, max: 110}}"


def cli(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    return result


def as_json(*args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def written(directory: Path, docs: dict[str, dict[str, Any]]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, doc in docs.items():
        (directory / name).write_text(json.dumps(doc))
    return directory


def mapping_file(tmp_path: Path, pitches: str = RULES, extra: str = "") -> str:
    path = tmp_path / "games.yaml"
    block = "\n".join("      " + line for line in pitches.splitlines())
    path.write_text(MAPPING.format(games="      []", pitches=block) + extra)
    return str(path)


def test_runs_status_and_quarantine_commands(tmp_path: Path) -> None:
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    docs = written(tmp_path / "docs", {"g1.json": game(1, pitches=[{"speed": 95.0}, {"speed": 250.0}])})
    (docs / "bad.json").write_text("{not json")
    ran = tidemark.run(plan(pitches=RULES), [docs], sink)
    [run] = as_json("runs", "--sink", sink)
    files = [str(docs / "bad.json"), str(docs / "g1.json")]
    assert (run["run_id"], run["status"], run["inputs"]) == (ran.run_id, "ok", {"paths": [str(docs)], "files": files})
    assert run["counts"]["rejected"] == 1 and run["counts"]["tables"]["g.pitches"]["quarantined"] == 1
    status = as_json("status", "--sink", sink)
    pitches = next(t for t in status["tables"] if t["table"] == "g.pitches")
    assert (pitches["rows"], pitches["quarantined"], pitches["last_run"]) == (1, 1, ran.run_id)
    assert pitches["last_snapshot"].startswith("2024-07-12")
    groups = as_json("quarantine", "--sink", sink)
    assert [(g["table"], g["count"]) for g in groups] == [("(documents)", 1), ("g.pitches", 1)]
    assert groups[0]["entries"][0]["origin"] == str(docs / "bad.json")
    assert json.loads(groups[1]["entries"][0]["key"]) == {"game_pk": 1, "n": 1}
    assert [g["table"] for g in as_json("quarantine", "--sink", sink, "--table", "g.pitches")] == ["g.pitches"]
    shown = cli("runs", "--sink", sink)
    assert shown.exit_code == 0 and ran.run_id in shown.stdout and "ok" in shown.stdout
    shown = cli("quarantine", "--sink", sink)
    assert "speed_physical" in shown.stdout and "bad.json" in shown.stdout


def test_replay_from_the_command_line_requarantines_what_still_fails(tmp_path: Path) -> None:
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    docs = written(tmp_path / "docs", {"g1.json": game(1, pitches=[{"speed": 120.0}, {"speed": 300.0}])})
    tidemark.run(plan(pitches=RULES), [docs], sink)
    fixed = mapping_file(tmp_path, RULES.replace("110", "130"))
    replayed = cli("quarantine", "--sink", sink, "--replay", "--mapping", fixed, "--json")
    assert replayed.exit_code == 1  # as for a run: something was refused (again)
    report = json.loads(replayed.stdout)
    assert (report["written"], report["requarantined"]) == (1, 1)
    [group] = as_json("quarantine", "--sink", sink)  # the 300 mph pitch, quarantined anew by the replay
    assert group["count"] == 1 and group["entries"][0]["run_id"] == report["run"]["run_id"]
    assert json.loads(group["entries"][0]["key"]) == {"game_pk": 1, "n": 1}


def test_a_document_that_is_gone_cannot_be_replayed_and_says_so(tmp_path: Path) -> None:
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    docs = written(tmp_path / "docs", {"g1.json": game(1, pitches=[{"speed": 300.0}])})
    (docs / "bad.json").write_text("{not json")
    tidemark.run(plan(pitches=RULES), [docs], sink)
    for name in ("g1.json", "bad.json"):
        (docs / name).unlink()
    shown = cli("quarantine", "--sink", sink, "--replay", "--mapping", mapping_file(tmp_path))
    assert shown.exit_code == 0 and "nothing to replay" in shown.stdout
    assert shown.stderr.count("not replayable") == 2 and "bad.json is gone" in shown.stderr
    assert len(as_json("quarantine", "--sink", sink)) == 2  # nothing left the quarantine


def test_check_exits_non_zero_on_orphans_and_duplicate_keys(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    sink = f"duckdb:{db}"
    fk = "\n    foreign_keys: [{columns: [game_pk], references: g.games}]\n    rules:"
    checked = mapping_file(tmp_path, "[]")
    path = Path(checked)
    path.write_text(
        path.read_text().replace("primary_key: [game_pk, n]\n", "primary_key: [game_pk, n]" + fk[:-11] + "\n")
    )
    tidemark.run(checked, [game(1), game(2)], sink)
    ok = cli("check", "--mapping", checked, "--sink", sink)
    assert ok.exit_code == 0 and "checks hold" in ok.stdout
    con = duckdb.connect(str(db))  # a game deleted behind tidemark's back: its pitch is an orphan now
    con.execute("DELETE FROM g.games WHERE game_pk = 2")
    con.close()
    for home in (5, 6):  # a table with no key, appended twice: its declared key is duplicated
        tidemark.write(pa.table({"game_pk": [1], "home": [home]}), sink, table="g.twice", mode="append")
    twice = "  - table: g.twice\n    rows: $\n    primary_key: [game_pk]\n    fields:\n"
    twice += (
        "      - {name: game_pk, path: $.game_pk, type: bigint}\n      - {name: home, path: $.home, type: bigint}\n"
    )
    path.write_text(path.read_text().replace("targets:\n", "targets:\n" + twice, 1))
    report = cli("check", "--mapping", checked, "--sink", sink, "--json")
    assert report.exit_code == 1
    broken = {(c["table"], c["name"]): c for c in json.loads(report.stdout)["checks"] if not c["passed"]}
    assert set(broken) == {("g.pitches", "orphan_rows"), ("g.twice", "duplicate_keys")}
    orphans = broken[("g.pitches", "orphan_rows")]
    assert orphans["failing"] == 1 and "1 (game_pk) without a row in g.games" in orphans["detail"]
    assert broken[("g.twice", "duplicate_keys")]["failing"] == 1


def test_a_stream_writes_one_ledger_row_per_micro_batch(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    with open_raw(str(raw), create=True) as store:
        store.append(wave(0, seed=3, games=1, plays=(3, 6)))
        records = len(store.read(limit=1000))
    sink = f"duckdb:{tmp_path / 's.duckdb'}"
    result = stream(LIVE_GAME, str(raw), sink, once=True, batch_documents=1, name="s")
    with open_sink(sink) as target:
        runs = read_runs(target)
    assert result.batches == records and len(runs) == records > 1
    assert [r["batch"] for r in runs] == list(range(records, 0, -1))  # newest first
    assert {r["command"] for r in runs} == {"stream"} and {r["run_id"] for r in runs} == {result.result.run_id}
    assert all(r["inputs"]["stream"] == "s" and r["inputs"]["from"] == r["inputs"]["to"] for r in runs)
    assert sum(r["counts"]["documents"] for r in runs) == result.result.documents


def test_expectations_are_checked_with_the_mapping(tmp_path: Path) -> None:
    text = MAPPING.format(games="      []", pitches="      []")
    bad = text + "expectations:\n  - {name: e, coverage: {table: g.games, columns: [game_pkk], within: g.pitchs}}\n"
    with pytest.raises(MappingError) as caught:
        parse_mapping(bad)
    message = str(caught.value)
    assert "no target writes table 'g.pitchs' (did you mean 'g.pitches'?)" in message
    assert "g.games has no column 'game_pkk' (did you mean 'game_pk'?)" in message
    with pytest.raises(MappingError, match="set exactly one of row_count, parents, coverage"):
        parse_mapping(text + "expectations:\n  - {name: e}\n")


class InterruptedSink(DuckDBSink):
    """A real DuckDB sink where Ctrl-C arrives during the write of the second table (fault injection)."""

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        if spec.qualified == "g.pitches":
            raise KeyboardInterrupt
        return super().write(spec, rows, scopes, mode)


def test_an_interrupted_run_is_recorded_after_its_rollback(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    sink = InterruptedSink(DuckDBConfig(path=str(db)))
    with pytest.raises(KeyboardInterrupt):
        tidemark.run(plan(), [game(1)], sink)
    sink.close()
    with open_sink(f"duckdb:{db}") as target:
        [run] = read_runs(target)
        status = as_json("status", "--sink", f"duckdb:{db}")
    assert run["status"] == "interrupted" and run["error"] == "KeyboardInterrupt: "
    assert status["tables"] == []  # an interrupted run is no table's last run, and wrote nothing
    con = duckdb.connect(str(db))
    try:
        assert con.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'g'").fetchone() == (0,)
    finally:
        con.close()


def test_a_write_is_in_the_run_ledger_with_its_counts(tmp_path: Path) -> None:
    url = f"duckdb:{tmp_path / 'w.duckdb'}"
    first = pa.table({"id": [1, 2, 3], "v": ["a", "b", None]})
    tidemark.write(first, url, "main.items", mode="upsert", keys=["id"])
    second = tidemark.write(
        pa.table({"id": [3, 4, None], "v": ["c", "d", "e"]}), url, "main.items", mode="upsert", keys=["id"]
    )
    runs = as_json("runs", "--sink", url, "--json")
    assert [r["command"] for r in runs] == ["write", "write"]
    newest = runs[0]
    assert newest["run_id"] == second.run_id and newest["status"] == "ok" and newest["mode"] == "upsert"
    assert newest["mapping"] == "table main.items" and newest["inputs"]["data"] == "pyarrow.lib.Table"
    counts = newest["counts"]["tables"]["main.items"]
    assert (counts["inserted"], counts["updated"], counts["quarantined"]) == (1, 1, 1)
    assert runs[1]["counts"]["tables"]["main.items"]["inserted"] == 3
    listed = cli("runs", "--sink", url)
    assert listed.exit_code == 0 and "write" in listed.output and second.run_id in listed.output


def test_a_failed_write_is_in_the_run_ledger_and_wrote_nothing(tmp_path: Path) -> None:
    url = f"duckdb:{tmp_path / 'w.duckdb'}"
    tidemark.write(pa.table({"id": [1], "v": ["a"]}), url, "main.items", mode="upsert", keys=["id"])
    with pytest.raises(tidemark.errors.ContractError, match="duplicate key id=2"):
        tidemark.write(
            pa.table({"id": [2, 2], "v": ["b", "c"]}), url, "main.items", mode="upsert", keys=["id"], dedup="error"
        )
    runs = as_json("runs", "--sink", url, "--json")
    assert [(r["command"], r["status"]) for r in runs] == [("write", "failed"), ("write", "ok")]
    assert "duplicate key id=2" in runs[0]["error"]
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert con.execute("select id from main.items").fetchall() == [(1,)]
