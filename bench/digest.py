"""The local engine's output as digests, to prove a change of the engine leaves it byte for byte the same.

    .venv/bin/python bench/digest.py [--before SRC] [--data DIR ...] [--quick]

Every built-in mapping (``mlb:*``) runs over every recorded file of ``data/statsapi/`` and
``/work/shared/data/statsapi/`` (when present), and over damaged copies of them (seeded: values replaced by values of
other types, keys dropped, a few documents truncated), with the plan's pruned decoder and with orjson alone, in
batches of 5 documents. Everything an :class:`ExtractBatch` carries is hashed, table by table: the Arrow schema and
values of each table, its origins, its scopes, the row errors (table, key, reason, the row as extracted, origin),
the rejected documents and the counts. One digest per mapping and decoder is printed.

``--before SRC`` computes the same digests with ``PYTHONPATH=SRC`` (the ``src`` of another checkout) in a second
child and compares: the exit code is 1 when any digest differs.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
DATA = [REPO / "data" / "statsapi", Path("/work/shared/data/statsapi")]
_ODD_VALUES: list[Any] = [None, "x", "", 1.5, -7, True, False, "12", "3.0", 1e300, "2024-13-45"]


def _damage(value: Any, rng: random.Random, rate: float) -> Any:
    """``value`` with some scalars replaced by scalars of other types (not
    containers: the mlb folds raise on an array where a string is expected) and some keys dropped."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if rng.random() < rate / 3:
                continue
            out[k] = _damage(v, rng, rate)
        return out
    if isinstance(value, list):
        return [_damage(v, rng, rate) for v in value]
    if rng.random() < rate:
        return rng.choice(_ODD_VALUES)
    return value


def documents(folders: list[Path], quick: bool) -> list[tuple[str, bytes]]:
    """The recorded documents (deduplicated by content), then the damaged copies, as (origin, bytes)."""
    seen: set[bytes] = set()
    docs: list[tuple[str, bytes]] = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            digest = hashlib.sha256(data).digest()
            if digest not in seen:
                seen.add(digest)
                docs.append((str(path.relative_to(folder.parent)), data))
    rng = random.Random(20)
    damaged = []
    for origin, data in docs[: 12 if quick else None]:
        parsed = orjson.loads(data)
        for n, rate in enumerate((0.002, 0.02)):
            text = orjson.dumps(_damage(parsed, rng, rate))
            damaged.append((f"{origin}#damaged{n}", text))
        if rng.random() < 0.2:
            damaged.append((f"{origin}#truncated", data[: len(data) // 2]))
    return docs + damaged


def _hash_value(h: Any, value: Any) -> None:
    h.update(repr(value).encode())
    h.update(b"\x00")


def batch_digest(h: Any, batch: Any) -> None:
    for name in sorted(batch.tables):
        table = batch.tables[name]
        _hash_value(h, ("table", name, str(table.schema), table.num_rows))
        for column in table.columns:
            _hash_value(h, column.to_pylist())
        _hash_value(h, batch.origins.get(name))
    for name in sorted(batch.scopes):
        scopes = batch.scopes[name]
        _hash_value(h, ("scopes", name, str(scopes.schema), scopes.to_pylist()))
    for e in batch.row_errors:
        _hash_value(h, ("error", e.table, e.key, e.reason, e.row, e.origin))
    for r in batch.rejected:
        _hash_value(h, ("rejected", r.origin, r.reason))
    _hash_value(h, ("counts", batch.documents, batch.bytes_read, batch.time_from_file))


def child(folders: list[Path], quick: bool) -> dict[str, Any]:
    from datetime import UTC, datetime

    from tidemark.compile.plan import compile_mapping
    from tidemark.documents import RawDocument
    from tidemark.engines.local import LocalEngine
    from tidemark.mapping.loader import builtin_names, load_mapping

    docs = documents(folders, quick)
    modified = datetime(2024, 7, 1, 12, tzinfo=UTC)
    raws = [RawDocument(data, origin, modified_at=modified) for origin, data in docs]
    out: dict[str, Any] = {"documents": len(raws)}
    for name in builtin_names("mlb"):
        plan = compile_mapping(load_mapping(name)[0])
        for fast in (True, False):
            h = hashlib.sha256()
            rows = errors = rejected = 0
            for batch in LocalEngine(plan, fast_decode=fast).extract(raws, batch_documents=5):
                batch_digest(h, batch)
                rows += sum(t.num_rows for t in batch.tables.values())
                errors += len(batch.row_errors)
                rejected += len(batch.rejected)
            out[f"{name} {'msgspec' if fast else 'orjson'}"] = (
                f"{h.hexdigest()[:16]} rows={rows} errors={errors} rejected={rejected}"
            )
    return out


def run_child(src: str | None, folders: list[Path], quick: bool) -> dict[str, Any]:
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = src
    command = [sys.executable, __file__, "--child", *(["--quick"] if quick else [])]
    command += [arg for f in folders for arg in ("--data", str(f))]
    out = subprocess.run(command, env=env, check=True, stdout=subprocess.PIPE).stdout
    found: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--before", help="the src folder of another checkout, compared")
    parser.add_argument("--data", action="append", type=Path, help="folders of recorded documents (repeatable)")
    parser.add_argument("--quick", action="store_true", help="damage only the first 12 documents")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv[1:])
    folders = [f for f in (args.data or DATA) if f.is_dir()]
    if args.child:
        print(json.dumps(child(folders, args.quick)))
        return 0
    after = run_child(None, folders, args.quick)
    before = run_child(str(Path(args.before).resolve()), folders, args.quick) if args.before else None
    differ = 0
    for key, value in after.items():
        mark = ""
        if before is not None:
            mark = "  same" if before.get(key) == value else f"  DIFFERS (before: {before.get(key)})"
            differ += before.get(key) != value
        print(f"{key:<48}{value}{mark}")
    if before is not None:
        print(f"{differ} of {len(after)} digests differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
