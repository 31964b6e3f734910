"""A batch run: a source's documents -> engine -> write contract -> sink, in one transaction.

The same loop serves a stream (runtime/stream.py): a micro-batch is :func:`write_documents` over the documents
after the checkpoint's position, its checkpoint saved in the same transaction.
Nothing here prints: progress and results go to a :class:`~tidemark.runtime.result.Reporter`; the CLI renders them.
"""

from __future__ import annotations

import errno
import itertools
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

import pyarrow as pa

from tidemark.compile.plan import Plan, TargetPlan, compile_mapping, with_tie
from tidemark.contract.counts import MODES, Mode
from tidemark.contract.keys import KeyReport, apply_key
from tidemark.contract.prepare import Prepared, RowError, prepare
from tidemark.documents import RawDocument
from tidemark.engines import DEFAULT_ENGINE, Engine, engine_class, extract_source
from tidemark.engines.base import ExtractBatch
from tidemark.engines.pool import resolve_workers
from tidemark.errors import ConfigError, ContractError, SinkError, SinkTerminalError
from tidemark.history.ledger import RunRecord
from tidemark.mapping.loader import load_mapping
from tidemark.mapping.models import Mapping
from tidemark.quality import check_rows, reject_documents
from tidemark.runtime.applied import SKIPPING_MODES, Ledger
from tidemark.runtime.origins import OriginIndex
from tidemark.runtime.result import STAGES, NullReporter, Reporter, RunResult
from tidemark.runtime.transaction import CONFLICT_RETRIES, Transaction, retry_conflicts
from tidemark.sinks import SinkConfig, open_sink
from tidemark.sinks.base import Sink
from tidemark.sources import MAX_DOCUMENT_BYTES, Source, open_source
from tidemark.sources.dataframe import run_inputs

__all__ = ["CONFLICT_RETRIES", "STAGES", "BatchWriter", "NullReporter", "Reporter", "RunResult", "run"]


def run(
    mapping: str | Path | Mapping | Plan,
    inputs: Source | str | Path | Iterable[Any] | None = None,
    sink: str | SinkConfig | Sink | None = None,
    *,
    documents: Any = None,
    mode: Mode = "upsert",
    reporter: Reporter | None = None,
    batch_documents: int = 64,
    engine: str = DEFAULT_ENGINE,
    max_document_bytes: int = MAX_DOCUMENT_BYTES,
    engine_options: dict[str, Any] | None = None,
    workers: int | str = 1,
    reprocess: bool = False,
    commit_every: int | None = None,
    single_transaction: bool = False,
    tie: str | None = None,
) -> RunResult:
    """Run a mapping over documents into a sink; all-or-nothing per transaction on transactional sinks.

    ``inputs`` is a :class:`~tidemark.sources.Source`, or what :func:`~tidemark.sources.open_source` makes one of:
    paths (files, directories), a list of documents (:class:`~tidemark.documents.RawDocument`, bytes, dicts), or
    an iterator of documents (read once: a conflict with another writer then fails instead of starting over).
    ``documents``: instead of ``inputs``, a Spark DataFrame with a ``document`` column (sources/dataframe.py).
    ``engine`` names an engine of :data:`~tidemark.engines.ENGINES`; ``engine_options`` are its settings (for
    ``spark``: ``master``, ``conf``, ``session``). A file's document larger than ``max_document_bytes`` after
    decompression (256 MB by default) is rejected without being read whole. Rejected documents and error rows do
    not abort the run: they are quarantined and listed in the result (``result.ok`` is False). Anything else that
    fails rolls the whole run back and raises. ``workers``: processes extracting documents for the local engine
    (``"auto"``: one per core; the same tables and counts as 1, see engines/pool.py).

    Documents this store already holds under the same plan and mode (``upsert``, ``append_once``) are skipped before
    parsing and counted in ``result.unchanged_documents`` (runtime/applied.py); ``reprocess=True`` applies them
    again. An ``upsert`` / ``append_once`` run commits every ``commit_every`` applied documents
    (:data:`COMMIT_EVERY` by default): memory stays bounded, and an interrupted run keeps the steps it committed (a
    re-run skips their documents). ``single_transaction=True`` makes the run one transaction whatever its size (all
    or nothing; the store's transaction then holds every batch until the end); ``overwrite`` and ``append`` always
    are one.

    ``tie``: every target's tie mode for this run (``"hash"``, the default and order-independent, or ``"incoming"``:
    at an equal timestamp the later row wins; a mapping sets it per target with ``tie:``; docs/write-contract.md).
    """
    inputs, sink = run_inputs(inputs, sink, documents, engine)
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    if max_document_bytes < 1:
        raise ConfigError(f"max_document_bytes={max_document_bytes}: give a size of at least 1 byte")
    plan = plan_of(mapping) if tie is None else with_tie(plan_of(mapping), tie)
    check_mode(plan, mode)
    step = steps_of(mode, commit_every, single_transaction)
    workers = resolve_workers(workers)
    options = {**(engine_options or {}), **({"workers": workers} if workers != 1 else {})}
    make_engine = engine_class(engine, options)  # an unknown engine or option fails before anything is opened
    if commit_every is not None and hasattr(getattr(make_engine, "func", make_engine), "extract_source"):
        raise ConfigError(
            f"--commit-every: the {engine} engine reads the source where it runs and writes it in one transaction; "
            "drop --commit-every (or use the local engine)"
        )
    source = open_source(inputs, max_document_bytes=max_document_bytes)
    reporter = reporter or NullReporter()
    owns_sink = not isinstance(sink, Sink)
    target = open_sink(sink) if not isinstance(sink, Sink) else sink
    run_id = uuid.uuid4().hex[:12]
    reporter.start(source.total_bytes, source.files)

    def attempt() -> RunResult:  # a fresh engine and result: nothing of a rolled-back attempt carries over
        result = RunResult.start(run_id, target.display, mode, {t.name: t.spec for t in plan.targets})
        engine = make_engine(plan)
        ledger = Ledger(plan, mode, reprocess)
        if hasattr(engine, "extract_source"):  # it reads the source where it runs: no document passes through here
            ledger.load(target)
            engine.ledger = ledger  # type: ignore[attr-defined]  # it skips what was applied (engines/spark_applied.py)
            write_documents(plan, target, engine, source, mode, result, reporter, batch_documents, ledger=ledger)
            result.unchanged_documents = ledger.skipped
            return result
        steps = Steps(plan, target, engine, mode, result, reporter, batch_documents, ledger)
        steps.run(source, step)
        return result

    try:
        result = retry_conflicts(attempt, replayable=source.replayable)
    except BaseException as exc:
        if owns_sink:
            close_after(target, exc)
        if out_of_space(exc):
            raise SinkTerminalError(no_space_message(exc, target)) from exc
        raise
    if owns_sink:
        target.close()
    reporter.finish(result)
    return result


def write_documents(
    plan: Plan,
    target: Sink,
    engine: Engine,
    documents: Source | Iterable[RawDocument],
    mode: Mode,
    result: RunResult,
    reporter: Reporter,
    batch_documents: int,
    *,
    txn: tuple[str, int] | None = None,
    finish: Callable[[Transaction], None] | None = None,
    ledger: Ledger | None = None,
    record: RunRecord | None = None,
) -> None:
    """Documents -> engine -> contract -> sink in one transaction: a run's attempt or step, or a stream's
    micro-batch (``txn`` tags it, ``finish`` runs last inside the transaction: the stream saves its checkpoint
    there). ``ledger``: the documents came through ``ledger.filter``; they are recorded as applied in this
    transaction, after their rows. ``record``: the run ledger's row to write (a stepped run passes one for all its
    steps); by default one for this transaction."""
    specs = [t.spec for t in plan.targets]
    with (
        record or RunRecord(target, plan, engine, documents, mode, result, txn) as record,  # _tidemark.runs
        Transaction(target, specs, run_id=result.run_id, txn=txn) as tx,
        BatchWriter(plan, tx, mode, result) as writer,
    ):
        if isinstance(documents, Source):  # a whole source: an engine may read it where it runs (Spark executors)
            batches = iter(extract_source(engine, documents, batch_documents=batch_documents))
        else:
            batches = iter(engine.extract(documents, batch_documents=batch_documents))
        while True:
            start = time.perf_counter()
            batch = next(batches, None)
            result.seconds["extract"] += time.perf_counter() - start
            if batch is None:
                break
            writer.write(batch)
            reporter.advance(
                documents=batch.documents + len(batch.rejected),
                rows=sum(t.num_rows for t in batch.tables.values()),
                bytes_read=batch.bytes_read,
            )
        if ledger is not None:
            ledger.record(tx, result.run_id)
        record.write(tx)  # the run ledger's row (one per run: a stepped run's last step holds its totals)
        if finish is not None:
            finish(tx)


#: documents per committed step of an upsert / append_once run (measured: a DuckDB transaction holds about 1.5-4 MB
#: per document of the bundled game until it commits; docs/write-contract.md)
COMMIT_EVERY = 100


class Steps:
    """A run's attempt over a source: the documents the ledger lets through, in one transaction, or in steps of
    ``commit_every`` documents each committed with its rows and its ledger entries (so a re-run resumes by
    skipping what the committed steps applied). Skipped documents still advance the progress bar."""

    def __init__(
        self,
        plan: Plan,
        target: Sink,
        engine: Engine,
        mode: Mode,
        result: RunResult,
        reporter: Reporter,
        batch_documents: int,
        ledger: Ledger,
    ) -> None:
        self.plan, self.target, self.engine, self.mode = plan, target, engine, mode
        self.result, self.reporter, self.batch_documents, self.ledger = result, reporter, batch_documents, ledger

    def run(self, source: Source, commit_every: int | None) -> None:
        self.ledger.load(self.target)
        documents = self.ledger.filter(source.read(), self._skipped)
        # one run ledger row for every step (it describes the source; the last step's row holds the totals), and
        # the mapping's table expectations once, after the last step
        self.record = RunRecord(self.target, self.plan, self.engine, source, self.mode, self.result, expect_after=False)
        if commit_every is None:
            self._step(documents)
        else:
            done = 0
            for step in chunked(documents, commit_every):
                self._step(step, committed=done)
                done += 1
            if not done:  # every document skipped (or none): one transaction still ensures the tables
                self._step([])
        self.result.unchanged_documents = self.ledger.skipped
        self.record.expect()

    def _step(self, documents: Iterable[RawDocument], committed: int = 0) -> None:
        r = self.result
        before = r.documents  # accepted by the committed steps
        try:
            write_documents(
                self.plan, self.target, self.engine, documents, self.mode, r, self.reporter, self.batch_documents,
                ledger=self.ledger, record=self.record,
            )  # fmt: skip
        except BaseException as exc:
            if committed:
                exc.add_note(
                    f"({committed:,} earlier step(s) of this run, {before:,} documents, were committed before "
                    "this failure: a re-run skips them)"
                )
            raise

    def _skipped(self, doc: RawDocument) -> None:
        self.reporter.advance(bytes_read=len(doc.data))


def chunked(documents: Iterable[RawDocument], size: int) -> Iterator[Iterator[RawDocument]]:
    """Consecutive slices of at most ``size`` documents of one pass over ``documents`` (each slice must be read to
    its end before the next is asked for)."""
    it = iter(documents)
    for first in it:
        yield itertools.chain((first,), itertools.islice(it, size - 1))


#: what a store or the OS says when it cannot write any more (DuckDB words it in its messages, files by errno)
_NO_SPACE_TEXTS = ("no space left on device", "file too large", "disk quota exceeded", "could not write file")


def out_of_space(exc: BaseException) -> bool:
    """True when ``exc`` says the store could not write for lack of space (a full disk, a quota, a size limit)."""
    if isinstance(exc, OSError) and exc.errno in {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}:
        return True
    return isinstance(exc, SinkError) and any(text in str(exc).lower() for text in _NO_SPACE_TEXTS)


def no_space_message(exc: BaseException, sink: Sink) -> str:
    """One line: what happened, what it did to the data, and what to do."""
    if sink.capabilities.transactional:
        outcome = "the run was rolled back, nothing was written"
    else:
        outcome = "what this store had published before the failure stays, and a rerun completes the rest"
    return f"{sink.display} ran out of space ({exc}): {outcome}. Free disk space (or raise the quota) and run it again"


def close_after(sink: Sink, cause: BaseException) -> None:
    """Close ``sink`` after ``cause`` failed the run; a close that fails too must not hide the cause."""
    try:
        sink.close()
    except Exception as exc:  # the cause is what the user must see
        cause.add_note(f"(closing {sink.display} failed as well: {exc})")


def plan_of(mapping: str | Path | Mapping | Plan) -> Plan:
    if isinstance(mapping, Plan):
        return mapping
    if isinstance(mapping, Mapping):
        return compile_mapping(mapping)
    return compile_mapping(load_mapping(mapping)[0])


def steps_of(mode: Mode, commit_every: int | None, single_transaction: bool) -> int | None:
    """Documents per committed step (None: one transaction), checked."""
    if commit_every is not None and commit_every < 1:
        raise ConfigError(f"commit_every={commit_every}: give a number of documents of at least 1")
    if commit_every is not None and single_transaction:
        raise ConfigError("give either --commit-every or --single-transaction, not both")
    if commit_every is not None and mode not in SKIPPING_MODES:
        raise ConfigError(
            f"committing in steps (--commit-every) needs --mode upsert or append_once, not {mode}: an overwrite "
            "must empty the tables once, and an interrupted append cannot tell what it appended. "
            "Drop --commit-every to run in one transaction"
        )
    if single_transaction or mode not in SKIPPING_MODES:
        return None
    return commit_every or COMMIT_EVERY


def check_mode(plan: Plan, mode: Mode) -> None:
    if mode in {"upsert", "append_once"}:
        missing = [t.name for t in plan.targets if not t.spec.primary_key]
        if missing:
            raise ContractError(
                f"mode {mode} needs a primary_key on every table; missing on: {', '.join(missing)}. "
                "Add primary_key to those targets or use --mode append / overwrite."
            )


class BatchWriter:
    """Writes extracted batches to a sink under the contract; a worker thread prepares the next table meanwhile.

    ``contract.prepare`` (content hash, in-batch reduction) runs in Arrow, numpy and DuckDB, which release the GIL,
    and the sink mostly waits on its store: with the preparing of table i + 1 overlapping the write of table i, a
    run costs about the larger of the two instead of their sum. Writes stay in plan order on the calling thread
    (parents before children, one transaction); a failure stops the worker before it is raised.
    """

    def __init__(self, plan: Plan, tx: Transaction, mode: Mode, result: RunResult) -> None:
        self.plan, self.tx, self.mode, self.result = plan, tx, mode, result
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidemark-prepare")

    def __enter__(self) -> BatchWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def write(self, batch: ExtractBatch) -> None:
        """Prepare and write every table of ``batch``; quarantine what it refused (same transaction)."""
        result = self.result
        batch.rejected.extend(reject_documents(self.plan, batch))  # quality rules that reject whole documents
        self.tx.origin_of = OriginIndex(self.plan, batch)  # the quarantine names the document of a refused row
        result.documents += batch.documents
        result.time_from_file += batch.time_from_file
        count_values(result, batch.tables)
        result.rejected.extend(batch.rejected)
        self.tx.reject(batch.rejected)
        refused: list[RowError] = list(batch.row_errors)
        for err in batch.row_errors:
            result.tables[err.table].error += 1
        if batch.documents == 0:  # every document was rejected: nothing to write, and overwrite must not clear tables
            self.tx.refuse(refused)
            return
        futures = [self._pool.submit(self._prepare, t, batch, batch.tables[t.name]) for t in self.plan.targets]
        try:
            for t, future in zip(self.plan.targets, futures, strict=True):
                start = time.perf_counter()
                prepared = future.result()
                if t.key is not None:
                    result.keys[t.name].add_reduced(prepared.counts)
                table_refused = [e for e in batch.row_errors if e.table == t.name] + prepared.errors
                scopes = complete_scopes(t.spec.scope, batch.scopes.get(t.name), table_refused)
                counts = self.tx.write(t.spec, prepared.rows, scopes, self.mode)
                result.row_errors.extend(counts.refused)  # orphans: quarantined by the transaction
                counts += prepared.counts
                result.tables[t.name] += counts
                refused.extend(prepared.errors)
                result.row_errors.extend(prepared.errors)
                result.seconds["write"] += time.perf_counter() - start
        except BaseException:
            for future in futures:
                future.cancel()
            wait(futures)  # the worker is idle before the sink rolls back
            raise
        result.row_errors.extend(batch.row_errors)
        self.tx.refuse(refused)

    def _prepare(self, t: TargetPlan, batch: ExtractBatch, rows: pa.Table) -> Prepared:
        """In the worker thread: the computed key (if any), then the contract's prepare."""
        start = time.perf_counter()
        checked = check_rows(
            t, rows, batch.violations.get(t.name)
        )  # quality rules (quality/): fail raises, quarantine refuses, warn counts
        if checked.failure is not None:
            raise checked.failure
        tally = self.result.quality.setdefault(t.name, {})  # only this thread adds to "quality"
        for rule, rows_broken in checked.broken.items():
            tally[rule] = tally.get(rule, 0) + rows_broken
        rows, keyless = _keyed(t, checked.rows, self.result)
        prepared = batch.prepared.get(t.name)  # the engine's (engines/spark_prepare.py), if no row was removed since
        if prepared is None or getattr(prepared, "extracted", prepared.rows.num_rows) != rows.num_rows:
            prepared = prepare(rows, t.spec, self.mode)
        prepared.errors[:0] = checked.errors + keyless
        prepared.counts.error += len(checked.errors) + len(keyless)
        self.result.seconds["prepare"] += time.perf_counter() - start  # only this thread adds to "prepare"
        return prepared


def count_values(result: RunResult, tables: dict[str, pa.Table]) -> None:
    """Add a batch's rows and non-NULL values per column to ``result`` (its warnings read them)."""
    for name, table in tables.items():
        result.extracted[name] = result.extracted.get(name, 0) + table.num_rows
        filled = result.filled.setdefault(name, {})
        for column in table.column_names:
            values = table.column(column)
            filled[column] = filled.get(column, 0) + len(values) - values.null_count


def _keyed(t: TargetPlan, rows: pa.Table, result: RunResult) -> tuple[pa.Table, list[RowError]]:
    """Add a computed key column (contract/keys.py); rows without a complete key become error rows."""
    if t.key is None:
        return rows, []
    report = result.keys.setdefault(t.name, KeyReport(column=t.key.name))
    json_fields = tuple(f.name for f in t.fields if f.type.kind == "json")
    return apply_key(rows, t.key, t.name, report=report, json_columns=json_fields)


def complete_scopes(scope: tuple[str, ...], scopes: pa.Table | None, refused: list[RowError]) -> pa.Table | None:
    """The scope entries that may reconcile: those of snapshots whose rows for the table were all accepted.

    A snapshot with a refused row is not a complete picture of its scope (the row is in it, only unreadable), so it
    must not delete rows nor advance the watermark; its valid rows are still written under the row rules and the
    stored watermark. Entries with an unknown (NULL) scope value cannot reconcile anything either. When a refused
    row's scope cannot be told, no entry of the batch reconciles (the safe side).
    """
    if scopes is None or not scope:
        return scopes
    values = [tuple(entry[c] for c in scope) for entry in scopes.select(list(scope)).to_pylist()]
    bad = {tuple(err.row.get(c) for c in scope) for err in refused}
    known = not bad - set(values)
    keep = [known and None not in v and v not in bad for v in values]
    return scopes if all(keep) else scopes.filter(pa.array(keep, pa.bool_()))
