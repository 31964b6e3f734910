"""DuckDB's checkpoint policy (sinks/duckdb.py): a commit step that only inserted rows leaves its checkpoint to a
later commit (its rows are durable in the write-ahead log); a step that replaced rows checkpoints as DuckDB would;
a run killed after some steps keeps them, and a re-run equals a clean run."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

import tidemark
from tests.conftest import snapshot, write_docs
from tidemark.compile.plan import compile_mapping
from tidemark.mapping.loader import load_mapping
from tidemark.sinks.bookkeeping import applied_spec
from tidemark.sinks.duckdb import DuckDBConfig, DuckDBSink

PLAN = compile_mapping(load_mapping("mlb:live_game")[0])

#: a stepped first load (one document a step) whose process is killed (SIGKILL) right after its second commit
KILLED_RUN = """
import os, signal, sys
from pathlib import Path
import tidemark
from tidemark.sinks.duckdb import DuckDBConfig, DuckDBSink

class Killed(DuckDBSink):
    commits = 0
    def commit(self):
        super().commit()
        Killed.commits += 1
        if Killed.commits == 2:
            os.kill(os.getpid(), signal.SIGKILL)

sink = Killed(DuckDBConfig(path=sys.argv[1]))
tidemark.run("mlb:live_game", [Path(sys.argv[2])], sink, commit_every=1, batch_documents=1)
"""


def games(feed: dict[str, Any], directory: Path, *pks: int, stamp: str = "20240713_020000") -> Path:
    write_docs(directory, [snapshot(feed, plays=8, timestamp=stamp, game_pk=pk) for pk in pks], prefix="g")
    return directory


def tables(db: Path) -> dict[str, list[str]]:
    with DuckDBSink(DuckDBConfig(path=str(db))) as sink:
        out = {}
        for t in PLAN.targets:
            rows = sink.read_table(t.spec).to_pylist()
            out[t.name] = sorted(json.dumps(r, default=str, sort_keys=True) for r in rows)
        out["applied"] = [str(len(sink.read_table(applied_spec())))]
        return out


def wal(db: Path) -> int:
    path = Path(f"{db}.wal")
    return path.stat().st_size if path.exists() else 0


def test_a_run_killed_after_two_steps_keeps_them_and_a_rerun_equals_a_clean_run(
    tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    docs = games(feed_747175, tmp_path / "docs", 1, 2, 3, 4)
    clean = tmp_path / "clean.duckdb"
    tidemark.run(PLAN, docs, f"duckdb:{clean}", commit_every=1, batch_documents=1)
    db = tmp_path / "killed.duckdb"
    done = subprocess.run([sys.executable, "-c", KILLED_RUN, str(db), str(docs)], capture_output=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert wal(db) > 0  # the two committed steps are in the log only: their checkpoint was deferred
    with duckdb.connect(str(db)) as con:  # DuckDB replays the log at the open (read-write: it then checkpoints)
        assert con.execute("SELECT count(*) FROM _tidemark.applied_documents").fetchall() == [(2,)]
        assert con.execute("SELECT count(DISTINCT game_pk) FROM game.live_game_plays").fetchall() == [(2,)]
    resumed = tidemark.run(PLAN, docs, f"duckdb:{db}", commit_every=1, batch_documents=1)
    assert (resumed.documents, resumed.unchanged_documents) == (2, 2)
    assert tables(db) == tables(clean)


def test_inserting_steps_defer_the_checkpoint_and_replacing_steps_do_not(
    tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    db = tmp_path / "t.duckdb"
    with duckdb.connect(str(db)) as con:  # the process's own connection: the sink shares its database
        con.execute("SET checkpoint_threshold = '1KiB'")
        with DuckDBSink(DuckDBConfig(path=str(db))) as sink:
            first = tidemark.run(PLAN, games(feed_747175, tmp_path / "a", 1, 2), sink, commit_every=1)
            assert first.counts.inserted > 0 and first.counts.updated == 0
            assert wal(db) > 1024  # over the database's threshold, yet not checkpointed: only inserts
            newer = tidemark.run(PLAN, games(feed_747175, tmp_path / "b", 1, 2, stamp="20240713_030000"), sink)
            assert newer.counts.updated > 0
            assert wal(db) == 0  # replaced rows: checkpointed at the commit, as the database's threshold says
        # the sink put the database's own threshold back
        assert con.execute("SELECT current_setting('checkpoint_threshold')").fetchall() == [("1.0 KiB",)]
    assert tables(db)["game.live_game_plays"]  # the rows survive the close and a new open
