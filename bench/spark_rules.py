"""What evaluating the quality rules in Spark SQL costs the Spark engine (engines/spark_rules.py).

    .venv/bin/python bench/spark_rules.py [DOCS] [--batch-docs N] [--rounds N] [--master local[2]]

The corpus is DOCS copies (default 60) of the real game 747175 feed (bench/corpus.py). On one Spark session it times
the Spark engine's ``extract_source`` over the files (every batch consumed on the driver) with the ``mlb:live_game``
plan as it is (its rules: extraction, then the rules' Spark SQL over the persisted rows) and with the same plan
without rules (extraction only), and the local engine's DuckDB evaluation of the same rules over the same batches
(``quality.check.violations``, what the driver would do instead). Prints documents/s and the ratio with / without
rules. Timings are printed, never asserted; CI does not run this.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

from corpus import write_corpus


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("docs", nargs="?", type=int, default=60)
    parser.add_argument("--batch-docs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args(argv[1:])

    from tidemark.compile.plan import compile_mapping
    from tidemark.engines.spark import SparkEngine, open_session
    from tidemark.mapping.loader import load_mapping
    from tidemark.quality.check import violations
    from tidemark.sources import FileSource

    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    bare = dataclasses.replace(plan, targets=tuple(dataclasses.replace(t, rules=()) for t in plan.targets))
    spark = open_session(args.master, {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    with tempfile.TemporaryDirectory(prefix="tidemark-bench-") as tmp:
        corpus = write_corpus(Path(tmp) / "corpus", args.docs)
        warm = SparkEngine(bare, session=spark)
        list(warm.extract_source(FileSource(corpus[:2]), batch_documents=1))  # the Python workers start
        times: dict[str, list[float]] = {"without rules": [], "with rules": [], "duckdb on the driver": []}
        for _ in range(args.rounds):
            for label, p in (("without rules", bare), ("with rules", plan)):
                start = time.perf_counter()
                batches = list(
                    SparkEngine(p, session=spark).extract_source(FileSource(corpus), batch_documents=args.batch_docs)
                )
                times[label].append(time.perf_counter() - start)
            start = time.perf_counter()
            for batch in batches:  # the batches of the last run, with rules
                for t in plan.targets:
                    violations(batch.tables[t.name], t.rules, t.name)
            times["duckdb on the driver"].append(time.perf_counter() - start)
    spark.stop()
    print(f"{args.docs} documents, batches of {args.batch_docs}, {args.master}, {args.rounds} rounds (median)")
    median = {label: statistics.median(values) for label, values in times.items()}
    for label, seconds in median.items():
        print(f"  {label:>22}: {seconds:7.2f} s  {args.docs / seconds:8.1f} documents/s")
    print(f"  with / without rules: {median['with rules'] / median['without rules']:.2f}x")


if __name__ == "__main__":
    main(sys.argv)
