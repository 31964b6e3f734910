"""What a run or a write did (:class:`RunResult`), and the :class:`Reporter` that hears about it as it happens.

One result type serves ``tidemark.run`` (a mapping: several tables) and ``tidemark.write`` (one table). The counts
are kept per table (``result.tables``); the total over the tables reads as ``result.inserted``, ``result.counts``,
..., which for a one-table write are that table's counts. Nothing here prints: the CLI renders (cli/render.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from tidemark.contract.counts import WriteCounts
from tidemark.contract.keys import KeyReport
from tidemark.contract.prepare import RowError
from tidemark.engines.base import RejectedDocument
from tidemark.tables import TableSpec

STAGES = ("extract", "prepare", "write")
#: refused rows listed by the JSON summary (all of them are in the result and in the store's quarantine)
SUMMARY_ROW_ERRORS = 100


class Reporter(Protocol):
    """Receives progress; the CLI implements it with Rich. Every method is optional to act on.

    ``start`` gets what is known of the input's size (``total_rows`` only for a table whose length is known);
    ``advance`` gets what one step read: documents (accepted or rejected) for a run, rows for a write.
    """

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None: ...
    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None: ...
    def finish(self, result: RunResult) -> None: ...


class NullReporter:
    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        pass

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        pass

    def finish(self, result: RunResult) -> None:
        pass


class KeyReports(dict[str, KeyReport]):
    """The key reports of a result, per table (tables with a key). For a one-table result the report's fields read
    through: ``result.keys.coverage`` is ``result.keys[table].coverage`` (``tidemark.write``'s form)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or len(self) != 1:
            raise AttributeError(f"{name!r}: key reports of {len(self)} tables; pick one with result.keys[table]")
        return getattr(next(iter(self.values())), name)


@dataclass(repr=False)
class RunResult:
    """What a run or a write did: counts per table, what was read, and everything it refused.

    ``documents`` counts the accepted documents of a run, ``rows`` the rows read by a write. ``rejected`` lists whole
    documents refused, ``row_errors`` refused rows (both also in the store's ``_tidemark.quarantine``).
    """

    run_id: str
    sink: str
    mode: str
    tables: dict[str, WriteCounts] = field(default_factory=dict)
    specs: dict[str, TableSpec] = field(default_factory=dict)
    documents: int = 0
    #: documents skipped before parsing: applied before under the same plan and mode (runtime/applied.py)
    unchanged_documents: int = 0
    rows: int = 0
    rejected: list[RejectedDocument] = field(default_factory=list)
    row_errors: list[RowError] = field(default_factory=list)
    keys: KeyReports = field(default_factory=KeyReports)  # coverage and duplicates of tables with a key
    #: seconds spent per stage: "extract" (engine), "prepare" (contract, in the worker thread: it overlaps
    #: "write"), "write" (the sink, including waiting for a table's prepare); for run history and benchmarks
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    #: rows that broke each quality rule, per table and rule (every action; quarantined rows are also ``error``)
    quality: dict[str, dict[str, int]] = field(default_factory=dict)
    #: per table: rows extracted, and per column the rows holding a value (for the warnings of a run)
    extracted: dict[str, int] = field(default_factory=dict)
    filled: dict[str, dict[str, int]] = field(default_factory=dict)
    #: documents whose snapshot time fell back to their file's modification time
    time_from_file: int = 0
    #: the mapping's table expectations evaluated after the run (quality/expectations.py ``Outcome.as_dict()``)
    expectations: list[dict[str, Any]] = field(default_factory=list)
    #: when this run (or this micro-batch of a stream) started: the run ledger's ``started_at`` (history/ledger.py)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def warnings(self) -> list[str]:
        """What looks wrong though nothing was refused: a run that made no row from its documents (the wrong mapping
        for these files), a column without a value in any row of its table (a typo in its path?). The CLI prints
        them; ``--strict`` makes them an error."""
        if self.documents and not any(self.extracted.values()):
            return [
                f"the mapping produced no rows from {self.documents:,} documents: is it the mapping for these files?"
            ]
        out = []
        if self.time_from_file:
            out.append(
                f"{self.time_from_file:,} of {self.documents:,} documents carry no snapshot time: their file's "
                "modification time was used instead (a copied or freshly cloned file looks new; keep the time the "
                "response was fetched, e.g. in a raw store)"
            )
        for e in self.expectations:
            if not e["passed"]:
                out.append(f"expectation {e['name']!r} on {e['table']} does not hold: {e['detail']}")
        for table, columns in self.filled.items():
            rows = self.extracted.get(table, 0)
            for column, filled in columns.items():
                if rows and not filled:
                    out.append(f"{table}.{column} is NULL in all {rows:,} rows: check its path (a typo?)")
        return out

    @classmethod
    def start(cls, run_id: str, sink: str, mode: str, specs: dict[str, TableSpec]) -> RunResult:
        """An empty result for the tables of ``specs`` (name -> spec), every count 0."""
        tables = {name: WriteCounts() for name in specs}
        return cls(run_id=run_id, sink=sink, mode=mode, tables=tables, specs=dict(specs))

    @property
    def ok(self) -> bool:
        """True when nothing was refused (the CLI exits non-zero otherwise)."""
        return not self.rejected and not self.row_errors

    @property
    def counts(self) -> WriteCounts:
        """The counts summed over the tables (a one-table write: that table's)."""
        total = WriteCounts()
        for counts in self.tables.values():
            total += counts
        return total

    @property
    def inserted(self) -> int:
        """Rows inserted, over all tables."""
        return self.counts.inserted

    @property
    def updated(self) -> int:
        """Stored rows replaced, over all tables."""
        return self.counts.updated

    @property
    def unchanged(self) -> int:
        """Rows found unchanged, over all tables."""
        return self.counts.unchanged

    @property
    def skipped(self) -> int:
        """Rows older than what is stored, over all tables."""
        return self.counts.skipped

    @property
    def deleted(self) -> int:
        """Rows deleted by reconciliation or overwrite, over all tables."""
        return self.counts.deleted

    @property
    def error(self) -> int:
        """Rows refused, over all tables."""
        return self.counts.error

    @property
    def rows_seen(self) -> int:
        """Incoming rows accounted for, over all tables."""
        return self.counts.rows_seen

    @property
    def table(self) -> str | None:
        """The table of a one-table result (``tidemark.write``); None when there are several."""
        return next(iter(self.tables)) if len(self.tables) == 1 else None

    @property
    def spec(self) -> TableSpec | None:
        """The :class:`TableSpec` written by a one-table result (e.g. for ``sink.read_table(result.spec)``)."""
        return next(iter(self.specs.values())) if len(self.specs) == 1 else None

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (the CLI's ``--json``)."""
        return {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "sink": self.sink,
            "mode": self.mode,
            "table": self.table,
            "documents": self.documents,
            "unchanged_documents": self.unchanged_documents,
            "rows": self.rows,
            "counts": self.counts.as_dict(),
            "tables": {name: c.as_dict() for name, c in self.tables.items()},
            "rejected": [{"origin": r.origin, "reason": r.reason} for r in self.rejected],
            "row_errors": len(self.row_errors),
            "refused": [
                {"table": e.table, "origin": e.origin, "reason": e.reason} for e in self.row_errors[:SUMMARY_ROW_ERRORS]
            ],
            "keys": {name: k.as_dict() for name, k in self.keys.items()},
            "warnings": self.warnings,
            "quality": {name: dict(rules) for name, rules in self.quality.items() if rules},
            "seconds": {stage: round(s, 6) for stage, s in self.seconds.items()},
            "expectations": list(self.expectations),
        }

    summary = as_dict  # the name tidemark.write's users know
    to_dict = as_dict  # the CLI's --json document

    def __repr__(self) -> str:
        """A few lines (the whole result, with every refused row, is in ``as_dict()``)."""
        read = f"{self.documents:,} documents" if self.rows == 0 else f"{self.rows:,} rows"
        where = f"table {self.table}" if self.table is not None else f"{len(self.tables)} tables"
        counts = ", ".join(f"{k}={v:,}" for k, v in self.counts.as_dict().items() if k != "rows_seen")
        return (
            f"RunResult(run {self.run_id} -> {self.sink}, {self.mode}: {read}, {len(self.rejected):,} rejected, "
            f"{len(self.row_errors):,} rows refused;\n  {where}: {counts})"
        )


__all__ = ["STAGES", "KeyReports", "NullReporter", "Reporter", "RunResult"]
