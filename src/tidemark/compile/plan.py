"""The extraction plan: a mapping compiled into plain, engine-neutral data (no I/O, no closures).

Engines (local today, Spark later) turn a :class:`Plan` into their own executable form. The plan fixes the order of
targets (parents before children), resolves every field to one kind of source, resolves scope columns to document
paths, and carries a :class:`~tidemark.tables.TableSpec` per target for the sinks.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from typing import Any, Literal, cast

from tidemark.compile.rules import RulePlan, compile_rules
from tidemark.errors import ConfigError, MappingError
from tidemark.keyspec import KeyRecipe
from tidemark.mapping.checks import ancestors, check_mapping, document_path
from tidemark.mapping.expectations import ExpectationSpec
from tidemark.mapping.filters import Condition
from tidemark.mapping.loader import format_loc
from tidemark.mapping.models import FieldSpec, Mapping, TargetSpec
from tidemark.mapping.paths import JsonPath
from tidemark.tables import Column, ForeignKey, Index, TableSpec
from tidemark.types import LogicalType

FieldSource = Literal["path", "parent_field", "index", "key", "timestamp", "value", "previous", "lookup", "fold"]


@dataclass(frozen=True)
class PreviousPlan:
    """Read ``path`` in the nearest earlier element of the exploded rows with equal values at ``within``."""

    path: JsonPath
    within: tuple[JsonPath, ...] = ()


@dataclass(frozen=True)
class LookupPlan:
    """Find the element of ``source`` whose ``where`` value (or position/key) equals field ``equals``; read ``path``."""

    source: JsonPath
    equals: str
    where: JsonPath | None = None
    path: JsonPath | None = None


@dataclass(frozen=True)
class FoldPlan:
    """Read value ``read`` of the named fold's state just before the row's element (engines/derived.py)."""

    name: str
    read: str


@dataclass(frozen=True)
class FieldPlan:
    name: str
    type: LogicalType
    source: FieldSource
    path: JsonPath | None = None
    parent_field: str | None = None
    nullable: bool = True
    default: Any = None
    format: str | None = None
    index_base: int = 0
    previous: PreviousPlan | None = None
    lookup: LookupPlan | None = None
    fold: FoldPlan | None = None
    convert: str | None = None  # a named conversion of the source value (engines/transforms.py)
    value_map: tuple[tuple[str, Any], ...] | None = None  # a vocabulary: source value as text -> stored value
    only_on_last: bool = False  # NULL on every row of an explode but its last (after the filter)


@dataclass(frozen=True)
class TargetPlan:
    name: str  # as written in the mapping: "schema.table"
    parent: str | None
    rows: JsonPath
    required: bool
    filter: tuple[Condition, ...]
    fields: tuple[FieldPlan, ...]
    spec: TableSpec
    scope_paths: tuple[JsonPath, ...]  # document-level path of each spec.scope column (timestamp excluded)
    children: tuple[str, ...] = ()
    key: KeyRecipe | None = None  # a computed key column: spec has it (first), the fields do not; the runtime adds it
    rules: tuple[RulePlan, ...] = ()  # data quality rules (compile/rules.py), checked by quality/ before prepare


@dataclass(frozen=True)
class TimestampPlan:
    path: JsonPath | None
    format: str | None
    from_captured_at: bool
    fallback: Literal["file_modified"] | None = None  # used when the primary source gives no time


@dataclass(frozen=True)
class Plan:
    source_name: str
    document_paths: tuple[JsonPath, ...]
    timestamp: TimestampPlan
    targets: tuple[TargetPlan, ...]  # parents before children
    #: the mapping's table expectations, checked after a run (quality/expectations.py)
    expectations: tuple[ExpectationSpec, ...] = ()

    def target(self, name: str) -> TargetPlan:
        for t in self.targets:
            if name in (t.name, t.spec.name):
                return t
        raise KeyError(name)

    @property
    def roots(self) -> tuple[TargetPlan, ...]:
        return tuple(t for t in self.targets if t.parent is None)


def compile_mapping(mapping: Mapping) -> Plan:
    """Compile a validated mapping; raise :class:`MappingError` if its semantic checks fail."""
    problems = check_mapping(mapping)
    if problems:
        raise MappingError([f"{format_loc(loc)}: {msg}" for loc, msg in problems])
    order = sorted(mapping.targets, key=lambda t: len(ancestors(mapping, t)))
    default_scope = _default_scope(mapping)
    plans = []
    for target in order:
        children = tuple(t.table for t in order if t.parent == target.table)
        plans.append(_compile_target(mapping, target, children, default_scope))
    src = mapping.source
    ts = src.timestamp
    return Plan(
        source_name=src.name,
        document_paths=src.document_paths,
        timestamp=TimestampPlan(
            path=ts.json_path,
            format=ts.format,
            from_captured_at=ts.from_ is not None,
            fallback=ts.fallback,
        ),
        targets=tuple(plans),
        expectations=tuple(mapping.expectations),
    )


def with_tie(plan: Plan, tie: str) -> Plan:
    """``plan`` with every target's tie mode set to ``tie`` (``tidemark run --tie``; contract/rules.py TIES)."""
    if tie not in ("hash", "incoming"):
        raise ConfigError(f"--tie {tie}: use hash (the default: order-independent) or incoming (the later row wins)")
    mode = cast(Literal["hash", "incoming"], tie)
    targets = tuple(dataclasses.replace(t, spec=dataclasses.replace(t.spec, tie=mode)) for t in plan.targets)
    return dataclasses.replace(plan, targets=targets)


def _default_scope(mapping: Mapping) -> tuple[str, ...]:
    roots = [t for t in mapping.targets if t.parent is None and t.rows_path.is_root]
    return tuple(roots[0].primary_key) if len(roots) == 1 else ()


def _compile_target(
    mapping: Mapping, t: TargetSpec, children: tuple[str, ...], default_scope: tuple[str, ...]
) -> TargetPlan:
    rows = t.rows_path
    fields = [_compile_field(f) for f in t.fields]
    names = {f.name for f in fields}
    if t.timestamp not in names:
        fields.append(FieldPlan(t.timestamp, LogicalType("timestamp"), "timestamp", nullable=False))
    if t.scope is not None:
        scope = tuple(t.scope)
    elif rows.is_root:
        scope = ()
    else:  # exploded rows: reconcile per document identity when the target carries it
        # only when the row time is the snapshot time: a scope is reconciled snapshot by snapshot
        ts_is_field = t.timestamp in names
        reachable = all(c in names and document_path(mapping, t, c) for c in default_scope)
        scope = default_scope if reachable and not ts_is_field else ()
    scope = tuple(c for c in scope if c != t.timestamp)
    scope_paths = tuple(p for c in scope if (p := document_path(mapping, t, c)) is not None)
    schema, _, table = t.table.rpartition(".")
    spec = TableSpec(
        schema=schema or None,
        name=table,
        columns=_key_columns(t) + tuple(Column(f.name, f.type, f.nullable, _description(t, f.name)) for f in fields),
        primary_key=tuple(t.primary_key) or ((t.key.name,) if t.key else ()),
        timestamp=t.timestamp,
        scope=scope,
        indexes=tuple(Index(tuple(i.columns), i.name, i.unique) for i in t.indexes),
        foreign_keys=tuple(_foreign_key(mapping, fk.columns, fk.references, fk.ref_columns) for fk in t.foreign_keys),
        description=t.description,
        partition_by=tuple(t.partition_by),
        tie=t.tie,
    )
    return TargetPlan(
        name=t.table,
        parent=t.parent,
        rows=rows,
        required=t.required,
        filter=t.conditions,
        fields=tuple(fields),
        spec=spec,
        scope_paths=scope_paths,
        children=children,
        key=_key_recipe(t),
        rules=compile_rules(t.rules, spec),
    )


def _key_columns(t: TargetSpec) -> tuple[Column, ...]:
    if t.key is None:
        return ()
    about = f"deterministic key from {', '.join(t.key.from_)} (docs/write.md)"
    return (Column(t.key.name, LogicalType("string"), nullable=False, description=about),)


def _key_recipe(t: TargetSpec) -> KeyRecipe | None:
    return None if t.key is None else t.key.recipe()


def _compile_field(f: FieldSpec) -> FieldPlan:
    common: dict[str, Any] = {
        "name": f.name,
        "type": f.logical_type,
        "nullable": f.nullable,
        "default": f.default,
        "format": f.format,
        "convert": f.convert,
        "value_map": None if f.map is None else tuple(f.map.items()),
        "only_on_last": f.only_on_last,
    }
    if f.json_path is not None:
        return FieldPlan(source="path", path=f.json_path, **common)
    if f.parent is not None:
        return FieldPlan(source="parent_field", parent_field=f.parent, **common)
    if f.value:
        return FieldPlan(source="value", **common)
    if f.previous is not None:
        prev = PreviousPlan(f.previous.json_path, f.previous.within_paths)
        return FieldPlan(source="previous", previous=prev, **common)
    if f.lookup is not None:
        lk = f.lookup
        lookup = LookupPlan(source=lk.source, equals=lk.equals, where=lk.where_path, path=lk.read_path)
        return FieldPlan(source="lookup", lookup=lookup, **common)
    if f.fold is not None:
        return FieldPlan(source="fold", fold=FoldPlan(f.fold.name, f.fold.read), **common)
    if f.index:
        return FieldPlan(source="index", index_base=f.index_base, **common)
    return FieldPlan(source="key", **common)


def _description(t: TargetSpec, name: str) -> str | None:
    f = next((x for x in t.fields if x.name == name), None)
    if f is None:
        return "snapshot time of the source document"
    return f.description


def _foreign_key(mapping: Mapping, cols: list[str], ref: str, ref_cols: list[str] | None) -> ForeignKey:
    target = next(t for t in mapping.targets if t.table == ref)
    schema, _, table = ref.rpartition(".")
    return ForeignKey(tuple(cols), schema or None, table, tuple(ref_cols or target.primary_key))


def plan_hash(plan: Plan) -> str:
    """sha256 of the compiled plan (its ``repr``: plain frozen data, stable across processes) and tidemark's version:
    two runs with the same hash ran the same mapping (targets, fields, rules, expectations). The applied-documents
    ledger (runtime/applied.py) and the run ledger (history/ledger.py) key on it. Kept per plan object (its text
    takes ~25 ms for mlb:live_game, and a stream asks for every micro-batch)."""
    known = _HASHES.get(id(plan))
    if known is not None and known[0] is plan:
        return known[1]
    from tidemark import __version__

    digest = hashlib.sha256(f"{__version__}\x00{plan!r}".encode()).hexdigest()
    if len(_HASHES) >= 32:
        _HASHES.clear()
    _HASHES[id(plan)] = (plan, digest)  # the plan is kept with its id: the id cannot be reused meanwhile
    return digest


_HASHES: dict[int, tuple[Plan, str]] = {}
