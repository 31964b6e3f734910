"""A mapping tried on sample documents without writing anything (``tidemark validate --sample``).

The sample is extracted by the same engine a run uses; what a run would only warn about afterwards (runtime/result.py:
a table without rows, a column NULL in every row) is reported here up front, each finding placed in the mapping file
(``file:line:col: targets[i].fields[j].path``) so the path can be fixed where it is written. A column's path "never
resolves" when no row of the sample holds a value for it: the path names nothing in these documents (a typo, or the
wrong mapping), or only ever explicit nulls. Rejected documents of the sample are listed with their reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tidemark.compile.plan import Plan, TargetPlan, compile_mapping
from tidemark.engines import extract_source, open_engine
from tidemark.engines.base import RejectedDocument
from tidemark.mapping.loader import Loc, load_mapping, locate
from tidemark.mapping.models import Mapping
from tidemark.sources import open_source


@dataclass(frozen=True)
class SampleFinding:
    """A table that made no row from the sample (``column`` None), or a column without a value in any row."""

    table: str
    column: str | None
    where: str  # file:line:col: yaml.path of the target's rows / the field's path in the mapping
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class SampleReport:
    """What a mapping made of sample documents: rows per table, findings, documents rejected."""

    mapping: str
    documents: int = 0
    rows: dict[str, int] = field(default_factory=dict)
    filled: dict[str, dict[str, int]] = field(default_factory=dict)
    rejected: list[RejectedDocument] = field(default_factory=list)
    findings: list[SampleFinding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every table made rows and every path resolved, and no document was rejected."""
        return not self.findings and not self.rejected


def check_sample(mapping_ref: str | Path, inputs: Iterable[Path], *, engine: str = "local") -> SampleReport:
    """Extract the documents of ``inputs`` (files, directories) with the mapping; nothing is written."""
    mapping, path = load_mapping(mapping_ref)
    plan = compile_mapping(mapping)
    report = SampleReport(mapping=str(path))
    report.rows = {t.name: 0 for t in plan.targets}
    report.filled = {t.name: {f.name: 0 for f in t.fields} for t in plan.targets}
    for batch in extract_source(open_engine(engine, plan), open_source(list(inputs))):
        report.documents += batch.documents
        report.rejected.extend(batch.rejected)
        for name, table in batch.tables.items():
            report.rows[name] += table.num_rows
            filled = report.filled[name]
            for column in filled:
                values = table.column(column)
                filled[column] += len(values) - values.null_count
    if report.documents:
        report.findings = _findings(plan, mapping, path, report)
    return report


def _findings(plan: Plan, mapping: Mapping, path: Path, report: SampleReport) -> list[SampleFinding]:
    index = {t.table: i for i, t in enumerate(mapping.targets)}
    docs = f"{report.documents:,} document(s)"
    out = []
    for target in plan.targets:
        i = index[target.name]
        rows = report.rows[target.name]
        if not rows:
            where = locate(path, ("targets", i, "rows") if mapping.targets[i].rows != "$" else ("targets", i))
            why = f"rows {target.rows.text!r} made no row from {docs}"
            if target.parent is not None and not report.rows.get(target.parent):
                why += f" (its parent {target.parent} made none either)"
            out.append(SampleFinding(target.name, None, where, f"{target.name}: {why}"))
            continue
        out.extend(_empty_columns(target, mapping, path, i, rows, report.filled[target.name]))
    return out


def _empty_columns(
    target: TargetPlan, mapping: Mapping, path: Path, i: int, rows: int, filled: dict[str, int]
) -> list[SampleFinding]:
    fields = {f.name: j for j, f in enumerate(mapping.targets[i].fields)}
    out = []
    for f in target.fields:
        if f.path is None or f.name not in fields or f.default is not None:
            continue  # positions, parent copies and defaulted fields always hold a value: nothing to resolve
        if filled.get(f.name):
            continue
        loc: Loc = ("targets", i, "fields", fields[f.name], "path")
        message = f"{target.name}.{f.name}: path {f.path.text!r} never resolves to a value in {rows:,} row(s)"
        out.append(SampleFinding(target.name, f.name, locate(path, loc), message))
    return out
