"""``tidemark backfill`` killed (SIGKILL) in the middle of its load step and run again: the load is a checkpointed
stream, so the rerun goes on after the last committed micro-batch and the tables equal a clean run's; on DuckDB
(atomic checkpoint) the stream's counts summed over its micro-batches equal the clean run's exactly."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.mlb_replay import FEEDS, add_schedule, listed, replay_root
from tests.stream_worker import context
from tidemark.cli.main import app
from tidemark.sinks import open_sink

TABLES = ("game.live_game_metadata", "game.live_game_plays", "game.live_game_players", "game.live_game_runners")
BUDGET_SECONDS = 180
DAY = "2024-07-12"


def rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    import duckdb

    out = {}
    with duckdb.connect(str(db), read_only=True) as con:
        for table in TABLES:
            columns = [c[0] for c in con.execute(f"DESCRIBE {table}").fetchall() if not c[0].startswith("_")]
            quoted = ", ".join(f'"{c}"' for c in columns)
            out[table] = sorted(con.execute(f"SELECT {quoted} FROM {table}").fetchall(), key=repr)
    return out


def checkpoint(db: Path) -> Any:
    if not db.exists():
        return None
    with open_sink(f"duckdb:{db}") as sink:
        found = sink.read_checkpoints()
    assert len(found) <= 1
    return found[0] if found else None


def _backfill(argv: list[str]) -> None:
    from tests.stream_worker import tidemark

    tidemark(argv)


def _run(ctx: Any, argv: list[str]) -> int:
    process = ctx.Process(target=_backfill, args=(argv,))
    process.start()
    process.join()
    return int(process.exitcode)


@pytest.mark.slow
def test_a_backfill_killed_in_its_load_resumes_to_the_tables_of_a_clean_run(tmp_path: Path) -> None:
    root = replay_root(tmp_path)
    add_schedule(
        root,
        {"sportId": 1, "startDate": "2024-07-01", "endDate": "2024-07-20"},
        {DAY: [listed(pk, DAY, "Final", "Final") for pk in FEEDS]},
    )
    raw = tmp_path / "raw"
    fetch = ["backfill", "--start", "2024-07-01", "--end", "2024-07-20", "--raw", str(raw), "--replay", str(root)]
    fetched = CliRunner().invoke(app, fetch)  # the fetch step once: every rerun below goes straight to its load
    assert fetched.exit_code == 0, fetched.output
    ctx = context()

    clean = tmp_path / "clean.duckdb"
    began = time.monotonic()
    assert _run(ctx, [*fetch, "-m", "mlb:live_game", "-s", f"duckdb:{clean}", "--batch-documents", "1"]) == 0
    full = time.monotonic() - began  # how long a whole load takes here: kills land within it
    want = checkpoint(clean)
    assert want is not None and want.batch == len(FEEDS)  # one micro-batch per feed

    db = tmp_path / "killed.duckdb"
    argv = [*fetch, "-m", "mlb:live_game", "-s", f"duckdb:{db}", "--batch-documents", "1"]
    rng = random.Random(5)
    midway: list[int] = []  # micro-batches committed when a kill landed in the middle of the load
    deadline = time.monotonic() + BUDGET_SECONDS
    while len(midway) < 2:
        assert time.monotonic() < deadline, f"only {len(midway)} kills in the middle of the load"
        process = ctx.Process(target=_backfill, args=(argv,))
        process.start()
        process.join(rng.uniform(0.2, 1.0) * full)
        if process.exitcode is None:
            process.kill()  # SIGKILL: no handler, no rollback
            process.join()
            stood = checkpoint(db)
            if stood is not None and 0 < stood.batch < len(FEEDS):
                midway.append(stood.batch)
            continue
        assert process.exitcode == 0
        for path in tmp_path.glob("killed.duckdb*"):  # finished before the kill: start the load over
            path.unlink()
    assert _run(ctx, argv) == 0  # the rerun resumes after the last committed micro-batch

    got = checkpoint(db)
    assert got is not None and got.batch == len(FEEDS) and got.pending is None
    assert got.totals == want.totals  # exactly once: the counts of the interrupted load equal the clean one's
    assert rows(db) == rows(clean)
    assert all(rows(clean).values())
