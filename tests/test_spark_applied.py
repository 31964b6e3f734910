"""The applied-documents ledger on ``--engine spark`` (engines/spark_applied.py, spark_frame.py): a re-run skips the
documents applied before, as the local engine does: the same unchanged documents, counts, tables and ledger rows,
for files, a raw directory and a DataFrame's rows."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import LIVE
from tests.test_engine_spark import dump, outcome, spark  # noqa: F401  (the session fixture)

pytestmark = pytest.mark.spark

FEEDS = sorted(LIVE.glob("*.json.gz"))


def ledger_rows(db: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        query = 'SELECT plan_hash, mode, document_hash, origin, captured_at FROM "_tidemark"."applied_documents"'
        return sorted(con.sql(query).fetchall())


def test_a_rerun_skips_what_was_applied(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    """Four feeds, then all seven twice (batches of 2): the second run applies three, the third none."""
    runs = [FEEDS[:4], FEEDS, FEEDS]
    results: dict[str, list[Any]] = {}
    for engine in ("local", "spark"):
        db = f"duckdb:{tmp_path / engine}.duckdb"
        results[engine] = [
            tidemark.run("mlb:live_game", inputs, db, engine=engine, batch_documents=2) for inputs in runs
        ]
    for local, remote in zip(results["local"], results["spark"], strict=True):
        assert outcome(remote) == outcome(local)
        assert remote.unchanged_documents == local.unchanged_documents
    assert [r.unchanged_documents for r in results["spark"]] == [0, 4, 7]
    assert [r.documents for r in results["spark"]] == [4, 3, 0]
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "local.duckdb")
    assert ledger_rows(tmp_path / "spark.duckdb") == ledger_rows(tmp_path / "local.duckdb")
    assert len(ledger_rows(tmp_path / "spark.duckdb")) == 7


def test_reprocess_and_a_raw_store_read_on_the_driver(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    """``reprocess=True`` applies everything again; a raw directory's records (read in the executors) are skipped."""
    from tests.stream_data import wave
    from tidemark.raw import RawSource, open_raw

    with open_raw(str(tmp_path / "raw"), create=True) as store:
        store.append(wave(0, seed=7, games=1))
    for engine in ("local", "spark"):
        db = f"duckdb:{tmp_path / engine}.duckdb"
        first = tidemark.run("mlb:live_game", RawSource(str(tmp_path / "raw")), db, engine=engine)
        again = tidemark.run("mlb:live_game", RawSource(str(tmp_path / "raw")), db, engine=engine)
        forced = tidemark.run("mlb:live_game", FEEDS[:2], db, engine=engine, reprocess=True)
        assert (first.documents, again.documents, again.unchanged_documents) == (6, 0, 6)
        assert forced.documents == 2 and forced.unchanged_documents == 0
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "local.duckdb")
    assert ledger_rows(tmp_path / "spark.duckdb") == ledger_rows(tmp_path / "local.duckdb")


def documents_frame(session: Any, paths: list[Path], *, null_row: bool = False) -> Any:
    """The feeds' JSON text as DataFrame rows (document, origin), over 3 partitions; with a NULL document too."""
    rows: list[Any] = [(gzip.decompress(p.read_bytes()).decode(), p.name) for p in paths]
    rows += [(None, "nothing here")] if null_row else []
    data = session.sparkContext.parallelize(rows, 3)
    return session.createDataFrame(data, "document string, origin string")


def test_a_dataframe_rerun_skips_what_was_applied(spark: Any, tmp_path: Path) -> None:  # noqa: F811
    """A DataFrame of four feeds, then of all seven with a NULL document, twice (batches of 2): the Spark engine,
    which reads the rows in its executors, skips what the local engine (reading them on the driver) skips."""
    from tidemark.sources import DataFrameSource

    frames = [documents_frame(spark, FEEDS[:4]), *[documents_frame(spark, FEEDS, null_row=True)] * 2]
    results: dict[str, list[Any]] = {}
    for engine in ("local", "spark"):
        db = f"duckdb:{tmp_path / engine}.duckdb"
        results[engine] = [
            tidemark.run(
                "mlb:live_game",
                sink=db,
                documents=DataFrameSource(frame, origin_column="origin"),
                engine=engine,
                batch_documents=2,
            )
            for frame in frames
        ]
    for local, remote in zip(results["local"], results["spark"], strict=True):
        assert outcome(remote) == outcome(local)
        assert remote.unchanged_documents == local.unchanged_documents
    assert [r.unchanged_documents for r in results["spark"]] == [0, 4, 7]
    assert [(r.documents, len(r.rejected)) for r in results["spark"]] == [(4, 0), (3, 1), (0, 1)]
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "local.duckdb")
    assert ledger_rows(tmp_path / "spark.duckdb") == ledger_rows(tmp_path / "local.duckdb")
    assert len(ledger_rows(tmp_path / "spark.duckdb")) == 7
