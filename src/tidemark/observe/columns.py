"""What a run or a write writes, for lineage: each output table and, per column, the input fields its values come
from and how (OpenLineage's ``columnLineage`` facet; observe/lineage.py turns these into events).

- a mapping run (:func:`mapping_outputs`): every table of the plan; a column's input field is the JSON path it is
  read from, made absolute through the rows it is exploded from (``$.liveData.plays.allPlays[*].about.inning``); a
  column taken from a parent row names the parent's path; an array index or object key names the exploded rows;
  constants have no input field and are left out;
- a write (:func:`write_output`): its one table; a column comes from the input column of the same name, a computed
  key from the columns it is made from, a timestamp given as ISO 8601 text is parsed. The content hash is the
  contract's, not the input's, and is not listed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tidemark.compile.plan import FieldPlan, Plan, TargetPlan
from tidemark.mapping.paths import JsonPath
from tidemark.tables import TableSpec

if TYPE_CHECKING:
    from tidemark.write.plan import WritePlan


@dataclass(frozen=True)
class ColumnSource:
    """Where a column's values come from: input fields (JSON paths, or a write's input columns), and how."""

    fields: tuple[str, ...]
    subtype: str  # IDENTITY: the value as it is; TRANSFORMATION: converted, mapped, computed, an index or a key
    description: str


@dataclass(frozen=True)
class OutputTable:
    """One table a run writes: its spec (the ``schema`` facet) and its columns' sources (``columnLineage``)."""

    spec: TableSpec
    columns: dict[str, ColumnSource]


# -- a mapping run ---------------------------------------------------------------------------------------------------
def absolute_path(plan: Plan, target: TargetPlan, path: JsonPath) -> str:
    """``path`` as read from the document: row- and parent-relative paths joined to the rows they start from."""
    if path.anchor in ("doc", "record"):
        return path.text
    rows = target
    if path.anchor == "parent":
        by_name = {t.name: t for t in plan.targets}
        for _ in range(path.depth):
            rows = by_name.get(rows.parent or "", rows)
        rest = path.text[path.depth :]
    else:
        rest = path.text if path.text.startswith("[") else "." + path.text
    return rows.rows.text + rest


def field_source(plan: Plan, target: TargetPlan, f: FieldPlan) -> str | None:
    """The JSON path a column's values come from (None: a constant)."""
    if f.source == "parent_field" and target.parent is not None:
        parent = next((t for t in plan.targets if t.name == target.parent), None)
        pf = next((p for p in parent.fields if p.name == f.parent_field), None) if parent else None
        return field_source(plan, parent, pf) if parent is not None and pf is not None else None
    if f.source == "lookup" and f.lookup is not None:  # a value of the matching item of another array
        items = absolute_path(plan, target, f.lookup.source)
        value = f.lookup.path
        if value is None or value.anchor != "row":
            return items if value is None else absolute_path(plan, target, value)
        return items + (value.text if value.text.startswith("[") else "." + value.text)
    if f.source in ("index", "key"):
        return target.rows.text
    if f.source == "timestamp":
        return plan.timestamp.path.text if plan.timestamp.path is not None else None
    return absolute_path(plan, target, f.path) if f.path is not None else None


def column_sources(plan: Plan, target: TargetPlan) -> dict[str, ColumnSource]:
    """Column -> its source, for the columns of ``target`` read from the document (constants left out)."""
    out = {}
    for f in target.fields:
        path = field_source(plan, target, f)
        if path is None:
            continue
        if f.source in ("index", "key"):
            how = f"the {'array index' if f.source == 'index' else 'object key'} of the rows of {path}"
            out[f.name] = ColumnSource((path,), "TRANSFORMATION", how)
        elif f.convert or f.value_map or f.format or f.source in ("previous", "lookup"):
            done = f.convert or ("mapped" if f.value_map else f.source if f.source != "path" else f"format {f.format}")
            out[f.name] = ColumnSource((path,), "TRANSFORMATION", f"{path} ({done}) as {f.type}")
        else:
            out[f.name] = ColumnSource((path,), "IDENTITY", f"{path} as {f.type}")
    return out


def mapping_outputs(plan: Plan) -> list[OutputTable]:
    """Every table of a mapping's plan, parents first."""
    return [OutputTable(t.spec, column_sources(plan, t)) for t in plan.targets]


# -- a write ---------------------------------------------------------------------------------------------------------
def write_output(plan: WritePlan) -> OutputTable:
    """The table of a write: each column from the input column of its name, a computed key from its columns."""
    columns = {}
    for column in plan.spec.columns:
        name = column.name
        if plan.key is not None and name == plan.key.name:
            made_of = ", ".join(plan.key.columns)
            columns[name] = ColumnSource(plan.key.columns, "TRANSFORMATION", f"key computed from {made_of}")
        elif plan.parse_timestamp and name == plan.spec.timestamp:
            columns[name] = ColumnSource((name,), "TRANSFORMATION", f"{name} (ISO 8601 text parsed) as timestamp")
        elif name in plan.source.names:
            columns[name] = ColumnSource((name,), "IDENTITY", f"{name} as {column.type}")
    return OutputTable(plan.spec, columns)


__all__ = ["ColumnSource", "OutputTable", "column_sources", "field_source", "mapping_outputs", "write_output"]
