"""The mapping's quality rules evaluated by Spark, in Spark SQL, over the rows the executors extracted.

The rules are compiled once (:mod:`tidemark.compile.rules`: one sqlglot predicate per rule); here each rule's
``violation`` is rendered in the ``spark`` dialect and run by Spark over a chunk's rows, which never leave the
executors for it::

    tagged rows of a chunk (persisted)                         # what SparkEngine._job's mapInArrow emitted
      .where(kind = 'table' AND target = T)                    # per target with rules
      .mapInArrow(_unpack)                                     # its Arrow payloads -> rows: the rules' columns
                                                               #   + (work item, batch, row number)
      .select(target, item, part, row, ARRAY(<violation_0>, <violation_1>, ...) AS broken)
      .where(EXISTS(broken, b -> b))                           # only the rows breaking a rule come back
    union of every target -> the driver: which rows of which batch break which rule

A ``unique`` rule is a window (``COUNT(*) OVER (PARTITION BY <columns>, <snapshot time>)``): Spark runs it with a
shuffle over the whole chunk, partitioned also by the batch (work item, batch number), because the local engine
counts within a batch. The outcome goes into ``ExtractBatch.violations`` (per target and rule, a flag per row);
``quality/check.py`` then applies it on the driver exactly as it applies its own DuckDB evaluation: quarantine rows
with the rule's name and reason, warn counts, ``fail`` raising before anything is written, ``reject_document`` rules
removing whole documents. So the two engines differ only in who evaluates the expression, never in what is done
with the result. (One exception, documented in docs/spark.md: when a ``reject_document`` rule removes rows of a
batch, the ``unique`` flags of the remaining rows, counted with the removed ones, are dropped and evaluated again
over the remaining rows on the driver by DuckDB, as the local engine does.)
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
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

ITEM, PART, ROW = "_tm_item", "_tm_part", "_tm_row"
#: what the evaluation returns per offending row
_BROKEN = ("target", "item", "part", "row", "broken")


def rule_targets(plan: Plan) -> list[TargetPlan]:
    """The targets Spark evaluates rules for: those with any."""
    return [t for t in plan.targets if t.rules]


def spark_sql(rule: RulePlan) -> str:
    """The rule's violation in Spark SQL; a window (``unique``) also partitioned by the batch."""
    violation = rule.violation
    for window in violation.find_all(exp.Window):
        batch = [exp.column(ITEM, quoted=True), exp.column(PART, quoted=True)]
        window.set("partition_by", [*(window.args.get("partition_by") or []), *batch])
    return violation.sql(dialect="spark")


def broken_rows(tagged: DataFrame, targets: list[TargetPlan]) -> DataFrame:
    """A DataFrame of the rows of ``tagged`` (a chunk's tagged rows) that break a rule, per target (see above)."""
    frames = [_target(tagged, t) for t in targets]
    return functools.reduce(lambda a, b: a.unionByName(b), frames)


def _target(tagged: DataFrame, target: TargetPlan) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.pandas.types import from_arrow_schema

    schema = _schema(target)
    struct = from_arrow_schema(schema)
    rows = tagged.where((F.col("kind") == "table") & (F.col("target") == target.name)).mapInArrow(
        functools.partial(_unpack, schema), struct
    )
    try:
        flags = [F.expr(spark_sql(r)) for r in target.rules]
    except Exception as exc:  # pragma: no cover - validate refuses what neither dialect parses
        raise MappingError([f"{target.name}: quality rules cannot be rendered in Spark SQL: {exc}"]) from exc
    return rows.select(
        F.lit(target.name).alias("target"),
        F.col(ITEM).alias("item"),
        F.col(PART).alias("part"),
        F.col(ROW).alias("row"),
        F.array(*flags).alias("broken"),
    ).where(F.exists("broken", lambda b: b))


def _schema(target: TargetPlan) -> pa.Schema:
    """The columns the target's rules read (a ``unique`` rule: also the snapshot time), then the batch and row."""
    spec = target.spec
    read = [c for r in target.rules for c in r.columns]
    if spec.timestamp and any(r.kind == "unique" for r in target.rules):
        read.append(spec.timestamp)
    wanted = set(read)
    fields = [f for f in spec.arrow_schema if f.name in wanted]
    return pa.schema([*fields, pa.field(ITEM, pa.int64()), pa.field(PART, pa.int32()), pa.field(ROW, pa.int64())])


def _unpack(schema: pa.Schema, inputs: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """In an executor: each tagged row's Arrow payload as the rows of ``schema`` (its rules' columns)."""
    columns = [f.name for f in schema][:-3]
    for record in inputs:
        items, parts = record.column("item").to_pylist(), record.column("part").to_pylist()
        for i, payload in enumerate(record.column("payload")):
            table = pa.ipc.open_stream(payload.as_buffer()).read_all()
            n = table.num_rows
            if n == 0:
                continue
            extra = [
                pa.array(np.full(n, items[i], dtype=np.int64)),
                pa.array(np.full(n, parts[i], dtype=np.int32)),
                pa.array(np.arange(n, dtype=np.int64)),
            ]
            out = pa.Table.from_arrays([table.column(c) for c in columns] + extra, schema=schema)
            yield from out.to_batches()


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


__all__ = ["attach", "broken_rows", "rule_targets", "spark_sql"]
