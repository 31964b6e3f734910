"""The quarantine of a store, read and replayed: ``tidemark quarantine`` (docs/history.md).

``_tidemark.quarantine`` is append-only: an entry leaves it when a replay marks it in
``_tidemark.quarantine_resolved`` (by its entry id, a digest of the entry's run, table, key, reason, row and
origin), in the replay's own transaction, with the rows it wrote.

A replay needs the documents again: an entry's ``origin`` names the file (``path`` or ``path:line`` for NDJSON,
``... (position [...])`` for a raw store record) it came from (runtime/origins.py finds it for rows refused after
extraction). A row with an empty ``origin`` (the Spark engine keeps no per-row document): the run ledger names the
inputs of the run that quarantined it (and its files), and the replay reads those again when every one of them is
still there. A replay re-runs the mapping
over every file still there; each unresolved entry of those files is then marked ``written`` (nothing of it was
refused this time) or ``requarantined`` (refused again: the replay's new entry, with today's reason, replaces
it). Entries whose documents are gone, or came from no file (a raw store, standard input, a list in memory),
cannot be replayed and are listed as such.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidemark.history.ledger import ON_COMMIT, read_if_exists, read_runs
from tidemark.runtime.transaction import _dumps as quarantine_json  # the quarantine's own JSON of a key
from tidemark.sinks.bookkeeping import hashed_rows, quarantine_spec, resolved_spec

if TYPE_CHECKING:
    from tidemark.runtime.result import RunResult
    from tidemark.sinks.base import Sink

_POSITION = re.compile(r" \(position \[.*\]\)$")
_LINE = re.compile(r":\d+$")
#: the entries shown per (table, reason) group; every entry is counted
SHOWN = 20


def entry_id(row: dict[str, Any]) -> str:
    """A quarantine entry's identity: the digest of what it says (not of when: stores keep time differently)."""
    parts = [str(row.get(c) or "") for c in ("run_id", "table_name", "row_key", "reason", "row_data", "origin")]
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:24]


def read_quarantine(sink: Sink, *, table: str | None = None) -> list[dict[str, Any]]:
    """The unresolved quarantine entries (oldest first), each with its ``entry_id``; of one table with ``table``
    (``-`` or ``documents``: the rejected documents)."""
    resolved = {r["entry_id"] for r in read_if_exists(sink, resolved_spec())}
    out = []
    for row in read_if_exists(sink, quarantine_spec()):
        row["entry_id"] = entry_id(row)
        if row["entry_id"] in resolved:
            continue
        if table is not None and (row["table_name"] or "-") != table:
            continue
        out.append(row)
    out.sort(key=lambda r: (r["quarantined_at"], r["entry_id"]))
    return out


def grouped(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries by table (``None``: rejected documents) and reason: count, and the first :data:`SHOWN` with their key
    and origin."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for e in entries:
        table = e["table_name"] or "(documents)"
        group = groups.setdefault((table, e["reason"]), {"table": table, "reason": e["reason"], "count": 0})
        group["count"] += 1
        shown = group.setdefault("entries", [])
        if len(shown) < SHOWN:
            shown.append({"key": e["row_key"], "origin": e["origin"], "run_id": e["run_id"], "id": e["entry_id"]})
    return sorted(groups.values(), key=lambda g: (g["table"], -g["count"], g["reason"]))


def document_path(origin: str | None) -> Path | None:
    """The file an entry's document came from, if it is still there (None: no origin, or the file is gone)."""
    if not origin:
        return None
    text = _POSITION.sub("", origin)
    for candidate in (text, _LINE.sub("", text)):
        path = Path(candidate)
        if path.is_file():
            return path
    return None


@dataclass
class ReplayReport:
    """What a replay did: the files run again, per entry its outcome, and the entries that could not be replayed."""

    files: list[str] = field(default_factory=list)
    written: int = 0
    requarantined: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)  # entries whose document is gone or unnamed
    result: RunResult | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "written": self.written,
            "requarantined": self.requarantined,
            "not_replayable": [
                {"table": m["table_name"], "origin": m["origin"], "id": m["entry_id"]} for m in self.missing
            ],
            "run": None if self.result is None else self.result.as_dict(),
        }


def replay(
    mapping: Any, sink: Any, *, table: str | None = None, raw: str | None = None, **run_options: Any
) -> ReplayReport:
    """Run ``mapping`` again over the documents of the quarantined entries (of ``table``) still on disk or in their
    raw store (``raw``: its URL, for a stream's entries or a store the ledger names without its credentials), into
    ``sink`` (a URL or an open sink); the entries of those documents leave the quarantine in the same transaction
    (see the module's doc)."""
    from tidemark.sinks import open_sink
    from tidemark.sinks.base import Sink

    report = ReplayReport()
    target = sink if isinstance(sink, Sink) else open_sink(sink)
    try:
        every = read_quarantine(target)
        inputs = {r["run_id"]: r["inputs"] for r in read_runs(target)}
        stored = [e for e in every if _raw_input(inputs.get(e["run_id"]))]
        on_disk = [e for e in every if not _raw_input(inputs.get(e["run_id"]))]
        _replay_files(mapping, target, on_disk, inputs, table, report, run_options)
        _replay_raw(mapping, target, stored, inputs, table, raw, report, run_options)
    finally:
        if not isinstance(sink, Sink):
            target.close()
    return report


def _replay_files(
    mapping: Any,
    target: Sink,
    every: list[dict[str, Any]],
    inputs: dict[str, Any],
    table: str | None,
    report: ReplayReport,
    run_options: dict[str, Any],
) -> None:
    from tidemark.runtime.batch import run

    sources = {e["entry_id"]: _sources(e, inputs) for e in every}
    chosen = [e for e in every if table is None or (e["table_name"] or "-") == table]
    report.missing += [e for e in chosen if sources[e["entry_id"]] is None]
    paths = sorted({p for e in chosen for p in sources[e["entry_id"]] or ()})
    if not paths:
        return
    report.files += paths
    replayed = [e for e in every if set(sources[e["entry_id"]] or ["?"]) <= set(paths)]
    with _resolving(replayed, report):
        report.result = run(mapping, [Path(p) for p in paths], target, **run_options)


def _raw_input(given: dict[str, Any] | None) -> bool:
    """Whether a run read a raw store (``tidemark run --raw``, a stream's micro-batch)."""
    return given is not None and ("raw" in given or "stream" in given)


def _replay_raw(
    mapping: Any,
    target: Sink,
    every: list[dict[str, Any]],
    inputs: dict[str, Any],
    table: str | None,
    raw: str | None,
    report: ReplayReport,
    run_options: dict[str, Any],
) -> None:
    """The entries of documents read from a raw store: the store's records with those origins, read again."""
    from tidemark.raw import open_raw
    from tidemark.raw.base import records
    from tidemark.runtime.batch import run

    chosen = [e for e in every if table is None or (e["table_name"] or "-") == table]
    report.missing += [e for e in chosen if not e["origin"]]
    chosen = [e for e in chosen if e["origin"]]
    if not chosen:
        return
    stores = {raw} if raw else {inputs[e["run_id"]].get("raw") for e in chosen}
    if None in stores or len(stores) != 1:
        report.missing += chosen  # a stream's ledger rows do not name its store: --raw does
        return
    wanted = {_POSITION.sub("", e["origin"]) for e in chosen}
    with open_raw(str(stores.pop())) as store:
        documents = [r.document() for r in records(store, None, limit=256) if r.origin in wanted]
    found = {d.origin for d in documents}
    report.missing += [e for e in chosen if _POSITION.sub("", e["origin"]) not in found]
    replayed = [e for e in every if _POSITION.sub("", e["origin"] or "?") in found]
    if not documents:
        return
    report.files += sorted(found)
    with _resolving(replayed, report):
        report.result = run(mapping, documents, target, **run_options)


def _sources(entry: dict[str, Any], inputs: dict[str, Any]) -> list[str] | None:
    """The files (or directories) to read again for ``entry``: its document's file, or, for a row that names no
    document, every input of the run that quarantined it; None when they are gone (or were no files)."""
    path = document_path(entry["origin"])
    if path is not None:
        return [str(path)]
    if entry["origin"]:
        return None  # its file is gone
    given = inputs.get(entry["run_id"], {})
    paths, files = given.get("paths") or [], given.get("files")
    if not paths or not all(Path(p).exists() for p in [*paths, *(files or [])]):
        return None  # the run's documents are not all there any more: the row's may be the one missing
    return [str(p) for p in paths]


@contextmanager
def _resolving(entries: list[dict[str, Any]], report: ReplayReport) -> Iterator[None]:
    """While a replay runs: at its commit, mark ``entries`` resolved with their outcome (ledger.ON_COMMIT)."""

    def mark(sink: Sink, result: RunResult) -> None:
        failed_docs = {r.origin for r in result.rejected}
        failed_rows = {(e.table, quarantine_json(e.key)) for e in result.row_errors}
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for e in entries:
            if e["table_name"] is None:
                again = e["origin"] in failed_docs
            else:
                again = (e["table_name"], e["row_key"]) in failed_rows  # the key as the quarantine wrote it
            outcome = "requarantined" if again else "written"
            report.requarantined += again
            report.written += not again
            rows.append(
                {"entry_id": e["entry_id"], "resolved_by": result.run_id, "outcome": outcome, "resolved_at": now}
            )
        if rows:
            spec = resolved_spec()
            sink.ensure_table(spec)
            sink.write(spec, hashed_rows(spec, rows), None, "upsert")

    token = ON_COMMIT.set(mark)
    try:
        yield
    finally:
        ON_COMMIT.reset(token)


__all__ = ["ReplayReport", "document_path", "entry_id", "grouped", "read_quarantine", "replay"]
