"""Quality rules evaluated over Arrow batches, in DuckDB, from the rules' compiled SQL (compile/rules.py).

The local engine's rows are Arrow tables; DuckDB reads them in place and evaluates every rule of a target in one
query (``SELECT NOT COALESCE(<passes>, TRUE) AS v0, ... ORDER BY row``). The same expressions render in Spark SQL
(:meth:`~tidemark.compile.rules.RulePlan.sql`), so no rule is written twice.

Row rules (:func:`check_rows`) run per target after extraction, before the write contract's ``prepare``; document
rules (:func:`reject_documents`) run per batch first, because rejecting a document removes its rows from every
target and its entries from the scopes (a rejected snapshot must not reconcile anything).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from tidemark.compile.plan import Plan, TargetPlan
from tidemark.compile.rules import RulePlan
from tidemark.contract.prepare import RowError
from tidemark.engines.base import ExtractBatch, RejectedDocument
from tidemark.errors import MappingError
from tidemark.quality.errors import QualityError

_ROWS, _ORDER = "_tm_quality", "_tm_row"
_duck: list[Any] = []  # one in-memory DuckDB for the process; each call uses its own cursor
_duck_lock = threading.Lock()
Flags = np.ndarray[Any, np.dtype[np.bool_]]


@dataclass
class Checked:
    """The outcome of a target's row rules over one batch.

    ``rows`` are the rows to write (without the quarantined ones); ``errors`` the quarantined rows (each reason
    names the rules broken); ``broken`` counts the rows that broke each rule (every action), ``warnings`` those of
    ``warn`` rules; ``failure`` is the error of the first ``fail`` rule broken (the caller raises it).
    """

    rows: pa.Table
    errors: list[RowError] = field(default_factory=list)
    broken: dict[str, int] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    failure: QualityError | None = None


def violations(
    rows: pa.Table, rules: Sequence[RulePlan], table: str = "", known: Mapping[str, Flags] | None = None
) -> list[Flags]:
    """For each rule, which rows break it: ``known`` flags where the engine evaluated the rule (Spark), the others in
    one DuckDB query."""
    known = {k: f for k, f in (known or {}).items() if len(f) == rows.num_rows}
    computed = iter(_evaluate(rows, [r for r in rules if r.name not in known], table))
    return [known[r.name] if r.name in known else next(computed) for r in rules]


def _evaluate(rows: pa.Table, rules: Sequence[RulePlan], table: str) -> list[Flags]:
    n = rows.num_rows
    if not rules or n == 0:
        return [np.zeros(n, dtype=np.bool_) for _ in rules]
    needed = list(dict.fromkeys(c for r in rules for c in r.columns if c in rows.column_names))
    if any(r.kind == "unique" for r in rules) and rows.column_names:
        needed = list(dict.fromkeys([*needed, *rows.column_names]))  # the snapshot time partitions unique
    data = rows.select(needed).append_column(_ORDER, pa.array(np.arange(n, dtype=np.int64)))
    columns = [exp.alias_(r.violation, f"v{i}", quoted=True) for i, r in enumerate(rules)]
    query = exp.select(*columns).from_(exp.to_identifier(_ROWS)).order_by(exp.column(_ORDER, quoted=True))
    with _duck_lock:
        if not _duck:
            import duckdb

            _duck.append(duckdb.connect(":memory:"))
        cursor = _duck[0].cursor()
    try:
        cursor.register(_ROWS, data)
        out = cursor.execute(query.sql(dialect="duckdb")).to_arrow_table()
    except Exception as exc:  # a check DuckDB cannot evaluate (e.g. comparing text with a number)
        names = ", ".join(r.name for r in rules)
        raise MappingError([f"{table}: quality rules ({names}) cannot be evaluated: {exc}"]) from exc
    finally:
        cursor.close()
    return [out.column(i).to_numpy(zero_copy_only=False).astype(np.bool_) for i in range(len(rules))]


def check_rows(target: TargetPlan, rows: pa.Table, known: Mapping[str, Flags] | None = None) -> Checked:
    """Evaluate ``target``'s row rules over ``rows`` (see :class:`Checked`); ``known``: flags the engine evaluated
    (``ExtractBatch.violations``)."""
    rules = [r for r in target.rules if r.action != "reject_document"]
    if not rules or rows.num_rows == 0:
        return Checked(rows)
    flags = violations(rows, rules, target.name, known)
    out = Checked(rows)
    for rule, bad in zip(rules, flags, strict=True):
        count = int(bad.sum())
        if not count:
            continue
        out.broken[rule.name] = count
        if rule.action == "warn":
            out.warnings[rule.name] = count
        elif rule.action == "fail" and out.failure is None:
            first = rows.slice(int(np.argmax(bad)), 1).to_pylist()[0]
            key = {k: first.get(k) for k in target.spec.primary_key}
            out.failure = QualityError(target.name, rule.name, rule.text, count, key)
    quarantine = [(r, f) for r, f in zip(rules, flags, strict=True) if r.action == "quarantine" and f.any()]
    if quarantine:
        out.rows, out.errors = _quarantine(target, rows, quarantine)
    return out


def _quarantine(
    target: TargetPlan, rows: pa.Table, broken: list[tuple[RulePlan, Flags]]
) -> tuple[pa.Table, list[RowError]]:
    bad = np.logical_or.reduce([f for _, f in broken])
    refused = rows.filter(pa.array(bad)).to_pylist()
    masks = [f[bad] for _, f in broken]
    errors = []
    for i, row in enumerate(refused):
        why = "; ".join(_reason(rule) for (rule, _), mask in zip(broken, masks, strict=True) if mask[i])
        key = {k: row.get(k) for k in target.spec.primary_key}
        errors.append(RowError(target.name, key, why, row, ""))
    return rows.filter(pa.array(~bad)), errors


def _reason(rule: RulePlan) -> str:
    return f"quality rule {rule.name!r} ({rule.severity}): {rule.text}"


def reject_documents(plan: Plan, batch: ExtractBatch) -> list[RejectedDocument]:
    """Apply ``reject_document`` rules: remove the rows and scope entries of every document whose row in a root
    target breaks one, from every target; return the rejected documents (``batch.documents`` is lowered)."""
    rejected: list[RejectedDocument] = []
    for root in plan.targets:
        rules = [r for r in root.rules if r.action == "reject_document"]
        table = batch.tables.get(root.name)
        if not rules or table is None or table.num_rows == 0:
            continue
        flags = violations(table, rules, root.name, batch.violations.get(root.name))
        bad = np.logical_or.reduce(flags)
        if not bad.any():
            continue
        ident = _identity(root)
        docs = table.filter(pa.array(bad)).select(ident).to_pylist()
        reasons = [[_reason(r) for r, f in zip(rules, flags, strict=True) if f[i]] for i in np.flatnonzero(bad)]
        keys = {tuple(d[c] for c in ident) for d in docs}
        for t in plan.targets:
            _drop(batch, t, root, ident, keys)
        for doc, why in zip(docs, reasons, strict=True):
            rejected.append(RejectedDocument(f"{root.name} {doc}", "; ".join(why)))
        batch.documents -= len(docs)
    return rejected


def _identity(root: TargetPlan) -> list[str]:
    """The columns that tell a document's rows in every target: the root's key and the snapshot time."""
    if not root.spec.primary_key:
        raise MappingError([f"{root.name}: a reject_document rule needs a primary_key to tell documents apart"])
    snapshot = [f.name for f in root.fields if f.source == "timestamp"]
    return [*root.spec.primary_key, *snapshot]


def _drop(batch: ExtractBatch, t: TargetPlan, root: TargetPlan, ident: list[str], keys: set[tuple[Any, ...]]) -> None:
    """Remove the rejected documents' rows and scope entries of target ``t``."""
    snapshot = next((f.name for f in t.fields if f.source == "timestamp"), None)
    # match the root's key columns by name, its snapshot time by role (each target names its own time column)
    pairs = [(i, c if c in root.spec.primary_key else snapshot) for i, c in enumerate(ident)]
    pairs = [(i, c) for i, c in pairs if c is not None]
    wanted = {tuple(k[i] for i, _ in pairs) for k in keys}
    cols = [c for _, c in pairs]
    for kind, table in (("rows", batch.tables.get(t.name)), ("scopes", batch.scopes.get(t.name))):
        if table is None or table.num_rows == 0:
            continue
        if any(c not in table.column_names for c in root.spec.primary_key):
            raise MappingError(
                [
                    f"{t.name}: its {kind} do not carry {', '.join(root.spec.primary_key)}, which tell a row's "
                    f"document: add them as fields, or use another action than reject_document on {root.name}"
                ]
            )
        present = [c for c in cols if c in table.column_names]
        index = [cols.index(c) for c in present]
        subset = {tuple(w[i] for i in index) for w in wanted}
        values = table.select(present).to_pylist()
        keep = [tuple(v[c] for c in present) not in subset for v in values]
        (batch.scopes if kind == "scopes" else batch.tables)[t.name] = table.filter(pa.array(keep, pa.bool_()))
        origins = batch.origins.get(t.name)
        if kind == "rows" and origins is not None and len(origins) == len(keep):  # kept aligned with the rows
            batch.origins[t.name] = [o for o, k in zip(origins, keep, strict=True) if k]
        if kind == "rows" and t.name in batch.violations:
            _keep_flags(batch, t, np.array(keep, dtype=np.bool_))


def _keep_flags(batch: ExtractBatch, t: TargetPlan, keep: Flags) -> None:
    """The engine's flags of the rows kept. A window rule (``unique``) counted the removed rows too: its flags are
    dropped when rows were removed, so it is evaluated again over the rows that remain."""
    windowed = {r.name for r in t.rules if r.passes.find(exp.Window) is not None}
    known = batch.violations[t.name]
    batch.violations[t.name] = {
        rule: flags[keep]
        for rule, flags in known.items()
        if len(flags) == len(keep) and (keep.all() or rule not in windowed)
    }
