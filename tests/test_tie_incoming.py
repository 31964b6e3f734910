"""``tidemark run --tie incoming`` on the bundled game: a correction that keeps its snapshot time wins, inside one
run (by input position, whatever the batch size) and across runs; ``tie:`` in a mapping target; the refusals.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import snapshot, write_docs
from tidemark.cli import main as cli
from tidemark.compile.plan import compile_mapping, with_tie
from tidemark.errors import ConfigError
from tidemark.mapping.loader import parse_mapping

PLAYS = "game.live_game_plays"
EVENT = f"SELECT event FROM {PLAYS} WHERE game_pk = 747175 AND at_bat_index = 9"


def call_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["tidemark", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


def event(db: Path) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.sql(EVENT).fetchone()
        assert row is not None
        return str(row[0])
    finally:
        con.close()


def corrected(feed: dict[str, Any], text: str) -> dict[str, Any]:
    def edit(doc: dict[str, Any]) -> None:
        doc["liveData"]["plays"]["allPlays"][9]["result"]["event"] = text

    return snapshot(feed, edit=edit)  # the same metaData.timeStamp as the feed: a correction keeping its time


def run(monkeypatch: pytest.MonkeyPatch, db: Path, inputs: list[Path], *extra: str) -> int:
    args = ["run", "--mapping", "mlb:live_game", "--sink", f"duckdb:{db}", "--input", *map(str, inputs), *extra]
    return call_main(monkeypatch, *args)


@pytest.mark.parametrize("batch", ["1", "64"])
def test_the_later_document_of_a_run_wins_a_tie_whatever_the_batches(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, feed_747175: dict[str, Any], batch: str
) -> None:
    first, second, third = (corrected(feed_747175, e) for e in ("Single", "Double", "Triple"))
    paths = write_docs(tmp_path / "docs", [first, second, third])  # doc_0000, doc_0001, doc_0002: source order
    db = tmp_path / "t.duckdb"
    assert run(monkeypatch, db, paths, "--tie", "incoming", "--batch-documents", batch) == 0
    assert event(db) == "Triple"
    # a later run's correction wins too; the same document again changes nothing
    later = write_docs(tmp_path / "later", [corrected(feed_747175, "Home Run")])
    assert run(monkeypatch, db, later, "--tie", "incoming") == 0
    assert event(db) == "Home Run"
    assert run(monkeypatch, db, paths[1:2], "--tie", "incoming") == 0
    assert event(db) == "Home Run"  # a document applied before is skipped unparsed (docs/write-contract.md)
    assert run(monkeypatch, db, paths[1:2], "--tie", "incoming", "--reprocess") == 0
    assert event(db) == "Double"  # not order-independent across runs: the run after wins (docs/write-contract.md)


def test_without_tie_incoming_the_hash_decides_in_any_order(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    paths = write_docs(tmp_path / "docs", [corrected(feed_747175, e) for e in ("Single", "Double")])
    forward, backward = tmp_path / "f.duckdb", tmp_path / "b.duckdb"
    assert run(monkeypatch, forward, paths) == 0
    assert run(monkeypatch, backward, paths[1:]) == 0
    assert run(monkeypatch, backward, paths[:1]) == 0
    assert event(forward) == event(backward)


def test_a_target_sets_its_tie_in_the_mapping() -> None:
    text = """\
version: 1
source:
  name: feed
  timestamp: {path: $.metaData.timeStamp, format: "%Y%m%d_%H%M%S"}
targets:
  - table: g.games
    tie: incoming
    primary_key: [game_pk]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint, nullable: false}
  - table: g.other
    primary_key: [game_pk]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint, nullable: false}
"""
    plan = compile_mapping(parse_mapping(text))
    assert [t.spec.tie for t in plan.targets] == ["incoming", "hash"]
    assert [t.spec.tie for t in with_tie(plan, "incoming").targets] == ["incoming", "incoming"]
    with pytest.raises(ConfigError, match="--tie newest: use hash"):
        with_tie(plan, "newest")


def test_an_unknown_tie_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    paths = write_docs(tmp_path / "docs", [feed_747175])
    assert run(monkeypatch, tmp_path / "t.duckdb", paths, "--tie", "latest") == 1
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: --tie latest: use hash (the default: order-independent) or incoming (the later row wins)"
    ]


def test_the_spark_engine_refuses_tie_incoming() -> None:
    pytest.importorskip("pyspark")
    from tidemark.engines.spark import SparkEngine
    from tidemark.runtime.batch import plan_of

    with pytest.raises(ConfigError, match=r"tie: incoming \(game\.live_game_metadata, .*use --engine local"):
        SparkEngine(with_tie(plan_of("mlb:live_game"), "incoming"))


def test_the_python_api_takes_the_tie_mode(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    import tidemark

    paths = write_docs(tmp_path / "docs", [corrected(feed_747175, e) for e in ("Single", "Double")])
    by_hash, incoming = tmp_path / "hash.duckdb", tmp_path / "incoming.duckdb"
    assert tidemark.run("mlb:live_game", paths, f"duckdb:{incoming}", tie="incoming").ok
    assert event(incoming) == "Double"  # the later document of the run
    assert tidemark.run("mlb:live_game", list(reversed(paths)), f"duckdb:{by_hash}").ok
    reversed_too = tmp_path / "hash2.duckdb"
    assert tidemark.run("mlb:live_game", paths, f"duckdb:{reversed_too}", tie="hash").ok
    assert event(by_hash) == event(reversed_too)  # the default: the same whatever the order
    with pytest.raises(ConfigError, match="--tie sometimes: use hash"):
        tidemark.run("mlb:live_game", paths, f"duckdb:{tmp_path / 'x.duckdb'}", tie="sometimes")
    assert not (tmp_path / "x.duckdb").exists()
