"""The mapping's quality rules evaluated by Spark, in Spark SQL, over the rows the executors extracted.

The rules are compiled once (:mod:`tidemark.compile.rules`: one sqlglot predicate per rule); here each rule's
``violation`` is rendered in the ``spark`` dialect and run by Spark over a chunk's rows, which never leave the
executors for it::

    in the executors (SparkEngine's mapInArrow), per batch:
      the tagged payloads (engines/spark.py) + per target with rules, its rows as rows of kind 'rules': the work
      item, the batch, the row number and the columns the rules read (RuleRows: one wide row type, NULL elsewhere)
    the chunk's rows persisted; the payloads collected; then, in Spark SQL only (no Python):
      .where(kind = 'rules')                                   # one scan for every target:
      .select(target, item, part, row, CASE target WHEN T THEN ARRAY(<violation_0>, <violation_1>, ...) ... END
              AS broken)                                       #   each row gets its target's rules
      .where(EXISTS(broken, b -> b))                           # only the rows breaking a rule come back
    -> the driver: which rows of which batch break which rule

A ``unique`` rule is a window (``COUNT(*) OVER (PARTITION BY <columns>, <snapshot time>)``): Spark runs it with a
shuffle over the whole chunk, partitioned also by the target and the batch (work item, batch number): the local engine
counts within a batch. The outcome goes into ``ExtractBatch.violations`` (per target and rule, a flag per row);
``quality/check.py`` then applies it on the driver exactly as it applies its own DuckDB evaluation: quarantine rows
with the rule's name and reason, warn counts, ``fail`` raising before anything is written, ``reject_document`` rules
removing whole documents. So the two engines differ only in who evaluates the expression, never in what is done
with the result. (One exception, documented in docs/spark.md: when a ``reject_document`` rule removes rows of a
batch, the ``unique`` flags of the remaining rows, counted with the removed ones, are dropped and evaluated again
over the remaining rows on the driver by DuckDB, as the local engine does.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
from sqlglot import exp

from tidemark.compile.plan import Plan, TargetPlan
from tidemark.compile.rules import RulePlan
from tidemark.engines.base import ExtractBatch
from tidemark.errors import MappingError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ROW = "_tm_row"
#: what the evaluation returns per offending row
_BROKEN = ("target", "item", "part", "row", "broken")


def rule_targets(plan: Plan) -> list[TargetPlan]:
    """The targets Spark evaluates rules for: those with any."""
    return [t for t in plan.targets if t.rules]


def spark_sql(rule: RulePlan, columns: Mapping[str, str] | None = None) -> str:
    """The rule's violation in Spark SQL; a window (``unique``) also partitioned by the target and the batch
    (``target``, ``item``, ``part``: the rows Spark reads hold every target's rows of a chunk).
    ``columns``: the names the rule's columns have in the rows Spark reads (RuleRows' wide names)."""
    violation = rule.violation
    if columns:
        for col in violation.find_all(exp.Column):
            col.set("this", exp.to_identifier(columns.get(col.name, col.name), quoted=True))
    for window in violation.find_all(exp.Window):
        batch = [exp.column(c, quoted=True) for c in ("target", "item", "part")]
        window.set("partition_by", [*(window.args.get("partition_by") or []), *batch])
    return violation.sql(dialect="spark")


@dataclass(frozen=True)
class RuleRows:
    """The columns the rules read, as the executors emit them next to the tagged payloads.

    Every target with rules has its rules' columns under names of their own (``_tm_r<target>_<column>``) in one wide
    row type: a row of kind ``rules`` holds one extracted row of one target (its work item, batch and row number,
    its columns filled, the other targets' NULL), so Spark SQL reads the rows without running Python again.
    """

    targets: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (target, ((column, wide name), ...))
    schema: pa.Schema  # the tagged rows' fields, the row number, then every wide column

    @classmethod
    def of(cls, plan: Plan, tagged: pa.Schema) -> RuleRows | None:
        targets, fields = [], [*tagged, pa.field(ROW, pa.int64())]
        for i, target in enumerate(rule_targets(plan)):
            wanted = _read(target)
            columns = [
                (f.name, f"_tm_r{i}_{j}", f.type) for j, f in enumerate(target.spec.arrow_schema) if f.name in wanted
            ]
            targets.append((target.name, tuple((c, w) for c, w, _ in columns)))
            fields += [pa.field(w, kind) for _, w, kind in columns]
        return cls(tuple(targets), pa.schema(fields)) if targets else None

    def widen(self, tagged: pa.RecordBatch) -> pa.RecordBatch:
        """Tagged rows with the other columns NULL."""
        n = tagged.num_rows
        rest = [pa.nulls(n, f.type) for f in self.schema][tagged.num_columns :]
        return pa.record_batch([*tagged.columns, *rest], schema=self.schema)

    def rows(self, item: int, part: int, batch: ExtractBatch) -> Iterator[pa.RecordBatch]:
        """The rows of ``batch``'s targets with rules, as rows of kind ``rules``."""
        for name, columns in self.targets:
            table = batch.tables.get(name)
            if table is None or table.num_rows == 0:
                continue
            n = table.num_rows
            values = {w: table.column(c).combine_chunks() for c, w in columns}
            head = [
                pa.array(np.full(n, item, dtype=np.int64)),
                pa.array(np.full(n, part, dtype=np.int32)),
                pa.array(["rules"] * n, pa.string()),
                pa.array([name] * n, pa.string()),
                pa.nulls(n, pa.binary()),
                pa.array(np.arange(n, dtype=np.int64)),
            ]
            rest = [values[f.name] if f.name in values else pa.nulls(n, f.type) for f in self.schema][len(head) :]
            yield pa.record_batch([*head, *rest], schema=self.schema)

    def spark_schema(self) -> Any:
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(self.schema)


def broken_rows(frame: DataFrame, layout: RuleRows, targets: list[TargetPlan]) -> DataFrame:
    """The rows of ``frame`` (a chunk's persisted rows) that break a rule: one scan, each row's rules chosen by its
    target (``CASE target WHEN ... THEN ARRAY(<violation>, ...)``), Spark SQL only."""
    from pyspark.sql import functions as F

    columns = dict(layout.targets)
    broken: Any = None
    for t in targets:
        try:
            flags = F.array(*(F.expr(spark_sql(r, dict(columns[t.name]))) for r in t.rules))
        except Exception as exc:  # pragma: no cover - validate refuses what neither dialect parses
            raise MappingError([f"{t.name}: quality rules cannot be rendered in Spark SQL: {exc}"]) from exc
        test = F.col("target") == t.name
        broken = F.when(test, flags) if broken is None else broken.when(test, flags)
    rows = frame.where(F.col("kind") == "rules")
    out = rows.select("target", "item", "part", F.col(ROW).alias("row"), broken.alias("broken"))
    return out.where(F.exists("broken", lambda b: b))


def _read(target: TargetPlan) -> set[str]:
    """The columns the target's rules read (a ``unique`` rule: also the snapshot time)."""
    read = {c for r in target.rules for c in r.columns}
    if target.spec.timestamp and any(r.kind == "unique" for r in target.rules):
        read.add(target.spec.timestamp)
    return read


def attach(batches: dict[tuple[int, int], ExtractBatch], broken: pa.Table, targets: list[TargetPlan]) -> None:
    """Set each batch's ``violations`` from the offending rows Spark returned: every rule of every target with
    rules gets a flag per row (all false where Spark returned none)."""
    rules = {t.name: [r.name for r in t.rules] for t in targets}
    for batch in batches.values():
        batch.violations = {
            name: {rule: np.zeros(batch.tables[name].num_rows, dtype=np.bool_) for rule in names}
            for name, names in rules.items()
            if name in batch.tables
        }
    columns: list[list[Any]] = [broken.column(c).to_pylist() for c in _BROKEN]
    for target, item, part, row, flags in zip(*columns, strict=True):
        by_rule = batches[(item, part)].violations[target]
        for rule, flag in zip(rules[target], flags, strict=True):
            if flag:
                by_rule[rule][row] = True


__all__ = ["RuleRows", "attach", "broken_rows", "rule_targets", "spark_sql"]
