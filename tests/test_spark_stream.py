"""Spark Structured Streaming (``tidemark stream --engine spark``): the same micro-batches as ``tidemark stream``,
committed with their checkpoint; a Spark batch re-run after a crash is skipped; a process killed while it streams
resumes exactly (DuckDB: tables equal a batch run, counts summed over the micro-batches equal its counts).

One ``local[2]`` session serves the in-process tests; the crash test runs the real CLI in processes of their own
(each starts its own JVM) and kills them with SIGKILL.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import tidemark
from tests.stream_data import plan, tables, wave
from tests.stream_worker import context
from tidemark.cli.main import app
from tidemark.engines.spark import open_session
from tidemark.engines.spark_stream import SPARK_KEY, spark_stream
from tidemark.errors import SourceError
from tidemark.raw import RawSource, open_raw
from tidemark.runtime.result import NullReporter
from tidemark.sinks import open_sink

pytestmark = pytest.mark.spark

BATCH = 2
SPARK_ARGS = ["--spark-master", "local[2]", "--spark-conf", "spark.ui.enabled=false"]
SPARK_ARGS += ["--spark-conf", "spark.sql.shuffle.partitions=2"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """The session of an earlier test module if one is running (one JVM for the whole suite), else a new one."""
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    session = open_session("local[2]", {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    yield session
    if running is None:
        session.stop()


def raw_store(path: Path, *waves: int, games: int = 1) -> str:
    with open_raw(str(path), create=True) as store:
        for n in waves:
            store.append(wave(n, seed=5, games=games))
    return str(path)


def batch_run(raw: str, db: Path) -> tuple[Any, dict[str, Any]]:
    """One local batch run over every record of ``raw`` (batches of BATCH): its result and its tables."""
    the_plan = plan()
    with open_sink(f"duckdb:{db}") as sink:
        result = tidemark.run(the_plan, RawSource(raw), sink, batch_documents=BATCH)
        return result, tables(sink, the_plan)


def stored(db: Path, stream: str) -> tuple[Any, dict[str, Any]]:
    with open_sink(f"duckdb:{db}") as sink:
        return sink.read_checkpoint(stream), tables(sink, plan())


def test_a_spark_stream_equals_a_batch_run(spark: Any, tmp_path: Path) -> None:
    """Two calls (records arrive between them): the tables and the summed counts are one batch run's."""
    raw = raw_store(tmp_path / "raw", 0)
    db = tmp_path / "stream.duckdb"
    first = spark_stream(
        "mlb:live_game", raw, f"duckdb:{db}", name="s", once=True, batch_documents=BATCH, session=spark
    )
    assert (first.batches, first.result.documents, first.stopped) == (3, 6, False)
    with open_raw(raw) as store:
        store.append(wave(1, seed=5, games=1))
    second = spark_stream(
        "mlb:live_game", raw, f"duckdb:{db}", name="s", once=True, batch_documents=BATCH, session=spark
    )
    assert second.batches == 3 and second.checkpoint.batch == 6
    expected, want = batch_run(raw, tmp_path / "batch.duckdb")
    checkpoint, got = stored(db, "s")
    assert got == want and any(want.values())
    assert checkpoint.totals["documents"] == expected.documents == 12
    assert checkpoint.totals["tables"] == {name: c.as_dict() for name, c in expected.tables.items()}
    assert checkpoint.totals[SPARK_KEY]["query"] == second.query_id


def test_the_ledger_skips_in_a_spark_stream_as_in_the_local_stream(spark: Any, tmp_path: Path) -> None:
    """A fresh stream, another stream over the same raw store (all unchanged: nothing parsed, nothing written) and
    one after more records arrive: the Spark stream's counts, tables and ledger are the local stream's."""
    from tidemark.runtime.stream import stream
    from tidemark.sinks.bookkeeping import applied_spec

    raw = raw_store(tmp_path / "raw", 0)
    done: dict[str, list[Any]] = {"local": [], "spark": []}
    for round_ in range(3):
        if round_ == 2:
            with open_raw(raw) as store:
                store.append(wave(1, seed=5, games=1))
        for engine, results in done.items():
            url, name = f"duckdb:{tmp_path / engine}.duckdb", "s" if round_ != 1 else "t"
            args: dict[str, Any] = {"name": name, "once": True, "batch_documents": BATCH}
            if engine == "spark":
                results.append(spark_stream("mlb:live_game", raw, url, session=spark, **args))
            else:
                results.append(stream("mlb:live_game", raw, url, **args))
    for local, remote in zip(done["local"], done["spark"], strict=True):
        assert remote.result.documents == local.result.documents
        assert remote.result.unchanged_documents == local.result.unchanged_documents
        assert {n: c.as_dict() for n, c in remote.result.tables.items()} == {
            n: c.as_dict() for n, c in local.result.tables.items()
        }
        assert remote.checkpoint.totals["tables"] == local.checkpoint.totals["tables"]
    assert [(r.result.documents, r.result.unchanged_documents) for r in done["spark"]] == [(6, 0), (0, 6), (6, 0)]
    assert sum(c.inserted + c.updated for c in done["spark"][1].result.tables.values()) == 0
    ledgers = []
    for engine in done:
        with open_sink(f"duckdb:{tmp_path / engine}.duckdb") as sink:
            rows = sink.read_table(applied_spec()).select(["plan_hash", "mode", "document_hash", "origin"])
            ledgers.append(sorted(map(str, rows.to_pylist())))
    assert len(ledgers[0]) == 12 and ledgers[0] == ledgers[1]
    assert stored(tmp_path / "spark.duckdb", "s")[1] == stored(tmp_path / "local.duckdb", "s")[1]


def test_a_spark_batch_run_again_after_a_crash_is_skipped(spark: Any, tmp_path: Path) -> None:
    """A crash between the sink's commit and Spark's commit marker, simulated: the marker of the last batch is
    removed. Spark runs that batch id again; the sink holds it, so it is skipped: nothing is written twice."""
    raw = raw_store(tmp_path / "raw", 0)
    db, location = tmp_path / "stream.duckdb", tmp_path / "spark-checkpoint"
    args: dict[str, Any] = {"name": "s", "once": True, "batch_documents": BATCH, "session": spark}
    first = spark_stream("mlb:live_game", raw, f"duckdb:{db}", checkpoint_location=location, **args)
    assert first.batches == 3 and first.replayed == 0
    before, want = stored(db, "s")
    last = before.totals[SPARK_KEY]["batch"]
    assert (location / "commits" / str(last)).exists()
    for log, after in (("commits", last - 1), ("offsets", last)):  # Spark has planned that batch, not finished it
        for entry in (location / log).iterdir():  # the batch's file and its checksum file (.N.crc)
            number = entry.name.removeprefix(".").removesuffix(".crc")
            if number.isdigit() and int(number) > after:
                entry.unlink()
    again = spark_stream("mlb:live_game", raw, f"duckdb:{db}", checkpoint_location=location, **args)
    assert again.query_id == first.query_id
    assert (again.replayed, again.batches, again.result.documents) == (1, 0, 0)
    after, got = stored(db, "s")
    assert got == want
    assert (after.position, after.batch, after.totals["tables"]) == (before.position, 3, before.totals["tables"])


class Seen(NullReporter):
    """Counts the documents the micro-batches read; ``wait_for(n)`` returns once n were read."""

    def __init__(self) -> None:
        self.documents = 0
        self.changed = threading.Condition()

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        with self.changed:
            self.documents += documents
            self.changed.notify_all()

    def wait_for(self, n: int, follower: threading.Thread) -> None:
        with self.changed:
            while self.documents < n and follower.is_alive():
                self.changed.wait(1)
        assert self.documents >= n, f"the stream ended after {self.documents} documents"


def test_a_spark_stream_follows_the_store_until_stopped(spark: Any, tmp_path: Path) -> None:
    """Without once: records appended while the query runs are streamed; ``stop`` ends it between micro-batches,
    every micro-batch whose documents were read committed."""
    raw = raw_store(tmp_path / "raw", 0)
    db = tmp_path / "stream.duckdb"
    seen, stop, results = Seen(), threading.Event(), []

    def follow() -> None:
        options: dict[str, Any] = {"batch_documents": BATCH, "poll_seconds": 0.2, "session": spark}
        results.append(
            spark_stream("mlb:live_game", raw, f"duckdb:{db}", name="s", reporter=seen, stop=stop, **options)
        )

    follower = threading.Thread(target=follow)
    follower.start()
    seen.wait_for(6, follower)
    with open_raw(raw) as store:
        store.append(wave(1, seed=5, games=1))
    seen.wait_for(12, follower)
    stop.set()
    follower.join()
    (result,) = results
    assert result.stopped and (result.batches, result.result.documents) == (6, 12)
    expected, want = batch_run(raw, tmp_path / "batch.duckdb")
    checkpoint, got = stored(db, "s")
    assert got == want
    assert checkpoint.totals["tables"] == {name: c.as_dict() for name, c in expected.tables.items()}


def test_a_raw_store_that_is_not_there_fails_before_spark_starts(spark: Any, tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="missing"):
        spark_stream("mlb:live_game", str(tmp_path / "missing"), f"duckdb:{tmp_path / 't.duckdb'}", session=spark)
    assert spark.streams.active == []


def test_the_cli_streams_with_spark(tmp_path: Path, spark: Any) -> None:
    raw = raw_store(tmp_path / "raw", 0)
    db = tmp_path / "t.duckdb"
    argv = ["stream", "-m", "mlb:live_game", "--raw", raw, "-s", f"duckdb:{db}", "--once", "--json"]
    argv += ["--batch-documents", str(BATCH), "--engine", "spark", *SPARK_ARGS]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["batches"] == 3 and summary["result"]["documents"] == 6
    assert summary["spark"]["replayed"] == 0 and summary["spark"]["query_id"]


#: SIGKILLs of the crash test: each one after the process committed at least one micro-batch
KILLS = 3
BUDGET_SECONDS = 600


@pytest.mark.slow
def test_a_killed_spark_stream_resumes_exactly(tmp_path: Path) -> None:
    """The CLI streams in a process of its own; once Spark has committed a batch in it (a commit marker: the process
    got past its start-up), it is killed at a random moment, KILLS times, then run until it exits 0. The tables equal
    a local batch run and the counts summed over the committed micro-batches are that run's exactly."""
    raw = raw_store(tmp_path / "raw", 0, 1, 2, 3, 4, games=2)
    db, location = tmp_path / "stream.duckdb", tmp_path / "spark-checkpoint"
    argv = ["stream", "-m", "mlb:live_game", "--raw", raw, "-s", f"duckdb:{db}", "--once", "--name", "crash"]
    argv += ["--batch-documents", str(BATCH), "--engine", "spark", "--spark-checkpoint", str(location), *SPARK_ARGS]
    ctx, rng = context(), random.Random(23)
    deadline = time.monotonic() + BUDGET_SECONDS
    killed = 0
    while killed < KILLS:
        process = ctx.Process(target=_tidemark, args=(argv,))
        start = _markers(location)
        process.start()
        while process.is_alive() and _markers(location) <= start:  # until Spark committed a batch in this process
            assert time.monotonic() < deadline, f"only {killed} kills in {BUDGET_SECONDS} s"
            process.join(0.2)
        assert process.exitcode is None, f"the stream ended (exit {process.exitcode}) before {KILLS} kills"
        process.join(rng.uniform(0.0, 1.0))
        assert process.exitcode is None, "the stream caught up before it was killed: give it more records"
        process.kill()  # SIGKILL: no handler, no rollback, no cleanup; the JVM ends with its parent
        process.join()
        killed += 1
    process = ctx.Process(target=_tidemark, args=(argv,))
    process.start()
    process.join()
    assert process.exitcode == 0
    expected, want = batch_run(raw, tmp_path / "batch.duckdb")
    checkpoint, got = stored(db, "crash")
    assert got == want and any(want.values())
    assert checkpoint.totals["documents"] == expected.documents == 60
    assert checkpoint.totals["tables"] == {name: c.as_dict() for name, c in expected.tables.items()}


def _markers(location: Path) -> int:
    """Spark batches committed so far (files of the checkpoint's ``commits`` directory)."""
    commits = location / "commits"
    return sum(1 for p in commits.iterdir() if p.name.isdigit()) if commits.exists() else 0


def _tidemark(argv: list[str]) -> None:
    from tests.stream_worker import tidemark as command

    command(argv)
