"""The lake sinks (Delta, Parquet) before and after a change, side by side in one run.

    .venv/bin/python bench/upsert_lake.py [DOCS] [--before REF] [--sinks delta,parquet] [--rounds N]

The corpus (DOCS copies of the real game 747175 feed with distinct gamePks, default 300) is extracted once, untimed,
in batches of 64 documents (as ``tidemark run``), and the four phases of ``bench/upsert_sinks.py`` are made from it:
first load, the same snapshot again, a newer snapshot, an older one. Each phase is one run (one transaction).

The *before* code is the git revision ``--before`` (default: the merge base of HEAD and ``main``), extracted with
``git archive`` into a temporary directory; the *after* code is this tree's ``src``. Every (tree, sink) pair runs in
its own child process over the same pickled batches, the two trees alternating, ``--rounds`` times (the best wall
time of each phase is kept, with the CPU time of that round). Each child also measures the plain write of the same
rows (one ``write_deltalake`` / ``pq.write_table`` per table), and the ratios are phase time / that time. Nothing is
asserted about time; the counts of both trees are checked against each other and against the expected ones.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PHASES = ["first load (insert)", "same snapshot (unchanged)", "newer snapshot (update)", "older snapshot (skip)"]


def main(argv: list[str]) -> None:
    args = _args(argv)
    if args.child:
        _child(Path(args.child), args.sinks)
        return
    with tempfile.TemporaryDirectory(prefix="tidemark-lake-") as tmp:
        root = Path(tmp)
        before = _checkout(args.before, root / "before")
        total = _prepare(args.docs, root / "phases.pickle")
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for sink in args.sinks.split(","):
            for _ in range(args.rounds):
                for tree, src in (("before", before), ("after", ROOT / "src")):
                    run = _run_child(src, root, sink)
                    _keep_best(results, (sink, tree), run)
        for _ in range(args.rounds if args.duckdb else 0):  # the reference: the same phases into DuckDB, after
            _keep_best(results, ("duckdb", "after"), _run_child(ROOT / "src", root, "duckdb"))
        _report(results, args, total)


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("docs", nargs="?", type=int, default=300, help="documents in the corpus (default 300)")
    parser.add_argument("--before", default=None, help="git revision of the 'before' code (default: merge base)")
    parser.add_argument("--sinks", default="delta,parquet", help="comma-separated sink kinds (default delta,parquet)")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each (tree, sink), best kept (default 1)")
    parser.add_argument("--no-duckdb", dest="duckdb", action="store_false", help="skip the DuckDB reference")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    return parser.parse_args(argv[1:])


def _checkout(ref: str | None, into: Path) -> Path:
    """``src`` of the revision ``ref`` (default: the merge base of HEAD and main), extracted with ``git archive``."""
    git = ["git", "-C", str(ROOT)]
    if ref is None:
        ref = subprocess.run([*git, "merge-base", "HEAD", "main"], check=True, capture_output=True, text=True)
        ref = ref.stdout.strip()
    data = subprocess.run([*git, "archive", "--format=tar", ref, "src"], check=True, capture_output=True).stdout
    into.mkdir(parents=True)
    with tarfile.open(fileobj=BytesIO(data)) as archive:
        archive.extractall(into, filter="data")
    print(f"before: {ref} (git archive into a temporary directory); after: {ROOT / 'src'}")
    return into / "src"


def _prepare(docs: int, out: Path) -> int:
    """Extract the corpus once and pickle the four phases' batches."""
    sys.path.insert(0, str(BENCH))
    from corpus import write_corpus
    from tidemark.compile.plan import compile_mapping
    from tidemark.documents import RawDocument
    from tidemark.engines.local import LocalEngine
    from tidemark.mapping.loader import load_mapping
    from upsert_duckdb import _shifted

    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    paths = write_corpus(out.parent / "corpus", docs)
    current = list(LocalEngine(plan).extract([RawDocument(p.read_bytes(), str(p)) for p in paths], batch_documents=64))
    phases = [current, current, _shifted(current, plan, hours=1), _shifted(current, plan, hours=-1)]
    with open(out, "wb") as fh:
        pickle.dump(phases, fh, protocol=pickle.HIGHEST_PROTOCOL)
    total = sum(t.num_rows for b in current for t in b.tables.values())
    print(f"corpus: {docs} documents -> {total:,} rows in {len(plan.targets)} tables, {len(current)} batches a phase")
    return total


def _run_child(src: Path, root: Path, sink: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{BENCH}", "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(root), "--sinks", sink]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=root).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _keep_best(results: dict[tuple[str, str], dict[str, Any]], key: tuple[str, str], run: dict[str, Any]) -> None:
    if key not in results:
        results[key] = run
        return
    best = results[key]
    for phase, figures in run.items():
        if figures["seconds"] < best[phase]["seconds"]:
            best[phase] = figures


def _child(root: Path, sink: str) -> None:
    """In the child: the plain write and the four phases on a fresh store, as JSON on the last line of stdout."""
    import tidemark
    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import load_mapping
    from upsert_duckdb import run_batches

    assert str(Path(tidemark.__file__).resolve()).startswith(str(Path(os.environ["PYTHONPATH"].split(os.pathsep)[0])))
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    with open(root / "phases.pickle", "rb") as fh:
        phases = pickle.load(fh)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        out: dict[str, Any] = {"plain write (the limit)": _plain(sink, plan, phases[0], Path(tmp) / "plain")}
        for name, batches in zip(PHASES, phases, strict=True):
            cpu = time.process_time()
            seconds, _, counts = run_batches(plan, batches, f"{sink}:{Path(tmp) / 'store'}")
            out[name] = {"seconds": seconds, "cpu": time.process_time() - cpu, "counts": counts.as_dict()}
    print(json.dumps(out))


def _plain(sink: str, plan: Any, batches: list[Any], where: Path) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from deltalake import write_deltalake

    tables = {t.spec.name: pa.concat_tables([b.tables[t.name] for b in batches]) for t in plan.targets}
    where.mkdir(parents=True)
    start, cpu = time.perf_counter(), time.process_time()
    for name, rows in tables.items():
        if sink == "delta":
            write_deltalake(str(where / name), rows, mode="append")
        elif sink == "duckdb":
            continue  # the reference has its own benchmark (bench/upsert_duckdb.py); its phases are what count here
        else:
            pq.write_table(rows, where / f"{name}.parquet", compression="zstd")
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "counts": {}}


def _report(results: dict[tuple[str, str], dict[str, Any]], args: argparse.Namespace, total: int) -> None:
    print(f"\nbest of {args.rounds} round(s); seconds wall (CPU seconds) and ratio to the plain write of each run\n")
    duck = results.get(("duckdb", "after"))
    print(f"{'sink':<8} {'phase':<28} {'before':>20} {'after':>20} {'speed-up':>9} {'after/DuckDB':>13}")
    for sink in args.sinks.split(","):
        before, after = results[(sink, "before")], results[(sink, "after")]
        # the plain write does not depend on the tree: the better of the two children's is the limit of both
        plain = min((before["plain write (the limit)"], after["plain write (the limit)"]), key=lambda f: f["seconds"])
        for phase in ["plain write (the limit)", *PHASES]:
            b, a = before[phase], after[phase]
            if b["counts"] != a["counts"]:
                raise SystemExit(f"{sink} {phase}: the counts differ: before {b['counts']}, after {a['counts']}")
            cells = [_cell(b, plain), _cell(a, plain)]
            versus = f"{a['seconds'] / duck[phase]['seconds']:.1f}x" if duck and phase in PHASES else ""
            print(
                f"{sink:<8} {phase:<28} {cells[0]:>20} {cells[1]:>20} {b['seconds'] / a['seconds']:>8.1f}x {versus:>13}"
            )
        _check(after, total)
    if duck:
        for phase in PHASES:
            print(f"{'duckdb':<8} {phase:<28} {'':>20} {_cell(duck[phase], None):>20}")
        _check(duck, total)
    print(
        "\nratio = phase time / the better plain write of the two children; after/DuckDB = after's time / the same"
        " phase into DuckDB (this tree, the same batches); never asserted"
    )


def _cell(figures: dict[str, Any], plain: dict[str, Any] | None) -> str:
    ratio = f" {figures['seconds'] / plain['seconds']:.1f}x" if plain else ""
    return f"{figures['seconds']:.2f} ({figures['cpu']:.2f}){ratio}"


def _check(run: dict[str, Any], total: int) -> None:
    expected = ["inserted", "unchanged", "updated", "skipped"]
    for phase, label in zip(PHASES, expected, strict=True):
        counts = run[phase]["counts"]
        if counts.get(label) != total or sum(counts.values()) != total:
            raise SystemExit(f"{phase}: expected {label} {total:,}, got {counts}")


if __name__ == "__main__":
    main(sys.argv)
