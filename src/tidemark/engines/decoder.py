"""A JSON decoder compiled from the plan: it builds only the parts of a document the mapping reads.

Every path a plan can read (document envelopes, rows, fields, filters, scopes, the snapshot time) is collected into
a tree; the tree becomes nested ``TypedDict`` types for msgspec. msgspec then skips, in C and without allocating,
every key the mapping never looks at (a live game feed's ``gameData.players``, most of ``pitchData``...), and still
returns plain ``dict``/``list`` values, so the engine walks them exactly as it walks orjson's output.

Objects read through a key that is not ASCII are decoded whole (see :func:`_typed`): msgspec would miss that key.

A document whose shape differs from what the mapping expects (an array where an object is read, a string where an
array is exploded) fails msgspec's validation; the engine then falls back to ``orjson.loads`` for that document, and
reports the problem, if any, exactly as it would without this decoder. A document that is not UTF-8 falls back too
(msgspec does not check the strings it skips). Two differences are known and left (catching them would cost a scan
of every document): a number beyond the range of a double (``1e309``) in a part the mapping never reads is skipped
here, where orjson refuses the whole document; an integer beyond 64 bits is read exactly here, as a float by orjson.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

import msgspec

from tidemark.compile.plan import FieldPlan, Plan, TargetPlan
from tidemark.engines.derived import fold_definition
from tidemark.mapping.paths import JsonPath

Segment = str | int
_ARRAY = "[*]"
_OBJECT = ".*"
_names = itertools.count()


@dataclass
class _Node:
    """A part of the document the mapping reads. ``leaf``: read whole (any JSON value)."""

    kind: Literal["object", "array", "map"] = "object"
    leaf: bool = False
    children: dict[str, _Node] = field(default_factory=dict)
    element: _Node | None = None  # for arrays and maps

    def descend(self, segment: Segment) -> _Node:
        if segment in (_ARRAY, _OBJECT):
            self.kind = "array" if segment == _ARRAY else "map"
            if self.element is None:
                self.element = _Node()
            return self.element
        if isinstance(segment, int):  # positional reads: keep the whole value
            self.leaf = True
            return _Node()
        return self.children.setdefault(segment, _Node())


def _add(root: _Node, segments: tuple[Segment, ...], *, leaf: bool = True) -> None:
    node = root
    for s in segments:
        node = node.descend(s)
    node.leaf = node.leaf or leaf


def _element_paths(plan: Plan) -> dict[str, tuple[Segment, ...]]:
    """Each target's element path from the document root, with wildcards where rows explode."""
    out: dict[str, tuple[Segment, ...]] = {}
    for t in plan.targets:  # parents come first
        base = out[t.parent] if t.parent else ()
        rows = t.rows
        path = (*base, *rows.segments)
        if rows.explode == "array":
            path = (*path, _ARRAY)
        elif rows.explode == "object":
            path = (*path, _OBJECT)
        out[t.name] = path
    return out


def _anchored(
    path: JsonPath, target: TargetPlan, elements: dict[str, tuple[Segment, ...]], plan: Plan
) -> tuple[Segment, ...]:
    if path.anchor == "doc":
        return path.segments
    if path.anchor == "row":
        return (*elements[target.name], *path.segments)
    ancestor: TargetPlan = target
    for _ in range(path.depth):
        assert ancestor.parent is not None
        ancestor = plan.target(ancestor.parent)
    return (*elements[ancestor.name], *path.segments)


def document_paths(plan: Plan) -> list[tuple[tuple[Segment, ...], bool]]:
    """Every path (from the document root) that the local engine reads for ``plan``, and whether it is read whole.

    Row paths are not read whole: their elements are built from the fields read through them. Paths of the raw
    record around the document ('$$.') are listed by :func:`record_paths`.
    """
    elements = _element_paths(plan)
    reads: list[tuple[Segment, ...]] = []
    paths: list[tuple[tuple[Segment, ...], bool]] = [(elements[t.name], False) for t in plan.targets]
    if plan.timestamp.path is not None and plan.timestamp.path.anchor != "record":
        reads.append(plan.timestamp.path.segments)
    for t in plan.targets:
        for f in t.fields:
            if f.path is not None and f.path.anchor != "record":
                reads.append(_anchored(f.path, t, elements, plan))
            reads += _derived_reads(f, t, elements, plan)
        for cond in t.filter:
            if cond.path.anchor != "record":
                reads.append(_anchored(cond.path, t, elements, plan))
        for p in t.scope_paths:
            if p.anchor != "record":
                reads.append(p.segments)
    return paths + [(p, True) for p in reads]


def _derived_reads(
    f: FieldPlan, t: TargetPlan, elements: dict[str, tuple[Segment, ...]], plan: Plan
) -> list[tuple[Segment, ...]]:
    """What ``value``, ``previous`` and ``lookup`` fields read (document-anchored parts only)."""
    element = elements[t.name]
    if f.source == "value":
        return [element]
    if f.previous is not None:
        return [(*element, *p.segments) for p in (f.previous.path, *f.previous.within)]
    if f.fold is not None:  # document paths, as the fold names them
        return list(fold_definition(f.fold.name).reads)
    if f.lookup is None or f.lookup.source.anchor == "record":
        return []
    lk = f.lookup
    candidates = (*_anchored(lk.source, t, elements, plan), _ARRAY if lk.source.explode == "array" else _OBJECT)
    reads = [(*candidates, *p.segments) for p in (lk.where, lk.path) if p is not None]
    return reads if lk.path is not None else [*reads, candidates]


def record_paths(plan: Plan) -> list[tuple[Segment, ...]]:
    """Every '$$.' path (from the raw record's root) that the local engine reads for ``plan``."""
    found = [plan.timestamp.path] if plan.timestamp.path is not None else []
    for t in plan.targets:
        found += [f.path for f in t.fields if f.path is not None]
        found += [c.path for c in t.filter]
        found += list(t.scope_paths)
    reads = [p.segments for p in found if p.anchor == "record"]
    for t in plan.targets:
        for f in t.fields:
            lk = f.lookup
            if lk is not None and lk.source.anchor == "record":
                candidates = (*lk.source.segments, _ARRAY if lk.source.explode == "array" else _OBJECT)
                reads += [(*candidates, *p.segments) for p in (lk.where, lk.path) if p is not None]
                reads += [] if lk.path is not None else [candidates]
    return reads


def _typed(node: _Node) -> Any:
    if node.leaf:
        return Any
    if node.kind in ("array", "map"):
        assert node.element is not None
        inner = _typed(node.element)
        return (list[inner] if node.kind == "array" else dict[str, inner]) | None  # type: ignore[valid-type]
    if not node.children:  # an element no field reads into: keep it whole
        return Any
    if not all(key.isascii() for key in node.children):
        # msgspec matches a TypedDict's non-ASCII field names against their cached UTF-8 form, which CPython only
        # fills once something encodes that very string: until then such a key never matches and its value reads
        # as missing (msgspec PR #1126). Such an object is decoded whole instead (a plain dict, nothing pruned).
        return dict[str, Any] | None
    fields = {key: _typed(child) for key, child in node.children.items()}
    return TypedDict(f"Part{next(_names)}", fields, total=False) | None  # type: ignore[operator]


class PlanDecoder:
    """The pruned msgspec decoder of a plan, refusing (so the engine falls back to orjson) what orjson refuses."""

    def __init__(self, record: Any) -> None:
        self._decoder = msgspec.json.Decoder(record)

    def decode(self, data: bytes) -> Any:
        if not data.isascii():
            # msgspec never checks the UTF-8 of the strings it skips; orjson refuses the whole document
            data.decode("utf-8")
        return self._decoder.decode(data)


def build_decoder(plan: Plan) -> PlanDecoder | None:
    """A decoder for ``plan``'s records, or None when the plan reads documents whole."""
    record = _Node()
    record.children["captured_at"] = _Node(leaf=True)
    doc_paths = document_paths(plan)
    for envelope in plan.document_paths:
        if envelope.anchor != "doc" or any(isinstance(s, int) for s in envelope.segments):
            return None
        for path, whole in doc_paths:
            _add(record, (*envelope.segments, *path), leaf=whole)
    for path in record_paths(plan):
        _add(record, path)
    if record.leaf:
        return None
    return PlanDecoder(_typed(record))
