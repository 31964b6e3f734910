"""The applied-documents ledger: skip, before parsing, the documents a run has already applied under the same plan.

A run records, in the transaction that writes their rows, one row of ``_tidemark.applied_documents``
(sinks/bookkeeping.py) per document it read: the plan's hash, the mode, and the document's hash. The next run with
the same plan and mode loads that set once (one read of the ledger, filtered to its plan and mode) and drops every
document whose hash is in it before the engine sees it: nothing is parsed, and the result counts it in
``RunResult.unchanged_documents``.

Why skipping is sound: under ``upsert`` and ``append_once`` a document's effect on the store depends only on its
content and the plan, and applying it again after it was applied changes nothing (the newest-wins rule is a join:
what a newer document or the tie-break replaced stays replaced; ``append_once`` keeps what it stored). So:

- **document hash**: the raw store's content hash of the record (``RawDocument.content_hash``), else sha256 of the
  bytes as read; when the plan can take the snapshot time from the capture time or the file's modification time,
  that time is part of the hash (the same bytes at a newer time are a newer snapshot);
- **plan hash**: sha256 of the compiled plan and tidemark's version: a changed mapping (or tidemark) applies every
  document again;
- **modes**: ``upsert`` and ``append_once`` skip and record; ``overwrite`` never skips, empties the ledger and records
  its documents as ``upsert`` (the tables then hold exactly what an upsert of them gives); ``append`` neither skips
  nor records (each run appends again, by definition);
- a document the source could not read (``error`` set) is never recorded; a rejected document is (the same bytes
  under the same plan are rejected again: a fixed mapping has another plan hash); a transaction that refused a row
  for a missing parent (contract/orphans.py: it depends on what the store holds, not on the document) records none
  of its documents;
- ``reprocess=True`` (``--reprocess``) skips nothing and records everything again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from tidemark.compile.plan import Plan, plan_hash
from tidemark.contract.counts import Mode
from tidemark.documents import RawDocument
from tidemark.errors import SinkTerminalError
from tidemark.sinks.base import Sink
from tidemark.sinks.bookkeeping import applied_spec, hashed_rows

if TYPE_CHECKING:
    from tidemark.runtime.transaction import Transaction

#: modes whose documents may be skipped when applied before (and that record what they apply)
SKIPPING_MODES: tuple[Mode, ...] = ("upsert", "append_once")


def document_hash(doc: RawDocument, plan: Plan) -> str:
    """The identity of a document's content for the ledger (see the module docstring)."""
    digest = doc.content_hash or hashlib.sha256(doc.data).hexdigest()
    times = []
    if plan.timestamp.from_captured_at:
        times.append(doc.captured_at)
    if plan.timestamp.fallback == "file_modified":
        times.append(doc.modified_at)
    if not times:
        return digest
    stamp = "|".join("" if t is None else t.isoformat() for t in times)
    return hashlib.sha256(f"{digest}|{stamp}".encode()).hexdigest()


@dataclass
class Ledger:
    """One run's view of the ledger: the hashes applied before (loaded once), and the documents read since the last
    :meth:`record`. ``skips`` / ``records`` say what this run's mode does with it."""

    plan: Plan
    mode: Mode
    reprocess: bool = False
    known: set[str] = field(default_factory=set)
    pending: list[dict[str, Any]] = field(default_factory=list)
    skipped: int = 0

    @property
    def records(self) -> bool:
        return self.mode != "append"

    @property
    def skips(self) -> bool:
        return self.mode in SKIPPING_MODES and not self.reprocess

    @property
    def recorded_mode(self) -> Mode:
        return "upsert" if self.mode == "overwrite" else self.mode

    def load(self, sink: Sink) -> None:
        """Read the hashes recorded for this plan and mode (once per run attempt)."""
        self.known, self.pending, self.skipped = set(), [], 0
        if not self.skips:
            return
        try:
            rows = sink.read_table(applied_spec())
        except SinkTerminalError as exc:
            if "does not exist" in str(exc):  # the words every store's read_table uses: nothing applied yet
                return
            raise
        mine = pc.and_(pc.equal(rows["plan_hash"], plan_hash(self.plan)), pc.equal(rows["mode"], self.mode))
        self.known = set(rows.filter(mine).column("document_hash").to_pylist())

    def filter(
        self,
        documents: Iterable[RawDocument],
        skipped: Callable[[RawDocument], None] | None = None,
        *,
        skip: bool = True,
    ) -> Iterator[RawDocument]:
        """``documents`` without those applied before (each passed to ``skipped``); each one let through is
        pending until :meth:`record`. ``skip=False``: every document goes through (and is recorded): a stream's
        replay of a micro-batch on a store whose checkpoint is not atomic (runtime/stream.py)."""
        for doc in documents:
            if doc.error is not None or not self.records:
                yield doc
                continue
            digest = document_hash(doc, self.plan)
            if skip and self.skips and digest in self.known:
                self.skipped += 1
                if skipped is not None:
                    skipped(doc)
                continue
            self.pending.append(
                {"document_hash": digest, "origin": doc.origin, "captured_at": doc.captured_at or doc.modified_at}
            )
            yield doc

    def record(self, tx: Transaction, run_id: str) -> None:
        """Write the pending documents in ``tx`` (the transaction of their rows); ``overwrite`` empties the ledger
        first. Nothing when the transaction refused a row for a missing parent (see the module docstring)."""
        pending, self.pending = self.pending, []
        if not self.records or (tx.orphans and self.mode != "overwrite"):
            return
        if tx.orphans:
            pending = []
        now = datetime.now(UTC)
        plan, mode = plan_hash(self.plan), self.recorded_mode
        rows = [{**p, "plan_hash": plan, "mode": mode, "run_id": run_id, "applied_at": now} for p in pending]
        unique = list({r["document_hash"]: r for r in rows}.values())  # one row per key (the upsert's promise)
        if not unique and self.mode != "overwrite":
            return
        spec = applied_spec()
        tx.sink.ensure_table(spec)
        tx.sink.write(spec, hashed_rows(spec, unique), None, "overwrite" if self.mode == "overwrite" else "upsert")
        self.known.update(r["document_hash"] for r in unique)


__all__ = ["SKIPPING_MODES", "Ledger", "document_hash", "plan_hash"]
