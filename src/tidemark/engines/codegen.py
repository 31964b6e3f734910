"""Row builders generated from the plan: one Python function per target that builds the rows of one explode (the
loop over the elements included), instead of a closure per field and a call per row.

For a target whose fields read ``about.inning``, ``about.halfInning`` and ``matchup.batter.id``, the generated
loop looks up ``about`` once per element and each leaf with one inline ``dict.get``, with no call per field. What
every element of the explode shares (values of the document or of an ancestor, the parent row's values, the
document fields) is read once, before the loop. Per element it tests the target's filter first (simple conditions
inline, the others through their closure), applies each field's transform and default, finds the candidates of
``lookup`` / ``fold`` fields and reads them inline, and builds the row as one list display. Field kinds the
generator does not inline are called through their closure, so any field source the engine supports works here.

Only literal keys, indexes and slot numbers (as ``repr`` literals) reach the generated source; filter values and
transforms are passed in as names of its namespace; nothing from a document does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tidemark.compile.plan import FieldPlan
from tidemark.engines.derived import match_key
from tidemark.engines.transforms import inline_form
from tidemark.mapping.filters import Condition
from tidemark.mapping.paths import JsonPath

#: ``(doc, source, anc, pv, out)``: the rows of one explode of ``source`` appended to ``out[index]`` (see
#: :class:`Shape`); for each element, ``prev = step(elem, state)`` when the target has ``previous`` fields; the
#: element is skipped when it does not pass the target's filter, else its row is built and appended, and each child
#: walks it (``child(doc, elem, (elem, *anc), row, out)``). ``pv`` is the parent's row.
WalkRows = Callable[[Any, Any, tuple[Any, ...], list[Any] | None, list[list[list[Any]]]], None]
FieldFn = Callable[[Any, Any, tuple[Any, ...], list[Any] | None, Any], Any]
Keep = Callable[[Any, Any, tuple[Any, ...]], bool]
Find = Callable[[Any, Any, tuple[Any, ...], Any], Any]


@dataclass(frozen=True)
class LookupStep:
    """A ``lookup`` / ``fold`` field, computed once the row's other values are known: ``find(doc, elem, anc, key)``
    gives the candidate for the value of field ``key_slot`` (a fold: -1, no key), and steps with the same ``memo``
    share it (found once per row); ``path`` is read from it (a fold's state: by its one key), then the field's
    ``transform`` and ``default`` apply. ``table(doc, elem, anc)``, when given, is what ``find`` searches, the same
    for every row of a document: the builder gets it once per explode and finds the candidate inline, by the
    element's identity (``by_element``: a fold) or by the key's match key (a lookup over a document-anchored
    source)."""

    slot: int
    key_slot: int
    memo: Any
    find: Find
    path: tuple[str | int, ...]
    transform: Callable[[Any], Any] | None = None
    default: Any = None
    table: Callable[[Any, Any, tuple[Any, ...]], dict[Any, Any]] | None = None
    by_element: bool = False


@dataclass(frozen=True)
class Shape:
    """How a target's rows are walked: the rows of target ``index`` go to ``out[index]``; ``kind`` is how its rows
    path explodes (``root``: the document itself; ``array`` / ``object``: its elements / values, read by ``rows_get``
    from the source, with ``explode(source)`` for anything else (a missing or mistyped value: maybe a rejection);
    ``one``: ``explode(source)``); ``holder.doc_base``: the document's values; ``previous``: the ``previous`` fields'
    state (``state()``, ``step(elem, state)``; ``simple``: the element before, whatever its values), or None;
    ``last_only``: the fields only the explode's last row keeps; ``children``: the walks of the targets under this
    one, called with each row."""

    index: int
    kind: str
    rows_get: Callable[[Any], Any]
    explode: Callable[[Any], Any]
    holder: Any
    previous: Any = None
    last_only: tuple[int, ...] = ()
    children: tuple[Callable[..., None], ...] = ()


@dataclass
class RowRecipe:
    """What the builder computes. ``inline``: path fields read per row (row / parent / doc anchored);
    ``parent_slots``: field -> slot of the parent's row; ``positions``: array index / object key fields;
    ``fallbacks``: field -> closure; ``base``: slots copied from the walk's per-explode values (document fields,
    the snapshot time); ``previous``: field -> (group, path) read from ``prev[group]``, the element before in that
    group's partition; ``transforms`` / ``defaults``: applied to the fields computed here (not to ``base``);
    ``conditions``: the filter, with ``keep`` its closure for conditions not inlined; ``lookups``: the lookup and
    fold fields, in declaration order (a lookup may use the value of an earlier one)."""

    inline: set[int] = field(default_factory=set)
    parent_slots: dict[int, int] = field(default_factory=dict)
    positions: set[int] = field(default_factory=set)
    fallbacks: dict[int, FieldFn] = field(default_factory=dict)
    base: set[int] = field(default_factory=set)
    previous: dict[int, tuple[int, tuple[str | int, ...]]] = field(default_factory=dict)
    transforms: dict[int, Callable[[Any], Any]] = field(default_factory=dict)
    defaults: dict[int, Any] = field(default_factory=dict)
    conditions: tuple[Condition, ...] = ()
    keep: Keep | None = None
    lookups: list[LookupStep] = field(default_factory=list)
    shape: Shape | None = None


class _Source:
    """Accumulates statements, caching every path prefix in a local variable. What is read from the document or an
    ancestor is the same for every element of one explode: those statements go to ``head``, run once before the
    loop; the others (from the element, the element before, a lookup's candidate) to ``lines``, run per element."""

    def __init__(self) -> None:
        self.head: list[str] = []
        self.lines: list[str] = []
        self.cache: dict[tuple[str, tuple[str | int, ...]], str] = {}
        self.namespace: dict[str, Any] = {}
        self.bases: dict[str, str] = {"elem": "elem", "doc": "doc"}

    def out(self, base: str) -> list[str]:
        """Where the statements reading from ``base`` go."""
        return self.head if base == "doc" or base.startswith("anc[") else self.lines

    def base(self, base: str) -> str:
        """A local variable holding ``base`` (an ancestor ``anc[i]`` is subscripted once)."""
        var = self.bases.get(base)
        if var is None:
            var = self.bases[base] = f"b{len(self.bases)}"
            self.out(base).append(f"    {var} = {base}")
        return var

    def value(self, base: str, segments: tuple[str | int, ...]) -> str:
        var, out = self.base(base), self.out(base)
        for i in range(len(segments)):
            key = (base, segments[: i + 1])
            cached = self.cache.get(key)
            if cached is None:
                cached = self._new(key)
                out.append(f"    {cached} = {_step(var, segments[i])}")
            var = cached
        return var

    def prefetch(self, paths: Sequence[tuple[str, tuple[str | int, ...]]]) -> None:
        """Read every prefix of ``paths`` not read yet, the keys of one object under one type test."""
        tree: dict[str, dict[str | int, Any]] = {}
        for base, segments in paths:
            node = tree.setdefault(base, {})
            for s in segments:
                node = node.setdefault(s, {})
        for base, children in tree.items():
            self._read(self.base(base), base, (), children)

    def _read(self, var: str, base: str, prefix: tuple[str | int, ...], children: dict[str | int, Any]) -> None:
        fresh = [s for s in children if (base, (*prefix, s)) not in self.cache]
        keys = [s for s in fresh if isinstance(s, str)]
        out = self.out(base)
        if len(keys) > 1:
            names = [self._new((base, (*prefix, s))) for s in keys]
            out.append(f"    if type({var}) is dict:")
            out += [f"        {n} = {var}.get({s!r})" for n, s in zip(names, keys, strict=True)]
            out.append(f"    else: {' = '.join(names)} = None")
        for s in fresh:
            if s not in keys or len(keys) == 1:
                out.append(f"    {self._new((base, (*prefix, s)))} = {_step(var, s)}")
        for s, grandchildren in children.items():
            if grandchildren:
                self._read(self.cache[(base, (*prefix, s))], base, (*prefix, s), grandchildren)

    def _new(self, key: tuple[str, tuple[str | int, ...]]) -> str:
        name = self.cache[key] = f"v{len(self.cache)}"
        return name

    def constant(self, value: Any) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name


def _step(var: str, s: str | int) -> str:
    """The expression reading key or index ``s`` of ``var``: None when ``var`` is not an object / an array that long."""
    if isinstance(s, str):
        return f"{var}.get({s!r}) if type({var}) is dict else None"
    return f"{var}[{s!r}] if type({var}) is list and {-s if s < 0 else s + 1} <= len({var}) else None"


def _base_of(path: JsonPath) -> str:
    if path.anchor == "row":
        return "elem"
    if path.anchor == "doc":
        return "doc"
    if path.anchor == "record":  # the walk keeps the raw record as the last ancestor
        return "anc[-1]"
    return f"anc[{path.depth - 1}]"


def _condition(src: _Source, c: Condition) -> str | None:
    """The inline test that is true when ``c`` fails (the element is skipped), or None when ``c`` is left to the
    closure.

    Same semantics as the closure (program.py ``_OPS``): ``==`` with a boolean matches only that boolean (``1`` is
    not ``true``); ``==`` with another value is Python equality, which never raises between JSON values."""
    if c.op not in ("==", "!=", "exists", "missing"):
        return None
    value = src.value(_base_of(c.path), c.path.segments)
    if c.op == "exists":
        return f"{value} is None"
    if c.op == "missing":
        return f"{value} is not None"
    if isinstance(c.value, bool):
        test = "is not" if c.op == "==" else "is"
        return f"{value} {test} {c.value!r}"
    if c.value is not None and not isinstance(c.value, str | int | float):
        return None
    constant = src.constant(c.value)
    return f"{'not ' if c.op == '==' else ''}({value} == {constant})"


def _field(src: _Source, j: int, f: FieldPlan, recipe: RowRecipe) -> str:
    """The expression of field ``j`` before its transform."""
    if j in recipe.inline and f.path is not None:
        return src.value(_base_of(f.path), f.path.segments)
    if j in recipe.parent_slots:  # the parent's row: the same for every element of the explode
        slot = recipe.parent_slots[j]
        if (name := f"p{slot}") not in src.bases:
            src.bases[name] = name
            src.head.append(f"    {name} = pv[{slot}] if pv else None")
        return name
    if j in recipe.positions:
        return "pos"
    if j in recipe.previous:
        group, segments = recipe.previous[j]
        return src.value(f"prev[{group}]", segments)
    if j in recipe.fallbacks:
        return f"{src.constant(recipe.fallbacks[j])}(doc, elem, anc, pv, pos)"
    return "None"


def _transform(src: _Source, transform: Callable[[Any], Any], x: str) -> str:
    """The expression applying ``transform`` to the (not None) value in ``x``: inline when it has a form for it."""
    form = inline_form(transform)
    if form is None:
        return f"{src.constant(transform)}({x})"
    template, get = form
    return template.format(x=x, t=src.constant(transform), get=src.constant(get) if get is not None else "")


def build_walk_function(fields: Sequence[FieldPlan], recipe: RowRecipe) -> WalkRows:
    """The function building the rows of one explode (see :data:`WalkRows` and :class:`RowRecipe`)."""
    src = _Source()
    assert recipe.shape is not None
    simple = recipe.shape.previous is not None and recipe.shape.previous.simple
    if simple:  # previous fields of no partition: simply the element before, kept in a local
        src.bases["prev[0]"] = "prev0"
    left = []
    for c in recipe.conditions:
        test = _condition(src, c)
        if test is None:
            left.append(c)
        else:
            src.lines.append(f"    if {test}: continue")
    if left and recipe.keep is not None:  # the closure tests every condition again: same result, rarely taken
        src.lines.append(f"    if not {src.constant(recipe.keep)}(doc, elem, anc): continue")
    inline = [
        p for j, f in enumerate(fields) if j in recipe.inline and j not in recipe.base and (p := f.path) is not None
    ]
    src.prefetch([(_base_of(p), p.segments) for p in inline] + [(f"prev[{g}]", s) for g, s in recipe.previous.values()])
    items = []
    for j, f in enumerate(fields):
        if j in recipe.base:  # the document's values: the same for every element
            src.head.append(f"    s{j} = base[{j}]")
            items.append(f"s{j}")
            continue
        expr = _field(src, j, f, recipe)
        if j not in recipe.transforms and j not in recipe.defaults:
            items.append(expr)
            continue
        src.lines.append(f"    x{j} = {expr}")
        if j in recipe.transforms:
            src.lines.append(f"    if x{j} is not None: x{j} = {_transform(src, recipe.transforms[j], f'x{j}')}")
        if j in recipe.defaults:
            src.lines.append(f"    if x{j} is None: x{j} = {src.constant(recipe.defaults[j])}")
        items.append(f"x{j}")
    _lookups(src, recipe.lookups, items)
    body = "\n".join(
        [
            "def walk(doc, source, anc, pv, out):",
            *_prologue(src, recipe.shape),
            *src.head,
            "    for pos, elem in items:",
            *_step_previous(recipe.shape, simple),
            *("    " + line for line in src.lines),
            f"        row = [{', '.join(items)}]",
            "        append(row)",
            *_children(src, recipe.shape),
            *_last_only(recipe.shape),
        ]
    )
    namespace = dict(src.namespace)
    exec(compile(body, "<tidemark row builder>", "exec"), namespace)  # source built from the plan only
    return namespace["walk"]  # type: ignore[no-any-return]


def _prologue(src: _Source, shape: Shape) -> list[str]:
    """The statements before the loop: the elements to walk, the document's values, the state of ``previous``."""
    explode = src.constant(shape.explode)
    lines = [f"    rows = out[{shape.index}]"]
    if shape.kind == "root":
        lines.append("    items = ((None, source),)")
    elif shape.kind in ("array", "object"):
        kind, each = ("list", "enumerate(value)") if shape.kind == "array" else ("dict", "value.items()")
        lines.append(f"    value = {src.constant(shape.rows_get)}(source)")
        lines.append(f"    items = {each} if type(value) is {kind} else {explode}(source)")
    else:
        lines.append(f"    items = {explode}(source)")
    lines.append(f"    base = {src.constant(shape.holder)}.doc_base")
    if shape.previous is not None and shape.previous.simple:
        lines.append("    last = None")
    elif shape.previous is not None:
        previous = src.constant(shape.previous)
        lines.append(f"    step, state = {previous}.step, {previous}.state()")
    if shape.last_only:
        lines.append("    start = len(rows)")
    return [*lines, "    append = rows.append"]


def _step_previous(shape: Shape, simple: bool) -> list[str]:
    """Every element moves the previous fields' state on, kept by the filter or not: the loop's first lines."""
    if shape.previous is None:
        return []
    if simple:
        return ["        prev0 = last", "        last = elem"]
    return ["        prev = step(elem, state)"]


def _children(src: _Source, shape: Shape) -> list[str]:
    if not shape.children:
        return []
    calls = [f"        {src.constant(child)}(doc, elem, ca, row, out)" for child in shape.children]
    return ["        ca = (elem, *anc)", *calls]


def _last_only(shape: Shape) -> list[str]:
    """only_on_last: the values stay on the explode's last row (the children saw them on every row)."""
    if not shape.last_only:
        return []
    return ["    for row in rows[start:-1]:", *(f"        row[{j}] = None" for j in shape.last_only)]


def _lookups(src: _Source, steps: Sequence[LookupStep], items: list[str]) -> None:
    """Compute the lookup / fold fields in declaration order, each candidate found once (by its memo) and read
    inline; ``items[slot]`` becomes the field's variable. A key that is a lookup field declared later is None (its
    value is not known yet), as the key of an earlier one is its final value."""
    found: dict[Any, str] = {}
    for step in steps:
        items[step.slot] = "None"  # until computed: a later lookup's value is not a key yet
    for step in steps:
        candidate = found.get(step.memo)
        if candidate is None:
            candidate = found[step.memo] = f"k{len(found)}"
            key = "None" if step.key_slot < 0 else items[step.key_slot]
            if not key.isidentifier():  # evaluated once, then read twice
                src.lines.append(f"    y{step.key_slot} = {key}")
                key = items[step.key_slot] = f"y{step.key_slot}"
            src.lines += _find(src, step, candidate, key)
            src.bases[candidate] = candidate
            _read_candidate(src, candidate, [other.path for other in steps if other.memo == step.memo])
        x = value = src.value(candidate, step.path)
        if step.transform is not None or step.default is not None:
            x = f"x{step.slot}"
            src.lines.append(f"    {x} = {value}")
        if step.transform is not None:
            src.lines.append(f"    if {x} is not None: {x} = {_transform(src, step.transform, x)}")
        if step.default is not None:
            src.lines.append(f"    if {x} is None: {x} = {src.constant(step.default)}")
        items[step.slot] = x


_UNSEEN = object()


def _read_candidate(src: _Source, candidate: str, paths: list[tuple[str | int, ...]]) -> None:
    """Read what the fields take from a candidate, the keys of one object under one type test; again only when the
    candidate is another object than the previous row's (rows in a row often share it: the same state of a fold,
    the same player; the document is not changed by the walk, so its values are the same)."""
    start = len(src.lines)
    src.prefetch([(candidate, path) for path in paths])
    reads = src.lines[start:]
    if reads:
        last = f"l{candidate}"
        src.head.append(f"    {last} = {src.constant(_UNSEEN)}")
        src.lines[start:] = [f"    if {candidate} is not {last}:", f"        {last} = {candidate}"]
        src.lines += ["    " + line for line in reads]


def _find(src: _Source, step: LookupStep, candidate: str, key: str) -> list[str]:
    """The statements setting ``candidate``: one call of ``find``, or, when the step has a per-document table, a
    dictionary lookup in it (the table got by the first row that needs it, as ``find`` would build it then)."""
    if step.table is None:
        return [f"    {candidate} = {src.constant(step.find)}(doc, elem, anc, {key})"]
    table = src.constant(step.table)
    var = f"t{table}"
    if var not in src.bases:
        src.bases[var] = var
        src.head.append(f"    {var} = None")
    get = [f"    if {var} is None: {var} = {table}(doc, elem, anc)"]
    if step.by_element:
        return [*get, f"    {candidate} = {var}.get(id(elem))"]
    match = src.constant(match_key)
    return [
        f"    if {key} is None: {candidate} = None",
        "    else:",
        *("    " + line for line in get),
        f"        {candidate} = {var}.get({key} if type({key}) is int else {match}({key}))",
    ]


@functools.cache  # pure: one function per distinct path, shared by every field, filter and lookup reading it
def build_getter(segments: tuple[str | int, ...]) -> Callable[[Any], Any]:
    """A function following ``segments`` (keys of objects, indexes of arrays, negative from the end) from its
    argument; None as soon as a step is missing or meets another kind of value."""
    lines = ["def get(v):"]
    for s in segments:
        if isinstance(s, str):
            lines += ["    if type(v) is not dict: return None", f"    v = v.get({s!r})"]
        else:
            lines += [
                f"    if type(v) is not list or len(v) < {-s if s < 0 else s + 1}: return None",
                f"    v = v[{s!r}]",
            ]
    lines.append("    return v")
    namespace: dict[str, Any] = {}
    exec(compile("\n".join(lines), "<tidemark getter>", "exec"), namespace)  # keys and indexes of the plan only
    return namespace["get"]  # type: ignore[no-any-return]
