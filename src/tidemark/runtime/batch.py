"""A batch run: documents -> engine -> write contract -> sink, in one transaction.

The same loop serves streaming later (a micro-batch is a run over the documents since the checkpoint). Nothing here
prints: progress and results go to a :class:`Reporter`; the CLI renders them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson

from tidemark.compile.plan import Plan, compile_mapping
from tidemark.contract.counts import MODES, Mode, WriteCounts
from tidemark.contract.prepare import RowError, prepare
from tidemark.engines.base import ExtractBatch, RejectedDocument
from tidemark.engines.local import LocalEngine
from tidemark.errors import ConfigError, ContractError
from tidemark.mapping.loader import load_mapping
from tidemark.mapping.models import Mapping
from tidemark.sinks import SinkConfig, open_sink
from tidemark.sinks.base import QuarantineEntry, Sink
from tidemark.sources.files import RawDocument, expand_inputs, iter_documents


class Reporter(Protocol):
    """Receives progress; the CLI implements it with Rich. Every method is optional to act on."""

    def start(self, total_bytes: int, files: int) -> None: ...
    def advance(self, batch: ExtractBatch) -> None: ...
    def finish(self, result: RunResult) -> None: ...


class NullReporter:
    def start(self, total_bytes: int, files: int) -> None:
        pass

    def advance(self, batch: ExtractBatch) -> None:
        pass

    def finish(self, result: RunResult) -> None:
        pass


@dataclass
class RunResult:
    """What a run did: counts per table, documents read, and everything it refused."""

    run_id: str
    sink: str
    mode: str
    tables: dict[str, WriteCounts] = field(default_factory=dict)
    documents: int = 0
    rejected: list[RejectedDocument] = field(default_factory=list)
    row_errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was refused (the CLI exits non-zero otherwise)."""
        return not self.rejected and not self.row_errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "sink": self.sink,
            "mode": self.mode,
            "documents": self.documents,
            "tables": {name: c.as_dict() for name, c in self.tables.items()},
            "rejected": [{"origin": r.origin, "reason": r.reason} for r in self.rejected],
            "row_errors": len(self.row_errors),
        }


def run(
    mapping: str | Path | Mapping | Plan,
    inputs: Iterable[str | Path] | Iterable[RawDocument],
    sink: str | SinkConfig | Sink,
    *,
    mode: Mode = "upsert",
    reporter: Reporter | None = None,
    batch_documents: int = 64,
) -> RunResult:
    """Run a mapping over documents into a sink; all-or-nothing on transactional sinks.

    ``inputs`` are paths (files, directories) or already-read :class:`RawDocument` objects. Rejected documents and
    error rows do not abort the run: they are quarantined and listed in the result (``result.ok`` is False).
    Anything else that fails rolls the whole run back and raises.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    plan = _plan(mapping)
    _check_mode(plan, mode)
    reporter = reporter or NullReporter()
    documents, total_bytes, files = _documents(inputs)
    owns_sink = not isinstance(sink, Sink)
    target = open_sink(sink) if not isinstance(sink, Sink) else sink
    result = RunResult(run_id=uuid.uuid4().hex[:12], sink=target.display, mode=mode)
    result.tables = {t.name: WriteCounts() for t in plan.targets}
    engine = LocalEngine(plan)
    reporter.start(total_bytes, files)
    try:
        target.begin()
        for t in plan.targets:
            target.ensure_table(t.spec)
        for batch in engine.extract(documents, batch_documents=batch_documents):
            _write_batch(plan, target, batch, mode, result)
            reporter.advance(batch)
        _quarantine_rejected(target, result)
        target.commit()
    except BaseException:
        target.rollback()
        raise
    finally:
        if owns_sink:
            target.close()
    reporter.finish(result)
    return result


def _plan(mapping: str | Path | Mapping | Plan) -> Plan:
    if isinstance(mapping, Plan):
        return mapping
    if isinstance(mapping, Mapping):
        return compile_mapping(mapping)
    return compile_mapping(load_mapping(mapping)[0])


def _check_mode(plan: Plan, mode: Mode) -> None:
    if mode in {"upsert", "append_once"}:
        missing = [t.name for t in plan.targets if not t.spec.primary_key]
        if missing:
            raise ContractError(
                f"mode {mode} needs a primary_key on every table; missing on: {', '.join(missing)}. "
                "Add primary_key to those targets or use --mode append / overwrite."
            )


def _documents(inputs: Iterable[Any]) -> tuple[Iterable[RawDocument], int, int]:
    items = list(inputs) if not isinstance(inputs, list) else inputs
    if items and all(isinstance(i, RawDocument) for i in items):
        return items, sum(len(i.data) for i in items), len(items)
    files = expand_inputs(items)
    total = sum(p.stat().st_size for p in files)
    return iter_documents(files), total, len(files)


def _write_batch(plan: Plan, sink: Sink, batch: ExtractBatch, mode: Mode, result: RunResult) -> None:
    result.documents += batch.documents
    result.rejected.extend(batch.rejected)
    now = datetime.now(UTC)
    entries: list[QuarantineEntry] = []
    for err in batch.row_errors:
        result.tables[err.table].error += 1
        entries.append(_entry(result.run_id, err, now))
    for t in plan.targets:
        prepared = prepare(batch.tables[t.name], t.spec, mode)
        counts = sink.write(t.spec, prepared.rows, batch.scopes.get(t.name), mode)
        counts += prepared.counts
        result.tables[t.name] += counts
        for err in prepared.errors:
            entries.append(_entry(result.run_id, err, now))
        result.row_errors.extend(prepared.errors)
    result.row_errors.extend(batch.row_errors)
    sink.quarantine(entries)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS).decode()


def _entry(run_id: str, err: RowError, at: datetime) -> QuarantineEntry:
    dumps = _dumps
    return QuarantineEntry(run_id, err.table, dumps(err.key), err.reason, dumps(err.row), err.origin, at)


def _quarantine_rejected(sink: Sink, result: RunResult) -> None:
    now = datetime.now(UTC)
    sink.quarantine(
        [QuarantineEntry(result.run_id, None, None, r.reason, None, r.origin, now) for r in result.rejected]
    )
