"""The run ledger ``_tidemark.runs`` and the quarantine replay on every store of the conformance list: a run's (and a
write's) row commits with its rows, a failed run (or write) is recorded after its rollback, a replay after a mapping
fix writes what passes now and takes it out of the quarantine in the same transaction."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

import tidemark
from tests.conformance.stores import Opener
from tests.stream_data import MAPPING as LIVE_GAME
from tests.stream_data import wave
from tests.test_quality_rules import MAPPING, game, plan
from tidemark.compile.plan import compile_mapping
from tidemark.errors import ContractError
from tidemark.history.ledger import read_runs
from tidemark.history.quarantine import read_quarantine, replay
from tidemark.history.status import store_status
from tidemark.mapping.loader import parse_mapping
from tidemark.quality import QualityError
from tidemark.quality.expectations import ExpectationError
from tidemark.raw import open_raw
from tidemark.runtime.stream import stream

RULE = "- {{name: speed_physical, range: {{column: speed, min: 30, max: {top}}}{action}}}"


def mapping_text() -> str:
    return MAPPING.format(games="      []", pitches="      []")


def rules(top: int = 110, action: str = "") -> str:
    return RULE.format(top=top, action=action)


def test_a_run_and_a_failed_run_are_recorded_on_every_store(store: Opener) -> None:
    docs = [game(1, pitches=[{"speed": 95.0}, {"speed": 250.0}]), game(2)]
    with store() as sink:
        ok = tidemark.run(plan(pitches=rules()), docs, sink)
    with store() as sink, pytest.raises(QualityError, match="speed_physical"):
        tidemark.run(plan(pitches=rules(action=", action: fail")), [game(3, pitches=[{"speed": 5.0}])], sink)
    with store() as sink:
        failed, done = read_runs(sink)
        status = store_status(sink)
    assert (done["run_id"], done["status"], done["batch"], done["command"]) == (ok.run_id, "ok", 0, "run")
    pitches = done["counts"]["tables"]["g.pitches"]
    assert (pitches["inserted"], pitches["quarantined"]) == (2, 1)
    assert done["counts"]["documents"] == 2 and set(done["seconds"]) == {"extract", "prepare", "write"}
    assert done["ended_at"] >= done["started_at"] and done["mapping"] == "games" and done["plan_hash"]
    assert failed["status"] == "failed" and "speed_physical" in failed["error"]
    assert failed["started_at"] >= done["ended_at"]
    # the failed run wrote nothing: the data is what the ok run left
    by_table = {t.table: t for t in status["tables"]}
    assert (by_table["g.games"].rows, by_table["g.pitches"].rows) == (2, 2)
    assert by_table["g.pitches"].last_run == ok.run_id and by_table["g.pitches"].quarantined == 1
    assert status["runs"] == 2


def test_replay_after_a_mapping_fix_on_every_store(store: Opener, tmp_path: Path) -> None:
    files = tmp_path / "docs"
    files.mkdir()
    for n, speeds in ((1, [95.0, 120.0]), (2, [97.0])):
        (files / f"g{n}.json").write_text(json.dumps(game(n, pitches=[{"speed": s} for s in speeds])))
    with store() as sink:
        tidemark.run(plan(pitches=rules()), [files], sink)
        [entry] = read_quarantine(sink)
    assert entry["table_name"] == "g.pitches" and "speed_physical" in entry["reason"]
    with store() as sink:  # the rule was too strict: 120 is a real pitch speed
        report = replay(plan(pitches=rules(top=130)), sink)
        pitches = plan().target("g.pitches").spec
        stored = sorted((r["game_pk"], r["n"], r["speed"]) for r in sink.read_table(pitches).to_pylist())
        left = read_quarantine(sink)
        runs = read_runs(sink)
    assert report.files == [str(files / "g1.json")]  # the entry names its document: only that one is read
    assert (report.written, report.requarantined) == (1, 0)
    assert stored == [(1, 0, 95.0), (1, 1, 120.0), (2, 0, 97.0)]
    assert left == [] and report.result is not None and runs[0]["run_id"] == report.result.run_id


EXPECTATIONS = """
expectations:
  - {name: two_games, row_count: {table: g.games, min: 2}}
  - {name: games_have_pitches, coverage: {table: g.games, columns: [game_pk], within: g.pitches}, action: warn}
"""


def test_expectations_after_a_run_on_every_store(store: Opener) -> None:
    expecting = compile_mapping(parse_mapping(mapping_text() + EXPECTATIONS))
    with store() as sink:
        warned = tidemark.run(expecting, [game(1), game(2, pitches=[])], sink)
    assert [e["name"] for e in warned.expectations if not e["passed"]] == ["games_have_pitches"]
    assert any("games_have_pitches" in w and "1 values of (game_pk)" in w for w in warned.warnings)
    with store() as sink:
        sink_runs = read_runs(sink)
    assert sink_runs[0]["status"] == "ok" and sink_runs[0]["counts"]["expectations"][0]["failing"] == 1
    with store() as sink, pytest.raises(ExpectationError, match=r"'two_games' on g\.games: 1 rows"):
        tidemark.run(expecting, [game(3)], sink, mode="overwrite")
    with store() as sink:  # the rows of the run are committed (expectations look at the stored tables)
        games = sorted(r["game_pk"] for r in sink.read_table(expecting.target("g.games").spec).to_pylist())
        last = read_runs(sink)[0]
    assert games == [3] and last["status"] == "failed" and "two_games" in last["error"]


def test_a_stream_records_each_micro_batch_on_every_store(store: Opener, tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    with open_raw(str(raw), create=True) as records:
        records.append(wave(0, seed=3, games=1, plays=(3, 6)))
        count = len(records.read(limit=1000))
    with store() as sink:
        streamed = stream(LIVE_GAME, str(raw), sink, once=True, batch_documents=2, name="s")
        runs = read_runs(sink)
    assert count > 2 and streamed.batches == len(runs) == (count + 1) // 2
    assert [r["batch"] for r in runs] == list(range(len(runs), 0, -1))
    assert all(r["status"] == "ok" and r["inputs"]["stream"] == "s" for r in runs)
    assert sum(r["counts"]["documents"] for r in runs) == streamed.result.documents


def test_a_write_and_a_failed_write_are_recorded_on_every_store(store: Opener) -> None:
    with store() as sink:
        ok = tidemark.write(
            pa.table({"id": [1, 2, None], "v": ["a", "b", "c"]}), sink, "w.items", mode="upsert", keys=["id"]
        )
    with store() as sink, pytest.raises(ContractError, match="duplicate key id=3"):
        tidemark.write(
            pa.table({"id": [3, 3], "v": ["x", "y"]}), sink, "w.items", mode="upsert", keys=["id"], dedup="error"
        )
    with store() as sink:
        failed, done = read_runs(sink)
        stored = sink.read_table(ok.spec).to_pylist()
    assert (done["run_id"], done["status"], done["command"], done["mapping"]) == (
        ok.run_id,
        "ok",
        "write",
        "table w.items",
    )
    items = done["counts"]["tables"]["w.items"]
    assert (items["inserted"], items["quarantined"]) == (2, 1)
    assert done["inputs"]["data"] == "pyarrow.lib.Table"
    assert (failed["status"], failed["command"]) == ("failed", "write") and "duplicate key id=3" in failed["error"]
    assert sorted(r["id"] for r in stored) == [1, 2]  # the failed write wrote nothing
