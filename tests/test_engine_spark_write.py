"""Spark DataFrames as input of ``tidemark.write``: fetched one partition at a time, through the same contract; the
tables, counts and refused rows equal those of the same rows given as an Arrow table or a pandas DataFrame."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tidemark.engines.spark import open_session

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """The session of an earlier test module if one is running (one JVM for the whole suite), else a new one."""
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    session = open_session("local[2]", {"spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC"})
    yield session
    if running is None:
        session.stop()


def rows(n: int = 40) -> list[tuple[Any, ...]]:
    """Keys repeated with older and newer versions (across partitions), a NULL key and a NULL time."""
    t0 = datetime(2024, 7, 1, tzinfo=UTC)
    out: list[tuple[Any, ...]] = [(i % 15, f"v{i}", t0 + timedelta(minutes=(i * 7) % 11), i / 4) for i in range(n)]
    out += [(None, "no key", t0, 0.0), (99, "no time", None, 1.0), (3, "same time", t0 + timedelta(minutes=3), 2.5)]
    return out


def dump(db: Path, table: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f'SELECT id, v, ts, n FROM "main"."{table}" ORDER BY id').fetchall()


def write(data: Any, db: Path, **options: Any) -> Any:
    return tidemark.write(data, f"duckdb:{db}", "readings", keys=["id"], timestamp="ts", batch_rows=7, **options)


def same(a: Any, b: Any) -> None:
    assert a.tables == b.tables and a.rows == b.rows
    assert [(e.key, e.reason) for e in a.row_errors] == [(e.key, e.reason) for e in b.row_errors]


def test_a_spark_dataframe_writes_what_its_arrow_table_writes(spark: Any, tmp_path: Path) -> None:
    frame = spark.createDataFrame(rows(), "id long, v string, ts timestamp, n double").repartition(3, "id")
    assert frame.rdd.getNumPartitions() == 3
    arrow = frame.toArrow()  # the same rows in the same order (partition after partition)
    for mode in ("upsert", "append_once", "overwrite"):
        got = write(frame, tmp_path / f"spark-{mode}.duckdb", mode=mode)
        want = write(arrow, tmp_path / f"arrow-{mode}.duckdb", mode=mode)
        same(got, want)
        assert got.rows == 43 and len(got.row_errors) == 2
        assert dump(tmp_path / f"spark-{mode}.duckdb", "readings") == dump(
            tmp_path / f"arrow-{mode}.duckdb", "readings"
        )
    assert len(dump(tmp_path / "spark-upsert.duckdb", "readings")) == 15


def test_a_spark_dataframe_writes_what_its_pandas_frame_writes(spark: Any, tmp_path: Path) -> None:
    data = [(i % 9, f"v{i}", 1_000 + (i * 5) % 13, float(i)) for i in range(30)]
    frame = spark.createDataFrame(data, "id long, v string, ts long, n double")
    assert frame.rdd.getNumPartitions() >= 2
    got = write(frame, tmp_path / "spark.duckdb", mode="upsert")
    want = write(frame.toPandas(), tmp_path / "pandas.duckdb", mode="upsert")
    same(got, want)
    assert got.inserted == 9 and got.ok
    assert dump(tmp_path / "spark.duckdb", "readings") == dump(tmp_path / "pandas.duckdb", "readings")


def test_an_empty_spark_dataframe_overwrites_with_no_rows(spark: Any, tmp_path: Path) -> None:
    frame = spark.createDataFrame(rows(4), "id long, v string, ts timestamp, n double")
    db = tmp_path / "t.duckdb"
    write(frame, db, mode="upsert")
    emptied = write(frame.limit(0), db, mode="overwrite")
    assert emptied.rows == 0 and emptied.counts.deleted == 4
    assert dump(db, "readings") == []
