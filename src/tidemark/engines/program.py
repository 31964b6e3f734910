"""The per-document program of a plan: one parsed record in, its rows per target out. Pure and picklable.

A :class:`Program` is built once from a :class:`~tidemark.compile.Plan`: path getters, filters, a generated row
builder per target (codegen.py), ``previous`` / ``lookup`` fields (derived.py) and the required-value checks.
:meth:`Program.run` then takes one parsed record (plus the capture / file times its source knows) and returns a
:class:`DocumentRows` (its rows per target, the rows missing a required value, its scope values) or a
:class:`Rejection`. It holds no buffer and keeps nothing from one document to the next, so any engine can run it:
the local engine adds a decoder, a batching buffer and the Arrow conversion; a distributed engine ships the program
to its workers (it pickles as its plan and rebuilds its closures where it is unpickled).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tidemark.compile.plan import FieldPlan, Plan, TargetPlan
from tidemark.engines.codegen import LookupStep, RowRecipe, Shape, WalkRows, build_getter, build_walk_function
from tidemark.engines.derived import Fold, FoldFailed, IndexCache, Lookup, Previous
from tidemark.engines.transforms import build_transform
from tidemark.mapping.filters import Condition
from tidemark.mapping.paths import JsonPath
from tidemark.timestamps import parse_timestamp

Getter = Callable[[Any], Any]


@dataclass(frozen=True)
class Rejection:
    """A document refused as a whole (no snapshot time, a required path missing, an array where an object was
    expected): it contributes no rows."""

    reason: str


@dataclass
class DocumentRows:
    """What one document becomes.

    ``by_target``: the rows of each of ``targets`` (the plan's, in order), each in document order, a row being the
    values of ``target.plan.fields`` in order; :attr:`rows` lists them as ``(target, row)``, target by target;
    ``missing``: position in :attr:`rows` -> reasons, for rows that lack a required value (the caller reports them as
    row errors; empty when :meth:`Program.run` was told not to check); ``scopes``: ``(target, scope values +
    snapshot time)`` for every scoped target, whether or not the document gave it rows; ``snapshot``: the
    document's snapshot time; ``time_from_file``: the snapshot time is the file's modification time (the mapping's
    ``file_modified`` fallback).
    """

    targets: list[TargetProgram]
    by_target: list[list[list[Any]]]
    scopes: list[tuple[TargetProgram, tuple[Any, ...]]]
    snapshot: datetime
    time_from_file: bool = False
    missing: dict[int, list[str]] = field(default_factory=dict)
    bases: list[list[Any]] = field(default_factory=list)  # per target: the values its rows share (shared_slots)

    @property
    def rows(self) -> list[tuple[TargetProgram, list[Any]]]:
        return [(t, row) for t, rows in zip(self.targets, self.by_target, strict=True) for row in rows]


class _Reject(Exception):
    """Raised inside a document walk; the document is rejected with this message."""


def make_getter(segments: tuple[str | int, ...]) -> Getter:
    """A function following ``segments`` through dicts/lists; None as soon as anything is missing (generated:
    one test and one lookup a segment, no loop)."""
    if not segments:
        return lambda obj: obj
    return build_getter(segments)


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


def _parent_field(slot: int) -> RowField:
    return lambda doc, elem, anc, pv, pos: pv[slot] if pv else None


def _element(doc: Any, elem: Any, anc: tuple[Any, ...], pv: list[Any] | None, pos: Any) -> Any:
    return elem


def _numbered(base: int) -> RowField:
    return lambda doc, elem, anc, pv, pos: pos + base


def _pairs(f: FieldPlan) -> dict[str, Any] | None:
    return None if f.value_map is None else dict(f.value_map)


def _kind(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}.get(type(value), "a number")


class TargetProgram:
    """One target's plan as closures: which rows it explodes, which it keeps, and how each row is built."""

    def __init__(
        self, index: int, plan: TargetPlan, parent: TargetProgram | None, index_cache: IndexCache | None = None
    ) -> None:
        self.index = index  # position in the plan's targets
        self.plan = plan
        self.parent = parent
        self.index_cache = index_cache or IndexCache()
        self.children: list[TargetProgram] = []
        self.width = len(plan.fields)
        self.rows_get = make_getter(plan.rows.segments)
        self.is_root, self.explodes = plan.rows.is_root, plan.rows.explode
        self.doc_base: list[Any] = []  # the current document's shared values (Program.run sets them)
        self.filter = _compile_filter(plan.filter)
        self.doc_fields: list[tuple[int, Getter]] = []
        self.record_fields: list[tuple[int, Getter]] = []
        self.inline: set[int] = set()  # path fields read per row: inlined by the row builder
        self.positions: set[int] = set()  # array index / object key fields
        self.parent_slots: dict[int, int] = {}  # field -> slot of the parent row
        self.fallbacks: dict[int, RowField] = {}  # fields the row builder calls a closure for
        self.previous_fields: list[tuple[int, tuple[str, ...], list[Getter]]] = []
        self.previous_paths: dict[int, tuple[str | int, ...]] = {}  # field -> path read from the element before
        self.lookups: list[Lookup | Fold] = []  # folds are found and read like lookups
        self.ts_slot: int | None = None
        for j, f in enumerate(plan.fields):
            self._add_field(j, f)
        transforms = [(j, f.source, build_transform(f.convert, _pairs(f))) for j, f in enumerate(plan.fields)]
        looked = ("lookup", "fold")
        self.transforms = [(j, t) for j, source, t in transforms if t is not None and source not in looked]
        self.lookup_transforms = {j: t for j, source, t in transforms if t is not None and source in looked}
        self.last_only = [j for j, f in enumerate(plan.fields) if f.only_on_last]
        self.previous = Previous(self.previous_fields) if self.previous_fields else None
        defaults = [(j, f.default) for j, f in enumerate(plan.fields) if f.default is not None]
        self.defaults = [(j, d) for j, d in defaults if plan.fields[j].source not in looked]
        self.lookup_defaults = {j: d for j, d in defaults if plan.fields[j].source in looked}
        # the builder transforms the fields it computes (previous fields too); document fields are transformed once
        # per explode
        shared = self._base_slots()
        self.base_transforms = [(j, t) for j, t in self.transforms if j in shared]
        self.base_defaults = [(j, d) for j, d in self.defaults if j in shared]
        self.required = [j for j, f in enumerate(plan.fields) if not f.nullable]
        # the fields every row of one document has alike (document fields, the snapshot time), unless only the
        # last row of an explode keeps them
        self.shared_slots = sorted(shared - set(self.last_only))
        self.scope_getters = [(p.anchor == "record", make_getter(p.segments)) for p in plan.scope_paths]

    def compile(self) -> None:
        """Generate the walk (codegen.py), once the targets under this one are compiled."""
        kind = "root" if self.is_root else self.explodes if self.explodes in ("array", "object") else "one"
        children = tuple(child.walk_rows for child in self.children)
        last_only = tuple(self.last_only)
        shape = Shape(self.index, kind, self.rows_get, self.explode, self, self.previous, last_only, children)
        self.walk_rows: WalkRows = build_walk_function(self.plan.fields, self._recipe(shape))

    def _base_slots(self) -> set[int]:
        slots = {j for j, _ in self.doc_fields} | {j for j, _ in self.record_fields}
        return slots if self.ts_slot is None else slots | {self.ts_slot}

    def _recipe(self, shape: Shape) -> RowRecipe:
        base = self._base_slots()
        computed = {j for j in range(self.width) if j not in base}
        group_of = self.previous.group_of if self.previous is not None else {}
        return RowRecipe(
            inline=self.inline,
            parent_slots=self.parent_slots,
            positions=self.positions,
            fallbacks=self.fallbacks,
            base=base,
            transforms={j: t for j, t in self.transforms if j in computed},
            defaults={j: d for j, d in self.defaults if j in computed},
            previous={j: (group_of[j], path) for j, path in self.previous_paths.items()},
            conditions=self.plan.filter,
            keep=self.filter,
            lookups=[
                LookupStep(
                    lk.slot,
                    lk.key_slot,
                    (lk.cache_key, lk.key_slot),  # lookups of one candidate by one key find it once per row
                    lk.find,
                    lk.path,
                    self.lookup_transforms.get(lk.slot),
                    self.lookup_defaults.get(lk.slot),
                    lk.table if isinstance(lk, Fold) or lk.per_document else None,
                    isinstance(lk, Fold),
                )
                for lk in self.lookups
            ],
            shape=shape,
        )

    def _add_field(self, j: int, f: FieldPlan) -> None:
        if f.source == "timestamp":
            self.ts_slot = j
        elif f.source == "path" and f.path is not None and f.path.anchor == "record":
            self.record_fields.append((j, make_getter(f.path.segments)))
        elif f.source == "path" and f.path is not None and (f.path.anchor == "doc" or self.plan.rows.is_root):
            self.doc_fields.append((j, make_getter(f.path.segments)))
        elif f.source == "path" and f.path is not None:
            self.inline.add(j)
        elif f.source == "parent_field":
            assert self.parent is not None and f.parent_field is not None
            self.parent_slots[j] = [x.name for x in self.parent.plan.fields].index(f.parent_field)
        elif f.source == "value":
            self.fallbacks[j] = _element
        elif f.source == "previous" and f.previous is not None:
            within = [make_getter(w.segments) for w in f.previous.within]
            within_key = tuple(w.text for w in f.previous.within)
            self.previous_fields.append((j, within_key, within))
            self.previous_paths[j] = f.previous.path.segments
        elif f.source == "lookup" and f.lookup is not None:
            self.lookups.append(self._lookup(j, f))
        elif f.source == "fold" and f.fold is not None:
            self.lookups.append(Fold(j, f.fold.name, f.fold.read, self.index_cache))
        elif f.index_base:
            self.fallbacks[j] = _numbered(f.index_base)
        else:  # index / key
            self.positions.add(j)

    def _lookup(self, j: int, f: FieldPlan) -> Lookup:
        lk = f.lookup
        assert lk is not None
        key_slot = [x.name for x in self.plan.fields].index(lk.equals)
        where = make_getter(lk.where.segments) if lk.where is not None else None
        read = lk.path.segments if lk.path is not None else ()
        cache_key = (lk.source.text, lk.where.text if lk.where is not None else "")
        source = _anchored(lk.source)
        per_document = lk.source.anchor in ("doc", "record")
        return Lookup(j, key_slot, source, cache_key, lk.source.explode, where, read, self.index_cache, per_document)

    def explode(self, source: Any) -> Iterable[tuple[Any, Any]]:
        if self.is_root:
            return ((None, source),)
        value = self.rows_get(source)
        explodes = self.explodes
        if explodes == "array" and type(value) is list:
            return enumerate(value)
        if value is None:
            if self.plan.required:
                raise _Reject(f"required path {self.plan.rows.text!r} of table {self.plan.name} is missing")
            return ()
        if explodes == "array":
            text = self.plan.rows.text
            raise _Reject(f"{text!r} of table {self.plan.name}: expected an array, found {_kind(value)}")
        if explodes == "object":
            if type(value) is not dict:
                text = self.plan.rows.text
                raise _Reject(f"{text!r} of table {self.plan.name}: expected an object, found {_kind(value)}")
            return value.items()
        return ((None, value),)  # a single nested object: one row

    def walk(
        self, doc: Any, source: Any, anc: tuple[Any, ...], pv: list[Any] | None, out: list[list[list[Any]]]
    ) -> None:
        """Append the rows of ``source`` (and of the targets under this one) to ``out[target.index]``."""
        self.walk_rows(doc, source, anc, pv, out)

    def base(self, doc: Any, anc: tuple[Any, ...], ts: datetime) -> list[Any]:
        """The values every row of one document shares (document fields, the snapshot time), transformed once."""
        base: list[Any] = [None] * self.width
        for j, get in self.doc_fields:
            base[j] = get(doc)
        for j, get in self.record_fields:
            base[j] = get(anc[-1])
        if self.ts_slot is not None:
            base[self.ts_slot] = ts
        for j, transform in self.base_transforms:
            if base[j] is not None:
                base[j] = transform(base[j])
        for j, default in self.base_defaults:
            if base[j] is None:
                base[j] = default
        return base

    def missing(self, row: list[Any]) -> list[str] | None:
        """Reasons for the required values this row lacks, or None."""
        for j in self.required:
            if row[j] is None:
                fields = self.plan.fields
                return [f"{fields[k].name}: required value is missing" for k in self.required if row[k] is None]
        return None


class Program:
    """A plan's per-document program (see the module docstring). Pickles as its plan; closures are rebuilt."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self._build()

    def _build(self) -> None:
        plan = self.plan
        by_name: dict[str, TargetProgram] = {}
        index_cache = IndexCache()  # lookups of every target share candidate indexes, within one document
        for i, tp in enumerate(plan.targets):  # parents come first in a plan
            parent = by_name[tp.parent] if tp.parent else None
            target = TargetProgram(i, tp, parent, index_cache)
            by_name[tp.name] = target
            if parent is not None:
                parent.children.append(target)
        self.targets = list(by_name.values())
        for target in reversed(self.targets):  # children come after their parent in a plan
            target.compile()
        self.roots = [t for t in self.targets if t.parent is None]
        self.scoped = [t for t in self.targets if t.plan.spec.scope]
        self.index_cache = index_cache
        self.doc_getters = [make_getter(p.segments) for p in plan.document_paths]
        ts = plan.timestamp
        self.ts_get = make_getter(ts.path.segments) if ts.path else None

    def __getstate__(self) -> dict[str, Any]:
        return {"plan": self.plan}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.plan = state["plan"]
        self._build()

    def run(
        self,
        record: Any,
        *,
        captured_at: datetime | None = None,
        modified_at: datetime | None = None,
        check_required: bool = True,
    ) -> DocumentRows | Rejection:
        """Walk one parsed record. ``captured_at`` / ``modified_at``: what the source knows of the record (its
        capture time, the modification time of its file), used as the mapping's timestamp says.
        ``check_required=False`` leaves ``missing`` empty (the local engine checks whole columns instead)."""
        doc = next((d for g in self.doc_getters if (d := g(record)) is not None), None)
        if doc is None:
            return Rejection(f"no document at {' or '.join(p.text for p in self.plan.document_paths)}")
        out: list[list[list[Any]]] = [[] for _ in self.targets]
        try:
            ts, from_file = self._timestamp(record, doc, captured_at, modified_at)
            anc = (record,)  # the raw record rides along as the last ancestor, for '$$.' paths
            bases = [target.base(doc, anc, ts) for target in self.targets]
            for target, base in zip(self.targets, bases, strict=True):
                target.doc_base = base
            for root in self.roots:
                root.walk(doc, doc, anc, None, out)
        except (_Reject, FoldFailed) as exc:
            return Rejection(str(exc))
        finally:
            self.index_cache.clear()  # nothing of this document is kept for the next
            for target in self.targets:
                target.doc_base = []
        scopes = [(t, (*(g(record if rec else doc) for rec, g in t.scope_getters), ts)) for t in self.scoped]
        result = DocumentRows(self.targets, out, scopes, ts, from_file, bases=bases)
        if check_required:
            for k, (target, row) in enumerate(result.rows):
                for j in target.required:  # the reasons only for a row that lacks something
                    if row[j] is None:
                        result.missing[k] = target.missing(row) or []
                        break
        return result

    def _timestamp(
        self, record: Any, doc: Any, captured_at: datetime | None, modified_at: datetime | None
    ) -> tuple[datetime, bool]:
        """The document's snapshot time, and whether it fell back to the file's modification time."""
        ts = self.plan.timestamp
        if ts.from_captured_at:
            if captured_at is not None:
                return captured_at, False
            value = record.get("captured_at") if type(record) is dict else None
            where = "captured_at (none given with the document, and no 'captured_at' key in its record)"
        else:
            assert self.ts_get is not None and ts.path is not None
            value = self.ts_get(record if ts.path.anchor == "record" else doc)
            where = ts.path.text
        if value is None and ts.fallback == "file_modified":
            if modified_at is not None:
                return modified_at, True
            where += " (and the input is not a file with a modification time)"
        if value is None:
            raise _Reject(f"no snapshot time at {where}")
        try:
            return parse_timestamp(str(value), ts.format), False
        except ValueError as exc:
            fmt = f" with format {ts.format!r}" if ts.format else " (ISO 8601)"
            raise _Reject(f"snapshot time {value!r} at {where} does not parse{fmt}") from exc
