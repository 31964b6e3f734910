"""A mapping that grows: a new nullable column joins the stored table; other changes are refused clearly."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tidemark.errors import SinkError
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType

V1 = TableSpec(
    schema="t",
    name="teams",
    columns=(
        Column("team_id", LogicalType("int"), nullable=False),
        Column("name", LogicalType("string")),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("team_id",),
    timestamp="captured_at",
)
V2 = dataclasses.replace(V1, columns=(*V1.columns, Column("venue", LogicalType("string"))))


def ts(hour: int) -> datetime:
    return datetime(2024, 7, 13, hour, tzinfo=UTC)


def teams(spec: TableSpec, *rows: tuple[object, ...]) -> pa.Table:
    schema = pa.schema([pa.field(c.name, c.type.arrow) for c in spec.columns])
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)


def test_a_new_nullable_column_is_added_and_old_rows_read_null(store: Opener) -> None:
    write(store, V1, teams(V1, (109, "Arizona", ts(1)), (141, "Toronto", ts(1))))
    counts = write(store, V2, teams(V2, (109, "Arizona", ts(2), "Chase Field"), (147, "New York", ts(2), None)))
    assert (counts.inserted, counts.updated) == (1, 1)
    assert [tuple(r.values()) for r in read(store, V2)] == [
        (109, "Arizona", ts(2), "Chase Field"),
        (141, "Toronto", ts(1), None),
        (147, "New York", ts(2), None),
    ]
    # a newer row of an old key fills the new column
    assert write(store, V2, teams(V2, (141, "Toronto", ts(3), "Rogers Centre"))).updated == 1
    assert read(store, V2)[1]["venue"] == "Rogers Centre"


def test_a_new_not_null_column_is_refused_and_the_table_kept(store: Opener) -> None:
    write(store, V1, teams(V1, (109, "Arizona", ts(1))))
    strict = dataclasses.replace(V1, columns=(*V1.columns, Column("league", LogicalType("string"), nullable=False)))
    with pytest.raises(SinkError, match=r"league.*NOT NULL"):
        write(store, strict, teams(strict, (109, "Arizona", ts(2), "NL")))
    assert [tuple(r.values()) for r in read(store, V1)] == [(109, "Arizona", ts(1))]


def test_a_changed_column_type_is_refused_with_what_differs(store: Opener) -> None:
    write(store, V1, teams(V1, (109, "Arizona", ts(1))))
    changed = dataclasses.replace(V1, columns=(V1.columns[0], Column("name", LogicalType("bigint")), V1.columns[2]))
    with pytest.raises(SinkError, match=r"'name' is .* but bigint"):
        write(store, changed, teams(changed, (109, 7, ts(2))))
    assert [tuple(r.values()) for r in read(store, V1)] == [(109, "Arizona", ts(1))]


def test_the_same_snapshot_re_sent_with_a_new_column_replaces_rows_stored_before_it(store: Opener) -> None:
    """Rows hashed over the old columns lose the equal-timestamp tie: every row gets the new column's value."""
    old = [(team, f"team {team}", ts(1)) for team in range(100, 140)]
    write(store, V1, teams(V1, *old))
    counts = write(store, V2, teams(V2, *[(*r, f"park {r[0]}") for r in old]))
    assert (counts.updated, counts.skipped, counts.unchanged) == (40, 0, 0)
    stored = read(store, V2)
    assert len(stored) == 40 and all(r["venue"] == f"park {r['team_id']}" for r in stored)
    # and once re-hashed, the same rows again are unchanged
    assert write(store, V2, teams(V2, *[(*r, f"park {r[0]}") for r in old])).unchanged == 40
