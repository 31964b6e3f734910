"""The contract's prepare in the Spark executors (engines/spark_prepare.py): what the executors prepare is exactly
``contract.prepare``'s output for every mode, in-batch reductions included (snapshots of the same game in one
batch), and runs give the local engine's tables, counts and quarantine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LIVE
from tests.test_engine_spark import _plan, both, spark  # noqa: F401  (the session fixture)
from tidemark.contract.prepare import prepare
from tidemark.documents import RawDocument
from tidemark.engines.spark import SparkEngine
from tidemark.engines.spark_prepare import Eligible, Reduced
from tidemark.runtime.applied import Ledger
from tidemark.sources import FileSource

pytestmark = pytest.mark.spark

FEEDS = sorted(LIVE.glob("*.json.gz"))  # six games, one of them twice (two snapshots: the same keys)
PAIR = [f for f in FEEDS if "747175" in f.name]
ORDERED = PAIR + [f for f in FEEDS if f not in PAIR]  # the two snapshots first: in one batch of 2 or more


def pair_documents() -> list[RawDocument]:
    """The two snapshots as documents in memory (a stream's micro-batch is such a list)."""
    return list(FileSource(PAIR).read())


def test_what_the_executors_prepare_is_the_contracts_prepare(spark: Any) -> None:  # noqa: F811
    plan = _plan()
    specs = {t.name: t.spec for t in plan.targets}
    engine = SparkEngine(plan, session=spark, chunk_items=2)
    batches = list(engine.extract_source(FileSource(FEEDS), batch_documents=1))
    adopted = [(b, name) for b in batches for name in b.prepared]
    assert len(batches) == len(FEEDS) and len(adopted) >= len(batches)  # every batch has prepared tables
    for batch, name in adopted:
        for mode in ("upsert", "append", "overwrite", "append_once"):
            want = prepare(batch.tables[name], specs[name], mode)  # type: ignore[arg-type]
            got = batch.prepared[name]
            assert got.rows.equals(want.rows), (name, mode)
            assert got.counts == want.counts and got.errors == want.errors == []


def test_a_reduction_without_the_runs_mode_is_left_to_the_driver(spark: Any) -> None:  # noqa: F811
    """Two snapshots of one game in a batch, and an engine not told the mode: the tables with duplicate keys are
    not adopted (what prepare gives depends on the mode); told ``write_mode`` (a stream's engine), they are."""
    assert len(PAIR) == 2
    plan = _plan()
    specs = {t.name: t.spec for t in plan.targets}
    (batch,) = list(SparkEngine(plan, session=spark).extract_source(FileSource(PAIR), batch_documents=2))
    reduced = [n for n in Eligible.of(plan).specs if prepare(batch.tables[n], specs[n], "upsert").counts.skipped]
    assert reduced and not set(reduced) & set(batch.prepared)
    streamed = SparkEngine(plan, session=spark, write_mode="upsert")
    (batch,) = list(streamed.extract(pair_documents(), batch_documents=2))
    assert set(reduced) <= set(batch.prepared)
    for name in reduced:
        want = prepare(batch.tables[name], specs[name], "upsert")
        assert batch.prepared[name].rows.equals(want.rows) and batch.prepared[name].counts == want.counts


@pytest.mark.parametrize("mode", ["upsert", "append"])
def test_the_executors_reduce_as_the_contract_does(spark: Any, mode: str) -> None:  # noqa: F811
    """Two snapshots of one game in a batch, the run's mode known (its ledger): every table is prepared in the
    executors, reduced by the contract's own ``reduce_duplicates`` (upsert) or not (append), rows and counts
    exactly ``contract.prepare``'s."""
    plan = _plan()
    engine = SparkEngine(plan, session=spark)
    engine.ledger = Ledger(plan, mode)  # type: ignore[arg-type]  # as a batch run sets it
    (batch,) = list(engine.extract_source(FileSource(PAIR), batch_documents=2))
    specs = {t.name: t.spec for t in plan.targets}
    nonempty = {n for n in Eligible.of(plan).specs if batch.tables[n].num_rows}
    assert set(batch.prepared) == nonempty
    reduced = [n for n in nonempty if prepare(batch.tables[n], specs[n], "upsert").counts.skipped]
    assert reduced  # the second snapshot replaces the first one's rows in the batch
    for name in nonempty:
        want = prepare(batch.tables[name], specs[name], mode)  # type: ignore[arg-type]
        got = batch.prepared[name]
        assert got.rows.equals(want.rows), name
        assert got.counts == want.counts and got.errors == want.errors == []
    adopted_reductions = {n for n in nonempty if isinstance(batch.prepared[n], Reduced)}
    assert adopted_reductions >= set(reduced) if mode == "upsert" else not adopted_reductions


@pytest.mark.parametrize("batch_documents", [1, 3])
def test_the_runs_equal_the_local_engines(spark: Any, tmp_path: Path, batch_documents: int) -> None:  # noqa: F811
    """The game's snapshots in batches of 1 and of 3 (in-batch reductions, in the executors), twice (the second
    run: every row unchanged or skipped by the store)."""
    runs = [("mlb:live_game", ORDERED), ("mlb:live_game", ORDERED)]
    local, _ = both(tmp_path, runs, batch_documents=batch_documents, chunk_items=2)
    assert local[0].ok and local[1].tables["game.live_game_pitch_events"].unchanged > 0
    if batch_documents == 3:
        assert sum(c.skipped + c.unchanged for c in local[0].tables.values()) > 0  # in-batch reductions happened
