"""The write contract alone as a property, on every conformance store (hypothesis).

Any order, duplication and split into batches of generated rows (scoped or not) yields the same table, equal to a
model of the contract computed in Python; ``inserted - deleted`` over all writes is the number of stored rows.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tidemark.contract.prepare import row_hash
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

TS = pa.timestamp("us", "UTC")
SCHEMA = pa.schema([("game_pk", pa.int64()), ("at_bat_index", pa.int32()), ("event", pa.string()), ("captured_at", TS)])
_names = itertools.count()


def spec(scoped: bool) -> TableSpec:
    return TableSpec(
        schema="p",
        name=f"t{next(_names)}",  # a fresh table per example (the store fixture lives for the whole test)
        columns=(
            Column("game_pk", LogicalType("bigint"), nullable=False),
            Column("at_bat_index", LogicalType("int"), nullable=False),
            Column("event", LogicalType("string")),
            Column("captured_at", LogicalType("timestamp"), nullable=False),
        ),
        primary_key=("game_pk", "at_bat_index"),
        timestamp="captured_at",
        scope=("game_pk",) if scoped else (),
    )


def hour(h: int) -> datetime:
    return datetime(2024, 7, 13, h, tzinfo=UTC)


# a "snapshot" of one game: its time and its rows (at_bat_index -> event)
game_snapshots = st.tuples(
    st.sampled_from([1, 2]),
    st.integers(1, 3),
    st.dictionaries(st.integers(0, 4), st.sampled_from(["out", "single", "walk"]), max_size=4),
)


def as_rows(items: list[tuple[int, int, dict[int, str]]]) -> tuple[pa.Table, pa.Table]:
    rows = [(g, i, e, hour(h)) for g, h, plays in items for i, e in plays.items()]
    table = pa.Table.from_pylist([dict(zip(SCHEMA.names, r, strict=True)) for r in rows], schema=SCHEMA)
    scopes = pa.table({"game_pk": [g for g, _, _ in items], "captured_at": [hour(h) for _, h, _ in items]})
    return table, scopes.cast(pa.schema([("game_pk", pa.int64()), ("captured_at", TS)]))


def model(items: list[tuple[int, int, dict[int, str]]], scoped: bool) -> list[dict[str, Any]]:
    """The contract in plain Python: per key the row with the greatest (time, hash); scoped: newest snapshot only."""
    table, _ = as_rows(items)
    hashes = row_hash(table, SCHEMA.names).to_pylist()
    best: dict[tuple[int, int], tuple[datetime, int, dict[str, Any]]] = {}
    for row, h in zip(table.to_pylist(), hashes, strict=True):
        key = (row["game_pk"], row["at_bat_index"])
        if key not in best or (row["captured_at"], h) > best[key][:2]:
            best[key] = (row["captured_at"], h, row)
    newest = {g: max(hour(h) for gg, h, _ in items if gg == g) for g, _, _ in items}
    rows = [r for _, _, r in best.values() if not scoped or r["captured_at"] == newest[r["game_pk"]]]
    return sorted(rows, key=lambda r: (str(r["game_pk"]), str(r["at_bat_index"])))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    items=st.lists(game_snapshots, min_size=1, max_size=5),
    data=st.data(),
    scoped=st.booleans(),
)
def test_contract_any_order_duplication_and_split(
    store: Opener, items: list[tuple[int, int, dict[int, str]]], data: st.DataObject, scoped: bool
) -> None:
    order = data.draw(st.permutations(items))
    order = order + data.draw(st.lists(st.sampled_from(items), max_size=2))
    cuts = sorted(data.draw(st.sets(st.integers(1, len(order)), max_size=3)))
    batches = [order[a:b] for a, b in itertools.pairwise([0, *cuts, len(order)]) if order[a:b]]
    table = spec(scoped)
    survived = 0
    for batch in batches:
        rows, scopes = as_rows(batch)
        counts = write(store, table, rows, scopes=scopes if scoped else None)
        assert counts.rows_seen == rows.num_rows
        survived += counts.inserted - counts.deleted
    stored = read(store, table)
    assert stored == model(items, scoped)
    assert survived == len(stored)
