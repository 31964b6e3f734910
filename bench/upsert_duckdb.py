"""Upsert benchmark: the write contract into DuckDB vs a plain Arrow INSERT of the same rows, in one run.

    .venv/bin/python bench/upsert_duckdb.py [DOCS] [--batch-docs N] [--rounds N]

The corpus (DOCS copies of the real game 747175 feed with distinct gamePks, default 300) is extracted once with the
local engine, untimed, in batches of ``--batch-docs`` documents (64, as ``tidemark run``; 0 = one batch). Then,
each phase in one transaction, exactly as the runtime writes (``prepare`` + ``DuckDBSink.write`` per table, then
commit):

1. first load into an empty database (all inserted);
2. the same snapshot again (all unchanged);
3. a newer snapshot, one hour later (all updated);
4. an older snapshot, one hour earlier than the first (all skipped).

The limit, measured in the same run: ``INSERT INTO t SELECT * FROM arrow_table`` of the same rows into an empty
table without a key, and into one with the same primary key. Ratios are phase time / plain INSERT time (keyless).
Timings are printed, never asserted; the counts are checked so that a phase cannot silently measure the wrong thing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from corpus import write_corpus
from tidemark.compile.plan import Plan, compile_mapping
from tidemark.contract.counts import WriteCounts
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import load_mapping
from tidemark.runtime.batch import BatchWriter, RunResult
from tidemark.runtime.transaction import Transaction
from tidemark.sinks import open_sink
from tidemark.sinks.duckdb import DuckDBSink

Batches = list[ExtractBatch]


def main(argv: list[str]) -> None:
    args = _args(argv)
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    with tempfile.TemporaryDirectory(prefix="tidemark-bench-") as tmp:
        root = Path(tmp)
        docs = [RawDocument(p.read_bytes(), str(p)) for p in write_corpus(root / "corpus", args.docs)]
        per_batch = args.batch_docs or len(docs)
        current = list(LocalEngine(plan).extract(docs, batch_documents=per_batch))
        del docs
        newer, older = _shifted(current, plan, hours=1), _shifted(current, plan, hours=-1)
        total = sum(t.num_rows for b in current for t in b.tables.values())
        sizes = {t.name: sum(b.tables[t.name].num_rows for b in current) for t in plan.targets}
        print(f"corpus: {args.docs} documents -> {total:,} rows ({', '.join(f'{k} {v:,}' for k, v in sizes.items())})")
        print(f"batches of {per_batch} documents ({len(current)} per phase), {args.rounds} rounds, best shown\n")
        results: dict[str, list[float]] = {}
        counts: dict[str, WriteCounts] = {}
        prepare_share: dict[str, list[float]] = {}
        for r in range(args.rounds):
            db = root / f"contract_{r}.duckdb"
            for phase, batches in [
                ("first load (insert)", current),
                ("same snapshot (unchanged)", current),
                ("newer snapshot (update)", newer),
                ("older snapshot (skip)", older),
            ]:
                seconds, preparing, counts[phase] = _contract(plan, batches, db)
                results.setdefault(phase, []).append(seconds)
                prepare_share.setdefault(phase, []).append(preparing / seconds)
            for label, keyed in [("plain INSERT, no key", False), ("plain INSERT, same primary key", True)]:
                results.setdefault(label, []).append(
                    _plain_insert(plan, current, root / f"plain_{r}_{keyed}.duckdb", keyed)
                )
        _check(counts, total)
        _report(results, counts, prepare_share, total, baseline="plain INSERT, no key")


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("docs", nargs="?", type=int, default=300, help="documents in the corpus (default 300)")
    parser.add_argument("--batch-docs", type=int, default=64, help="documents per batch, 0 = all in one (default 64)")
    parser.add_argument("--rounds", type=int, default=1, help="repetitions of the whole sequence (default 1)")
    return parser.parse_args(argv[1:])


def _shifted(batches: Batches, plan: Plan, *, hours: int) -> Batches:
    """The same rows as another snapshot of the same games: every timestamp column moved by ``hours``."""
    delta = pa.scalar(timedelta(hours=hours), pa.duration("us"))

    def shift(table: pa.Table, column: str) -> pa.Table:
        i = table.schema.get_field_index(column)
        moved = pc.add(table.column(column), delta).cast(table.schema.field(i).type)
        return table.set_column(i, table.schema.field(i), moved)

    out = []
    for b in batches:
        tables = {t.name: shift(b.tables[t.name], t.spec.timestamp) for t in plan.targets if t.spec.timestamp}
        scopes = {name: shift(s, plan.target(name).spec.timestamp or "") for name, s in b.scopes.items()}
        out.append(ExtractBatch(tables=tables, scopes=scopes, documents=b.documents))
    return out


def _contract(plan: Plan, batches: Batches, db: Path) -> tuple[float, float, WriteCounts]:
    return run_batches(plan, batches, f"duckdb:{db}")


def run_batches(plan: Plan, batches: Batches, sink_config: Any) -> tuple[float, float, WriteCounts]:
    """One run's worth of writes through the contract, as ``tidemark run`` writes them (runtime.BatchWriter: the
    next table is prepared in a worker thread while one is written), in one transaction: seconds, of which spent in
    ``prepare`` (overlapping the writes), counts."""
    sink = open_sink(sink_config)
    result = RunResult.start("bench", sink.display, "upsert", {t.name: t.spec for t in plan.targets})
    specs = [t.spec for t in plan.targets]
    try:
        start = time.perf_counter()
        with Transaction(sink, specs, run_id="bench") as tx, BatchWriter(plan, tx, "upsert", result) as writer:
            for batch in batches:
                writer.write(batch)
        seconds = time.perf_counter() - start
    finally:
        sink.close()
    return seconds, result.seconds["prepare"], result.counts


def _plain_insert(plan: Plan, batches: Batches, db: Path, keyed: bool) -> float:
    """``INSERT INTO t SELECT * FROM arrow_table`` of all rows into empty tables, one transaction."""
    sink = open_sink(f"duckdb:{db}")
    assert isinstance(sink, DuckDBSink)
    conn, q = sink.conn, sink.q
    tables = {t.name: pa.concat_tables([b.tables[t.name] for b in batches]) for t in plan.targets}
    try:
        for t in plan.targets:
            name = q(t.spec.name)
            conn.register("bench_rows", tables[t.name].slice(0, 0))
            conn.execute(f"CREATE TABLE {name} AS SELECT * FROM bench_rows")
            if keyed:
                conn.execute(f"ALTER TABLE {name} ADD PRIMARY KEY ({', '.join(q(c) for c in t.spec.primary_key)})")
            conn.unregister("bench_rows")
        start = time.perf_counter()
        conn.execute("BEGIN TRANSACTION")
        for t in plan.targets:
            conn.register("bench_rows", tables[t.name])
            conn.execute(f"INSERT INTO {q(t.spec.name)} SELECT * FROM bench_rows")
            conn.unregister("bench_rows")
        conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        sink.close()


def _check(counts: dict[str, WriteCounts], total: int) -> None:
    expected = {
        "first load (insert)": "inserted",
        "same snapshot (unchanged)": "unchanged",
        "newer snapshot (update)": "updated",
        "older snapshot (skip)": "skipped",
    }
    for phase, field in expected.items():
        got = counts[phase].as_dict()
        if got[field] != total or sum(got.values()) != total:
            raise SystemExit(
                f"{phase}: expected {total:,} rows {field}, got {got}: the benchmark measures nothing useful"
            )


def _report(
    results: dict[str, list[float]],
    counts: dict[str, WriteCounts],
    prepare_share: dict[str, list[float]],
    rows: int,
    *,
    baseline: str,
) -> None:
    base = min(results[baseline])
    print(f"{'phase':<32} {'best s':>7} {'median s':>9} {'rows/s':>10} {'ratio':>7} {'prepare':>8}  counts")
    for phase, values in results.items():
        best = min(values)
        c = counts.get(phase)
        shown = ", ".join(f"{k} {v:,}" for k, v in c.as_dict().items() if v) if c else ""
        share = f"{statistics.median(prepare_share[phase]):.0%}" if phase in prepare_share else ""
        print(
            f"{phase:<32} {best:>7.2f} {statistics.median(values):>9.2f} {rows / best:>10,.0f} "
            f"{best / base:>6.1f}x {share:>8}  {shown}"
        )
    print(f"\nratio = best time / best time of '{baseline}' (measured in this run, never asserted)")
    print(
        "prepare = contract.prepare time (content hash, in-batch reduction) / phase time; it runs in a worker "
        "thread, overlapping the writes"
    )


if __name__ == "__main__":
    main(sys.argv)
