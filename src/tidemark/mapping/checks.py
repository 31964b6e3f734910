"""Semantic checks of a mapping: everything that pydantic's per-field validation cannot see.

Each problem is ``(yaml_loc, message)``; the loader turns the loc into ``file:line:col: targets[2].fields[3].path``.
The checks read the models' typed values (``rows_path``, ``json_path``, ``logical_type``, ``conditions``): the
strings were parsed once, when the models were validated. The compiler (compile/plan.py) uses :func:`ancestors` and
:func:`document_path` too.
"""

from __future__ import annotations

from tidemark.errors import did_you_mean
from tidemark.mapping.expectations import check_expectations
from tidemark.mapping.models import FieldSpec, Mapping, TargetSpec
from tidemark.mapping.paths import JsonPath
from tidemark.mapping.rules import check_rules

Loc = tuple[str | int, ...]
Problem = tuple[Loc, str]


def check_mapping(mapping: Mapping) -> list[Problem]:
    problems: list[Problem] = []
    by_name: dict[str, int] = {}
    for i, target in enumerate(mapping.targets):
        if target.table in by_name:
            problems.append((("targets", i, "table"), f"table {target.table!r} is declared twice"))
        by_name.setdefault(target.table, i)
    for i, target in enumerate(mapping.targets):
        problems += _check_target(mapping, i, target, by_name)
    return problems + check_expectations(mapping)  # the expectations: block (mapping/expectations.py)


def ancestors(mapping: Mapping, target: TargetSpec) -> list[TargetSpec]:
    """The chain of parents, nearest first (stops at a cycle or an unknown parent)."""
    by_name = {t.table: t for t in mapping.targets}
    chain: list[TargetSpec] = []
    current = target
    while current.parent is not None and current.parent in by_name:
        current = by_name[current.parent]
        if current in chain or current is target:
            break
        chain.append(current)
    return chain


def _check_target(mapping: Mapping, i: int, t: TargetSpec, by_name: dict[str, int]) -> list[Problem]:
    here: Loc = ("targets", i)
    depth = len(ancestors(mapping, t))
    names = [f.name for f in t.fields]
    known = set(names) | {t.timestamp} | ({t.key.name} if t.key is not None else set())
    out = _check_rows(mapping, t, by_name, here)
    for j, f in enumerate(t.fields):
        out += _check_field(mapping, t, f, depth, (*here, "fields", j))
        out += _check_derived(t, j, f, depth, (*here, "fields", j))
        if names.count(f.name) > 1 and names.index(f.name) != j:
            out.append(((*here, "fields", j, "name"), f"field {f.name!r} is declared twice"))
    if t.key is not None:  # a computed key column (contract/keys.py) is a column like the fields
        out += _check_key(t, names, (*here, "key"))
    out += _check_key_and_time(t, names, known, here)
    out += _check_scope(mapping, t, names, known, here)
    out += _check_columns(t, known, here)
    for k, fk in enumerate(t.foreign_keys):
        out += _check_fk(
            mapping, t, fk.columns, fk.references, fk.ref_columns, known, by_name, (*here, "foreign_keys", k)
        )
    out += _check_filter(t, depth, here)
    types = {t.timestamp: "timestamp"} | {f.name: f.logical_type.kind for f in t.fields}
    if t.key is not None:
        types[t.key.name] = "string"
    out += check_rules(t.rules, types, t.parent is None and t.rows_path.is_root, here)
    return out


def _check_rows(mapping: Mapping, t: TargetSpec, by_name: dict[str, int], here: Loc) -> list[Problem]:
    """Where the rows come from: a parent that exists (no loop) and a path of its row, or the document."""
    out: list[Problem] = []
    rows = t.rows_path
    if t.parent is not None:
        if t.parent not in by_name:
            out.append(((*here, "parent"), f"unknown parent target {t.parent!r}{did_you_mean(t.parent, by_name)}"))
        elif t.parent == t.table or any(a.table == t.table for a in ancestors(mapping, t)):
            out.append(((*here, "parent"), f"parent chain of {t.table!r} loops back to itself"))
        if rows.anchor != "row" or rows.explode == "none":
            out.append(
                ((*here, "rows"), "a child target's rows must explode a path of the parent row, e.g. 'playEvents[*]'")
            )
    elif rows.anchor == "record":
        out.append(((*here, "rows"), f"{t.rows!r}: rows come from the document ('$.'), not the record ('$$')"))
    elif rows.anchor != "doc":
        out.append(((*here, "rows"), f"{t.rows!r} is relative: start it at the document ('$.') or set 'parent'"))
    return out


def _check_key_and_time(t: TargetSpec, names: list[str], known: set[str], here: Loc) -> list[Problem]:
    """The primary key names columns, and a timestamp field has a type that orders rows."""
    out: list[Problem] = []
    for k, col in enumerate(t.primary_key):
        if col not in known:
            out.append(
                ((*here, "primary_key", k), f"primary key column {col!r} is not a field{did_you_mean(col, known)}")
            )
    if t.timestamp in names:
        ts_type = next(f.logical_type for f in t.fields if f.name == t.timestamp).kind
        if ts_type not in {"timestamp", "date", "int", "bigint", "double"}:
            out.append(((*here, "timestamp"), f"timestamp column {t.timestamp!r} has type {ts_type}: use timestamp"))
    return out


def _check_scope(mapping: Mapping, t: TargetSpec, names: list[str], known: set[str], here: Loc) -> list[Problem]:
    """Scope columns are what one document covers, and a scoped table's timestamp is the snapshot time."""
    out: list[Problem] = []
    for k, col in enumerate(t.scope or []):
        if col not in known:
            out.append(((*here, "scope", k), f"scope column {col!r} is not a field{did_you_mean(col, known)}"))
        elif col != t.timestamp and document_path(mapping, t, col) is None:
            out.append(
                (
                    (*here, "scope", k),
                    f"scope column {col!r} must come from the document ('$.' or '$$.' path, "
                    "or 'parent:' of one): a scope is what one document covers",
                )
            )
    if t.scope and t.timestamp in names:
        out.append(
            (
                (*here, "scope"),
                f"a scoped table holds whole snapshots, so its timestamp must be the document's snapshot time, but "
                f"{t.timestamp!r} is a field: drop that field (or name another column with 'timestamp:'), "
                "or set 'scope: []'",
            )
        )
    return out


def _check_columns(t: TargetSpec, known: set[str], here: Loc) -> list[Problem]:
    """Index and partition columns name columns of the table (a partition column once)."""
    out: list[Problem] = []
    for k, idx in enumerate(t.indexes):
        for m, col in enumerate(idx.columns):
            if col not in known:
                out.append(
                    (
                        (*here, "indexes", k, "columns", m),
                        f"index column {col!r} is not a field{did_you_mean(col, known)}",
                    )
                )
    for k, col in enumerate(t.partition_by):
        if col not in known:
            out.append(
                ((*here, "partition_by", k), f"partition column {col!r} is not a field{did_you_mean(col, known)}")
            )
        elif t.partition_by.index(col) != k:
            out.append(((*here, "partition_by", k), f"partition column {col!r} is listed twice"))
    return out


def _check_filter(t: TargetSpec, depth: int, here: Loc) -> list[Problem]:
    """A filter reaches no further up than the target's parents."""
    return [
        (
            (*here, "filter"),
            f"{cond.path.text!r} reaches {cond.path.depth} level(s) up; {t.table!r} has {depth} parent(s)",
        )
        for cond in t.conditions
        if cond.path.anchor == "parent" and cond.path.depth > depth
    ]


def _check_field(mapping: Mapping, t: TargetSpec, f: FieldSpec, depth: int, loc: Loc) -> list[Problem]:
    out: list[Problem] = []
    rows = t.rows_path
    if (p := f.json_path) is not None and p.anchor == "parent" and p.depth > depth:
        out.append(((*loc, "path"), f"{f.path!r} reaches {p.depth} level(s) up but {t.table!r} has {depth} parent(s)"))
    if f.parent is not None:
        parent = next((x for x in mapping.targets if x.table == t.parent), None)
        if parent is None:
            out.append(((*loc, "parent"), f"'parent: {f.parent}' needs the target to have a 'parent'"))
        else:
            pnames = [x.name for x in parent.fields] + [parent.timestamp]
            if f.parent not in pnames:
                out.append(
                    (
                        (*loc, "parent"),
                        f"parent target {parent.table!r} has no field {f.parent!r}{did_you_mean(f.parent, pnames)}",
                    )
                )
    if f.index and rows.explode != "array":
        out.append(((*loc, "index"), "'index: true' needs rows that explode an array ('...[*]')"))
    if f.key and rows.explode != "object":
        out.append(((*loc, "key"), "'key: true' needs rows that explode an object ('....*')"))
    if f.format is not None and f.logical_type.kind not in {"date", "timestamp"}:
        out.append(((*loc, "format"), f"'format' applies to date/timestamp fields, not {f.type}"))
    return out


def _check_derived(t: TargetSpec, j: int, f: FieldSpec, depth: int, loc: Loc) -> list[Problem]:
    """Checks of the derived sources: value, index_base, previous and lookup."""
    out: list[Problem] = []
    rows = t.rows_path
    if f.value and rows.explode == "none":
        out.append(((*loc, "value"), "'value: true' needs rows that explode an array or object ('...[*]' / '....*')"))
    if f.index_base and not f.index:
        out.append(((*loc, "index_base"), "'index_base' applies to 'index: true' fields"))
    if f.previous is not None and rows.explode == "none":
        out.append(
            (
                (*loc, "previous"),
                "'previous' needs rows that explode an array or object: it reads the element before this one",
            )
        )
    if f.lookup is not None:
        src = f.lookup.source
        if src.anchor == "parent" and src.depth > depth:
            out.append(
                (
                    (*loc, "lookup", "from"),
                    f"{src.text!r} reaches {src.depth} level(s) up but {t.table!r} has {depth} parent(s)",
                )
            )
        names = [x.name for x in t.fields]
        target = f.lookup.equals
        if target not in names:
            out.append(
                ((*loc, "lookup", "equals"), f"{target!r} is not a field of {t.table!r}{did_you_mean(target, names)}")
            )
        elif (other := t.fields[names.index(target)]).lookup is not None and names.index(target) >= j:
            what = "itself" if other is f else f"lookup field {target!r} declared after it"
            out.append(((*loc, "lookup", "equals"), f"a lookup can use fields and earlier lookups, not {what}"))
    return out


def _check_fk(
    mapping: Mapping,
    t: TargetSpec,
    cols: list[str],
    ref: str,
    ref_cols: list[str] | None,
    known: set[str],
    by_name: dict[str, int],
    loc: Loc,
) -> list[Problem]:
    out: list[Problem] = []
    for m, col in enumerate(cols):
        if col not in known:
            out.append(((*loc, "columns", m), f"foreign key column {col!r} is not a field{did_you_mean(col, known)}"))
    if ref not in by_name:
        out.append(((*loc, "references"), f"foreign key to unknown table {ref!r}{did_you_mean(ref, by_name)}"))
        return out
    target = mapping.targets[by_name[ref]]
    resolved = ref_cols or target.primary_key
    if not resolved:
        out.append(((*loc, "ref_columns"), f"{ref!r} has no primary key: name 'ref_columns'"))
    elif len(resolved) != len(cols):
        out.append(((*loc, "columns"), f"{len(cols)} column(s) reference {len(resolved)} column(s) of {ref!r}"))
    tnames = {f.name for f in target.fields} | {target.timestamp}
    for col in ref_cols or []:
        if col not in tnames:
            out.append(((*loc, "ref_columns"), f"{ref!r} has no column {col!r}{did_you_mean(col, tnames)}"))
    return out


def document_path(mapping: Mapping, t: TargetSpec, name: str) -> JsonPath | None:
    """The document-level path a field's value comes from (following ``parent:`` links), or None."""
    by_name = {x.table: x for x in mapping.targets}
    current: TargetSpec | None = t
    seen = 0
    while current is not None and seen <= len(mapping.targets):
        seen += 1
        f = next((x for x in current.fields if x.name == name), None)
        if f is None:
            return None
        if (p := f.json_path) is not None:
            if p.anchor in ("doc", "record") or (p.anchor == "row" and current.rows_path.is_root):
                return p if p.anchor != "row" else JsonPath(p.text, "doc", 0, p.segments)
            return None
        if f.parent is None or current.parent is None:
            return None
        name = f.parent
        current = by_name.get(current.parent)
    return None


def _check_key(t: TargetSpec, names: list[str], loc: Loc) -> list[Problem]:
    assert t.key is not None
    out: list[Problem] = []
    if t.key.name in names or t.key.name == t.timestamp:
        out.append(((*loc, "name"), f"key {t.key.name!r} has the name of a field: name the key differently"))
    available = set(names) | {t.timestamp}
    for k, col in enumerate(t.key.from_):
        if col not in available:
            out.append(((*loc, "from", k), f"key input {col!r} is not a field{did_you_mean(col, available)}"))
    return out


def identifier_problems(mapping: Mapping, max_bytes: int | None) -> list[Problem]:
    """Names longer than ``max_bytes`` (a store's ``Capabilities.max_identifier_bytes``, sinks/names.py): schema
    and table of each target, its columns (fields and a computed key) and named indexes. Not part of
    :func:`check_mapping`: the limit depends on the store (``tidemark validate`` checks the strictest, or
    ``--sink``'s)."""
    if max_bytes is None:
        return []
    out: list[Problem] = []

    def check(loc: Loc, what: str, name: str) -> None:
        size = len(name.encode())
        if size > max_bytes:
            out.append((loc, f"{what} {name!r} is {size} bytes, longer than the {max_bytes} a store holds: shorten it"))

    for i, t in enumerate(mapping.targets):
        for part in t.table.split("."):
            check(("targets", i, "table"), "name", part)
        for j, f in enumerate(t.fields):
            check(("targets", i, "fields", j, "name"), "column", f.name)
        if t.key is not None:
            check(("targets", i, "key", "name"), "column", t.key.name)
        for k, index in enumerate(t.indexes):
            if index.name:
                check(("targets", i, "indexes", k, "name"), "index", index.name)
    return out
