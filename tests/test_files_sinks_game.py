"""The bundled real game in Delta, Parquet and CSV: partitions, quarantine (the rows and counts it gives in every
store, the same as in DuckDB, are in tests/conformance/test_bundled_game.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from deltalake import DeltaTable

import tidemark
from tests.conftest import GAME_747175
from tidemark.compile.plan import compile_mapping
from tidemark.errors import MappingError
from tidemark.mapping.loader import load_mapping, parse_mapping
from tidemark.sinks import open_sink
from tidemark.sinks.bookkeeping import quarantine_spec

PLAN = compile_mapping(load_mapping("mlb:live_game")[0])


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
