"""The Spark engine: the local engine's per-document work run inside Spark executors; the write stays on the driver.

Nothing of a mapping is implemented here. The documents are cut into **work items** of exactly ``batch_documents``
documents each (the last one fewer), the same slices the local engine makes, so every batch, and with it every
count of the contract (an in-batch reduction depends on what shares a batch), is the local engine's. One Spark job
runs a chunk of work items, one item per partition: ``mapInArrow`` hands each item to a
:class:`~tidemark.engines.local.LocalEngine` inside the executor (the shared per-document program, the decoder, the
batching buffer and the Arrow conversion, unchanged) and emits tagged rows: per batch, one Arrow IPC payload per
target's table and scopes, the content hash of the tables prepare leaves as they are (engines/spark_prepare.py),
plus one for the batch's row errors, rejected documents and counts. The driver rebuilds the
:class:`~tidemark.engines.base.ExtractBatch` objects in document order and writes them (contract and sink) while
the next chunk's job runs. It never holds more than two chunks' results.

Where the documents are read:

- **files and directories** (:class:`~tidemark.sources.files.FileSource`): the driver lists the files, as the
  local engine's source does, and the executors read them with the same reader (``read_files``: gzip, NDJSON,
  unreadable files as rejected documents), so the bytes never pass through the driver. A whole-file document counts
  one; NDJSON files are counted first by a small Spark job, so the work items can still hold exactly
  ``batch_documents`` documents (an item may take a range of a file's lines). Executors need the paths: on a
  cluster, a filesystem mounted at the same path everywhere (see docs/spark.md).
- **a raw directory** (``RawSource`` over a directory on a filesystem path): the executors read its records, the
  driver plans the work items from a listing and an index job (engines/spark_raw.py).
- **any other source** (documents in memory, a stream, a DuckDB / PostgreSQL raw store): the driver reads the
  documents and ships each work item to an executor.

The session is the active one if there is one, else one built from ``master`` and ``conf``; it is left running.
"""

from __future__ import annotations

import functools
import itertools
import os
import pickle
import sys
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa

from tidemark.compile.plan import Plan
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch
from tidemark.engines.local import LocalEngine
from tidemark.engines.spark_prepare import Eligible, adopt, hashes
from tidemark.engines.spark_raw import raw_work, reads_in_executors
from tidemark.engines.spark_rules import RuleRows, attach, broken_rows, rule_targets
from tidemark.errors import ConfigError
from tidemark.sources.base import Source
from tidemark.sources.dataframe import DataFrameSource
from tidemark.sources.files import FileSource, InputFile, read_files

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from tidemark.contract.counts import Mode
    from tidemark.runtime.applied import Ledger

DEFAULT_MASTER = "local[*]"
#: what the engine sets unless the caller's ``conf`` says otherwise (progress bars are the CLI's, not Spark's)
DEFAULT_CONF = {"spark.ui.showConsoleProgress": "false", "spark.sql.shuffle.partitions": "8"}
#: the rows every partition emits: work item, batch within it, kind (table / scopes / meta), target, payload
TAGGED = "item long, part int, kind string, target string, payload binary"
_TAGGED_SCHEMA = pa.schema(
    [
        ("item", pa.int64()),
        ("part", pa.int32()),
        ("kind", pa.string()),
        ("target", pa.string()),
        ("payload", pa.binary()),
    ]
)
_TAGGED_FIELDS = _TAGGED_SCHEMA.names


@dataclass(frozen=True)
class _Lines:
    """The documents ``start`` .. ``start + count - 1`` of one file, in the order ``read_files`` yields them."""

    file: InputFile
    start: int
    count: int

    def documents(self) -> Iterator[RawDocument]:
        """In an executor: those documents, read from the file."""
        return itertools.islice(read_files([self.file]), self.start, self.start + self.count)


class _Piece(Protocol):
    """Documents an executor reads itself: a range of a file's (``_Lines``), a raw directory's records
    (engines/spark_raw.py)."""

    def documents(self) -> Iterator[RawDocument]: ...


_Work = list[RawDocument | _Piece]


class SparkEngine:
    """Runs a :class:`Plan` in Spark executors (see the module's text). Create one per run."""

    name = "spark"

    def __init__(
        self,
        plan: Plan,
        *,
        master: str = DEFAULT_MASTER,
        conf: Mapping[str, str] | None = None,
        session: SparkSession | None = None,
        chunk_items: int | None = None,
        write_mode: Mode | None = None,
    ) -> None:
        self.plan = plan
        #: the write mode of the engine's batches, when the run has no ledger to say it (a stream: upsert)
        self.write_mode = write_mode
        self.master, self.conf = master, dict(conf or {})
        self._spark = session
        #: work items per Spark job; default: four per core of the session
        self.chunk_items = chunk_items
        #: the Spark job groups of this engine's jobs, extraction and quality rules (cancelled when a run stops early)
        self.group = f"tidemark-{uuid.uuid4().hex[:12]}"
        self.rules_group = f"{self.group}-rules"
        #: the targets whose quality rules Spark evaluates (engines/spark_rules.py)
        self.rules = rule_targets(plan)
        self.rule_rows = RuleRows.of(plan, _TAGGED_SCHEMA)
        #: the run's applied-documents ledger (runtime/applied.py), set by the run: skipped documents are not read
        self.ledger: Ledger | None = None
        #: the targets whose tables the executors prepare (engines/spark_prepare.py)
        self.eligible = Eligible.of(plan)
        if chunk_items is not None and chunk_items < 1:
            raise ConfigError(f"chunk_items must be at least 1, got {chunk_items}")
        if incoming := [t.name for t in plan.targets if t.spec.tie == "incoming"]:
            raise ConfigError(
                f"tie: incoming ({', '.join(incoming)}) needs the rows of a batch in input order, which the spark "
                "engine does not keep: use --engine local, or tie: hash"
            )

    @property
    def spark(self) -> SparkSession:
        if self._spark is None:
            self._spark = open_session(self.master, self.conf)
        return self._spark

    def extract(self, documents: Iterable[RawDocument], *, batch_documents: int = 64) -> Iterator[ExtractBatch]:
        """The documents read here, shipped to the executors in work items of ``batch_documents`` documents."""
        _check_batch(batch_documents)
        items = iter(documents)
        work = iter(lambda: list[RawDocument | _Piece](itertools.islice(items, batch_documents)), [])
        return self._batches(work, batch_documents)

    def extract_source(self, source: Source, *, batch_documents: int = 64) -> Iterator[ExtractBatch]:
        """Every document of ``source``: files and a DataFrame's rows are read by the executors, anything else
        through :meth:`extract`."""
        _check_batch(batch_documents)
        if isinstance(source, DataFrameSource):
            from tidemark.engines.spark_frame import frame_batches

            return frame_batches(self, source, batch_documents)
        if reads_in_executors(source):  # a raw directory: the executors read its records (engines/spark_raw.py)
            return self._batches(raw_work(self, source, batch_documents), batch_documents)
        if not isinstance(source, FileSource):  # read here: the ledger filters them here, as the local engine's
            documents = source.read() if self.ledger is None else self.ledger.filter(source.read())
            return self.extract(documents, batch_documents=batch_documents)
        from tidemark.engines.spark_applied import file_work

        return self._batches(file_work(self, source.listed, batch_documents), batch_documents)

    def _batches(self, work: Iterator[_Work], batch_documents: int) -> Iterator[ExtractBatch]:
        """Work items in chunks, one Spark job each (a DataFrame with one partition per item)."""
        size = self.chunk_size
        chunks = iter(lambda: list(itertools.islice(work, size)), [])
        jobs = (
            functools.partial(self._work_frame, number * size, chunk, batch_documents)
            for number, chunk in enumerate(chunks)
        )
        return self.run_jobs(jobs)

    @property
    def mode(self) -> Mode | None:
        """The run's write mode, as its ledger says (set by a batch run), else ``write_mode`` (a stream's): the
        executors' reductions are adopted only when it is known."""
        return self.write_mode if self.ledger is None else self.ledger.mode

    @property
    def chunk_size(self) -> int:
        """Work items per Spark job."""
        return self.chunk_items or 4 * self.spark.sparkContext.defaultParallelism

    def run_jobs(self, jobs: Iterator[Callable[[], DataFrame]]) -> Iterator[ExtractBatch]:
        """Each job's tagged rows (a DataFrame ``jobs`` makes) collected and rebuilt into batches, in order; the
        next job runs while this one's batches are written."""
        sc = self.spark.sparkContext  # the session is made here, on the caller's thread
        futures: list[Future[list[ExtractBatch]]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tidemark-spark") as pool:
            try:
                for job in jobs:
                    futures.append(pool.submit(self._collect, job))
                    if len(futures) > 1:
                        yield from futures.pop(0).result()
                if futures:
                    yield from futures.pop().result()
            finally:  # a run that stops early (a failed write or job) does not wait for the rest of the input
                if any(not f.done() for f in futures):
                    sc.cancelJobGroup(self.group)
                    sc.cancelJobGroup(self.rules_group)

    def _work_frame(self, first: int, chunk: list[_Work], batch_documents: int) -> DataFrame:
        """A chunk of work items as a DataFrame, one partition per item, and its tagged rows."""
        # one record batch per work item: Spark makes one partition of each
        batches = [
            pa.record_batch(
                [pa.array([first + i], pa.int64()), pa.array([pickle.dumps(w)], pa.binary())], ["item", "work"]
            )
            for i, w in enumerate(chunk)
        ]
        frame = self.spark.createDataFrame(pa.Table.from_batches(batches))
        run = functools.partial(_extract_partition, self.plan, batch_documents, self.rule_rows, self.eligible)
        return frame.mapInArrow(run, self.tagged_schema)

    @property
    def tagged_schema(self) -> Any:
        """What the executors emit: the tagged rows, and with rules their rows (engines/spark_rules.py)."""
        return TAGGED if self.rule_rows is None else self.rule_rows.spark_schema()

    def _collect(self, job: Callable[[], DataFrame]) -> list[ExtractBatch]:
        """Run one job: its tagged rows back as one Arrow table, rebuilt; the quality rules evaluated by Spark."""
        sc = self.spark.sparkContext
        sc.setJobGroup(self.group, "tidemark extract", interruptOnCancel=True)
        tagged = job()
        if not self.rules:
            return _in_order(_rebuild(tagged.toArrow(), self.eligible, self.mode))
        # the quality rules in Spark SQL over the same rows (engines/spark_rules.py): extracted once, kept by Spark
        assert self.rule_rows is not None
        tagged = tagged.persist()
        try:
            payloads = tagged.where(tagged["kind"] != "rules").select(*_TAGGED_FIELDS).toArrow()
            rebuilt = _rebuild(payloads, self.eligible, self.mode)
            sc.setJobGroup(self.rules_group, "tidemark quality rules", interruptOnCancel=True)
            attach(rebuilt, broken_rows(tagged, self.rule_rows, self.rules).toArrow(), self.rules)
        finally:
            tagged.unpersist()
        return _in_order(rebuilt)


def open_session(master: str = DEFAULT_MASTER, conf: Mapping[str, str] | None = None) -> SparkSession:
    """The active Spark session, else a new one for ``master`` with ``conf`` (over :data:`DEFAULT_CONF`).

    For a local master, Python workers run this interpreter (``PYSPARK_PYTHON``, unless set: the workers need
    tidemark and pyarrow) and Spark binds to the loopback address (``SPARK_LOCAL_IP``, unless set).
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as exc:  # pragma: no cover - the extra is installed wherever the tests run
        raise ConfigError("the spark engine needs pyspark: pip install 'tidemark-etl[spark]'") from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(master).appName("tidemark")
    for key, value in {**DEFAULT_CONF, **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _check_batch(batch_documents: int) -> None:
    if batch_documents < 1:  # a work item of no documents would never end the input
        raise ConfigError(f"batch_documents must be at least 1, got {batch_documents}")


def _count(f: InputFile) -> int:
    """In an executor: the documents of one file, as ``read_files`` yields them."""
    return sum(1 for _ in read_files([f]))


def _documents(work: _Work) -> Iterator[RawDocument]:
    for item in work:
        if isinstance(item, RawDocument):
            yield item
        else:
            yield from item.documents()


def _extract_partition(
    plan: Plan,
    batch_documents: int,
    rule_rows: RuleRows | None,
    eligible: Eligible,
    inputs: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """In an executor: the local engine over every work item of the partition, each batch as tagged rows."""
    engine = LocalEngine(plan)
    for record in inputs:
        for item, payload in zip(record.column(0).to_pylist(), record.column(1).to_pylist(), strict=True):
            work: _Work = pickle.loads(payload)
            for part, batch in enumerate(engine.extract(_documents(work), batch_documents=batch_documents)):
                yield from emit(item, part, batch, rule_rows, eligible)


def emit(
    item: int, part: int, batch: ExtractBatch, rule_rows: RuleRows | None, eligible: Eligible
) -> Iterator[pa.RecordBatch]:
    """In an executor: a batch as tagged rows (the hash columns of its eligible tables: spark_prepare.py), and with
    rules its targets' rows for the rules (spark_rules.py)."""
    tagged = tagged_rows(item, part, batch, eligible)
    if rule_rows is None:
        yield tagged
        return
    yield rule_rows.widen(tagged)
    yield from rule_rows.rows(item, part, batch)


def tagged_rows(item: int, part: int, batch: ExtractBatch, eligible: Eligible) -> pa.RecordBatch:
    rows: list[tuple[str, str, bytes]] = [("table", name, _ipc(t)) for name, t in batch.tables.items()]
    rows += [("scopes", name, _ipc(t)) for name, t in batch.scopes.items()]
    for name, column, reduced in hashes(batch, eligible):
        rows.append(("hash", name, _ipc(column)))
        if reduced is not None:
            rows.append(("reduced", name, _ipc(reduced)))
    meta = (batch.row_errors, batch.rejected, batch.documents, batch.bytes_read, batch.time_from_file, batch.origins)
    rows.append(("meta", "", pickle.dumps(meta)))
    kinds, targets, payloads = zip(*rows, strict=True)
    return pa.record_batch(
        [
            pa.array([item] * len(rows), pa.int64()),
            pa.array([part] * len(rows), pa.int32()),
            pa.array(kinds, pa.string()),
            pa.array(targets, pa.string()),
            pa.array(payloads, pa.binary()),
        ],
        ["item", "part", "kind", "target", "payload"],
    )


def _ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()  # type: ignore[no-any-return]


def _rebuild(tagged: pa.Table, eligible: Eligible, mode: Mode | None) -> dict[tuple[int, int], ExtractBatch]:
    """On the driver: the batches of a chunk's tagged rows, by (work item, batch within it); the tables the
    executors prepared for ``mode`` (None: not known, reductions are left to the driver) adopted."""
    batches: dict[tuple[int, int], ExtractBatch] = {}
    hashed: list[tuple[ExtractBatch, str, pa.Table]] = []
    reduced: dict[tuple[int, str], pa.Table] = {}
    items, parts = tagged.column("item").to_pylist(), tagged.column("part").to_pylist()
    kinds, targets, payloads = (tagged.column(c) for c in ("kind", "target", "payload"))
    for i, (item, part) in enumerate(zip(items, parts, strict=True)):
        batch = batches.setdefault((item, part), ExtractBatch())
        kind, target, payload = kinds[i].as_py(), targets[i].as_py(), payloads[i].as_buffer()
        if kind == "meta":
            b = batch
            b.row_errors, b.rejected, b.documents, b.bytes_read, b.time_from_file, b.origins = pickle.loads(payload)
        elif kind == "hash":
            hashed.append((batch, target, pa.ipc.open_stream(payload).read_all()))
        elif kind == "reduced":
            reduced[id(batch), target] = pa.ipc.open_stream(payload).read_all()
        else:
            table = pa.ipc.open_stream(payload).read_all()
            (batch.tables if kind == "table" else batch.scopes)[target] = table
    for batch, target, hash_column in hashed:
        spec, winners = eligible.specs[target], reduced.get((id(batch), target))
        if (prepared := adopt(batch.tables[target], hash_column, spec, winners, mode)) is not None:
            batch.prepared[target] = prepared
    return batches


def _in_order(batches: dict[tuple[int, int], ExtractBatch]) -> list[ExtractBatch]:
    return [batches[k] for k in sorted(batches)]


def dataframe_batches(frame: Any) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """A Spark DataFrame as Arrow record batches on the driver, one partition at a time (``tidemark.write``).

    In the executors ``mapInArrow`` writes each Arrow batch of a partition as one Arrow IPC payload;
    ``toLocalIterator`` fetches those partition after partition, in order, so the driver holds one partition's
    payloads at most, never the whole frame. The schema is the one ``DataFrame.toArrow`` gives (the session's
    time zone for timestamps); every batch is cast to it.
    """
    schema: pa.Schema = frame.limit(0).toArrow().schema

    def batches() -> Iterator[pa.RecordBatch]:
        for row in frame.mapInArrow(_ipc_batches, "payload binary").toLocalIterator():
            for batch in pa.ipc.open_stream(row[0]):
                yield batch if batch.schema.equals(schema) else batch.cast(schema)

    return schema, batches()


def _ipc_batches(inputs: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """In an executor: each batch of the partition as one row holding its Arrow IPC payload."""
    for batch in inputs:
        if batch.num_rows:
            yield pa.record_batch([pa.array([_ipc(pa.Table.from_batches([batch]))], pa.binary())], ["payload"])


__all__ = [
    "DEFAULT_CONF",
    "DEFAULT_MASTER",
    "SparkEngine",
    "dataframe_batches",
    "emit",
    "open_session",
    "tagged_rows",
]
