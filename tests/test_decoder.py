"""The plan-compiled decoder must never change what a mapping extracts: same tables as plain orjson, always."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import DATA, GAME_747175, LIVE
from tidemark.compile.plan import compile_mapping
from tidemark.documents import RawDocument
from tidemark.engines.decoder import build_decoder
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import load_mapping, resolve_mapping_path
from tidemark.sources.files import expand_inputs, iter_documents

MAPPINGS = sorted(p.stem for p in resolve_mapping_path("mlb:live_game").parent.glob("*.yaml"))


def _extract(mapping: str, inputs: list[Path] | list[RawDocument], fast: bool) -> dict[str, list[dict[str, object]]]:
    plan = compile_mapping(load_mapping(mapping)[0])
    engine = LocalEngine(plan, fast_decode=fast)
    docs = inputs if inputs and isinstance(inputs[0], RawDocument) else iter_documents(expand_inputs(inputs))
    out: dict[str, list[dict[str, object]]] = {}
    for batch in engine.extract(docs, batch_documents=3):  # type: ignore[arg-type]
        for name, table in batch.tables.items():
            out.setdefault(name, []).extend(table.to_pylist())
        for rejected in batch.rejected:
            out.setdefault("_rejected", []).append({"origin": rejected.origin, "reason": rejected.reason})
        for err in batch.row_errors:
            out.setdefault("_errors", []).append({"table": err.table, "reason": err.reason})
    return out


@pytest.mark.parametrize("mapping", MAPPINGS)
def test_pruned_decoding_extracts_the_same_tables_as_orjson(mapping: str) -> None:
    inputs = [LIVE] if mapping == "live_game" else [DATA]
    fast = _extract(f"mlb:{mapping}", inputs, fast=True)
    slow = _extract(f"mlb:{mapping}", inputs, fast=False)
    assert fast == slow


def test_the_decoder_skips_what_the_mapping_does_not_read() -> None:
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    decoder = build_decoder(plan)
    assert decoder is not None
    raw = next(iter_documents([GAME_747175])).data
    record = decoder.decode(raw)
    doc = record["response"]
    assert "leaders" not in doc["liveData"]  # never read by this mapping
    assert "batterHotColdZones" not in doc["liveData"]["plays"]["allPlays"][0]["matchup"]
    assert doc["gamePk"] > 0 and doc["liveData"]["plays"]["allPlays"]


def test_documents_of_another_shape_fall_back_and_are_reported_the_same(feed_747175: dict[str, object]) -> None:
    bad = json.loads(json.dumps(feed_747175))
    bad["liveData"]["plays"]["allPlays"] = {"not": "an array"}  # type: ignore[index]
    docs = [RawDocument(json.dumps(bad).encode(), "bad.json")]
    fast = _extract("mlb:live_game", docs, fast=True)
    assert fast == _extract("mlb:live_game", docs, fast=False)
    assert "expected an array" in str(fast["_rejected"][0]["reason"])
