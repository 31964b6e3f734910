"""Upsert benchmark for the lake sinks (Delta, Parquet, CSV): the write contract vs a plain write of the same rows.

    .venv/bin/python bench/upsert_sinks.py [DOCS] [--batch-docs N] [--sinks delta,parquet,csv]

The corpus (DOCS copies of the real game 747175 feed with distinct gamePks, default 300) is extracted once with the
local engine, untimed, in batches of ``--batch-docs`` documents (64, as ``tidemark run``). Then, per sink, each
phase is one run (one transaction: ``prepare`` + ``sink.write`` per table and batch, then commit):

1. first load into an empty store (all inserted);
2. the same snapshot again (all unchanged);
3. a newer snapshot, one hour later (all updated);
4. an older snapshot, one hour earlier than the first (all skipped).

The limit, measured in the same run on the same sink: the cheapest plain write of the same rows into an empty
store, one call per table with all its rows (Delta: ``write_deltalake`` append; Parquet: ``pyarrow.parquet
.write_table``; CSV: ``pyarrow.csv.write_csv``). Ratios are phase time / that time. Timings are printed, never
asserted; the counts are checked so that a phase cannot silently measure the wrong thing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from corpus import write_corpus
from tidemark.compile.plan import Plan, compile_mapping
from tidemark.contract.counts import WriteCounts
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import load_mapping
from upsert_duckdb import _check, _shifted, run_batches

Batches = list[ExtractBatch]
PHASES = ["first load (insert)", "same snapshot (unchanged)", "newer snapshot (update)", "older snapshot (skip)"]


def main(argv: list[str]) -> None:
    args = _args(argv)
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    with tempfile.TemporaryDirectory(prefix="tidemark-bench-") as tmp:
        root = Path(tmp)
        docs = [RawDocument(p.read_bytes(), str(p)) for p in write_corpus(root / "corpus", args.docs)]
        current = list(LocalEngine(plan).extract(docs, batch_documents=args.batch_docs or len(docs)))
        del docs
        phases = dict(
            zip(
                PHASES,
                [current, current, _shifted(current, plan, hours=1), _shifted(current, plan, hours=-1)],
                strict=True,
            )
        )
        total = sum(t.num_rows for b in current for t in b.tables.values())
        print(
            f"corpus: {args.docs} documents -> {total:,} rows in {len(plan.targets)} tables, "
            f"{len(current)} batches per phase\n"
        )
        print(f"{'sink':<8} {'phase':<28} {'seconds':>8} {'rows/s':>10} {'ratio':>7}  counts")
        for kind in args.sinks.split(","):
            plain = _plain(kind, plan, current, root / f"plain_{kind}")
            print(f"{kind:<8} {'plain write (the limit)':<28} {plain:>8.2f} {total / plain:>10,.0f} {1:>6.1f}x")
            counts: dict[str, WriteCounts] = {}
            for phase, batches in phases.items():
                seconds, counts[phase] = _contract(plan, batches, f"{kind}:{root / kind}")
                shown = ", ".join(f"{k} {v:,}" for k, v in counts[phase].as_dict().items() if v)
                print(
                    f"{kind:<8} {phase:<28} {seconds:>8.2f} {total / seconds:>10,.0f} {seconds / plain:>6.1f}x  {shown}"
                )
            _check(counts, total)
        print("\nratio = phase time / the plain write of the same rows on the same sink (this run, never asserted)")


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("docs", nargs="?", type=int, default=300, help="documents in the corpus (default 300)")
    parser.add_argument("--batch-docs", type=int, default=64, help="documents per batch, 0 = all in one (default 64)")
    parser.add_argument("--sinks", default="delta,parquet,csv", help="comma-separated sink kinds")
    return parser.parse_args(argv[1:])


def _contract(plan: Plan, batches: Batches, url: str) -> tuple[float, WriteCounts]:
    """One run's worth of writes through the contract, in one transaction (as ``tidemark run`` writes)."""
    seconds, _, total = run_batches(plan, batches, url)
    return seconds, total


def _plain(kind: str, plan: Plan, batches: Batches, root: Path) -> float:
    """The cheapest write of all rows on this kind of store: one call per table, no contract, no bookkeeping."""
    from deltalake import write_deltalake

    tables = {t.spec.name: pa.concat_tables([b.tables[t.name] for b in batches]) for t in plan.targets}
    root.mkdir(parents=True)
    start = time.perf_counter()
    for name, rows in tables.items():
        if kind == "delta":
            write_deltalake(str(root / name), rows, mode="append")
        elif kind == "parquet":
            pq.write_table(rows, root / f"{name}.parquet", compression="zstd")
        else:
            pacsv.write_csv(rows, root / f"{name}.csv")
    return time.perf_counter() - start


if __name__ == "__main__":
    main(sys.argv)
