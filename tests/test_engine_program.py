"""The per-document program (engines/program.py): pure, picklable, and the same rows wherever it runs."""

from __future__ import annotations

import multiprocessing
import pickle
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tests.conftest import GAME_747175
from tidemark import compile_mapping, load_mapping
from tidemark.compile.plan import Plan
from tidemark.engines.local import LocalEngine
from tidemark.engines.program import DocumentRows, Program, Rejection
from tidemark.mapping.loader import parse_mapping
from tidemark.sources.files import iter_documents

Rows = list[tuple[str, list[Any]]]


@pytest.fixture(scope="module")
def plan() -> Plan:
    return compile_mapping(load_mapping("mlb:live_game")[0])


def run_rows(program: Program, data: bytes) -> tuple[Rows, dict[int, list[str]], list[tuple[str, tuple[Any, ...]]]]:
    result = program.run(orjson.loads(data))
    assert isinstance(result, DocumentRows)
    rows = [(target.plan.name, row) for target, row in result.rows]
    scopes = [(target.plan.name, values) for target, values in result.scopes]
    return rows, result.missing, scopes


def run_pickled(blob: bytes, data: bytes) -> Any:
    """In a fresh process: nothing but the pickled program and the document's bytes."""
    return run_rows(pickle.loads(blob), data)


def test_the_pickled_program_gives_the_same_rows_in_a_fresh_process(plan: Plan) -> None:
    (raw,) = iter_documents([GAME_747175])
    here = run_rows(Program(plan), raw.data)
    blob = pickle.dumps(Program(plan))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        there = pool.apply(run_pickled, (blob, raw.data))
    assert len(here[0]) > 500  # the whole game: plays, pitches, runners...
    assert {name for name, _ in here[0]} == {t.name for t in plan.targets}
    assert there == here


def test_the_program_gives_the_rows_the_local_engine_stores(plan: Plan) -> None:
    (raw,) = iter_documents([GAME_747175])
    rows, missing, _ = run_rows(Program(plan), raw.data)
    assert missing == {}
    (batch,) = LocalEngine(plan).extract([raw])
    for target in plan.targets:
        mine = [row for name, row in rows if name == target.name]
        assert len(mine) == batch.tables[target.name].num_rows
        assert len(mine) > 0


def test_a_rejection_is_a_value_and_leaves_nothing_behind(plan: Plan) -> None:
    program = Program(plan)
    result = program.run({"gameData": {}, "metaData": {}})
    assert isinstance(result, Rejection)
    assert "no snapshot time" in result.reason
    assert program.index_cache._entries == {}


def test_the_capture_time_given_with_a_record_is_its_snapshot_time() -> None:
    yaml = """
source:
  name: t
  timestamp: {from: captured_at}
targets:
  - table: s.t
    fields: [{name: id, path: $.id, type: int, nullable: false}]
"""
    program = Program(compile_mapping(parse_mapping(yaml)))
    when = datetime(2024, 7, 13, tzinfo=UTC)
    result = program.run({"x": 1}, captured_at=when)
    assert isinstance(result, DocumentRows)
    assert result.snapshot == when
    assert result.rows[0][1] == [None, when]
    assert result.missing == {0: ["id: required value is missing"]}
