"""The bundled real game, run into Delta, Parquet and CSV, gives exactly the rows it gives in DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

import tidemark
from tests.conftest import GAME_747175, load_envelope, snapshot, write_docs
from tidemark.compile.plan import compile_mapping
from tidemark.errors import MappingError
from tidemark.mapping.loader import load_mapping, parse_mapping
from tidemark.sinks import open_sink
from tidemark.sinks.bookkeeping import quarantine_spec

PLAN = compile_mapping(load_mapping("mlb:live_game")[0])


def tables(url: str) -> dict[str, list[dict[str, object]]]:
    with open_sink(url) as sink:
        return {t.name: sink.read_table(t.spec).to_pylist() for t in PLAN.targets}


@pytest.mark.parametrize("kind", ["delta", "parquet", "csv"])
def test_the_bundled_game_gives_the_same_rows_as_duckdb(kind: str, tmp_path: Path) -> None:
    duck = f"duckdb:{tmp_path / 'mlb.duckdb'}"
    lake = f"{kind}:{tmp_path / kind}"
    expected = tidemark.run(PLAN, [GAME_747175], duck)
    result = tidemark.run(PLAN, [GAME_747175], lake)
    assert result.ok
    assert {n: c.as_dict() for n, c in result.tables.items()} == {n: c.as_dict() for n, c in expected.tables.items()}
    assert result.tables["game.live_game_pitch_events"].inserted > 0
    assert tables(lake) == tables(duck)


@pytest.mark.parametrize("kind", ["delta", "parquet", "csv"])
def test_a_newer_shorter_snapshot_reconciles_like_duckdb(kind: str, tmp_path: Path) -> None:
    feed = load_envelope(GAME_747175)["response"]
    stamp = feed["metaData"]["timeStamp"]
    later = stamp[:-6] + "235959" if stamp[-6:] != "235959" else stamp[:-6] + "235958"
    docs = write_docs(tmp_path / "docs", [snapshot(feed, plays=40, timestamp=later)], prefix="late")
    duck = f"duckdb:{tmp_path / 'mlb.duckdb'}"
    lake = f"{kind}:{tmp_path / kind}"
    for url in (duck, lake):
        tidemark.run(PLAN, [GAME_747175], url)
    expected = tidemark.run(PLAN, docs, duck)
    result = tidemark.run(PLAN, docs, lake)
    assert result.tables["game.live_game_plays"].deleted > 0
    assert {n: c.as_dict() for n, c in result.tables.items()} == {n: c.as_dict() for n, c in expected.tables.items()}
    assert tables(lake) == tables(duck)


PARTITIONED = """\
version: 1
source:
  name: liveGameV1
  document: ["$.response", "$"]
  timestamp: {path: $.metaData.timeStamp, format: "%Y%m%d_%H%M%S"}
targets:
  - table: game.games
    rows: $
    primary_key: [game_pk]
    partition_by: [season]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint, nullable: false}
      - {name: season, path: $.gameData.game.season, type: int}
"""


def test_a_mapping_declares_partitions_that_delta_and_parquet_keep(tmp_path: Path) -> None:
    plan = compile_mapping(parse_mapping(PARTITIONED))
    assert plan.target("game.games").spec.partition_by == ("season",)
    tidemark.run(plan, [GAME_747175], f"delta:{tmp_path / 'delta'}")
    assert DeltaTable(str(tmp_path / "delta" / "game" / "games")).metadata().partition_columns == ["season"]
    tidemark.run(plan, [GAME_747175], f"parquet:{tmp_path / 'parquet'}")
    assert [p.name for p in (tmp_path / "parquet" / "game" / "games").iterdir()] == ["season=2024"]


def test_an_unknown_partition_column_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=r"targets\[0\]\.partition_by\[0\].*'sesaon' is not a field.*'season'"):
        compile_mapping(parse_mapping(PARTITIONED.replace("partition_by: [season]", "partition_by: [sesaon]")))


@pytest.mark.parametrize("kind", ["delta", "parquet", "csv"])
def test_rejected_documents_are_quarantined_in_the_store(kind: str, tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text('{"response": {"gamePk": 1', encoding="utf-8")
    url = f"{kind}:{tmp_path / kind}"
    result = tidemark.run(PLAN, [GAME_747175, bad], url)
    assert not result.ok and len(result.rejected) == 1
    with open_sink(url) as sink:
        (entry,) = sink.read_table(quarantine_spec()).to_pylist()
        assert sink.read_table(PLAN.target("game.live_game_metadata").spec).num_rows == 1  # the good game is in
    assert entry["origin"].endswith("broken.json") and entry["run_id"] == result.run_id and entry["reason"]
