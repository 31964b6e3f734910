"""The local engine: one process, orjson to parse, the plan's :class:`~tidemark.engines.program.Program` to walk each
document, Arrow to type the columns.

The engine is the program plus what one process needs around it: a decoder (the plan's pruned msgspec decoder,
orjson for anything else), a buffer collecting each target's rows for the current batch, and the conversion of those
rows into typed Arrow tables. Documents are processed in slices of ``batch_documents`` so memory stays bounded
whatever the input size. A document that fails as a whole (unparseable, no snapshot time, a required path missing,
an array where an object was expected) is rejected and contributes no rows; the others go on.
"""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import orjson
import pyarrow as pa

from tidemark.compile.plan import FieldPlan, Plan, TargetPlan
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch, RejectedDocument, RowError
from tidemark.engines.convert import to_arrow
from tidemark.engines.decoder import build_decoder
from tidemark.engines.pool import ExtractPool, resolve_workers
from tidemark.engines.program import DocumentRows, Program, Rejection

_BOM = b"\xef\xbb\xbf"
_SLICE = 256  # rows transposed at a time


def _transpose(rows: list[list[Any]], width: int) -> list[list[Any]]:
    """Rows -> columns. In slices: ``zip(*rows)`` over a whole batch touches every row for each value it takes."""
    columns: list[list[Any]] = [[] for _ in range(width)]
    for start in range(0, len(rows), _SLICE):
        for column, values in zip(columns, zip(*rows[start : start + _SLICE], strict=True), strict=True):
            column += values
    return columns


class _TargetBuffer:
    """The rows of one target collected for the current batch, and their conversion into an Arrow table."""

    def __init__(self, plan: TargetPlan, shared: Iterable[int] = ()) -> None:
        self.plan = plan
        self.shared = set(shared)  # fields every row of one document has alike: converted once per document
        self.names = [f.name for f in plan.fields]
        self.key_slots = [j for j, f in enumerate(plan.fields) if f.name in plan.spec.primary_key]
        self.required = [j for j, f in enumerate(plan.fields) if not f.nullable]
        self.rows: list[list[Any]] = []
        self.origins: list[str] = []
        self.scopes: list[tuple[Any, ...]] = []
        self.runs: list[tuple[int, list[Any]]] = []  # per document with rows: (rows, its shared values)

    def take(self) -> tuple[pa.Table, list[RowError], pa.Table | None, list[str]]:
        """Type the collected rows into an Arrow table; report rows that fail; reset for the next batch. Also the
        origin of each row of the table (``ExtractBatch.origins``)."""
        columns = _transpose(self.rows, len(self.names))
        bad = self._missing(columns)
        arrays = []
        spread = self._spread() if self.shared and self.runs else None
        for j, f in enumerate(self.plan.fields):
            if spread is not None and j in self.shared:
                array, failures = self._shared_column(j, f, *spread)
            else:
                array, failures = to_arrow(columns[j], f.type, f.format)
            arrays.append(array)
            for i, reason in failures.items():
                bad.setdefault(i, []).append(f"{f.name}: {reason}")
        # the fields' columns: a computed key column of the spec is added later, by the runtime
        schema = pa.schema([pa.field(f.name, f.type.arrow) for f in self.plan.fields])
        table = pa.Table.from_arrays(arrays, schema=schema)
        errors = [self._row_error(i, reasons) for i, reasons in sorted(bad.items())]
        origins = self.origins
        if bad:
            mask = pa.array([i not in bad for i in range(len(self.rows))])
            table = table.filter(mask)
            origins = [o for i, o in enumerate(origins) if i not in bad]
        scopes = self._take_scopes()
        self.rows, self.origins, self.scopes, self.runs = [], [], [], []
        return table, errors, scopes, origins

    def _spread(self) -> tuple[pa.Array, npt.NDArray[np.int64]]:
        """The row -> document positions of the batch (one value per document repeated over its rows), and where
        each document's rows start: shared by every shared column."""
        counts = np.fromiter((n for n, _ in self.runs), dtype=np.int64, count=len(self.runs))
        starts = np.concatenate(([0], np.cumsum(counts)))
        return pa.array(np.repeat(np.arange(len(counts)), counts)), starts

    def _shared_column(
        self, j: int, f: FieldPlan, positions: pa.Array, starts: npt.NDArray[np.int64]
    ) -> tuple[pa.Array, dict[int, str]]:
        """Field ``j``'s column from one value per document: converted once, repeated by Arrow."""
        array, failures = to_arrow([base[j] for _, base in self.runs], f.type, f.format)
        array = array.take(positions)
        if failures:
            failures = {i: why for d, why in failures.items() for i in range(int(starts[d]), int(starts[d + 1]))}
        return array, failures

    def _missing(self, columns: list[list[Any]]) -> dict[int, list[str]]:
        """Rows lacking a required value -> the reasons, field by field (a whole column is searched in C first)."""
        bad: dict[int, list[str]] = {}
        for j in self.required:
            column = columns[j]
            if None in column:
                reason = f"{self.names[j]}: required value is missing"
                for i, value in enumerate(column):
                    if value is None:
                        bad.setdefault(i, []).append(reason)
        return bad

    def _take_scopes(self) -> pa.Table | None:
        spec = self.plan.spec
        if not spec.scope:
            return None
        schema = spec.scope_schema
        columns = list(zip(*self.scopes, strict=True)) if self.scopes else [() for _ in schema]
        fields = self.plan.fields
        arrays = [
            to_arrow(list(col), fields[self.names.index(f.name)].type)[0]
            for col, f in zip(columns, schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=schema)

    def _row_error(self, i: int, reasons: list[str]) -> RowError:
        names = self.names
        row = dict(zip(names, self.rows[i], strict=True))
        key = {names[j]: self.rows[i][j] for j in self.key_slots}
        return RowError(self.plan.name, key, "; ".join(reasons), row, self.origins[i])


class LocalEngine:
    """Runs a :class:`Plan` in this process. Thread-unsafe; create one per run."""

    name = "local"

    def __init__(self, plan: Plan, *, fast_decode: bool = True, workers: int | str = 1) -> None:
        self.plan = plan
        self.program = Program(plan)
        self.buffers = [_TargetBuffer(t.plan, t.shared_slots) for t in self.program.targets]
        self.decoder = build_decoder(plan) if fast_decode else None
        self._time_from_file = 0  # documents of the current batch timed by their file's modification time
        self.workers = resolve_workers(workers)
        self._fast_decode = fast_decode
        self._pool: ExtractPool | None = None

    def extract(self, documents: Iterable[RawDocument], *, batch_documents: int = 64) -> Iterator[ExtractBatch]:
        """The batches of ``documents``: in this process, or with ``workers`` > 1 by a pool of processes
        (engines/pool.py: the same batches, in the same order)."""
        if self.workers == 1:
            return self._extract(documents, batch_documents)
        if self._pool is None:  # started once, kept for the engine's life (a stream's micro-batches reuse it)
            self._pool = ExtractPool(self.plan, self.workers, fast_decode=self._fast_decode)
            weakref.finalize(self, self._pool.close)
        return self._pool.extract(documents, batch_documents=batch_documents)

    def _extract(self, documents: Iterable[RawDocument], batch_documents: int) -> Iterator[ExtractBatch]:
        # The cyclic garbage collector is paused while a batch is built: decoded documents and buffered rows are
        # millions of acyclic containers that it would otherwise rescan over and over (measured: ~40% of the time).
        # It is resumed whenever control returns to the caller.
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            batch = ExtractBatch()
            for raw in documents:
                batch.bytes_read += len(raw.data)
                reason = self._extract_one(raw)
                if reason is None:
                    batch.documents += 1
                else:
                    batch.rejected.append(RejectedDocument(raw.origin, reason))
                if batch.documents + len(batch.rejected) >= batch_documents:
                    done, batch = self._finish(batch), ExtractBatch()
                    if gc_was_enabled:
                        gc.enable()
                    yield done
                    gc.disable()
            if batch.documents or batch.rejected or batch.bytes_read:
                done = self._finish(batch)
                if gc_was_enabled:
                    gc.enable()
                yield done
        finally:
            if gc_was_enabled:
                gc.enable()

    def _finish(self, batch: ExtractBatch) -> ExtractBatch:
        batch.time_from_file, self._time_from_file = self._time_from_file, 0
        for buffer in self.buffers:
            table, errors, scopes, origins = buffer.take()
            batch.tables[buffer.plan.name] = table
            batch.origins[buffer.plan.name] = origins
            batch.row_errors.extend(errors)
            if scopes is not None:
                batch.scopes[buffer.plan.name] = scopes
        return batch

    def _extract_one(self, raw: RawDocument) -> str | None:
        """Decode one document and run the program over it into the buffers; a rejection reason, or None."""
        if raw.error is not None:
            return raw.error
        data = raw.data[3:] if raw.data.startswith(_BOM) else raw.data
        if not data.strip():
            return "empty document"
        try:
            record = self._parse(data)
        except orjson.JSONDecodeError as exc:
            if str(exc).startswith("depth limit exceeded"):  # orjson's limit: 1024 levels of arrays / objects
                return f"nested deeper than 1024 levels of arrays / objects ({exc}): flatten the document"
            return f"not valid JSON: {exc}"
        result = self.program.run(
            record, captured_at=raw.captured_at, modified_at=raw.modified_at, check_required=False
        )
        if isinstance(result, Rejection):
            return result.reason
        self._time_from_file += result.time_from_file
        self._collect(result, raw.origin)
        return None

    def _collect(self, result: DocumentRows, origin: str) -> None:
        buffers = self.buffers
        for buffer, rows, base in zip(buffers, result.by_target, result.bases, strict=True):  # the program's targets
            if rows:
                buffer.rows += rows
                buffer.origins += [origin] * len(rows)
                buffer.runs.append((len(rows), base))
        for target, values in result.scopes:
            buffers[target.index].scopes.append(values)

    def _parse(self, data: bytes) -> Any:
        """Decode with the plan's pruned decoder; documents of another shape fall back to orjson (same errors)."""
        if self.decoder is not None:
            try:
                return self.decoder.decode(data)
            except (msgspec.MsgspecError, UnicodeDecodeError):  # msgspec raises the latter on non-UTF-8 bytes
                pass
            except RecursionError:  # msgspec recurses into a deep value a field keeps whole; orjson stops at 1024
                pass
        return orjson.loads(data)
