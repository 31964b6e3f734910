"""The local engine: one process, orjson to parse, plain Python to walk the plan, Arrow to type the columns.

The plan is turned into closures once (path getters, filters, field extractors); each document is then walked
without interpretation overhead. Documents are processed in slices of ``batch_documents`` so memory stays bounded
whatever the input size. A document that fails as a whole (unparseable, no snapshot time, a required path missing,
an array where an object was expected) is rejected and contributes no rows; the others go on.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

import msgspec
import orjson
import pyarrow as pa

from tidemark.compile.plan import FieldPlan, Plan, TargetPlan
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch, RejectedDocument, RowError
from tidemark.engines.codegen import RowBuilder, build_row_function
from tidemark.engines.convert import parse_timestamp, to_arrow
from tidemark.engines.decoder import build_decoder
from tidemark.engines.derived import IndexCache, Lookup, Previous
from tidemark.mapping.filters import Condition
from tidemark.mapping.paths import JsonPath

Getter = Callable[[Any], Any]
_BOM = b"\xef\xbb\xbf"
_UNSET = object()


class _Reject(Exception):
    """Raised inside a document walk; the document is rejected with this message."""


def make_getter(segments: tuple[str | int, ...]) -> Getter:
    """A function following ``segments`` through dicts/lists; None as soon as anything is missing."""
    if not segments:
        return lambda obj: obj
    if len(segments) == 1 and isinstance(segments[0], str):
        k0 = segments[0]
        return lambda obj: obj.get(k0) if type(obj) is dict else None
    if len(segments) == 2 and all(isinstance(s, str) for s in segments):
        a, b = segments

        def get2(obj: Any) -> Any:
            obj = obj.get(a) if type(obj) is dict else None
            return obj.get(b) if type(obj) is dict else None

        return get2

    def get(obj: Any) -> Any:
        for s in segments:
            if type(s) is str:
                if type(obj) is not dict:
                    return None
                obj = obj.get(s)
            elif type(obj) is list and type(s) is int and -len(obj) <= s < len(obj):
                obj = obj[s]
            else:
                return None
        return obj

    return get


def _anchored(path: JsonPath) -> Callable[[Any, Any, tuple[Any, ...]], Any]:
    """A getter taking (document, element, ancestors) according to the path's anchor."""
    g = make_getter(path.segments)
    if path.anchor == "doc":
        return lambda doc, elem, anc: g(doc)
    if path.anchor == "row":
        return lambda doc, elem, anc: g(elem)
    if path.anchor == "record":  # the walk keeps the raw record as the last ancestor
        return lambda doc, elem, anc: g(anc[-1])
    depth = path.depth - 1
    return lambda doc, elem, anc: g(anc[depth])


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: a == b and type(a) is type(b) if isinstance(b, bool) else a == b,
    "!=": lambda a, b: not (a == b and (type(a) is type(b) if isinstance(b, bool) else True)),
    "<": lambda a, b: a is not None and a < b,
    "<=": lambda a, b: a is not None and a <= b,
    ">": lambda a, b: a is not None and a > b,
    ">=": lambda a, b: a is not None and a >= b,
    "exists": lambda a, b: a is not None,
    "missing": lambda a, b: a is None,
}


def _compile_filter(conditions: tuple[Condition, ...]) -> Callable[[Any, Any, tuple[Any, ...]], bool] | None:
    if not conditions:
        return None
    compiled = [(_anchored(c.path), _OPS[c.op], c.value) for c in conditions]

    def keep(doc: Any, elem: Any, anc: tuple[Any, ...]) -> bool:
        for get, op, value in compiled:
            try:
                if not op(get(doc, elem, anc), value):
                    return False
            except TypeError:  # comparing incomparable types: the row does not match
                return False
        return True

    return keep


RowField = Callable[[Any, Any, tuple[Any, ...], list[Any] | None, Any], Any]


def _path_field(get: Callable[[Any, Any, tuple[Any, ...]], Any]) -> RowField:
    return lambda doc, elem, anc, pv, pos: get(doc, elem, anc)


def _parent_field(slot: int) -> RowField:
    return lambda doc, elem, anc, pv, pos: pv[slot] if pv else None


def _position(doc: Any, elem: Any, anc: tuple[Any, ...], pv: list[Any] | None, pos: Any) -> Any:
    return pos


def _element(doc: Any, elem: Any, anc: tuple[Any, ...], pv: list[Any] | None, pos: Any) -> Any:
    return elem


def _numbered(base: int) -> RowField:
    return lambda doc, elem, anc, pv, pos: pos + base


class _TargetRunner:
    """A target's plan as closures, plus the rows collected for the current batch."""

    def __init__(self, plan: TargetPlan, parent: _TargetRunner | None, index_cache: IndexCache | None = None) -> None:
        self.plan = plan
        self.parent = parent
        self.index_cache = index_cache or IndexCache()
        self.children: list[_TargetRunner] = []
        self.width = len(plan.fields)
        self.rows_get = make_getter(plan.rows.segments)
        self.filter = _compile_filter(plan.filter)
        self.doc_fields: list[tuple[int, Getter]] = []
        self.record_fields: list[tuple[int, Getter]] = []
        self.row_fields: list[tuple[int, RowField]] = []
        self.previous_fields: list[tuple[int, Getter, tuple[str, ...], list[Getter]]] = []
        self.lookups: list[Lookup] = []
        self.ts_slot: int | None = None
        for j, f in enumerate(plan.fields):
            self._add_field(j, f)
        self.previous = Previous(self.previous_fields) if self.previous_fields else None
        self.build_row = self._row_builder()
        defaults = [(j, f.default) for j, f in enumerate(plan.fields) if f.default is not None]
        self.defaults = [(j, d) for j, d in defaults if plan.fields[j].source != "lookup"]
        self.lookup_defaults = {j: d for j, d in defaults if plan.fields[j].source == "lookup"}
        self.required = [j for j, f in enumerate(plan.fields) if not f.nullable]
        self.key_slots = [j for j, f in enumerate(plan.fields) if f.name in plan.spec.primary_key]
        self.scope_getters = [(p.anchor == "record", make_getter(p.segments)) for p in plan.scope_paths]
        self.rows: list[list[Any]] = []
        self.origins: list[str] = []
        self.errors: dict[int, list[str]] = {}
        self.scopes: list[tuple[Any, ...]] = []

    def _add_field(self, j: int, f: FieldPlan) -> None:
        if f.source == "timestamp":
            self.ts_slot = j
        elif f.source == "path" and f.path is not None and f.path.anchor == "record":
            self.record_fields.append((j, make_getter(f.path.segments)))
        elif f.source == "path" and f.path is not None and (f.path.anchor == "doc" or self.plan.rows.is_root):
            self.doc_fields.append((j, make_getter(f.path.segments)))
        elif f.source == "path" and f.path is not None:
            self.row_fields.append((j, _path_field(_anchored(f.path))))
        elif f.source == "parent_field":
            assert self.parent is not None and f.parent_field is not None
            slot = [x.name for x in self.parent.plan.fields].index(f.parent_field)
            self.row_fields.append((j, _parent_field(slot)))
        elif f.source == "value":
            self.row_fields.append((j, _element))
        elif f.source == "previous" and f.previous is not None:
            within = [make_getter(w.segments) for w in f.previous.within]
            within_key = tuple(w.text for w in f.previous.within)
            self.previous_fields.append((j, make_getter(f.previous.path.segments), within_key, within))
        elif f.source == "lookup" and f.lookup is not None:
            lk = f.lookup
            key_slot = [x.name for x in self.plan.fields].index(lk.equals)
            where = make_getter(lk.where.segments) if lk.where is not None else None
            read = make_getter(lk.path.segments) if lk.path is not None else make_getter(())
            cache_key = (lk.source.text, lk.where.text if lk.where is not None else "")
            source = _anchored(lk.source)
            self.lookups.append(
                Lookup(j, key_slot, source, cache_key, lk.source.explode, where, read, self.index_cache)
            )
        elif f.index_base:
            self.row_fields.append((j, _numbered(f.index_base)))
        else:  # index / key
            self.row_fields.append((j, _position))

    def _row_builder(self) -> RowBuilder:
        """One generated function building a row (see codegen.py); closures for the field kinds it cannot inline."""
        inline, parent_slots, positions, fallbacks = set(), {}, set(), {}
        for j, fn in self.row_fields:
            f = self.plan.fields[j]
            if f.source == "path":
                inline.add(j)
            elif f.source == "parent_field" and self.parent is not None and f.parent_field is not None:
                parent_slots[j] = [x.name for x in self.parent.plan.fields].index(f.parent_field)
            elif fn is _position:
                positions.add(j)
            else:
                fallbacks[j] = fn
        return build_row_function(self.plan.fields, inline, parent_slots, positions, fallbacks)

    def explode(self, source: Any) -> Iterable[tuple[Any, Any]]:
        rows = self.plan.rows
        if rows.is_root:
            return ((None, source),)
        value = self.rows_get(source)
        if value is None:
            if self.plan.required:
                raise _Reject(f"required path {rows.text!r} of table {self.plan.name} is missing")
            return ()
        if rows.explode == "array":
            if type(value) is not list:
                raise _Reject(f"{rows.text!r} of table {self.plan.name}: expected an array, found {_kind(value)}")
            return enumerate(value)
        if rows.explode == "object":
            if type(value) is not dict:
                raise _Reject(f"{rows.text!r} of table {self.plan.name}: expected an object, found {_kind(value)}")
            return value.items()
        return ((None, value),)  # a single nested object: one row

    def walk(
        self,
        doc: Any,
        source: Any,
        anc: tuple[Any, ...],
        pv: list[Any] | None,
        ts: datetime,
        out: list[tuple[_TargetRunner, list[Any]]],
    ) -> None:
        base: list[Any] = [None] * self.width
        for j, get in self.doc_fields:
            base[j] = get(doc)
        for j, get in self.record_fields:
            base[j] = get(anc[-1])
        if self.ts_slot is not None:
            base[self.ts_slot] = ts
        keep = self.filter
        previous = self.previous
        state = previous.state() if previous is not None else None
        for pos, elem in self.explode(source):
            before = previous.values(elem, state) if previous is not None and state is not None else None
            if keep is not None and not keep(doc, elem, anc):
                continue
            row = self.build_row(doc, elem, anc, pv, pos, base)
            if before is not None:
                for j, value in before:
                    row[j] = value
            for j, default in self.defaults:
                if row[j] is None:
                    row[j] = default
            if self.lookups:
                self._look_up(doc, elem, anc, row)
            out.append((self, row))
            if self.children:
                child_anc = (elem, *anc)
                for child in self.children:
                    child.walk(doc, elem, child_anc, row, ts, out)

    def _look_up(self, doc: Any, elem: Any, anc: tuple[Any, ...], row: list[Any]) -> None:
        defaults = self.lookup_defaults
        found: dict[tuple[tuple[str, ...], int], Any] = {}  # lookups of one candidate by one key find it once
        for lookup in self.lookups:  # in declaration order: a lookup may use an earlier one (with its default)
            memo = (lookup.cache_key, lookup.key_slot)
            candidate = found.get(memo, _UNSET)
            if candidate is _UNSET:
                candidate = found[memo] = lookup.find(doc, elem, anc, row)
            value = None if candidate is None else lookup.read(candidate)
            row[lookup.slot] = defaults.get(lookup.slot) if value is None else value

    def take(self) -> tuple[pa.Table, list[RowError], pa.Table | None]:
        """Type the collected rows into an Arrow table; report rows that fail; reset for the next batch."""
        self.index_cache.clear()
        columns = list(zip(*self.rows, strict=True)) if self.rows else [() for _ in range(self.width)]
        bad: dict[int, list[str]] = {i: list(r) for i, r in self.errors.items()}
        arrays = []
        for j, f in enumerate(self.plan.fields):
            array, failures = to_arrow(list(columns[j]), f.type, f.format)
            arrays.append(array)
            for i, reason in failures.items():
                bad.setdefault(i, []).append(f"{f.name}: {reason}")
        # the fields' columns: a computed key column of the spec is added later, by the runtime
        schema = pa.schema([pa.field(f.name, f.type.arrow) for f in self.plan.fields])
        table = pa.Table.from_arrays(arrays, schema=schema)
        errors = [self._row_error(i, reasons) for i, reasons in sorted(bad.items())]
        if bad:
            mask = pa.array([i not in bad for i in range(len(self.rows))])
            table = table.filter(mask)
        scopes = self._take_scopes()
        self.rows, self.origins, self.errors, self.scopes = [], [], {}, []
        return table, errors, scopes

    def _take_scopes(self) -> pa.Table | None:
        spec = self.plan.spec
        if not spec.scope:
            return None
        schema = spec.scope_schema
        columns = list(zip(*self.scopes, strict=True)) if self.scopes else [() for _ in schema]
        arrays = [
            to_arrow(list(col), self.plan.fields[self._slot(f.name)].type)[0]
            for col, f in zip(columns, schema, strict=True)
        ]
        return pa.Table.from_arrays(arrays, schema=schema)

    def _slot(self, name: str) -> int:
        return [f.name for f in self.plan.fields].index(name)

    def _row_error(self, i: int, reasons: list[str]) -> RowError:
        names = [f.name for f in self.plan.fields]
        row = dict(zip(names, self.rows[i], strict=True))
        key = {names[j]: self.rows[i][j] for j in self.key_slots}
        return RowError(self.plan.name, key, "; ".join(reasons), row, self.origins[i])

    def check_required(self, row: list[Any], index: int) -> None:
        missing = [self.plan.fields[j].name for j in self.required if row[j] is None]
        if missing:
            self.errors[index] = [f"{name}: required value is missing" for name in missing]


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


class LocalEngine:
    """Runs a :class:`Plan` in this process. Thread-unsafe; create one per run."""

    name = "local"

    def __init__(self, plan: Plan, *, fast_decode: bool = True) -> None:
        self.plan = plan
        self.runners: dict[str, _TargetRunner] = {}
        index_cache = IndexCache()  # lookups of every target share candidate indexes
        for tp in plan.targets:  # parents come first in a plan
            parent = self.runners[tp.parent] if tp.parent else None
            runner = _TargetRunner(tp, parent, index_cache)
            self.runners[tp.name] = runner
            if parent is not None:
                parent.children.append(runner)
        self.roots = [r for r in self.runners.values() if r.parent is None]
        self.doc_getters = [make_getter(p.segments) for p in plan.document_paths]
        self.decoder = build_decoder(plan) if fast_decode else None
        ts = plan.timestamp
        self.ts_get = make_getter(ts.path.segments) if ts.path else None

    def extract(self, documents: Iterable[RawDocument], *, batch_documents: int = 64) -> Iterator[ExtractBatch]:
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
        for name, runner in self.runners.items():
            table, errors, scopes = runner.take()
            batch.tables[name] = table
            batch.row_errors.extend(errors)
            if scopes is not None:
                batch.scopes[name] = scopes
        return batch

    def _extract_one(self, raw: RawDocument) -> str | None:
        """Walk one document into the runners' buffers; return a rejection reason, or None when accepted."""
        if raw.error is not None:
            return raw.error
        data = raw.data[3:] if raw.data.startswith(_BOM) else raw.data
        if not data.strip():
            return "empty document"
        try:
            record = self._parse(data)
        except orjson.JSONDecodeError as exc:
            return f"not valid JSON: {exc}"
        doc = next((d for g in self.doc_getters if (d := g(record)) is not None), None)
        if doc is None:
            return f"no document at {' or '.join(p.text for p in self.plan.document_paths)}"
        try:
            ts = self._timestamp(raw, record, doc)
            out: list[tuple[_TargetRunner, list[Any]]] = []
            for root in self.roots:  # the raw record rides along as the last ancestor, for '$$.' paths
                root.walk(doc, doc, (record,), None, ts, out)
        except _Reject as exc:
            return str(exc)
        for runner, row in out:
            runner.check_required(row, len(runner.rows))
            runner.rows.append(row)
            runner.origins.append(raw.origin)
        for runner in self.runners.values():
            if runner.plan.spec.scope:
                runner.scopes.append((*(g(record if rec else doc) for rec, g in runner.scope_getters), ts))
        return None

    def _parse(self, data: bytes) -> Any:
        """Decode with the plan's pruned decoder; documents of another shape fall back to orjson (same errors)."""
        if self.decoder is not None:
            try:
                return self.decoder.decode(data)
            except (msgspec.MsgspecError, UnicodeDecodeError):  # msgspec raises the latter on non-UTF-8 bytes
                pass
        return orjson.loads(data)

    def _timestamp(self, raw: RawDocument, record: Any, doc: Any) -> datetime:
        ts = self.plan.timestamp
        if ts.from_captured_at:
            if raw.captured_at is not None:
                return raw.captured_at
            value = record.get("captured_at") if type(record) is dict else None
            where = "captured_at (none given with the document, and no 'captured_at' key in its record)"
        else:
            assert self.ts_get is not None and ts.path is not None
            value = self.ts_get(record if ts.path.anchor == "record" else doc)
            where = ts.path.text
        if value is None and ts.fallback == "file_modified":
            if raw.modified_at is not None:
                return raw.modified_at
            where += " (and the input is not a file with a modification time)"
        if value is None:
            raise _Reject(f"no snapshot time at {where}")
        try:
            return parse_timestamp(str(value), ts.format)
        except ValueError as exc:
            fmt = f" with format {ts.format!r}" if ts.format else " (ISO 8601)"
            raise _Reject(f"snapshot time {value!r} at {where} does not parse{fmt}") from exc
