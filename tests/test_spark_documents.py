"""A Spark DataFrame of documents as the input of ``tidemark.run`` (sources/dataframe.py, engines/spark_frame.py):
read in the executors by the Spark engine, on the driver by the local engine; the tables, counts and quarantine
equal those of the same documents given as files."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import LIVE
from tests.test_engine_spark import both, dump, outcome
from tidemark.engines.spark import SparkEngine, open_session
from tidemark.errors import ConfigError
from tidemark.sources import DataFrameSource, FileSource

pytestmark = pytest.mark.spark

FEEDS = sorted(LIVE.glob("*.json.gz"))


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """The session of an earlier test module if one is running (one JVM for the whole suite), else a new one."""
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    session = open_session("local[2]", {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    yield session
    if running is None:
        session.stop()


def feeds_frame(spark: Any, *, binary: bool = False, partitions: int = 3, extra: list[Any] | None = None) -> Any:
    """The bundled game feeds as rows (document, origin: the file's path), over several partitions."""
    rows: list[Any] = []
    for path in FEEDS:
        data = gzip.decompress(path.read_bytes())
        rows.append((data if binary else data.decode(), str(path)))
    rows += extra or []
    kind = "binary" if binary else "string"
    return spark.createDataFrame(spark.sparkContext.parallelize(rows, partitions), f"document {kind}, origin string")


def test_the_game_feeds_as_a_dataframe_give_the_tables_of_the_files(spark: Any, tmp_path: Path) -> None:
    """Batches of 2 over 3 partitions of 7 rows (items cross partitions), 2 items per job: several Spark jobs."""
    assert len(FEEDS) == 7
    files = tidemark.run("mlb:live_game", FEEDS, f"duckdb:{tmp_path / 'files.duckdb'}", batch_documents=2)
    frame = DataFrameSource(feeds_frame(spark), origin_column="origin")
    local, remote = both(tmp_path, [("mlb:live_game", frame)], batch_documents=2, chunk_items=2)
    assert outcome(remote[0]) == outcome(local[0]) == outcome(files)
    assert files.ok and files.documents == 7 and files.tables["game.live_game_pitch_events"].inserted > 0
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "files.duckdb")


def test_a_binary_column_and_the_default_column_name(spark: Any, tmp_path: Path) -> None:
    """``run(mapping, df, ...)``: a DataFrame with a ``document`` column (here bytes); origins are ``row <n>``."""
    frame = feeds_frame(spark, binary=True, partitions=2).select("document")
    spark_run = tidemark.run("mlb:live_game", frame, f"duckdb:{tmp_path / 'spark.duckdb'}", engine="spark")
    files = tidemark.run("mlb:live_game", FEEDS, f"duckdb:{tmp_path / 'files.duckdb'}")
    assert outcome(spark_run) == outcome(files) and spark_run.documents == 7
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "files.duckdb")


def test_broken_rows_are_rejected_with_their_row(spark: Any, tmp_path: Path) -> None:
    """A NULL document, broken JSON and a UTF-16 document among good ones: the same rejections through both engines,
    each naming its row."""
    extra = [(None, None), (b"{not json", None), ('{"a": 1}'.encode("utf-16"), "utf16")]
    frame = DataFrameSource(feeds_frame(spark, binary=True, extra=extra), origin_column="origin")
    local, _ = both(tmp_path, [("mlb:live_game", frame)], batch_documents=3)
    reasons = {r.origin: r.reason for r in local[0].rejected}
    assert sorted(reasons) == ["row 7", "row 8", "utf16"]
    assert local[0].documents == 7
    assert reasons["row 7"] == "the document column is NULL"
    assert "UTF-16" in reasons["utf16"]


def test_a_captured_at_column_is_the_snapshot_time(spark: Any, tmp_path: Path) -> None:
    from tests.test_quality_rules import MAPPING
    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import parse_mapping

    text = MAPPING.format(games="      []", pitches="      []")
    text = text.replace("timestamp: {path: $.ts}", "timestamp: {from: captured_at}")
    plan = compile_mapping(parse_mapping(text))
    when = datetime(2024, 7, 12, 18, 30, tzinfo=UTC)
    rows = [('{"game_pk": 1, "pitches": []}', when), ('{"game_pk": 2, "pitches": []}', None)]
    frame = spark.createDataFrame(rows, "doc string, at timestamp")
    source = DataFrameSource(frame, documents_column="doc", captured_at_column="at")
    local, _ = both(tmp_path, [(plan, source)])
    assert local[0].documents == 1 and len(local[0].rejected) == 1  # the row without a time is rejected
    with duckdb.connect(str(tmp_path / "spark.duckdb"), read_only=True) as con:
        assert con.sql("SELECT game_pk, captured_at FROM g.games").fetchall() == [(1, when)]


def test_a_missing_or_mistyped_column_is_one_clear_error(spark: Any, tmp_path: Path) -> None:
    frame = spark.createDataFrame([("{}", 1)], "documnet string, n int")
    with pytest.raises(ConfigError, match=r"no column 'document' \(did you mean 'documnet'\?\); its columns: "):
        tidemark.run("mlb:live_game", frame, f"duckdb:{tmp_path / 'x.duckdb'}", engine="spark")
    with pytest.raises(ConfigError, match="column 'n' is int, but documents_column must be string or binary"):
        DataFrameSource(frame, documents_column="n")
    with pytest.raises(ConfigError, match="column 'n' is int, but captured_at_column must be timestamp"):
        DataFrameSource(frame, documents_column="documnet", captured_at_column="n")
    assert not (tmp_path / "x.duckdb").exists()


def test_the_documents_are_read_in_the_executors(spark: Any) -> None:
    """The engine extracts the DataFrame's rows in Spark jobs (the driver never reads them) in the files' batches."""
    from tests.test_engine_spark import _plan

    engine = SparkEngine(_plan(), session=spark, chunk_items=1)
    source = DataFrameSource(feeds_frame(spark), origin_column="origin")
    batches = list(engine.extract_source(source, batch_documents=3))
    expected = list(SparkEngine(_plan(), session=spark).extract_source(FileSource(FEEDS), batch_documents=3))
    assert [b.documents for b in batches] == [3, 3, 1]
    for got, want in zip(batches, expected, strict=True):
        assert got.tables == want.tables and got.origins == want.origins
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup(engine.group)) >= 3  # one per item at least


def test_the_documents_keyword(spark: Any, tmp_path: Path) -> None:
    """``run(mapping, sink=..., engine=..., documents=df)``: the positional form's tables and counts, through both
    engines (the local engine reads the DataFrame on the driver)."""
    frame = feeds_frame(spark, partitions=2).select("document")
    positional = tidemark.run("mlb:live_game", frame, f"duckdb:{tmp_path / 'positional.duckdb'}", engine="spark")
    for engine in ("spark", "local"):
        db = tmp_path / f"{engine}.duckdb"
        result = tidemark.run("mlb:live_game", sink=f"duckdb:{db}", engine=engine, documents=frame)
        assert outcome(result) == outcome(positional) and result.documents == 7 and result.ok
        assert dump(db) == dump(tmp_path / "positional.duckdb")
    source = DataFrameSource(feeds_frame(spark), origin_column="origin")
    result = tidemark.run("mlb:live_game", sink=f"duckdb:{tmp_path / 'source.duckdb'}", documents=source)
    assert result.documents == 7


def test_the_documents_keyword_refuses_what_it_cannot_take(spark: Any, tmp_path: Path) -> None:
    frame = feeds_frame(spark).select("document")
    db = f"duckdb:{tmp_path / 'x.duckdb'}"
    with pytest.raises(ConfigError, match=r"documents= takes a Spark DataFrame .* got a list \(engine 'local'\)"):
        tidemark.run("mlb:live_game", sink=db, documents=[b"{}"])
    with pytest.raises(ConfigError, match=r"got a PosixPath \(engine 'spark'\)"):
        tidemark.run("mlb:live_game", sink=db, engine="spark", documents=FEEDS[0])
    with pytest.raises(ConfigError, match="got both inputs and documents="):
        tidemark.run("mlb:live_game", FEEDS, db, engine="spark", documents=frame)
    with pytest.raises(ConfigError, match="needs a sink"):
        tidemark.run("mlb:live_game", documents=frame)
    with pytest.raises(ConfigError, match="needs its documents"):
        tidemark.run("mlb:live_game", sink=db)
    assert not (tmp_path / "x.duckdb").exists()
