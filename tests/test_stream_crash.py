"""Crash test: a process streams a raw store (``tidemark stream --once``) while the test kills it with SIGKILL at
random moments (seeded), then restarts it until it exits 0; afterwards the tables equal one batch run over the same
records — nothing lost, nothing duplicated, no older data over newer — and, where the store's checkpoint is atomic,
the stream's counts summed over its committed micro-batches equal the batch run's exactly; the applied-documents
ledger then holds every record, so another stream over the raw store parses none.

The raw store holds several snapshots per game (in-progress ones with earlier times, a same-time twin, a
correction), shuffled. When the stream catches up before enough kills, a new wave of records arrives (an even
number, so micro-batches of 2 records fall where one batch run's batches of 2 fall). The kill loop is bounded in
time; a run that cannot reach its kills fails instead of hanging.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest

import tidemark
from tests.conformance.stores import STORES, Store
from tests.stream_data import MAPPING, plan, tables, wave
from tests.stream_worker import context
from tests.test_stream import opener
from tidemark.raw import RawSource, open_raw
from tidemark.runtime.stream import stream
from tidemark.sinks import open_sink
from tidemark.sinks.bookkeeping import applied_spec

BATCH = 2
#: kills per store: at least 20 where a micro-batch is one transaction, at least 5 on the slower file stores
KILLS = {"duckdb": 20, "postgres": 20, "delta": 5, "parquet": 5}
BUDGET_SECONDS = 240


def _store(name: str) -> Any:
    store = next(s for s in STORES if s.name == name)
    return pytest.param(store, KILLS[name], id=name, marks=(*store.marks, pytest.mark.slow))


@pytest.mark.parametrize(("store", "kills"), [_store(name) for name in KILLS])
def test_killed_stream_resumes_exactly(
    store: Store, kills: int, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    raw = tmp_path / "raw"
    waves = 0
    with open_raw(str(raw), create=True) as records:
        records.append(wave(waves, seed=11, games=2))
    url = opener(store, request, tmp_path / "sink").args[0]
    argv = ["stream", "-m", MAPPING, "--raw", str(raw), "--sink", url, "--once", "--batch-documents", str(BATCH)]
    argv += ["--name", "crash"]
    ctx = context()
    rng = random.Random(19)
    killed = finished = 0
    deadline = time.monotonic() + BUDGET_SECONDS
    while killed < kills:
        assert time.monotonic() < deadline, f"only {killed} kills in {BUDGET_SECONDS} s"
        process = ctx.Process(target=_tidemark, args=(argv,))
        process.start()
        process.join(rng.uniform(0.1, 1.5))
        if process.exitcode is None:
            process.kill()  # SIGKILL: no handler, no rollback, no cleanup
            process.join()
            killed += 1
            continue
        assert process.exitcode == 0, f"the stream failed (exit {process.exitcode})"
        finished += 1
        waves += 1  # it caught up: more records arrive
        with open_raw(str(raw)) as records:
            records.append(wave(waves, seed=11, games=2))
    for _ in range(10):  # restart until the backfill completes
        process = ctx.Process(target=_tidemark, args=(argv,))
        process.start()
        process.join()
        if process.exitcode == 0:
            break
    assert process.exitcode == 0
    assert killed >= kills

    the_plan = plan()
    with opener(store, request, tmp_path / "reference")() as reference:
        expected = tidemark.run(the_plan, RawSource(str(raw)), reference, batch_documents=BATCH)
        want = tables(reference, the_plan)
    with open_sink(url) as sink:
        got = tables(sink, the_plan)
        checkpoint = sink.read_checkpoint("crash")
        atomic = sink.capabilities.atomic_checkpoint
    assert got == want
    assert any(want.values())
    assert checkpoint is not None and checkpoint.pending is None
    assert checkpoint.totals["documents"] == expected.documents == len(open_raw(str(raw)).read(limit=10_000))
    with open_sink(url) as sink:  # the ledger holds every record: another stream over the raw store parses none
        assert len(sink.read_table(applied_spec())) == expected.documents
        again = stream(the_plan, str(raw), sink, once=True, batch_documents=BATCH * 4, name="again")
        assert tables(sink, the_plan) == want
    assert (again.result.documents, again.result.unchanged_documents) == (0, expected.documents)
    ran = {name: c.as_dict() for name, c in expected.tables.items()}
    if atomic:
        assert checkpoint.totals["tables"] == ran  # exactly once: counts exact, crashes included
        return
    for name, counts in checkpoint.totals["tables"].items():  # a replayed micro-batch only counts unchanged rows
        seen = sum(counts[k] for k in ("inserted", "updated", "unchanged", "skipped", "error"))
        assert seen == sum(ran[name][k] for k in ("inserted", "updated", "unchanged", "skipped", "error")), name
        for k in ("inserted", "updated", "deleted"):
            assert counts[k] <= ran[name][k], (name, k)


def _tidemark(argv: list[str]) -> None:
    from tests.stream_worker import tidemark as command

    command(argv)
