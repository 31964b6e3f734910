"""A raw directory's records read in the Spark executors (engines/spark_raw.py): the driver plans the work items
from the store's listing and an index job, and reads no record itself. The tables, counts, quarantine and
applied-documents ledger equal the local engine's."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import tidemark
from tests.conftest import DATA, LIVE
from tests.stream_data import T0, corrupt_line, wave
from tests.test_engine_spark import dump, outcome, spark  # noqa: F401  (the session fixture)
from tests.test_spark_applied import ledger_rows
from tidemark.raw import RawSource, open_raw
from tidemark.raw.directory import DirectoryRawStore
from tidemark.runtime.batch import RunResult

pytestmark = pytest.mark.spark

FEEDS = sorted(LIVE.glob("*.json.gz"), key=lambda p: p.stat().st_size)[:2]
SCHEDULE = next((DATA / "schedule").glob("*/*.json.gz"))


def raw_directory(path: Path) -> Path:
    """Two segments of snapshots (waves 0 and 1), two recorded feeds and a recorded schedule between them, and a
    segment holding a corrupt line."""
    with open_raw(str(path), create=True) as store:
        store.append(wave(0, seed=7, games=2))
    for recorded in [*FEEDS, SCHEDULE]:
        into = path / recorded.parent.parent.name / recorded.parent.name
        into.mkdir(parents=True, exist_ok=True)
        shutil.copy(recorded, into / recorded.name)  # modification time: now, after wave 0
    with open_raw(str(path)) as store:
        store.append(wave(1, seed=7, games=2))
    corrupt_line(path)
    return path


def no_driver_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The driver process may list the store but not read a record (the executors are other processes)."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the driver read a raw record")

    monkeypatch.setattr(DirectoryRawStore, "read", refuse)
    monkeypatch.setattr(DirectoryRawStore, "_records", refuse)


def through_both(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    runs: list[Callable[[], RawSource]],
    **options: Any,
) -> tuple[list[RunResult], list[RunResult]]:
    """The runs through the local engine, then through Spark with the driver forbidden to read records; asserts
    equal results, tables and ledgers."""
    results: dict[str, list[RunResult]] = {}
    for engine in ("local", "spark"):
        if engine == "spark":
            no_driver_reads(monkeypatch)
        db = f"duckdb:{tmp_path / engine}.duckdb"
        results[engine] = [tidemark.run("mlb:live_game", make(), db, engine=engine, **options) for make in runs]
    for local, remote in zip(results["local"], results["spark"], strict=True):
        assert outcome(remote) == outcome(local)
        assert remote.unchanged_documents == local.unchanged_documents
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "local.duckdb")
    assert ledger_rows(tmp_path / "spark.duckdb") == ledger_rows(tmp_path / "local.duckdb")
    return results["local"], results["spark"]


def test_the_executors_read_a_raw_directory(spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """All records, one endpoint/method and one game, and a time window: the batches (of 3: twins of a game in one
    batch are reduced) and every count are the local engine's, and the driver reads no record."""
    raw = str(raw_directory(tmp_path / "raw"))
    runs = [
        lambda: RawSource(raw),
        lambda: RawSource(raw, select="game/liveGameV1", games=[900_101]),
        lambda: RawSource(raw, since=T0, until=T0.replace(hour=4)),
    ]
    local, remote = through_both(tmp_path, monkeypatch, runs, batch_documents=3, reprocess=True)
    everything, one_game, window = local
    # 2 waves x 2 games x 6 snapshots, 2 recorded feeds, the 2 good lines of the corrupt segment; the recorded
    # schedule (no snapshot time) and the corrupt line are rejected (a line that is not a record passes every filter)
    reasons = sorted(r.reason for r in everything.rejected)
    assert everything.documents == 28 and len(reasons) == 2
    assert reasons[0].startswith("no snapshot time") and reasons[1].startswith("not a raw record")
    assert (one_game.documents, len(one_game.rejected)) == (6, 1)
    assert (window.documents, len(window.rejected)) == (12, 1)
    assert everything.tables["game.live_game_plays"].updated > 0  # later snapshots replaced earlier ones
    assert all(r.documents for r in remote)


def test_the_ledger_skips_records_applied_before(
    spark: Any,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A second run over the same directory applies nothing; after a new wave it applies only that wave."""
    raw = tmp_path / "raw"
    with open_raw(str(raw), create=True) as store:
        store.append(wave(0, seed=3, games=1))
    results: dict[str, list[RunResult]] = {"local": [], "spark": []}

    def run_both() -> None:
        for engine in ("local", "spark"):
            db = f"duckdb:{tmp_path / engine}.duckdb"
            with monkeypatch.context() as patch:
                if engine == "spark":
                    no_driver_reads(patch)
                results[engine].append(
                    tidemark.run("mlb:live_game", RawSource(str(raw)), db, engine=engine, batch_documents=4)
                )

    run_both()
    run_both()
    with open_raw(str(raw)) as store:
        store.append(wave(2, seed=3, games=1))
    run_both()
    for local, remote in zip(results["local"], results["spark"], strict=True):
        assert outcome(remote) == outcome(local)
        assert remote.unchanged_documents == local.unchanged_documents
    assert [(r.documents, r.unchanged_documents) for r in results["spark"]] == [(6, 0), (0, 6), (6, 6)]
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "local.duckdb")
    assert ledger_rows(tmp_path / "spark.duckdb") == ledger_rows(tmp_path / "local.duckdb")
