"""Upsert benchmark: the write contract into PostgreSQL vs a plain COPY of the same rows, in one run.

    .venv/bin/python bench/upsert_postgres.py [GAMES] [--batch-docs N] [--rounds N] [--no-foreign-keys] [--dsn DSN]

The real game 747175 feed is extracted once with the local engine (untimed) and replicated to GAMES games (default
1,100: 319,000 pitch rows, 834,000 rows over the mapping's 20 tables) by giving each copy its own ``game_pk``, which
is exactly what the engine produces for copies of the feed with other gamePks. Batches hold ``--batch-docs`` games
(64, as ``tidemark run``). Each phase is one run, one transaction, written as ``tidemark run`` writes them
(``prepare`` of the next table in a worker thread while ``PostgresSink.write`` writes one, then commit):

1. first load into an empty database (all inserted);
2. the same snapshot again (all unchanged);
3. a newer snapshot, one hour later (all updated);
4. an older snapshot, one hour earlier than the first (all skipped).

The limit, measured in the same run on the same server: a plain ``COPY ... FROM STDIN`` of the same rows (all rows
of a table in one COPY, one transaction, no hash column) into empty tables without a key, in PostgreSQL's binary
format (encoded column by column as the sink does, the fastest plain COPY here) and as Arrow-written CSV (what a
hand-written loader usually sends), and a binary COPY into tables with the same primary keys and indexes. Ratios are
phase time / the keyless binary COPY's time. Timings are printed, never asserted; the counts are checked so that a
phase cannot silently measure the wrong thing.

The server: ``--dsn``, else ``TIDEMARK_PG_DSN``, else a throwaway one started like the tests do (tests/pgserver.py,
fsync off). Each run uses a fresh database.
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/pgserver.py starts the throwaway server

from tests.pgserver import ENV_DSN, PgServer  # noqa: E402

from corpus import FEED  # noqa: E402
from tidemark.compile.plan import Plan, compile_mapping  # noqa: E402
from tidemark.contract.counts import WriteCounts  # noqa: E402
from tidemark.documents import RawDocument  # noqa: E402
from tidemark.engines.base import ExtractBatch  # noqa: E402
from tidemark.engines.local import LocalEngine  # noqa: E402
from tidemark.mapping.loader import load_mapping  # noqa: E402
from tidemark.sinks import open_sink, pg_copy  # noqa: E402
from tidemark.sinks.postgres import PostgresConfig, PostgresSink  # noqa: E402
from upsert_duckdb import _check, _report, _shifted, run_batches  # noqa: E402

Batches = list[ExtractBatch]
# label, into tables with the keys and indexes, binary format (else CSV); the first one is the baseline
PLAIN = [
    ("plain COPY binary, no key", False, True),
    ("plain COPY csv, no key", False, False),
    ("plain COPY binary, keys + indexes", True, True),
]
FIRST_GAME_PK = 900_000


def main(argv: list[str]) -> None:
    args = _args(argv)
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    current = _replicated(plan, args.games, args.batch_docs)
    newer, older = _shifted(current, plan, hours=1), _shifted(current, plan, hours=-1)
    total = sum(t.num_rows for b in current for t in b.tables.values())
    sizes = {t.name: sum(b.tables[t.name].num_rows for b in current) for t in plan.targets}
    print(f"{args.games:,} games -> {total:,} rows; pitch events {sizes['game.live_game_pitch_events']:,}")
    print(
        f"batches of {args.batch_docs} games ({len(current)} per phase), {args.rounds} rounds, best shown, "
        f"foreign keys {'off' if args.no_foreign_keys else 'on (deferred, checked at commit)'}\n"
    )
    server = PgServer.external(args.dsn) if args.dsn else PgServer.start()
    try:
        results: dict[str, list[float]] = {}
        counts: dict[str, WriteCounts] = {}
        prepare_share: dict[str, list[float]] = {}
        for _ in range(args.rounds):
            config = PostgresConfig(dsn=server.dsn(server.create_database()), foreign_keys=not args.no_foreign_keys)
            for phase, batches in [
                ("first load (insert)", current),
                ("same snapshot (unchanged)", current),
                ("newer snapshot (update)", newer),
                ("older snapshot (skip)", older),
            ]:
                seconds, preparing, counts[phase] = _contract(plan, batches, config)
                results.setdefault(phase, []).append(seconds)
                prepare_share.setdefault(phase, []).append(preparing / seconds)
            plain = PostgresConfig(dsn=server.dsn(server.create_database()))
            for label, keyed, binary in PLAIN:
                results.setdefault(label, []).append(_plain_copy(plan, current, plain, keyed, binary))
        _check(counts, total)
        _report(results, counts, prepare_share, total, baseline=PLAIN[0][0])
    finally:
        server.stop()


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("games", nargs="?", type=int, default=1100, help="games in the corpus (default 1100)")
    parser.add_argument("--batch-docs", type=int, default=64, help="games per batch (default 64)")
    parser.add_argument("--rounds", type=int, default=1, help="repetitions of the whole sequence (default 1)")
    parser.add_argument("--no-foreign-keys", action="store_true", help="open the sink with foreign_keys: false")
    parser.add_argument("--dsn", default=os.environ.get(ENV_DSN), help=f"server to use (default ${ENV_DSN})")
    return parser.parse_args(argv[1:])


def _replicated(plan: Plan, games: int, per_batch: int) -> Batches:
    """The feed extracted once, then copied per game with its own game_pk (every table and scope carries it)."""
    raw = RawDocument(gzip.decompress(FEED.read_bytes()), str(FEED))
    (one,) = list(LocalEngine(plan).extract([raw], batch_documents=1))

    def copies(table: pa.Table, first: int, count: int) -> pa.Table:
        i = table.schema.get_field_index("game_pk")
        parts = []
        for g in range(first, first + count):
            column = pa.array([FIRST_GAME_PK + g] * table.num_rows, table.schema.field(i).type)
            parts.append(table.set_column(i, table.schema.field(i), column))
        return pa.concat_tables(parts).combine_chunks()

    batches = []
    for first in range(0, games, per_batch):
        count = min(per_batch, games - first)
        tables = {name: copies(t, first, count) for name, t in one.tables.items()}
        scopes = {name: copies(s, first, count) for name, s in one.scopes.items()}
        batches.append(ExtractBatch(tables=tables, scopes=scopes, documents=count))
    return batches


def _contract(plan: Plan, batches: Batches, config: PostgresConfig) -> tuple[float, float, WriteCounts]:
    return run_batches(plan, batches, config)


def _plain_copy(plan: Plan, batches: Batches, config: PostgresConfig, keyed: bool, binary: bool) -> float:
    """COPY of all rows into empty tables, one COPY per table, one transaction: in the binary format (encoded
    like the sink does, sinks/pg_copy.py) or as Arrow-written CSV."""
    sink = open_sink(config)
    assert isinstance(sink, PostgresSink) and sink.conn is not None
    conn, q = sink.conn, sink.q
    schema = q(f"bench_{'keyed' if keyed else 'plain'}_{'binary' if binary else 'csv'}")
    tables = {t.name: pa.concat_tables([b.tables[t.name] for b in batches]) for t in plan.targets}
    try:
        conn.execute(f"CREATE SCHEMA {schema}")
        for t in plan.targets:
            defs = [f"{q(c.name)} {sink.driver.column_type(c.type)}" for c in t.spec.columns]
            if keyed:
                defs.append(f"PRIMARY KEY ({', '.join(q(c) for c in t.spec.primary_key)})")
            conn.execute(f"CREATE TABLE {schema}.{q(t.spec.name)} ({', '.join(defs)})")
            for i, index in enumerate(t.spec.indexes if keyed else ()):
                cols = ", ".join(q(c) for c in index.columns)
                conn.execute(f"CREATE INDEX {q(f'bench_{t.spec.name}_{i}')} ON {schema}.{q(t.spec.name)} ({cols})")
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for t in plan.targets:
                cols = ", ".join(q(c) for c in t.spec.column_names)
                types = [sink.driver.column_type(c.type) for c in t.spec.columns]
                fmt = "binary" if binary else "csv"
                with cur.copy(f"COPY {schema}.{q(t.spec.name)} ({cols}) FROM STDIN (FORMAT {fmt})") as copy:
                    if binary:
                        chunks = pg_copy.encoder(tables[t.name].select(list(t.spec.column_names)), types, 8192)
                        assert chunks is not None, "a column type without a binary encoder"
                        for data in chunks:
                            copy.write(data)
                        continue
                    for batch in tables[t.name].to_batches(max_chunksize=50_000):
                        buf = io.BytesIO()
                        pacsv.write_csv(batch, buf, pacsv.WriteOptions(include_header=False))
                        copy.write(buf.getbuffer())
        seconds = time.perf_counter() - start
        stored = conn.execute(f"SELECT count(*) FROM {schema}.{q('live_game_pitch_events')}").fetchone()
        assert stored == (tables["game.live_game_pitch_events"].num_rows,), "the COPY lost rows"
        return seconds
    finally:
        sink.close()


if __name__ == "__main__":
    main(sys.argv)
