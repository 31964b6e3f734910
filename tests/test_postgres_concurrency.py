"""Concurrent writers on PostgreSQL: two processes upserting overlapping snapshots of the same games at the same time
end with the newest rows, and a deadlock makes the run start over instead of failing."""

from __future__ import annotations

import copy
import multiprocessing as mp
import threading
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest
from psycopg import sql

import tidemark
from tests.conformance.conftest import read, write
from tests.conformance.tables import GAME_SCORES
from tests.conftest import snapshot, write_docs
from tests.pgserver import PgServer
from tidemark.compile.plan import compile_mapping
from tidemark.mapping.loader import load_mapping
from tidemark.sinks import open_sink

pytestmark = pytest.mark.postgres

GAMES = [910001 + i for i in range(4)]
EARLY, MIDDLE, FINAL = "20240713_020000", "20240713_030000", "20240713_041909"


def _with_phantom_play(doc: dict[str, Any]) -> None:
    """A play that only the middle snapshot has (a scorer's error, corrected later): the final one must remove it."""
    plays = doc["liveData"]["plays"]["allPlays"]
    phantom = copy.deepcopy(plays[-1])
    phantom["about"]["atBatIndex"] = 999
    plays.append(phantom)


def _first_plays(n: int) -> Any:
    """Cut a feed to its first ``n`` plays, as an earlier snapshot of the game looks (scoring plays included)."""

    def edit(doc: dict[str, Any]) -> None:
        plays = doc["liveData"]["plays"]
        plays["allPlays"] = plays["allPlays"][:n]
        plays["scoringPlays"] = [i for i in plays["scoringPlays"] if i < n]

    return edit


def _writer(dsn: str, runs: list[list[str]], start: Any, out: Any) -> None:
    try:
        start.wait()
        out.put([tidemark.run("mlb:live_game", paths, dsn, batch_documents=1).as_dict() for paths in runs])
    except BaseException as exc:  # the test reports it instead of waiting for a result that never comes
        out.put(f"{type(exc).__name__}: {exc}")


def _tables(dsn: str) -> dict[str, list[dict[str, Any]]]:
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    sink = open_sink(dsn)
    try:
        return {t.name: sink.read_table(t.spec).to_pylist() for t in plan.targets}
    finally:
        sink.close()


@pytest.mark.slow
def test_two_processes_upserting_overlapping_snapshots_end_with_the_newest_rows(
    pg_server: PgServer, pg_dsn: str, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    def docs(ts: str, **kw: Any) -> dict[int, Path]:
        made = [snapshot(feed_747175, game_pk=g, timestamp=ts, **kw) for g in GAMES]
        return dict(zip(GAMES, write_docs(tmp_path / ts, made), strict=True))

    def middle_edit(doc: dict[str, Any]) -> None:
        _first_plays(50)(doc)
        _with_phantom_play(doc)

    early, middle, final = docs(EARLY, edit=_first_plays(20)), docs(MIDDLE, edit=middle_edit), docs(FINAL)
    # A goes through the games upwards, B downwards; both see every game in every snapshot, in different orders.
    runs_a = [[str(p[g]) for g in GAMES for p in (early, final)], [str(middle[g]) for g in GAMES]]
    runs_b = [[str(p[g]) for g in reversed(GAMES) for p in (middle, early)], [str(final[g]) for g in reversed(GAMES)]]
    ctx = mp.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(pg_dsn, runs, start, out)) for runs in (runs_a, runs_b)]
    for p in procs:
        p.start()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]  # both ended (a process still running has no exit code)
    assert [r for r in results if isinstance(r, str)] == []
    assert [len(rs) for rs in results] == [2, 2]  # each process made its two runs
    assert all(r["rejected"] == [] and r["row_errors"] == 0 for rs in results for r in rs)

    reference = pg_server.dsn(pg_server.create_database())
    assert tidemark.run("mlb:live_game", [str(final[g]) for g in GAMES], reference).ok
    got, want = _tables(pg_dsn), _tables(reference)
    assert len(want) == len(got) == 21  # every table of the mapping is compared
    for name in want:
        key = lambda r: tuple(str(v) for v in r.values())  # noqa: E731
        assert sorted(got[name], key=key) == sorted(want[name], key=key), name
    plays = got["game.live_game_plays"]
    assert len(plays) == 75 * len(GAMES) and not [r for r in plays if r["at_bat_index"] == 999]


def _poll(dsn: str, sql: str, done: Any, what: str, bound: float = 120) -> None:
    """Wait for an event the server shows (``done(first value of sql)``); the bound only stops a hung test."""
    deadline = time.monotonic() + bound
    with psycopg.connect(dsn, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(sql).fetchone()
            if row is not None and done(row[0]):
                return
            time.sleep(0.02)
    raise AssertionError(f"{what} within {bound:.0f} s")


def _wait_until_blocked(dsn: str) -> None:
    """Until a run's connection waits for a lock another transaction holds (a lock request not granted)."""
    sql = (
        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE NOT l.granted AND a.application_name = 'tidemark' AND a.datname = current_database()"
    )
    _poll(dsn, sql, lambda waiting: waiting > 0, "the run never waited for the lock")


def _deadlocks(dsn: str) -> int:
    """Deadlocks the server counted in this database, once every run connection has ended.

    A backend reports its statistics at exit before it leaves pg_stat_activity, so the count is final then: no
    polling of the statistics themselves (they are otherwise flushed when the server gets round to it).
    """
    sql = (
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE application_name = 'tidemark' AND datname = current_database() AND pid <> pg_backend_pid()"
    )
    _poll(dsn, sql, lambda connected: connected == 0, "the run's connections did not end")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").fetchone()
    assert row is not None
    return int(row[0])


def test_a_deadlock_rolls_the_run_back_and_runs_it_again(
    pg_dsn: str, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    older = [snapshot(feed_747175, game_pk=g, timestamp=EARLY) for g in (1, 2)]
    assert tidemark.run("mlb:live_game", write_docs(tmp_path / "old", older), pg_dsn).ok
    newer = write_docs(tmp_path / "new", [snapshot(feed_747175, game_pk=g) for g in (1, 2)])
    # Who detects a deadlock is the victim: the transaction whose deadlock_timeout runs out while the cycle exists.
    # The run (waiting first) checks 5 s after it starts waiting, long after the other transaction closed the cycle,
    # and long before the other one checks.
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        database = sql.Identifier(admin.info.dbname)
        admin.execute(sql.SQL("ALTER DATABASE {} SET deadlock_timeout = '5s'").format(database))
    other = psycopg.connect(pg_dsn)
    other.execute("SET deadlock_timeout = '120s'")
    other.execute("UPDATE game.live_game_metadata SET attendance = attendance WHERE game_pk = 2")
    outcome: dict[str, Any] = {}

    def writer() -> None:
        try:
            outcome["result"] = tidemark.run("mlb:live_game", newer, pg_dsn)
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=writer)
    thread.start()
    _wait_until_blocked(pg_dsn)  # the run holds game 1 and waits for game 2
    other.execute("UPDATE game.live_game_metadata SET attendance = attendance WHERE game_pk = 1")
    other.commit()
    other.close()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the run did not end"
    assert "error" not in outcome, outcome.get("error")
    counts = outcome["result"].tables["game.live_game_metadata"]
    assert (counts.updated, counts.inserted, counts.skipped) == (2, 0, 0)  # the counts of the attempt that committed
    assert _deadlocks(pg_dsn) == 1
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        stored = conn.execute("SELECT DISTINCT captured_at FROM game.live_game_metadata").fetchall()
    assert [ts.strftime("%Y%m%d_%H%M%S") for (ts,) in stored] == [FINAL]


def test_a_key_another_writer_inserts_during_a_first_load_goes_through_the_contract(pg_dsn: str) -> None:
    """The first-load fast path (COPY straight into the table) meets a key committed meanwhile by another writer:
    the batch falls back to the guarded upsert and the newer stored row wins."""
    spec = GAME_SCORES
    schema = pa.schema([("game_pk", pa.int64()), ("score", pa.int32()), ("captured_at", pa.timestamp("us", "UTC"))])
    early, late = datetime(2024, 7, 13, 1, tzinfo=UTC), datetime(2024, 7, 13, 2, tzinfo=UTC)
    opener = partial(open_sink, pg_dsn)
    write(opener, spec, pa.Table.from_pylist([{"game_pk": 100, "score": 0, "captured_at": early}], schema))
    other = psycopg.connect(pg_dsn)  # a transaction: its row is invisible until it commits
    other.execute("INSERT INTO t.games VALUES (1, 9, %s, 0)", [late])
    outcome: dict[str, Any] = {}

    def writer() -> None:
        batch = [{"game_pk": 1, "score": 3, "captured_at": early}, {"game_pk": 2, "score": 5, "captured_at": early}]
        try:
            outcome["counts"] = write(opener, spec, pa.Table.from_pylist(batch, schema))
        except BaseException as exc:  # reported by the assertions below
            outcome["error"] = exc

    thread = threading.Thread(target=writer)
    thread.start()
    _wait_until_blocked(pg_dsn)  # the COPY waits for the other writer's key 1
    other.commit()
    other.close()
    thread.join(timeout=300)
    assert not thread.is_alive(), "the write did not end"
    assert "error" not in outcome, outcome.get("error")
    counts = outcome["counts"]
    assert (counts.inserted, counts.updated, counts.skipped) == (1, 0, 1)
    assert sorted((r["game_pk"], r["score"]) for r in read(opener, spec)) == [(1, 9), (2, 5), (100, 0)]
