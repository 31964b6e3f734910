"""Extraction and first-load CPU against the parse floor, optionally next to another checkout, in one run.

    .venv/bin/python bench/extract.py [--games N] [--rounds R] [--before SRC] [--no-load]

The corpus is ``bench/season.py``'s synthetic season (N games, default 300, made from the seven bundled live feeds
in turn, distinct gamePks and dates) written as a raw directory. Each measurement runs in its own child process;
rounds alternate between the measurements, so drift of a shared machine hits all of them alike:

- floor: read every file + ``orjson.loads`` (nothing extracted);
- extract: ``LocalEngine(plan).extract`` over the files (``mlb:live_game``, 21 tables, one process);
- first load: ``tidemark.run("mlb:live_game", [folder], "duckdb:<new file>")`` (counts checked).

``--before SRC`` runs the extract and first-load children a second time with ``PYTHONPATH=SRC`` (e.g. the ``src`` of a
checkout of the previous commit), so before and after are measured side by side in the same run.

Two CPU figures per child (user + system, ``resource.getrusage``): ``work``, the child's own CPU for the work only
(imports, plan compilation and connections excluded), and ``total``, the whole child as ``os.wait4`` reports it
(interpreter start included, what ``bench/season.py`` reports). The ratio is each against the floor's same figure,
best of the rounds. Times are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from season import write_season


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# ---- children: each prints one JSON object on its last line ----


def child_floor(files: list[str]) -> dict[str, Any]:
    cpu = _cpu()
    for f in files:
        orjson.loads(Path(f).read_bytes())
    return {"work": _cpu() - cpu, "documents": len(files)}


def child_extract(files: list[str]) -> dict[str, Any]:
    from tidemark.compile.plan import compile_mapping
    from tidemark.engines.local import LocalEngine
    from tidemark.mapping.loader import load_mapping
    from tidemark.sources import open_source

    engine = LocalEngine(compile_mapping(load_mapping("mlb:live_game")[0]))
    source = open_source([Path(f) for f in files])
    cpu = _cpu()
    rows = documents = 0
    for batch in engine.extract(source.read()):
        documents += batch.documents
        rows += sum(t.num_rows for t in batch.tables.values())
    return {"work": _cpu() - cpu, "documents": documents, "rows": rows}


def child_load(folder: str, database: str) -> dict[str, Any]:
    import tidemark

    cpu = _cpu()
    result = tidemark.run("mlb:live_game", [Path(folder)], f"duckdb:{database}")
    counts = result.counts.as_dict()
    if counts["inserted"] == 0 or counts["updated"] != 0:
        raise SystemExit(f"first load: unexpected counts {counts}")
    return {"work": _cpu() - cpu, "documents": result.documents, "rows": counts["inserted"]}


# ---- the parent ----


def measure(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"child failed: {' '.join(command)}\n{out.decode()[-2000:]}")
    found: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    found["total"] = usage.ru_utime + usage.ru_stime
    found["rss_mb"] = usage.ru_maxrss / 1024
    return found


def run_rounds(args: argparse.Namespace, tmp: Path) -> dict[str, list[dict[str, Any]]]:
    raw = tmp / "raw"
    files = write_season(raw, args.games)
    listing = tmp / "files.txt"
    listing.write_text("\n".join(map(str, files)))
    folder = raw / "game" / "liveGameV1"
    print(f"corpus: {args.games} games, {sum(p.stat().st_size for p in files) / 1e6:,.0f} MB of JSON", flush=True)
    trees = {"": os.environ.get("PYTHONPATH", "")}
    if args.before:
        trees = {" (before)": str(Path(args.before).resolve()), **trees}
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    results: dict[str, list[dict[str, Any]]] = {}
    for r in range(args.rounds):
        jobs = [("floor: read + orjson.loads", [*me, "floor", str(listing)], trees[""])]
        for label, path in trees.items():
            jobs.append((f"extract, 1 process{label}", [*me, "extract", str(listing)], path))
        for label, path in trees.items() if args.load else ():
            database = tmp / f"load-{r}-{len(results)}-{label.strip(' ()') or 'after'}.duckdb"
            jobs.append((f"DuckDB first load{label}", [*me, "load", str(folder), str(database)], path))
        for name, command, path in jobs:
            env = {**os.environ, "PYTHONPATH": path} if path else dict(os.environ)
            results.setdefault(name, []).append(measure(command, env))
            print(f"  round {r + 1}: {name}: work {results[name][-1]['work']:.2f} s CPU", flush=True)
            for database in tmp.glob("load-*.duckdb*"):  # one database at a time on disk
                database.unlink()
    return results


def report(results: dict[str, list[dict[str, Any]]], games: int) -> None:
    floor = results["floor: read + orjson.loads"]
    floor_work, floor_total = min(r["work"] for r in floor), min(r["total"] for r in floor)
    print(f"\n{'measure':<36}{'docs':>6}{'work CPU s':>12}{'ms/doc':>8}{'/ floor':>9}{'total CPU s':>13}{'/ floor':>9}")
    for name, runs in results.items():
        work, total, docs = min(r["work"] for r in runs), min(r["total"] for r in runs), runs[0]["documents"]
        print(
            f"{name:<36}{docs:>6}{work:>12.2f}{1000 * work / docs:>8.1f}{work / floor_work * games / docs:>8.2f}x"
            f"{total:>13.2f}{total / floor_total * games / docs:>8.2f}x"
        )
    print("work: the child's CPU for the work alone; total: the whole child (start included); best of the rounds")


def main(argv: list[str]) -> None:
    if len(argv) > 1 and argv[1] == "--child":
        kind, rest = argv[2], argv[3:]
        if kind == "load":
            found = child_load(rest[0], rest[1])
        else:
            files = Path(rest[0]).read_text().splitlines()
            found = child_floor(files) if kind == "floor" else child_extract(files)
        print(json.dumps(found))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--games", type=int, default=300, help="games in the corpus (default 300)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of every measurement (default 1; best shown)")
    parser.add_argument("--before", help="the src folder of another checkout, measured side by side")
    parser.add_argument("--no-load", dest="load", action="store_false", help="skip the DuckDB first load")
    parser.add_argument("--dir", help="where the corpus is written (default: the system's temp dir)")
    args = parser.parse_args(argv[1:])
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="tidemark-extract-", dir=args.dir) as tmp:
        report(run_rounds(args, Path(tmp)), args.games)
    print(f"({time.perf_counter() - start:.0f} s wall for the whole run)")


if __name__ == "__main__":
    main(sys.argv)
