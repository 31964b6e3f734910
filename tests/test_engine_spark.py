"""Engine conformance: the Spark engine (``local[2]``) gives exactly the local engine's tables, counts and quarantine.

Every case runs the same inputs through ``engine="local"`` and ``engine="spark"`` into two DuckDB files and compares
every table of both files (the tables, the watermarks, the quarantine) and the run results: counts per table,
documents, rejected documents and refused rows in order. One Spark session serves the whole file; each run is one
or a few Spark jobs.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from sqlglot import exp
from typer.testing import CliRunner

import tidemark
from tests.conftest import DATA, GAME_747175, LIVE, snapshot, write_docs
from tests.test_bad_input import LATER, raw_feed
from tests.test_mlb_endpoints import ENDPOINTS
from tidemark.cli.main import app, main
from tidemark.documents import RawDocument
from tidemark.engines import ENGINES, open_engine
from tidemark.engines.local import LocalEngine
from tidemark.engines.spark import SparkEngine, open_session
from tidemark.errors import ConfigError
from tidemark.runtime.batch import RunResult
from tidemark.sources import FileSource

pytestmark = pytest.mark.spark

#: columns that differ between two runs of the same input whatever the engine
VOLATILE = {"run_id", "quarantined_at"}
#: the ledgers: one row per run (engine, times) and the documents applied (tests/test_spark_applied.py compares
#: those): they describe the runs, not the data
LEDGERS = {"_tidemark.runs", "_tidemark.applied_documents"}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    session = open_session("local[2]", {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    yield session
    session.stop()


def dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table of a DuckDB file, its rows in a stable order, without the run's own columns."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = con.sql("SELECT table_schema, table_name FROM information_schema.tables ORDER BY ALL").fetchall()
        tables = {}
        for schema, name in names:
            if f"{schema}.{name}" in LEDGERS:
                continue
            table = exp.table_(name, db=schema, quoted=True)
            columns = [exp.column(c, quoted=True) for c in con.table(table.sql("duckdb")).columns if c not in VOLATILE]
            query = exp.select(*columns).from_(table).order_by(*columns).sql("duckdb")
            tables[f"{schema}.{name}"] = con.sql(query).fetchall()
        return tables
    finally:
        con.close()


def outcome(result: RunResult) -> dict[str, Any]:
    """What a run did, without what differs between any two runs (its id, its timings)."""
    return {
        "documents": result.documents,
        "time_from_file": result.time_from_file,
        "rows": result.rows,
        "tables": {name: counts.as_dict() for name, counts in result.tables.items()},
        "rejected": result.rejected,
        "row_errors": result.row_errors,
        "keys": {name: report.as_dict() for name, report in result.keys.items()},
    }


def both(
    tmp_path: Path, runs: list[tuple[str, Any]], *, batch_documents: int = 64, chunk_items: int | None = None
) -> tuple[list[RunResult], list[RunResult]]:
    """The runs (mapping, inputs) in order through each engine into its own DuckDB file; asserts that the results
    and every table of the two files are equal."""
    results: dict[str, list[RunResult]] = {}
    for engine, options in (("local", None), ("spark", {"chunk_items": chunk_items})):
        db = f"duckdb:{tmp_path / engine}.duckdb"
        results[engine] = [
            # reprocess: every run of the list applies all its documents (skipping those applied by an earlier run is
            # tests/test_spark_applied.py's): the comparison is of what each engine extracts and writes
            tidemark.run(
                m, inputs, db, engine=engine, engine_options=options, batch_documents=batch_documents, reprocess=True
            )
            for m, inputs in runs
        ]
    for local, spark in zip(results["local"], results["spark"], strict=True):
        assert outcome(spark) == outcome(local)
    local_tables, spark_tables = dump(tmp_path / "local.duckdb"), dump(tmp_path / "spark.duckdb")
    assert spark_tables.keys() == local_tables.keys()
    for name, rows in local_tables.items():
        assert spark_tables[name] == rows, name
    return results["local"], results["spark"]


def test_spark_is_registered() -> None:
    assert ENGINES["spark"] == "tidemark.engines.spark:SparkEngine"


def test_the_bundled_game(spark: Any, tmp_path: Path) -> None:
    games = sorted(LIVE.glob("*747175*"))
    assert len(games) == 2
    (local,), _ = both(tmp_path, [("mlb:live_game", games)])
    assert local.ok and local.documents == 2
    assert local.tables["game.live_game_pitch_events"].inserted == 290


def test_batches_are_cut_where_the_local_engine_cuts_them(spark: Any, tmp_path: Path) -> None:
    """Counts depend on which documents share a batch (two snapshots of a game in one batch are reduced first):
    every recorded live feed in batches of 2, the two snapshots of 747175 in one of them, 2 items per job."""
    feeds = sorted(LIVE.iterdir())
    pair = [i for i, p in enumerate(feeds) if "747175" in p.name]
    assert len(feeds) == 7 and pair == [2, 3]  # batches [0, 1], [2, 3], [4, 5], [6]
    (local,), _ = both(tmp_path, [("mlb:live_game", [LIVE])], batch_documents=2, chunk_items=2)
    assert local.ok and local.documents == 7


def test_every_recorded_endpoint(spark: Any, tmp_path: Path) -> None:
    runs = [(f"mlb:{name}", [DATA / d for d in dirs]) for name, dirs in ENDPOINTS.items()]
    local, _ = both(tmp_path, runs)
    assert len(local) == len(ENDPOINTS) == 20
    assert all(r.ok and r.documents > 0 for r in local)


def bad_corpus(directory: Path, feed: dict[str, Any]) -> list[Path]:
    """The bad-input corpus of tests/test_bad_input.py in one directory: unreadable files, rejected documents and
    refused rows next to good documents, and an NDJSON file whose lines span several work items."""
    directory.mkdir()
    small = snapshot(feed, plays=12)

    def write(name: str, data: bytes) -> None:
        (directory / name).write_bytes(data)

    good = raw_feed(small, timestamp=LATER)
    write("a_truncated.json", good[: len(good) // 2])
    write("b_latin1.json", good.decode().replace("Chase Field", "Estadio Señor").encode("latin-1"))
    write("c_raw_byte.json", good.replace(b"Chase Field", b"Chase \xff Field"))
    write("d_empty.json", b"")
    write("e_blank.json", b"\xef\xbb\xbf  \n")
    write("f_cut.json.gz", gzip.compress(good)[:200])
    write("g_garbage.json.gz", b"this is not gzip at all")
    write("h_bom.json", b"\xef\xbb\xbf" + raw_feed(small, game_pk=3))
    lines = [raw_feed(small, game_pk=4, plays=2), good[:100], raw_feed(small, game_pk=5, plays=2), b"", good]
    write("i_feeds.ndjson", b"\n".join(lines) + b"\n")

    def edit(doc: dict[str, Any]) -> None:
        plays = doc["liveData"]["plays"]["allPlays"]
        plays[9]["about"]["inning"] = "second"  # a refused row
        plays[10]["result"]["rbi"] = "none"
        del plays[2]["about"]["atBatIndex"]  # a missing key value
        doc["gameData"]["weather"]["temp"] = "hot"

    def no_timestamp(doc: dict[str, Any]) -> None:
        del doc["metaData"]["timeStamp"]

    def no_game_pk(doc: dict[str, Any]) -> None:
        del doc["gamePk"]

    docs = [
        snapshot(small, timestamp=LATER, edit=edit),
        snapshot(small, edit=no_timestamp),
        snapshot(small, timestamp="yesterday"),
        snapshot(small, timestamp=LATER, game_pk=6, edit=no_game_pk),
        snapshot(small, game_pk=2, plays=4),
    ]
    write_docs(directory / "j_docs", docs)
    return [directory]


def test_the_bad_input_corpus(spark: Any, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    """Small batches and small jobs: work items split the NDJSON file, and several jobs run one after another."""
    corpus = bad_corpus(tmp_path / "bad", feed_747175)
    runs = [("mlb:live_game", [GAME_747175]), ("mlb:live_game", corpus)]
    local, _ = both(tmp_path, runs, batch_documents=3, chunk_items=2)
    bad = local[1]
    assert bad.documents == 7  # the BOM file, 3 NDJSON lines, 3 documents of j_docs
    assert len(bad.rejected) == 10  # 7 unreadable or empty files, 1 NDJSON line, 2 documents without a time
    assert {e.table for e in bad.row_errors} >= {"game.live_game_plays", "game.live_game_metadata"}
    assert any(r.origin.endswith("i_feeds.ndjson:2") for r in bad.rejected)


def test_documents_in_memory_go_through_the_driver(spark: Any, tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    small = snapshot(feed_747175, plays=6)
    docs = [RawDocument(json.dumps(snapshot(small, game_pk=10 + i)).encode(), f"doc{i}") for i in range(5)] + [
        RawDocument(b"{not json", "broken"),
        RawDocument(b"", "failed", error="cannot read file: gone"),
    ]
    local, _ = both(tmp_path, [("mlb:live_game", docs)], batch_documents=2)
    assert local[0].documents == 5 and len(local[0].rejected) == 2


def test_the_cli_runs_the_spark_engine(spark: Any, tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    args = ["run", "-m", "mlb:live_game", "-i", str(GAME_747175), "-s", f"duckdb:{db}", "--json"]
    args += ["--engine", "spark", "--spark-master", "local[2]", "--spark-conf", "spark.sql.shuffle.partitions=2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["documents"] == 1 and summary["tables"]["game.live_game_pitch_events"]["inserted"] == 290


def test_engine_options_are_checked_before_anything_runs(tmp_path: Path) -> None:
    db = tmp_path / "t.duckdb"
    with pytest.raises(ConfigError, match="engine 'local' does not take the options 'master'"):
        tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}", engine_options={"master": "x"})
    with pytest.raises(ConfigError, match="engine 'spark' does not take the options 'mastr'"):
        tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}", engine="spark", engine_options={"mastr": "x"})
    assert not db.exists()


def test_a_spark_conf_without_a_value_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    args = ["run", "-m", "mlb:live_game", "-i", str(GAME_747175), "-s", f"duckdb:{tmp_path / 't.duckdb'}"]
    monkeypatch.setattr(sys, "argv", ["tidemark", *args, "--engine", "spark", "--spark-conf", "spark.executor.memory"])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("error: --spark-conf 'spark.executor.memory': give key=value")


def test_chunk_items_and_batch_documents_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="chunk_items must be at least 1"):
        open_engine("spark", _plan(), {"chunk_items": 0})
    with pytest.raises(ConfigError, match="batch_documents must be at least 1"):
        SparkEngine(_plan()).extract([], batch_documents=0)


def test_the_batches_are_the_local_engines_batch_by_batch(spark: Any, tmp_path: Path) -> None:
    """Straight from the engines: the same batches (tables, scopes, refusals), made by Spark jobs."""
    corpus = [*sorted(LIVE.glob("*747175*")), tmp_path / "broken.json"]
    corpus[-1].write_bytes(b"{")
    engine = SparkEngine(_plan(), session=spark, chunk_items=2)
    batches = list(engine.extract_source(FileSource(corpus), batch_documents=1))
    expected = list(LocalEngine(_plan()).extract(FileSource(corpus).read(), batch_documents=1))
    assert len(batches) == len(expected) == 3
    for got, want in zip(batches, expected, strict=True):
        assert got.tables == want.tables and got.scopes == want.scopes
        assert (got.row_errors, got.rejected) == (want.row_errors, want.rejected)
        assert (got.documents, got.bytes_read, got.time_from_file) == (
            want.documents,
            want.bytes_read,
            want.time_from_file,
        )
    assert len(spark.sparkContext.statusTracker().getJobIdsForGroup(engine.group)) == 2  # 3 items, 2 per job


def test_a_run_that_stops_early_stops_its_jobs(spark: Any) -> None:
    """The consumer takes one batch and closes the engine's iterator: the next job is cancelled, nothing hangs."""
    games = sorted(LIVE.glob("*747175*"))
    engine = SparkEngine(_plan(), session=spark, chunk_items=1)
    batches = engine.extract_source(FileSource(games), batch_documents=1)
    first = next(batches)
    batches.close()  # type: ignore[attr-defined]
    assert first.documents == 1
    assert spark.sparkContext.statusTracker().getActiveJobsIds() == []


def _plan() -> Any:
    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import load_mapping

    return compile_mapping(load_mapping("mlb:live_game")[0])


def test_the_engine_class_is_the_registered_one() -> None:
    assert isinstance(open_engine("spark", _plan()), SparkEngine)


def test_a_raw_store_as_input(spark: Any, tmp_path: Path) -> None:
    """``run --raw``: the records of a raw directory (a corrupt line among them) and of a DuckDB raw store, all of
    them or one endpoint/method, give the local engine's tables, counts and quarantine."""
    from tests.stream_data import corrupt_line, wave
    from tidemark.raw import RawSource, open_raw

    directory = tmp_path / "raw"
    with open_raw(str(directory), create=True) as store:
        store.append(wave(0, seed=7, games=2))
    corrupt_line(directory)
    with open_raw(str(directory)) as store, open_raw(f"duckdb:{tmp_path / 'raw.duckdb'}", create=True) as copy:
        records = store.read(limit=1000)
        copy.append(r for r in records if r.error is None)
    runs = [
        ("mlb:live_game", RawSource(str(directory))),
        ("mlb:live_game", RawSource(f"duckdb:{tmp_path / 'raw.duckdb'}", select="game/liveGameV1")),
    ]
    local, _ = both(tmp_path, runs, batch_documents=3, chunk_items=2)
    assert local[0].documents == len(records) - 1 == 14 and len(local[0].rejected) == 1
    assert local[1].documents == 14 and local[1].ok


def test_the_cli_runs_spark_over_a_raw_store(spark: Any, tmp_path: Path) -> None:
    from tests.stream_data import wave
    from tidemark.raw import open_raw

    with open_raw(str(tmp_path / "raw"), create=True) as store:
        store.append(wave(0, seed=7, games=1))
    summaries = []
    for engine in ("local", "spark"):
        db = tmp_path / f"{engine}.duckdb"
        args = ["run", "-m", "mlb:live_game", "--raw", str(tmp_path / "raw"), "-s", f"duckdb:{db}", "--json"]
        result = CliRunner().invoke(app, [*args, "--engine", engine, "--batch-documents", "2"])
        assert result.exit_code == 0, result.output
        summaries.append(json.loads(result.stdout))
    local, spark_run = summaries
    assert spark_run["documents"] == local["documents"] == 6
    assert spark_run["tables"] == local["tables"]
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "local.duckdb")
