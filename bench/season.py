"""Season benchmark: a synthetic season of live game feeds, through every stage, in one run.

    .venv/bin/python bench/season.py [--games N] [--dlt-games K] [--workers N] [--dsn DSN]
                                     [--no-postgres] [--no-duckdb] [--no-extract] [--pg-options OPTS]

The corpus is a raw directory (``RAW/game/liveGameV1/liveGameV1_game_pk=<pk>.json``, the recorded layout, see
docs/streaming.md) of N games (default 2,430, a regular season) made from the bundled real feeds of
``data/statsapi/game/liveGameV1`` in turn: each copy has its own ``gamePk`` (and ``gameData.game.pk``), a date of the
season (15 games a day from 28 March) and a snapshot time (``metaData.timeStamp``) that evening; every foreign key of
``mlb:live_game`` is ``game_pk`` or an id inside the same feed, so the copies are consistent. Each measurement runs in
its own child process (peak RSS: ``os.wait4``'s ``ru_maxrss`` of that child, which covers the pool workers it
reaped; CPU: the child's user + system time, workers included):

- floor: read every file + ``orjson.loads`` (nothing extracted);
- floor + plain INSERT: the same, then the tables of the DuckDB first load (already built, as Arrow) inserted with
  plain ``INSERT`` into an empty DuckDB file made from the mapping's DDL (``tidemark schema ddl``: the same columns
  and primary keys, no contract): the least a load of this corpus costs, the floor of the first-load goal;
- extract: the local engine over the files with 1 and with 2 workers (``LocalEngine(plan, workers=N)``);
- DuckDB and PostgreSQL: ``tidemark.run`` first load, the same files again (unchanged), the corpus rewritten one hour
  newer (all updated), then two hours older (all skipped); the counts of each phase are checked. On a server this
  script started, the PostgreSQL rows also show the server's CPU in the phase (``server CPU s``: the postmaster's and
  its processes' user + system time, read from ``/proc``), which the child's CPU does not include;
- dlt: the first K games (default 20) with a dlt pipeline (``write_disposition="merge"``, ``primary_key="gamePk"``)
  into DuckDB, in its own virtualenv (``~/.cache/tidemark-bench/dlt-venv``, created with ``pip install dlt[duckdb]``
  on first use), compared per document with tidemark's DuckDB first load.

Times are printed, never asserted. ``wall`` is the child's own time for the work (imports and server start excluded).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
LIVE = ROOT / "data" / "statsapi" / "game" / "liveGameV1"
FIRST_GAME_PK = 800_000
OPENING_DAY = date(2024, 3, 28)
DLT_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tidemark-bench" / "dlt-venv"


def write_season(raw: Path, games: int, *, hour: int = 22) -> list[Path]:
    """Write (or rewrite) the season's files; ``hour`` is the snapshot time's hour (UTC) of every game."""
    feeds = [orjson.loads(gzip.decompress(p.read_bytes())) for p in sorted(LIVE.glob("*.json.gz"))]
    folder = raw / "game" / "liveGameV1"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(games):
        envelope = feeds[i % len(feeds)]
        doc = envelope["response"]
        game_pk, day = FIRST_GAME_PK + i, OPENING_DAY + timedelta(days=i // 15)
        doc["gamePk"] = doc["gameData"]["game"]["pk"] = game_pk
        doc["gameData"]["datetime"]["officialDate"] = day.isoformat()
        doc["gameData"]["datetime"]["dateTime"] = f"{day.isoformat()}T17:05:00Z"
        doc["metaData"]["timeStamp"] = f"{day:%Y%m%d}_{hour:02d}0000"
        envelope["url"] = f"https://statsapi.mlb.com/api/v1.1/game/{game_pk}/feed/live"
        path = folder / f"liveGameV1_game_pk={game_pk}.json"
        path.write_bytes(orjson.dumps(envelope))
        paths.append(path)
    return paths


# ---- children: each prints one JSON object on its last line ----


def child_floor(files: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    for f in files:
        orjson.loads(Path(f).read_bytes())
    return {"seconds": time.perf_counter() - start}


def child_export(db: str, folder: str) -> dict[str, Any]:
    """The mapping's columns of every table of ``db`` as an Arrow IPC file in ``folder`` (not measured)."""
    import duckdb
    import pyarrow as pa

    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import load_mapping

    con = duckdb.connect(db, read_only=True)
    rows = 0
    for target in compile_mapping(load_mapping("mlb:live_game")[0]).targets:
        spec = target.spec
        columns = ", ".join(f'"{f.name}"' for f in spec.arrow_schema)  # the DDL's: data + content hash
        table = con.execute(f'SELECT {columns} FROM "{spec.schema}"."{spec.name}"').to_arrow_table()
        path = str(Path(folder) / f"{spec.schema}.{spec.name}.arrow")
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        rows += table.num_rows
    return {"seconds": 0.0, "rows": rows}


def child_insert(files: list[str], folder: str, db: str) -> dict[str, Any]:
    """Read + parse every file, then plain INSERT of the exported tables into a new DuckDB file (one transaction)."""
    import duckdb
    import pyarrow as pa

    from tidemark.artifacts.ddl import mapping_ddl
    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import load_mapping

    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    con = duckdb.connect(db)
    start = time.perf_counter()
    for f in files:
        orjson.loads(Path(f).read_bytes())
    con.execute("BEGIN")
    con.execute(mapping_ddl(plan, "duckdb"))
    rows = 0
    for target in plan.targets:
        spec = target.spec
        with pa.memory_map(str(Path(folder) / f"{spec.schema}.{spec.name}.arrow")) as source:
            table = pa.ipc.open_file(source).read_all()
        con.register("incoming", table)
        con.execute(f'INSERT INTO "{spec.schema}"."{spec.name}" BY NAME SELECT * FROM incoming')
        con.unregister("incoming")
        rows += table.num_rows
    con.execute("COMMIT")
    con.close()
    return {"seconds": time.perf_counter() - start, "rows": rows}


def child_extract(files: list[str], workers: int) -> dict[str, Any]:
    from tidemark.compile.plan import compile_mapping
    from tidemark.engines.local import LocalEngine
    from tidemark.mapping.loader import load_mapping
    from tidemark.sources import open_source

    engine = LocalEngine(compile_mapping(load_mapping("mlb:live_game")[0]), workers=workers)
    start = time.perf_counter()
    rows = documents = 0
    for batch in engine.extract(open_source([Path(f) for f in files]).read()):
        documents += batch.documents
        rows += sum(t.num_rows for t in batch.tables.values())
    seconds = time.perf_counter() - start
    if engine._pool is not None:
        engine._pool.close()  # reap the workers, so that their memory and CPU count for this child
    return {"seconds": seconds, "documents": documents, "rows": rows}


def child_load(folder: str, sink: str, workers: int) -> dict[str, Any]:
    import tidemark

    start = time.perf_counter()
    result = tidemark.run("mlb:live_game", [Path(folder)], sink, workers=workers)
    seconds = time.perf_counter() - start
    # documents read: applied, or skipped as applied before (an unchanged re-run parses none of them)
    documents = result.documents + result.unchanged_documents
    return {"seconds": seconds, "documents": documents, "skipped_documents": result.unchanged_documents,
            "counts": result.counts.as_dict()}  # fmt: skip


DLT_SCRIPT = """
import json, sys, time, orjson, dlt
files, db = sys.argv[2:], sys.argv[1]
@dlt.resource(name="live_game", write_disposition="merge", primary_key="gamePk")
def feeds():
    for f in files:
        with open(f, "rb") as fh:
            yield orjson.loads(fh.read())["response"]
pipeline = dlt.pipeline(pipeline_name="season_bench", destination=dlt.destinations.duckdb(db), dataset_name="game",
                        pipelines_dir=db + ".pipelines")
start = time.perf_counter()
info = pipeline.run(feeds())
print(json.dumps({"seconds": time.perf_counter() - start, "documents": len(files)}))
"""


def dlt_python() -> Path:
    python = DLT_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {DLT_VENV} (pip install dlt[duckdb]) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "dlt[duckdb]", "orjson"], check=True)
    return python


# ---- the parent ----


def measure(command: list[str]) -> dict[str, Any]:
    """Run one child; its JSON line, plus its CPU seconds and peak RSS (MB) from ``wait4``."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}): {' '.join(command)}\n{out.decode()[-2000:]}")
    found: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    found["cpu"] = usage.ru_utime + usage.ru_stime
    found["rss_mb"] = usage.ru_maxrss / 1024
    return found


def me(*args: object) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *map(str, args)]


def check_counts(phase: str, counts: dict[str, int]) -> None:
    """Stop when a phase did not do what it measures."""
    expected = {
        "first load": counts["inserted"] > 0 and counts["updated"] == 0,
        "unchanged": counts["inserted"] == counts["updated"] == counts["deleted"] == 0,
        "newer": counts["inserted"] == 0 and counts["updated"] > 0,
        "older": counts["inserted"] == counts["updated"] == counts["deleted"] == 0 and counts["skipped"] > 0,
    }[phase]
    if not expected:
        raise SystemExit(f"{phase}: unexpected counts {counts}")


def load_phases(
    raw: Path, games: int, sink: str, label: str, workers: int, server: Any = None
) -> list[tuple[str, dict[str, Any]]]:
    folder = raw / "game" / "liveGameV1"
    rows = []
    for phase, hour in (("first load", None), ("unchanged", None), ("newer", 23), ("older", 21)):
        if hour is not None:
            write_season(raw, games, hour=hour)
        before = server_cpu(server)
        found = measure(me("load", folder, sink, workers))
        if before is not None and (after := server_cpu(server)) is not None:
            found["server_cpu"] = after - before
        check_counts(phase, found["counts"])
        rows.append((f"{label} {phase}", found))
        print(f"  {label} {phase}: {found['seconds']:.1f} s, {found['counts']}", flush=True)
    write_season(raw, games)  # back to the corpus the other phases read
    return rows


def postgres_dsn(args: argparse.Namespace) -> tuple[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.pgserver import ENV_DSN, PgServer

    dsn = args.dsn or os.environ.get(ENV_DSN)
    server = PgServer.external(dsn) if dsn else PgServer.start()
    name = server.create_database()
    dsn = server.dsn(name)
    if args.pg_options:  # tidemark's own URL options, e.g. fillfactor=50 (docs/sinks.md)
        dsn += ("&" if "?" in dsn else "?") + args.pg_options
    return dsn, server


def server_cpu(server: Any) -> float | None:
    """CPU seconds of a local PostgreSQL server this script started: the postmaster, the processes it reaped
    (connections that ended) and those still running (checkpointer, WAL writer...). None for another server."""
    if server is None or server.datadir is None:
        return None
    try:
        pid = int((server.datadir / "postmaster.pid").read_text().split()[0])
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])
    except (OSError, ValueError, IndexError):
        return None
    return ticks / os.sysconf("SC_CLK_TCK")


INSERT_FLOOR = "floor + plain INSERT (DuckDB)"


def report(rows: list[tuple[str, dict[str, Any]]], games: int) -> None:
    floor = dict(rows)["floor: read + orjson.loads"]
    print(
        f"\n{'measure':<36}{'docs':>6}{'wall s':>9}{'ms/doc':>8}{'CPU s':>8}{'CPU/floor':>10}{'peak RSS MB':>13}"
        f"{'server CPU s':>14}"
    )
    for name, r in rows:
        docs = r.get("documents", games)
        server = f"{r['server_cpu']:>14.1f}" if "server_cpu" in r else ""
        print(
            f"{name:<36}{docs:>6}{r['seconds']:>9.1f}{1000 * r['seconds'] / docs:>8.1f}{r['cpu']:>8.1f}"
            f"{r['cpu'] / floor['cpu'] * games / docs:>9.2f}x{r['rss_mb']:>13.0f}{server}"
        )
    found = dict(rows)
    if "dlt merge into DuckDB" in found and "duckdb first load" in found:
        dlt, ours = found["dlt merge into DuckDB"], found["duckdb first load"]
        ratio = (dlt["seconds"] / dlt["documents"]) / (ours["seconds"] / ours["documents"])
        print(f"\ndlt / tidemark per document (first load into DuckDB, wall): {ratio:.0f}x")
    print("CPU/floor: the child's CPU (workers included) per document / the floor's; times are never asserted")
    if INSERT_FLOOR in found and "duckdb first load" in found:
        plain, ours = found[INSERT_FLOOR], found["duckdb first load"]
        print(
            f"DuckDB first load / (read + orjson.loads + plain INSERT of the same tables): "
            f"CPU {ours['cpu'] / plain['cpu']:.2f}x, wall {ours['seconds'] / plain['seconds']:.2f}x"
        )


def parent(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="tidemark-season-", dir=args.dir) as tmp:
        raw = Path(tmp) / "raw"
        files = write_season(raw, args.games)
        size = sum(p.stat().st_size for p in files) / 1e6
        print(f"corpus: {args.games} games, {size:,.0f} MB of JSON in {raw}; load with --workers {args.workers}")
        rows: list[tuple[str, dict[str, Any]]] = []
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(map(str, files)))
        rows.append(("floor: read + orjson.loads", measure(me("floor", listing))))
        for workers in () if args.no_extract else (1, 2):
            rows.append((f"extract, {workers} worker(s)", measure(me("extract", listing, workers))))
            print(f"  {rows[-1][0]}: {rows[-1][1]['seconds']:.1f} s", flush=True)
        if not args.no_duckdb:
            db = Path(tmp) / "season.duckdb"
            rows += load_phases(raw, args.games, f"duckdb:{db}", "duckdb", args.workers)
            exported = Path(tmp) / "tables"
            exported.mkdir()
            measure(me("export", db, exported))  # the tables, as Arrow: the input of the plain INSERT below
            rows.insert(1, (INSERT_FLOOR, measure(me("insert", listing, exported, Path(tmp) / "plain.duckdb"))))
            print(f"  {INSERT_FLOOR}: {rows[1][1]['seconds']:.1f} s, {rows[1][1]['rows']:,} rows", flush=True)
        if not args.no_postgres:
            dsn, server = postgres_dsn(args)
            try:
                rows += load_phases(raw, args.games, dsn, "postgres", args.workers, server)
            finally:
                server.stop()
        if args.dlt_games:
            slice_ = [str(p) for p in files[: args.dlt_games]]
            command = [str(dlt_python()), "-c", DLT_SCRIPT, str(Path(tmp) / "dlt.duckdb"), *slice_]
            rows.append(("dlt merge into DuckDB", measure(command)))
        report(rows, args.games)


def child(argv: list[str]) -> None:
    kind, rest = argv[0], argv[1:]
    if kind == "load":
        found = child_load(rest[0], rest[1], int(rest[2]))
    elif kind == "export":
        found = child_export(rest[0], rest[1])
    elif kind == "insert":
        found = child_insert(Path(rest[0]).read_text().splitlines(), rest[1], rest[2])
    else:
        files = Path(rest[0]).read_text().splitlines()
        found = child_floor(files) if kind == "floor" else child_extract(files, int(rest[1]))
    print(json.dumps(found))


def main(argv: list[str]) -> None:
    if len(argv) > 1 and argv[1] == "--child":
        child(argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--games", type=int, default=2430, help="games in the corpus (default 2,430)")
    parser.add_argument("--dlt-games", type=int, default=20, help="games loaded by dlt (0: skip dlt; default 20)")
    parser.add_argument("--workers", type=int, default=1, help="extraction processes of the load phases (default 1)")
    parser.add_argument("--no-postgres", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--no-duckdb", action="store_true", help="skip the DuckDB load phases")
    parser.add_argument("--no-extract", action="store_true", help="skip the extraction-only measurements")
    parser.add_argument("--dsn", help="a PostgreSQL server to create the database on (default: start one)")
    parser.add_argument("--pg-options", help="options appended to the PostgreSQL sink URL, e.g. fillfactor=50")
    parser.add_argument("--dir", help="where the corpus is written (default: the system's temp dir)")
    parent(parser.parse_args(argv[1:]))


if __name__ == "__main__":
    main(sys.argv)
