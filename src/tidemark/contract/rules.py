"""The newest-wins rule, held once: as plain data (Python), as Arrow sort keys, and as SQL expressions rendered per
dialect (DuckDB, PostgreSQL, Spark SQL and the delta-rs predicate dialect). Every store and the in-batch reduction
take their order from here; docs/write-contract.md says the same in words.

**The order.** The rows of one key are ranked by ``(timestamp, content hash)``: the later timestamp wins; at an equal
timestamp the greater content hash (:data:`~tidemark.tables.HASH_COLUMN`, a signed 64-bit integer) wins; a NULL
hash ranks below every hash. Two rows of equal timestamp and equal hash (both NULL included) are the *same* row.
A table without a timestamp column has no order: the incoming row wins unless it is the same (equal hash).

**Classification** of an incoming row against the stored row of its key (:data:`ACTIONS`): ``insert`` (no stored
row), ``update`` (the incoming row wins), ``unchanged`` (the same row), ``skip`` (it loses; and in ``append_once``
every key already stored).

**Watermarks.** A scoped table keeps, per scope value, the newest snapshot time applied; merging two watermarks keeps
the greater. A row older than its scope's watermark is obsolete: skipped when incoming, deleted when stored.

**The algebraic promise** (Apache Hudi's ``HoodieRecordMerger`` is the model: one merge rule, for the pre-combine of
a batch and for the merge against storage). With a timestamp, ``merge(a, b)`` is the greater of ``a`` and ``b`` in
the order above, a total order on ``(timestamp, hash)``; so ``merge`` is

- commutative: ``merge(a, b) == merge(b, a)``,
- associative: ``merge(merge(a, b), c) == merge(a, merge(b, c))``,
- idempotent: ``merge(a, a) == a``,

and the stored row of a key depends only on the *set* of rows written for it, not on their order, their batching or
repetition. Watermarks merge by ``max``, which has the same three properties, so reconciliation does too. Without a
timestamp the last write wins across batches (inside one batch the greater hash wins): no such promise is made.

**The tie mode** (``TableSpec.tie``, :data:`TIES`). ``"hash"`` (the default) is the order above. ``"incoming"``
keeps the timestamp order but breaks a tie by *arrival*: of two different rows with an equal timestamp the one that
arrives later wins, the later position in the input inside one batch (documents in source order, rows in document
order: :func:`sort_keys` puts the position column :data:`POSITION` first), the incoming row against the stored
one. For corrections re-issued under the snapshot time they correct. ``merge_incoming(a, b)`` (``b`` arrived later)
is associative and idempotent but not commutative: the stored row depends on the order of the rows of equal
timestamp, which within one run is their input position (batches are applied in position order), and across runs is
the order of the runs; rows of different timestamps still merge by timestamp whatever their order.

``tests/test_contract_rules.py`` evaluates every rendered expression in DuckDB, PostgreSQL and a delta-rs MERGE
against :func:`classify` / :func:`wins` on random rows, and checks the promise on :func:`merge`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

from tidemark.tables import HASH_COLUMN

Action = Literal["insert", "update", "unchanged", "skip"]
#: the classification's labels, as the SQL expressions spell them
ACTIONS: tuple[Action, ...] = ("insert", "update", "unchanged", "skip")
Tie = Literal["hash", "incoming"]
#: how two different rows of one key and an equal timestamp are ordered: by content hash, or by arrival
TIES: tuple[Tie, ...] = ("hash", "incoming")
#: the temporary column of a row's position in its batch (the in-batch reduction of ``tie: incoming``)
POSITION = "_tm_position"
#: the dialects SQL expressions render to ("delta": delta-rs merge predicates, backtick-quoted identifiers)
DIALECTS = ("duckdb", "postgres", "spark", "delta")


# -- the rule as data -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Version:
    """What the rule looks at in a row: its timestamp (None in tables without one) and its content hash."""

    timestamp: datetime | None
    hash: int | None

    def rank(self) -> tuple[datetime | None, bool, int]:
        """The sort key of the order (greater wins); a NULL hash ranks below every hash."""
        return (self.timestamp, self.hash is not None, self.hash or 0)


def same(new: Version, old: Version, *, timestamped: bool = True) -> bool:
    """Equal hash (both NULL included) and, in a timestamped table, equal timestamp."""
    return new.hash == old.hash and (not timestamped or new.timestamp == old.timestamp)


def wins(new: Version, old: Version, *, timestamped: bool = True, tie: Tie = "hash") -> bool:
    """The incoming row ``new`` replaces the stored row ``old``."""
    if not timestamped:
        return new.hash != old.hash
    if tie == "incoming":  # at an equal timestamp, any other row that arrives wins
        assert new.timestamp is not None and old.timestamp is not None
        return new.timestamp > old.timestamp or (new.timestamp == old.timestamp and not same(new, old))
    return new.rank() > old.rank()


def classify(
    new: Version, old: Version | None, *, timestamped: bool = True, append_once: bool = False, tie: Tie = "hash"
) -> Action:
    """What a write does with an incoming row, given the stored row of its key (None: no stored row)."""
    if old is None:
        return "insert"
    if append_once:
        return "skip"
    if wins(new, old, timestamped=timestamped, tie=tie):
        return "update"
    return "unchanged" if same(new, old, timestamped=timestamped) else "skip"


def merge(a: Version, b: Version) -> Version:
    """The row that stays of two rows of one key (timestamped tables): the greater in the order."""
    return a if a.rank() >= b.rank() else b


def merge_incoming(a: Version, b: Version) -> Version:
    """:func:`merge` under ``tie: incoming``, ``b`` arriving after ``a``: at an equal timestamp ``b`` stays."""
    assert a.timestamp is not None and b.timestamp is not None
    return a if a.timestamp > b.timestamp else b


def sort_keys(keys: tuple[str, ...], timestamp: str | None, tie: Tie = "hash") -> list[tuple[str, str]]:
    """Arrow ``sort_indices`` keys putting each key's winner first (a NULL hash ranks below every hash: Arrow's
    default null placement, at the end, whatever the direction). With ``tie="incoming"`` the rows must carry their
    position in the batch (:data:`POSITION`, unique): the later one wins a tie."""
    order = [(k, "ascending") for k in keys]
    if timestamp:
        order.append((timestamp, "descending"))
    if tie == "incoming":
        order.append((POSITION, "descending"))
    return [*order, (HASH_COLUMN, "descending")]


def arrow_same(a: pa.ChunkedArray | pa.Array, b: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Element-wise equality of timestamps or hashes as the rule means it (two NULLs are equal; never NULL)."""
    both_null = pc.and_(pc.is_null(a), pc.is_null(b))
    return pc.or_(pc.fill_null(pc.equal(a, b), False), both_null)


def arrow_older(row: pa.ChunkedArray | pa.Array, mark: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """Element-wise: ``row`` is older than the watermark ``mark`` of its scope (see :func:`sql_older`)."""
    return pc.less(row, mark)


# -- the rule as SQL ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Row:
    """A row in a SQL statement: the alias it goes by, and the names of its timestamp and hash columns."""

    alias: str
    timestamp: str | None
    hash: str = HASH_COLUMN

    def col(self, name: str) -> exp.Column:
        return exp.Column(this=exp.to_identifier(name, quoted=True), table=exp.to_identifier(self.alias))

    @property
    def ts(self) -> exp.Column:
        assert self.timestamp is not None
        return self.col(self.timestamp)

    @property
    def h(self) -> exp.Column:
        return self.col(self.hash)


def _or(*terms: exp.Expression | exp.Condition) -> exp.Expression:
    return exp.paren(exp.or_(*terms), copy=False)


def _coalesce(value: exp.Expression, otherwise: exp.Expression | exp.Condition) -> exp.Expression:
    # a comparison with a NULL hash is decided by the NULL rule instead: every expression is true or false, never NULL
    return exp.Coalesce(this=value, expressions=[otherwise])


def sql_same(new: Row, old: Row) -> exp.Expression:
    """Equal hash (both NULL included) and, with a timestamp, equal timestamp."""
    both_null = exp.and_(new.h.is_(exp.null()), old.h.is_(exp.null()))
    hash_eq = _coalesce(exp.EQ(this=new.h, expression=old.h), both_null)
    if new.timestamp is None:
        return hash_eq
    return exp.paren(exp.and_(hash_eq, exp.EQ(this=new.ts, expression=old.ts)), copy=False)


def sql_wins(new: Row, old: Row, tie: Tie = "hash") -> exp.Expression:
    """The incoming row ``new`` replaces the stored row ``old`` (see :func:`wins`)."""
    if new.timestamp is None:
        return exp.not_(sql_same(new, old))
    if tie == "incoming":
        tie_won = exp.and_(exp.EQ(this=new.ts, expression=old.ts), exp.not_(sql_same(new, old)))
        return _or(exp.GT(this=new.ts, expression=old.ts), tie_won)
    over_null = exp.and_(old.h.is_(exp.null()), exp.not_(new.h.is_(exp.null())))
    hash_gt = _coalesce(exp.GT(this=new.h, expression=old.h), over_null)
    hash_won = exp.and_(exp.EQ(this=new.ts, expression=old.ts), hash_gt)
    return _or(exp.GT(this=new.ts, expression=old.ts), hash_won)


def sql_classify(
    new: Row, old: Row, missing: exp.Expression, *, append_once: bool = False, tie: Tie = "hash"
) -> exp.Expression:
    """The :data:`ACTIONS` label of ``new`` against ``old``; ``missing`` is true when no stored row was found (e.g.
    a NOT NULL column of ``old`` is NULL after a LEFT JOIN)."""
    label = {a: exp.Literal.string(a) for a in ACTIONS}
    case = exp.Case().when(missing, label["insert"])
    if not append_once:
        case = case.when(sql_wins(new, old, tie), label["update"]).when(sql_same(new, old), label["unchanged"])
    return case.else_(label["skip"])


def sql_older(row: Row, mark: Row) -> exp.Expression:
    """``row`` is older than the watermark ``mark`` of its scope: obsolete (skipped, or deleted when stored)."""
    return exp.LT(this=row.ts, expression=mark.ts)


def sql_merged_mark(new: Row, old: Row) -> exp.Expression:
    """Two watermarks of one scope merged: the greater."""
    # watermarks are NOT NULL: the stores' GREATEST (which skips NULLs) is the rule as it stands
    return exp.Greatest(this=old.ts, expressions=[new.ts], ignore_nulls=True)


def render(expression: exp.Expression, dialect: str) -> str:
    """SQL text of ``expression`` in one of :data:`DIALECTS`."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}: one of {DIALECTS}")
    # delta-rs parses predicates with DataFusion's SQL parser, which reads Spark's backtick-quoted identifiers
    return str(expression.sql(dialect="spark" if dialect == "delta" else dialect))


# -- cached renderings (the same few rules come back in every statement) ---------------------------------------------
@functools.lru_cache(maxsize=1024)
def wins_sql(dialect: str, timestamp: str | None, new: str, old: str, tie: Tie = "hash") -> str:
    return render(sql_wins(Row(new, timestamp), Row(old, timestamp), tie), dialect)


@functools.lru_cache(maxsize=1024)
def same_sql(dialect: str, timestamp: str | None, new: str, old: str) -> str:
    return render(sql_same(Row(new, timestamp), Row(old, timestamp)), dialect)


@functools.lru_cache(maxsize=1024)
def classify_sql(
    dialect: str, timestamp: str | None, new: str, old: str, stored: str, append_once: bool, tie: Tie = "hash"
) -> str:
    """The classification of ``new`` against ``old``; a stored row exists when ``old.stored`` is not NULL."""
    missing = Row(old, timestamp).col(stored).is_(exp.null())
    expression = sql_classify(Row(new, timestamp), Row(old, timestamp), missing, append_once=append_once, tie=tie)
    return render(expression, dialect)


@functools.lru_cache(maxsize=1024)
def older_sql(dialect: str, timestamp: str, row: str, mark: str) -> str:
    return render(sql_older(Row(row, timestamp), Row(mark, timestamp)), dialect)


@functools.lru_cache(maxsize=1024)
def merged_mark_sql(dialect: str, timestamp: str, new: str, old: str) -> str:
    return render(sql_merged_mark(Row(new, timestamp), Row(old, timestamp)), dialect)
