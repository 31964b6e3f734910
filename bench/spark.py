"""Spark benchmark: the local engine vs the Spark engine at ``local[1]`` and ``local[2]`` on the same corpus.

    .venv/bin/python bench/spark.py [DOCS] [--batch-docs N] [--rounds N]

The corpus is DOCS copies (default 200) of the real game 747175 feed with distinct gamePks (bench/corpus.py),
written once as .json files. Each engine runs in its own process (so one's memory does not count for another's,
and each Spark master gets its own session), and measures, per round:

- **extract**: the engine alone over the files (``extract_source``: the executors read the files), every batch
  consumed on the driver and dropped; the documents/s the engine delivers to a writer;
- **run**: ``tidemark.run`` into a fresh DuckDB file (engine + contract + the single writer), documents/s.

The Spark session start and a warm-up job (Python workers start on the first job) are not timed. It prints
documents/s, the scaling ratio local[2] / local[1] and each engine vs the local engine, and the driver's peak
memory (RSS of the Python driver, plus the driver JVM's for Spark, sampled every 20 ms). Needs the ``spark`` extra
and Java. Timings are printed, never asserted; CI does not run this.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from corpus import write_corpus

ENGINES = {
    "local engine": ("local", None),
    "spark local[1]": ("spark", "local[1]"),
    "spark local[2]": ("spark", "local[2]"),
}


def main(argv: list[str]) -> None:
    args = _args(argv)
    if args.child:
        print(json.dumps(_measure(Path(args.child), args.engine, args.master, args.batch_docs, args.rounds)))
        return
    with tempfile.TemporaryDirectory(prefix="tidemark-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        write_corpus(corpus, args.docs)
        megabytes = sum(p.stat().st_size for p in corpus.iterdir()) / 1e6
        print(f"corpus: {args.docs} documents, {megabytes:.1f} MB (copies of game 747175, distinct gamePk)")
        print(f"batches of {args.batch_docs} documents; {args.rounds} rounds, best and median shown\n")
        figures = {label: _child(corpus, engine, master, args) for label, (engine, master) in ENGINES.items()}
    _report(figures, args.docs)


def _child(corpus: Path, engine: str, master: str | None, args: argparse.Namespace) -> dict[str, Any]:
    """One engine measured in a fresh process (its last stdout line is the figures, as JSON)."""
    command = [sys.executable, __file__, str(args.docs), "--child", str(corpus), "--engine", engine]
    command += ["--master", master or "", "--batch-docs", str(args.batch_docs), "--rounds", str(args.rounds)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{engine} {master or ''} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _measure(corpus: Path, engine: str, master: str, batch_documents: int, rounds: int) -> dict[str, Any]:
    import tidemark
    from tidemark.compile.plan import compile_mapping
    from tidemark.engines import extract_source, open_engine
    from tidemark.engines.base import Engine
    from tidemark.mapping.loader import load_mapping
    from tidemark.sources import FileSource

    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    options: dict[str, Any] | None = None
    if engine == "spark":
        from tidemark.engines.spark import open_session

        conf = {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2", "spark.driver.memory": "2g"}
        session = open_session(master, conf)
        options = {"session": session}
        warm = open_engine("spark", plan, options)
        list(warm.extract_source(FileSource(sorted(corpus.iterdir())[:2]), batch_documents=1))  # workers start
    memory = _PeakMemory()
    timings: dict[str, list[float]] = {"extract": [], "run": []}
    with memory, tempfile.TemporaryDirectory(prefix="tidemark-bench-") as tmp:
        for r in range(rounds):
            runner: Engine = open_engine(engine, plan, options)
            start = time.perf_counter()
            documents = sum(
                b.documents for b in extract_source(runner, FileSource([corpus]), batch_documents=batch_documents)
            )
            timings["extract"].append(time.perf_counter() - start)
            start = time.perf_counter()
            result = tidemark.run(
                plan,
                [corpus],
                f"duckdb:{tmp}/r{r}.duckdb",
                engine=engine,
                engine_options=options,
                batch_documents=batch_documents,
            )
            timings["run"].append(time.perf_counter() - start)
            if documents != result.documents or not result.ok:
                raise SystemExit(f"{engine} {master}: {documents} extracted, run: {result.documents}, ok={result.ok}")
    return {"timings": timings, "peak_mb": memory.peak / 1e6, "documents": documents}


class _PeakMemory:
    """The largest RSS of this process plus its child processes (the driver JVM) while the block runs."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> _PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, sum(_rss(pid) for pid in [os.getpid(), *_children(os.getpid())]))


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (the driver JVM; not its Python workers, which are the executors)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(p) for p in fh.read().split()]
    except OSError:
        return []


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _report(figures: dict[str, dict[str, Any]], docs: int) -> None:
    def rate(label: str, phase: str) -> float:
        return docs / min(figures[label]["timings"][phase])

    print(f"{'':16} {'extract docs/s':>15} {'(median)':>9} {'run docs/s':>11} {'(median)':>9} {'driver peak':>12}")
    for label, f in figures.items():
        ex, rn = f["timings"]["extract"], f["timings"]["run"]
        print(
            f"{label:16} {rate(label, 'extract'):15.1f} {docs / statistics.median(ex):9.1f} "
            f"{rate(label, 'run'):11.1f} {docs / statistics.median(rn):9.1f} {f['peak_mb']:10.0f} MB"
        )
    for phase in ("extract", "run"):
        one, two, local = rate("spark local[1]", phase), rate("spark local[2]", phase), rate("local engine", phase)
        print(
            f"\n{phase}: scaling local[2] / local[1] = {two / one:.2f}x; "
            f"vs the local engine: local[1] {one / local:.2f}x, local[2] {two / local:.2f}x"
        )
    print("\n(the driver's peak counts the Python process and, for Spark, its JVM; executors are not the driver)")


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("docs", nargs="?", type=int, default=200, help="documents in the corpus (default 200)")
    parser.add_argument("--batch-docs", type=int, default=64, help="documents per batch (default 64)")
    parser.add_argument("--rounds", type=int, default=2, help="timed rounds per engine (default 2)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--engine", help=argparse.SUPPRESS)
    parser.add_argument("--master", help=argparse.SUPPRESS)
    return parser.parse_args(argv[1:])


if __name__ == "__main__":
    main(sys.argv)
