"""The newest-wins rule (contract/rules.py) is one rule: every rendering of it agrees with the plain-Python order.

Random rows (NULL hashes, equal timestamps, negative and extreme hashes, one instant spelled in several time zones)
are classified in DuckDB and PostgreSQL by the rendered SQL, merged into a real Delta table with the rendered
delta-rs predicates, and reduced in Arrow; each answer is compared with :func:`rules.classify` / :func:`rules.wins`.
The algebraic promise (commutative, associative, idempotent) is checked on :func:`rules.merge` and the Arrow
reduction.
"""

from __future__ import annotations

import functools
import itertools
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlglot import exp

from tidemark.contract import rules
from tidemark.contract.prepare import reduce_duplicates
from tidemark.contract.rules import Version
from tidemark.tables import HASH_COLUMN

H = HASH_COLUMN
_BASE = datetime(2024, 7, 13, 4, 19, 9, tzinfo=UTC)
_INSTANTS = [_BASE, _BASE + timedelta(microseconds=1), _BASE + timedelta(hours=1), _BASE - timedelta(days=1)]
_ZONES = [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=5, minutes=30))]
_EXTREMES = [-(2**63), -(2**63) + 1, -1, 0, 1, 2**63 - 1]

timestamps = st.builds(lambda t, z: t.astimezone(z), st.sampled_from(_INSTANTS), st.sampled_from(_ZONES))
hashes = st.one_of(st.none(), st.sampled_from(_EXTREMES), st.integers(-3, 3), st.integers(-(2**63), 2**63 - 1))
versions = st.builds(Version, timestamps, hashes)
# one example: a few (incoming row, stored row or None) pairs, each pair its own key
pairs = st.lists(st.tuples(versions, st.one_of(st.none(), versions)), min_size=1, max_size=6)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _side(rows: list[Version | None]) -> pa.Table:
    present = [(k, v) for k, v in enumerate(rows) if v is not None]
    return pa.table(
        {
            "k": pa.array([k for k, _ in present], pa.int64()),
            "ts": pa.array([v.timestamp for _, v in present], pa.timestamp("us", tz="UTC")),
            H: pa.array([v.hash for _, v in present], pa.int64()),
        }
    )


def _expected(
    pairs: list[tuple[Version, Version | None]], timestamped: bool, append_once: bool, tie: rules.Tie = "hash"
) -> list[Any]:
    out = []
    for new, old in pairs:
        action = rules.classify(new, old, timestamped=timestamped, append_once=append_once, tie=tie)
        both = old is not None
        out.append(
            (
                action,
                rules.wins(new, old, timestamped=timestamped, tie=tie) if both else None,  # type: ignore[arg-type]
                rules.same(new, old, timestamped=timestamped) if both else None,  # type: ignore[arg-type]
                bool(new.timestamp < old.timestamp) if both else None,  # type: ignore[union-attr]
                max(new.timestamp, old.timestamp) if both else None,  # type: ignore[union-attr,type-var]
            )
        )
    return out


def _select(dialect: str, timestamped: bool, append_once: bool, tie: rules.Tie = "hash") -> str:
    ts = "ts" if timestamped else None
    new, old = rules.Row("s", ts), rules.Row("t", ts)
    marks = rules.Row("s", "ts"), rules.Row("t", "ts")
    missing = old.col("k").is_(exp.null())
    exprs = [
        rules.sql_classify(new, old, missing, append_once=append_once, tie=tie),
        rules.sql_wins(new, old, tie),
        rules.sql_same(new, old),
        rules.sql_older(*marks),
        rules.sql_merged_mark(*marks),
    ]
    cols = ", ".join(f"CASE WHEN t.k IS NULL THEN NULL ELSE {rules.render(e, dialect)} END" for e in exprs[1:])
    return f"SELECT s.k, {rules.render(exprs[0], dialect)}, {cols} FROM s LEFT JOIN t ON s.k = t.k ORDER BY s.k"


def _normalized(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [(a, w, s, o, m.astimezone(UTC) if m is not None else None) for _, a, w, s, o, m in rows]


# -- DuckDB -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def duck() -> Iterator[duckdb.DuckDBPyConnection]:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    yield conn
    conn.close()


@SETTINGS
@given(pairs=pairs, timestamped=st.booleans(), append_once=st.booleans(), tie=st.sampled_from(rules.TIES))
def test_duckdb_renders_the_rule(
    duck: duckdb.DuckDBPyConnection,
    pairs: list[tuple[Version, Version | None]],
    timestamped: bool,
    append_once: bool,
    tie: rules.Tie,
) -> None:
    duck.register("s", _side([new for new, _ in pairs]))
    duck.register("t", _side([old for _, old in pairs]))
    try:
        got = duck.execute(_select("duckdb", timestamped, append_once, tie)).fetchall()
    finally:
        duck.unregister("s")
        duck.unregister("t")
    assert _normalized(got) == _expected(pairs, timestamped, append_once, tie)


# -- PostgreSQL -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pg(pg_server: Any) -> Iterator[Any]:
    psycopg = pytest.importorskip("psycopg")
    name = pg_server.create_database()
    conn = psycopg.connect(pg_server.dsn(name), autocommit=True)
    conn.execute("SET TimeZone TO 'UTC'")
    yield conn
    conn.close()
    pg_server.drop_database(name)


def _unnest(table: pa.Table) -> tuple[str, list[Any]]:
    return (
        f'SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::bigint[]) AS x(k, ts, "{H}")',
        [table.column(c).to_pylist() for c in ("k", "ts", H)],
    )


@pytest.mark.postgres
@SETTINGS
@given(pairs=pairs, timestamped=st.booleans(), append_once=st.booleans(), tie=st.sampled_from(rules.TIES))
def test_postgres_renders_the_rule(
    pg: Any, pairs: list[tuple[Version, Version | None]], timestamped: bool, append_once: bool, tie: rules.Tie
) -> None:
    (s_sql, s_args), (t_sql, t_args) = (_unnest(_side([p[i] for p in pairs])) for i in (0, 1))
    query = f"WITH s AS ({s_sql}), t AS ({t_sql}) " + _select("postgres", timestamped, append_once, tie)
    got = pg.execute(query, [*s_args, *t_args]).fetchall()
    assert _normalized(got) == _expected(pairs, timestamped, append_once, tie)


# -- delta-rs ---------------------------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    pairs=pairs,
    ops=st.lists(st.sampled_from("udn"), min_size=6, max_size=6),
    timestamped=st.booleans(),
    tie=st.sampled_from(rules.TIES),
)
def test_delta_merge_renders_the_rule(
    pairs: list[tuple[Version, Version | None]], ops: list[str], timestamped: bool, tie: rules.Tie
) -> None:
    """u: upsert guarded by ``wins``; d: a tombstone deleting a stored row older than it; n: ``same`` marks a flag."""
    deltalake = pytest.importorskip("deltalake")
    ts = "ts" if timestamped else None
    stored = _side([old for _, old in pairs])
    stored = stored.append_column("flag", pa.array([""] * stored.num_rows, pa.string()))
    source = _side([new for new, _ in pairs])
    source = source.append_column("op", pa.array(ops[: source.num_rows]))
    source = source.append_column("flag", pa.array([""] * source.num_rows))
    new, old = rules.Row("s", ts), rules.Row("t", ts)
    older = rules.render(rules.sql_older(rules.Row("t", "ts"), rules.Row("s", "ts")), "delta")
    with tempfile.TemporaryDirectory() as path:
        deltalake.write_deltalake(path, stored)
        (
            deltalake.DeltaTable(path)
            .merge(source, predicate="t.k = s.k", source_alias="s", target_alias="t")
            .when_matched_update_all(predicate=f"s.op = 'u' AND {rules.render(rules.sql_wins(new, old, tie), 'delta')}")
            .when_matched_delete(predicate=f"s.op = 'd' AND {older}")
            .when_matched_update(
                {"flag": "'same'"}, predicate=f"s.op = 'n' AND {rules.render(rules.sql_same(new, old), 'delta')}"
            )
            .when_not_matched_insert_all()
            .execute()
        )
        got = {r["k"]: r for r in deltalake.DeltaTable(path).to_pyarrow_table().to_pylist()}
    want: dict[int, tuple[Any, ...]] = {}
    for k, ((n, o), op) in enumerate(zip(pairs, ops, strict=False)):
        if o is None:  # a new key: inserted whatever the op
            want[k] = (n.timestamp, n.hash, "")
        elif op == "u":
            win = rules.wins(n, o, timestamped=timestamped, tie=tie)
            want[k] = (n.timestamp, n.hash, "") if win else (o.timestamp, o.hash, "")
        elif op == "d":
            if not o.timestamp < n.timestamp:  # type: ignore[operator]
                want[k] = (o.timestamp, o.hash, "")
        else:
            want[k] = (o.timestamp, o.hash, "same" if rules.same(n, o, timestamped=timestamped) else "")
    assert {k: (r["ts"], r[H], r["flag"]) for k, r in got.items()} == want


# -- the algebraic promise ---------------------------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(st.lists(versions, min_size=1, max_size=5))
def test_merge_is_commutative_associative_idempotent(rows: list[Version]) -> None:
    a = rows[0]
    assert rules.merge(a, a) == a
    results = set()
    for order in itertools.permutations(rows):
        results.add(functools.reduce(rules.merge, order).rank())
        if len(order) >= 3:
            x, y, z = order[:3]
            assert rules.merge(rules.merge(x, y), z).rank() == rules.merge(x, rules.merge(y, z)).rank()
    assert len(results) == 1  # the winner's rank depends only on the set of rows


@settings(max_examples=80, deadline=None)
@given(st.lists(versions, min_size=2, max_size=6))
def test_the_arrow_reduction_keeps_the_rules_winner(rows: list[Version]) -> None:
    table = pa.table(
        {
            "k": pa.array([1] * len(rows), pa.int64()),
            "ts": pa.array([v.timestamp for v in rows], pa.timestamp("us", tz="UTC")),
            H: pa.array([v.hash for v in rows], pa.int64()),
        }
    )
    kept, unchanged, skipped = reduce_duplicates(table, ("k",), "ts")
    winner = functools.reduce(rules.merge, rows)
    assert kept.num_rows == 1
    assert Version(kept.column("ts")[0].as_py(), kept.column(H)[0].as_py()).rank() == winner.rank()
    assert unchanged == sum(rules.same(v, winner) for v in rows) - 1
    assert skipped == len(rows) - 1 - unchanged


# -- tie: incoming -----------------------------------------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(st.lists(versions, min_size=1, max_size=5))
def test_merge_incoming_is_associative_and_idempotent_and_keeps_the_timestamp_order(rows: list[Version]) -> None:
    a = rows[0]
    assert rules.merge_incoming(a, a) == a
    for x, y, z in itertools.permutations(rows, 3) if len(rows) >= 3 else []:
        assert rules.merge_incoming(rules.merge_incoming(x, y), z) == rules.merge_incoming(
            x, rules.merge_incoming(y, z)
        )
    winners = {functools.reduce(rules.merge_incoming, order) for order in itertools.permutations(rows)}
    newest = max(v.timestamp for v in rows)  # type: ignore[type-var]
    assert all(w.timestamp == newest for w in winners)  # the order only decides among the newest
    assert winners == {v for v in rows if v.timestamp == newest} or len(rows) == 1


@settings(max_examples=80, deadline=None)
@given(st.lists(versions, min_size=2, max_size=6))
def test_the_arrow_reduction_under_tie_incoming_keeps_the_last_of_the_newest(rows: list[Version]) -> None:
    table = pa.table(
        {
            "k": pa.array([1] * len(rows), pa.int64()),
            "ts": pa.array([v.timestamp for v in rows], pa.timestamp("us", tz="UTC")),
            H: pa.array([v.hash for v in rows], pa.int64()),
            "position": pa.array(range(len(rows)), pa.int64()),
        }
    )
    kept, unchanged, skipped = reduce_duplicates(table, ("k",), "ts", "incoming")
    winner = functools.reduce(rules.merge_incoming, rows)
    assert kept.num_rows == 1
    newest = [i for i, v in enumerate(rows) if v.timestamp == winner.timestamp]
    assert kept.column("position")[0].as_py() == newest[-1]  # the later row of the batch among the newest
    assert unchanged == sum(rules.same(v, winner) for v in rows) - 1
    assert skipped == len(rows) - 1 - unchanged
