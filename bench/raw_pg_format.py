"""How a PostgreSQL raw store should keep its documents: ``jsonb`` or gzip-compressed ``bytea``.

The documents are distinct snapshots of the real 0.77 MB (compact JSON; 1.6 MB as recorded) live feed of game
747175 (``gamePk`` changed per copy). For each format: the time to append them (one transaction each, as an
ingester does), the time to read them all back as the bytes an engine parses, and the table's size on disk::

    .venv/bin/python bench/raw_pg_format.py [--documents 40] [--dsn postgresql://...]

The server: ``--dsn``, else ``TIDEMARK_PG_DSN``, else a throwaway one started like the tests do. Prints ratios
against bytea (measured in the same run); never gates anything.
"""

from __future__ import annotations

import argparse
import gzip
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgserver import ENV_DSN, PgServer  # noqa: E402

from corpus import load_feed  # noqa: E402


def documents(count: int) -> list[bytes]:
    envelope = load_feed()
    out = []
    for i in range(count):
        envelope["response"]["gamePk"] = 900_000 + i
        out.append(orjson.dumps(envelope))
    return out


def measure(conn: Any, kind: str, docs: list[bytes]) -> tuple[float, float, int]:
    column = "jsonb" if kind == "jsonb" else "bytea"
    conn.execute(f"CREATE TABLE raw_{kind} (position bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, doc {column})")
    start = time.perf_counter()
    for doc in docs:
        value = doc.decode() if kind == "jsonb" else gzip.compress(doc, compresslevel=5, mtime=0)
        with conn.transaction():
            conn.execute(f"INSERT INTO raw_{kind} (doc) VALUES (%s)", [value])
    append = time.perf_counter() - start
    start = time.perf_counter()
    cast = "doc::text" if kind == "jsonb" else "doc"
    for (value,) in conn.execute(f"SELECT {cast} FROM raw_{kind} ORDER BY position"):
        data = value.encode() if kind == "jsonb" else gzip.decompress(value)
        assert data
    read = time.perf_counter() - start
    size = conn.execute(f"SELECT pg_total_relation_size('raw_{kind}')").fetchone()[0]
    return append, read, int(size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--dsn", default=os.environ.get(ENV_DSN))
    args = parser.parse_args()
    import psycopg

    docs = documents(args.documents)
    server = PgServer.external(args.dsn) if args.dsn else PgServer.start()
    try:
        with psycopg.connect(server.dsn(server.create_database()), autocommit=True) as conn:
            results = {kind: measure(conn, kind, docs) for kind in ("bytea", "jsonb")}
    finally:
        server.stop()
    base = results["bytea"]
    mb = sum(map(len, docs)) / 1e6
    print(f"{len(docs)} documents, {mb:.1f} MB of compact JSON")
    for kind, (append, read, size) in results.items():
        print(
            f"{kind:6} append {append:6.2f}s ({append / base[0]:.2f}x)  read {read:6.2f}s ({read / base[1]:.2f}x)  "
            f"size {size / 1e6:6.1f} MB ({size / base[2]:.2f}x)"
        )


if __name__ == "__main__":
    main()
