"""``tidemark.write`` of a large Arrow table: the write contract vs a plain append of the same rows, and key speed.

    .venv/bin/python bench/write.py [ROWS] [--sinks duckdb,postgres,delta] [--batch-rows N]

ROWS (default 1,000,000) rows x 10 columns of made-up match results are built in Arrow, untimed. Per sink, in one
process, each phase is one ``tidemark.write`` (one transaction) into a fresh table:

0. plain append: ``mode="append"``, no key, no timestamp (the limit every ratio is relative to);
1. upsert, first load (all inserted), ``keys=["id"]``, ``timestamp="updated_at"``;
2. the same rows again (all unchanged);
3. every row one hour newer (all updated);
4. upsert, first load, with a deterministic key computed from league, date and teams (all inserted).

Also: the throughput of key generation alone (``contract.keys.compute_keys`` over the same four columns) and its
share of phase 4. PostgreSQL: ``TIDEMARK_PG_DSN`` (a database the benchmark may write to), or a throwaway server
started from the machine's binaries (as the tests do). Timings are printed, never asserted; the counts of every phase
are checked so that a phase cannot silently measure the wrong thing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

import tidemark
from tidemark.contract.keys import KeyRecipe, compute_keys

ROOT = Path(__file__).resolve().parent.parent
KEY = {"name": "match_id", "from": ["league", "match_date", "home_team", "away_team"]}
TEAMS = [f"Team {chr(65 + i)}{j}" for i in range(26) for j in range(20)]  # 520 teams


def matches(n: int, hours: int = 0) -> pa.Table:
    """n made-up matches, 10 columns; ``hours`` moves every updated_at."""
    ids = pa.array(range(n), pa.int64())
    home = pc.remainder(ids, len(TEAMS))
    away = pc.remainder(pc.add(home, pc.add(1, pc.remainder(pc.divide(ids, len(TEAMS)), len(TEAMS) - 1))), len(TEAMS))
    teams = pa.array(TEAMS)
    start = datetime(2024, 7, 1, tzinfo=UTC) + timedelta(hours=hours)
    return pa.table(
        {
            "id": ids,
            "league": pc.take(pa.array(["Premier", "Championship", "League One", "League Two"]), pc.remainder(ids, 4)),
            "match_date": pc.cast(
                pc.add(pc.cast(pa.scalar(19_000), pa.int32()), pc.cast(pc.divide(ids, 260), pa.int32())), pa.date32()
            ),
            "home_team": teams.take(home),
            "away_team": teams.take(away),
            "home_goals": pc.remainder(ids, 5),
            "away_goals": pc.remainder(pc.divide(ids, 7), 4),
            "attendance": pc.add(pc.multiply(pc.remainder(ids, 997), 31), 1000),
            "venue": pc.binary_join_element_wise(
                pa.scalar("Ground "), pc.cast(pc.remainder(ids, 300), pa.string()), ""
            ),
            "updated_at": pa.array([start] * n, pa.timestamp("us", "UTC")),
        }
    )


@contextmanager
def postgres() -> Iterator[str]:
    dsn = os.environ.get("TIDEMARK_PG_DSN")
    if dsn:
        yield dsn
        return
    sys.path.insert(0, str(ROOT))
    from tests.pgserver import PgServer

    server = PgServer.start()
    try:
        yield server.dsn(server.create_database())
    finally:
        server.stop()


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def check(phase: str, result: tidemark.WriteResult, **expected: int) -> None:
    got = {k: getattr(result, k) for k in expected}
    if got != expected:
        raise SystemExit(f"{phase}: expected {expected}, got {got} - the phase did not measure what it should")


def bench_sink(kind: str, url: str, data: pa.Table, newer: pa.Table, batch_rows: int) -> None:
    n = data.num_rows
    keyed = {"keys": ["id"], "timestamp": "updated_at", "batch_rows": batch_rows}

    def write(table: str, rows: pa.Table, mode: str, **options: Any) -> tidemark.WriteResult:
        return tidemark.write(rows, url, table, mode=mode, **options)

    write("bench.warmup", data.slice(0, 1000), "upsert", **keyed)  # first use of the store: imports, connection
    plain, result = timed(lambda: write("bench.plain", data, "append", batch_rows=batch_rows))
    check("plain append", result, inserted=n)
    print(f"{kind:<9} {'plain append (the limit)':<34} {plain:>8.2f} {n / plain:>11,.0f} {1:>6.2f}x")
    phases = [
        ("upsert, first load", "bench.upsert", data, {"inserted": n}, keyed),
        ("upsert, same rows again", "bench.upsert", data, {"unchanged": n}, keyed),
        ("upsert, all rows newer", "bench.upsert", newer, {"updated": n}, keyed),
        ("upsert, computed key, first load", "bench.keyed", data, {"inserted": n}, {**keyed, "keys": None, "key": KEY}),
    ]
    for label, table, rows, expected, options in phases:
        seconds, result = timed(lambda t=table, r=rows, o=options: write(t, r, "upsert", **o))
        check(label, result, **expected)
        print(f"{kind:<9} {label:<34} {seconds:>8.2f} {n / seconds:>11,.0f} {seconds / plain:>6.2f}x")
    key_seconds, _ = timed(lambda: compute_keys(data, KeyRecipe(KEY["name"], tuple(KEY["from"]))))
    print(
        f"{kind:<9} {'key generation alone (4 columns)':<34} {key_seconds:>8.2f} {n / key_seconds:>11,.0f}"
        f"  = {100 * key_seconds / seconds:.0f}% of the computed-key load"
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("rows", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--sinks", default="duckdb,postgres,delta", help="comma-separated: duckdb, postgres, delta")
    parser.add_argument("--batch-rows", type=int, default=tidemark.write.__kwdefaults__["batch_rows"])
    args = parser.parse_args(argv[1:])
    data, newer = matches(args.rows), matches(args.rows, hours=1)
    print(
        f"{args.rows:,} rows x {data.num_columns} columns, {data.nbytes / 1e6:.0f} MB in Arrow; "
        f"batch_rows {args.batch_rows:,}\n"
    )
    print(f"{'sink':<9} {'phase':<34} {'seconds':>8} {'rows/s':>11} {'ratio':>7}")
    with tempfile.TemporaryDirectory(prefix="tidemark-bench-write-") as tmp:
        for kind in args.sinks.split(","):
            if kind == "duckdb":
                bench_sink(kind, f"duckdb:{Path(tmp) / 'store.duckdb'}", data, newer, args.batch_rows)
            elif kind == "delta":
                bench_sink(kind, f"delta:{Path(tmp) / 'lake'}", data, newer, args.batch_rows)
            elif kind == "postgres":
                with postgres() as dsn:
                    bench_sink(kind, dsn, data, newer, args.batch_rows)
            else:
                raise SystemExit(f"unknown sink {kind!r}")
    print("\nratio = phase time / the plain append of the same rows into the same sink (this run, never asserted)")


if __name__ == "__main__":
    main(sys.argv)
