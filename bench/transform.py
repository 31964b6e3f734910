"""Transform benchmark: tidemark's parse + extract to Arrow vs plain ``orjson.loads`` of the same bytes.

    .venv/bin/python bench/transform.py [DOCS] [--rounds N] [--batch-docs N]

The corpus is DOCS copies (default 300) of the real game 747175 feed with distinct gamePks (bench/corpus.py),
written as .json files and read into memory once, so neither side pays for I/O. Each round times, side by side in
this process:

- ``orjson.loads`` of every document (the limit: parsing alone, nothing extracted);
- ``LocalEngine(plan).extract`` over the same bytes (parse, walk the compiled plan, type the columns into Arrow
  tables for every target of ``mlb:live_game``).

It prints documents/s for both and their ratio (tidemark time / orjson time: 1.00x would mean extraction is free).
Timings are printed, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import inspect
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from corpus import write_corpus
from tidemark.compile.plan import compile_mapping
from tidemark.documents import RawDocument
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import load_mapping


def main(argv: list[str]) -> None:
    args = _args(argv)
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    with tempfile.TemporaryDirectory(prefix="tidemark-bench-") as tmp:
        paths = write_corpus(Path(tmp), args.docs)
        docs = [RawDocument(p.read_bytes(), str(p)) for p in paths]
    megabytes = sum(len(d.data) for d in docs) / 1e6
    print(f"corpus: {len(docs)} documents, {megabytes:.1f} MB (copies of game 747175, distinct gamePk)")
    print(f"plan: {', '.join(t.name for t in plan.targets)}; {args.rounds} rounds, best and median shown\n")

    def parse_only() -> None:
        for d in docs:
            orjson.loads(d.data)

    rows: dict[str, int] = {}

    def extract(**options: bool) -> Callable[[], None]:
        def go() -> None:
            rows.clear()
            for batch in LocalEngine(plan, **options).extract(docs, batch_documents=args.batch_docs):
                if batch.rejected:
                    raise SystemExit(f"unexpected rejected document: {batch.rejected[0]}")
                for name, table in batch.tables.items():
                    rows[name] = rows.get(name, 0) + table.num_rows

        return go

    methods = {"orjson.loads": parse_only, "tidemark parse + extract": extract()}
    if "fast_decode" in inspect.signature(LocalEngine).parameters:  # the engine can also parse everything with orjson
        methods["  same, fast_decode=False"] = extract(fast_decode=False)
    timings = _race(methods, args.rounds)
    print(f"rows per round: {', '.join(f'{name} {n:,}' for name, n in rows.items())}\n")
    _report(timings, len(docs), megabytes, baseline="orjson.loads")


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("docs", nargs="?", type=int, default=300, help="documents in the corpus (default 300)")
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each method (default 3)")
    parser.add_argument("--batch-docs", type=int, default=64, help="documents per engine batch (default 64)")
    return parser.parse_args(argv[1:])


def _race(methods: dict[str, Callable[[], None]], rounds: int) -> dict[str, list[float]]:
    """Run every method once untimed, then ``rounds`` times interleaved (so drift hits all methods alike)."""
    for fn in methods.values():
        fn()
    timings: dict[str, list[float]] = {name: [] for name in methods}
    for _ in range(rounds):
        for name, fn in methods.items():
            gc.collect()
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    return timings


def _report(timings: dict[str, list[float]], docs: int, megabytes: float, *, baseline: str) -> None:
    base = min(timings[baseline])
    print(f"{'method':<28} {'best s':>8} {'median s':>9} {'docs/s':>8} {'MB/s':>7} {'ms/doc':>7} {'ratio':>7}")
    for name, values in timings.items():
        best = min(values)
        print(
            f"{name:<28} {best:>8.2f} {statistics.median(values):>9.2f} {docs / best:>8.0f} "
            f"{megabytes / best:>7.1f} {1000 * best / docs:>7.2f} {best / base:>6.2f}x"
        )
    print(f"\nratio = best time / best time of {baseline} (lower is better; measured in this run, never asserted)")


if __name__ == "__main__":
    main(sys.argv)
