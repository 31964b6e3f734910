"""Every logical type survives a write and a read on every store, exactly (docs/sinks.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest

from tests.conformance.conftest import read, write
from tests.conformance.stores import Opener
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType, parse_type

COLUMNS = {
    "id": "bigint",
    "small": "int",
    "ratio": "double",
    "amount": "decimal(38,9)",
    "price": "decimal(10,2)",
    "flag": "bool",
    "name": "string",
    "day": "date",
    "at": "timestamp",
    "doc": "json",
    "captured_at": "timestamp",
}
SPEC = TableSpec(
    schema="types",
    name="everything",
    columns=tuple(Column(n, parse_type(t), nullable=n not in {"id", "captured_at"}) for n, t in COLUMNS.items()),
    primary_key=("id",),
    timestamp="captured_at",
)
SNAPSHOT = datetime(2024, 7, 13, 4, 19, 9, tzinfo=UTC)
LONG = "ab\u00e9\u4e2d\U0001f600" * 250_000  # 1.25 M characters, 3.5 MB of UTF-8

ROWS: list[dict[str, object]] = [
    {  # every column NULL but the key and timestamp
        "id": 1,
        "small": None,
        "ratio": None,
        "amount": None,
        "price": None,
        "flag": None,
        "name": None,
        "day": None,
        "at": None,
        "doc": None,
        "captured_at": SNAPSHOT,
    },
    {  # empty values that are not NULL
        "id": 2,
        "small": 0,
        "ratio": 0.0,
        "amount": Decimal("0E-9"),
        "price": Decimal("0.00"),
        "flag": False,
        "name": "",
        "day": date(1970, 1, 1),
        "at": datetime(1970, 1, 1, tzinfo=UTC),
        "doc": "{}",
        "captured_at": SNAPSHOT,
    },
    {  # extremes
        "id": 2**62,
        "small": -(2**31),
        "ratio": 1 / 3,
        "amount": Decimal("-99999999999999999999999999999.999999999"),
        "price": Decimal("-12345678.90"),
        "flag": True,
        "name": "NULL",
        "day": date(9999, 12, 31),
        "at": datetime(2024, 3, 10, 2, 30, 0, 123456, tzinfo=UTC),
        "doc": '{"a": [1, 2.5, null, "x"]}',
        "captured_at": SNAPSHOT,
    },
    {  # text that needs quoting, escaping or more than one byte per character
        "id": -7,
        "small": 2**31 - 1,
        "ratio": -1.5e-300,
        "amount": Decimal("0.000000001"),
        "price": Decimal("0.01"),
        "flag": True,
        "name": 'comma, "quote", new\nline, tab\t, back\\slash, ünïcödé 中文 🙂 \u2028',
        "day": date(2024, 2, 29),
        "at": datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        "doc": '{"name": "Diamondbacks \\"D-backs\\"", "nested": {"k": "中"}}',
        "captured_at": SNAPSHOT,
    },
    {  # a very long string
        "id": 5,
        "small": 1,
        "ratio": 1e300,
        "amount": Decimal("1.5"),
        "price": Decimal("1.50"),
        "flag": False,
        "name": LONG,
        "day": date(2000, 1, 1),
        "at": datetime(2000, 1, 1, tzinfo=UTC),
        "doc": "[]",
        "captured_at": SNAPSHOT,
    },
]


# The same without decimals: stores may take another path for such tables (PostgreSQL sends them in its binary
# COPY format, and falls back to CSV for tables with numeric columns)
NO_DECIMALS = TableSpec(
    schema="types",
    name="no_decimals",
    columns=tuple(c for c in SPEC.columns if c.type.kind != "decimal"),
    primary_key=("id",),
    timestamp="captured_at",
)


def arrow_rows(rows: list[dict[str, object]], spec: TableSpec = SPEC) -> pa.Table:
    schema = pa.schema([pa.field(c.name, c.type.arrow) for c in spec.columns])
    return pa.Table.from_pylist([{c.name: r[c.name] for c in spec.columns} for r in rows], schema=schema)


@pytest.mark.parametrize("spec", [SPEC, NO_DECIMALS], ids=["all-types", "no-decimals"])
def test_every_type_round_trips_exactly(store: Opener, spec: TableSpec) -> None:
    assert write(store, spec, arrow_rows(ROWS, spec)).inserted == len(ROWS)
    expected = [{c.name: r[c.name] for c in spec.columns} for r in ROWS]
    assert read(store, spec) == sorted(expected, key=lambda r: str(r["id"]))
    # what was read back is what is stored: the same rows again are unchanged, nothing is rewritten
    again = write(store, spec, arrow_rows(ROWS, spec))
    assert (again.unchanged, again.updated, again.inserted) == (len(ROWS), 0, 0)


def test_null_and_empty_string_stay_apart(store: Opener) -> None:
    rows = [dict(ROWS[0], id=10, name=None), dict(ROWS[0], id=11, name=""), dict(ROWS[0], id=12, name='""')]
    write(store, SPEC, arrow_rows(rows))
    assert [r["name"] for r in read(store, SPEC)] == [None, "", '""']


def test_timestamps_in_other_zones_are_stored_as_the_same_instant(store: Opener) -> None:
    local = datetime(2024, 7, 12, 21, 19, 9, 500, tzinfo=ZoneInfo("America/Phoenix"))
    plus_two = datetime(2024, 7, 13, 6, 19, 9, tzinfo=timezone(timedelta(hours=2)))
    schema = pa.schema(
        [
            pa.field("id", pa.int64()),
            pa.field("at", pa.timestamp("us", tz="America/Phoenix")),
            pa.field("captured_at", pa.timestamp("us", tz="+02:00")),
        ]
    )
    spec = TableSpec(
        schema="types",
        name="zones",
        columns=(
            Column("id", LogicalType("bigint"), nullable=False),
            Column("at", LogicalType("timestamp")),
            Column("captured_at", LogicalType("timestamp"), nullable=False),
        ),
        primary_key=("id",),
        timestamp="captured_at",
    )
    write(store, spec, pa.Table.from_pylist([{"id": 1, "at": local, "captured_at": plus_two}], schema=schema))
    (row,) = read(store, spec)
    assert row["at"] == local and row["captured_at"] == plus_two == SNAPSHOT
    assert row["at"].utcoffset() == timedelta(0)  # read back in UTC
    # the same instant written in UTC is the same row, not a newer one
    utc = pa.table({"id": [1], "at": [local.astimezone(UTC)], "captured_at": [SNAPSHOT]})
    assert write(store, spec, utc.cast(pa.schema([(f.name, f.type) for f in spec.arrow_schema][:3]))).unchanged == 1
