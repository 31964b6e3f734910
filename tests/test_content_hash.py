"""The content hash (docs/write-contract.md, "The content hash"): the vectorized row_hash is the documented chain of
words, row by row, whatever the batch around a row, its chunking, or the zone and width of its values."""

from __future__ import annotations

import hashlib
import importlib
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Context, Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidemark.contract.prepare import reference_row_hash, reference_row_words, row_hash

ZONES = [None, "UTC", "America/New_York", "Asia/Kolkata", "+05:30"]
UNIT_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000}
WIDE = Context(prec=80)  # 38 digits exactly, not rounded to the default 28
FIRST, LAST = -2_208_988_800, 7_258_118_400  # 1900-01-01 .. 2200-01-01, in seconds


def hashes(columns: dict[str, pa.Array | pa.ChunkedArray]) -> list[int]:
    table = pa.table(columns)
    return row_hash(table, table.column_names).to_pylist()  # type: ignore[no-any-return]


def references(table: pa.Table, kinds: list[str]) -> list[int]:
    return [reference_row_hash(list(row.values()), kinds) for row in table.to_pylist()]


@st.composite
def columns(draw: st.DrawFn, rows: int) -> tuple[str, pa.Array]:
    """One random column of ``rows`` values (about a fifth NULL) and its LogicalType kind."""
    kind = draw(st.sampled_from(["int", "bigint", "double", "bool", "string", "date", "timestamp", "decimal"]))
    values: st.SearchStrategy[Any]
    if kind == "int":
        dtype, values = pa.int32(), st.integers(-(2**31), 2**31 - 1)
    elif kind == "bigint":
        dtype, values = pa.int64(), st.integers(-(2**63), 2**63 - 1)
    elif kind == "double":
        dtype, values = pa.float64(), st.floats(allow_nan=True, allow_infinity=True)
    elif kind == "bool":
        dtype, values = pa.bool_(), st.booleans()
    elif kind == "string":
        dtype, values = draw(st.sampled_from([pa.string(), pa.large_string()])), st.text(max_size=12)
    elif kind == "date":
        dtype, values = pa.date32(), st.dates()
    elif kind == "timestamp":
        unit = draw(st.sampled_from(sorted(UNIT_PER_SECOND)))
        dtype = pa.timestamp(unit, draw(st.sampled_from(ZONES)))
        values = st.integers(FIRST * UNIT_PER_SECOND[unit], LAST * UNIT_PER_SECOND[unit])
    else:
        precision = draw(st.integers(1, 38))
        scale = draw(st.integers(0, min(precision, 12)))
        dtype = pa.decimal128(precision, scale)
        values = st.integers(-(10**precision) + 1, 10**precision - 1).map(lambda v: Decimal(v).scaleb(-scale, WIDE))
    drawn = draw(st.lists(st.none() | values, min_size=rows, max_size=rows))
    if kind == "timestamp":  # the stored integer in the column's unit
        return kind, pa.array(drawn, pa.int64()).cast(dtype)
    return kind, pa.array(drawn, dtype)


@st.composite
def tables(draw: st.DrawFn) -> tuple[pa.Table, list[str]]:
    rows = draw(st.integers(1, 12))
    drawn = draw(st.lists(columns(rows), min_size=1, max_size=8))
    table = pa.table({f"c{i}": column for i, (_, column) in enumerate(drawn)})
    return table, [kind for kind, _ in drawn]


@settings(max_examples=150, deadline=None)
@given(tables(), st.data())
def test_row_hash_is_the_reference_encoding_row_by_row_whatever_the_batch(
    drawn: tuple[pa.Table, list[str]], data: st.DataObject
) -> None:
    table, kinds = drawn
    expected = references(table, kinds)
    assert row_hash(table, table.column_names).to_pylist() == expected
    # other rows around (a subset, in another order) and another chunking do not change a row's hash
    order = data.draw(st.permutations(range(table.num_rows)))[: data.draw(st.integers(1, table.num_rows))]
    cuts = sorted(data.draw(st.lists(st.integers(0, len(order)), max_size=3)))
    picked = table.take(order)
    chunked = pa.concat_tables([picked.slice(a, b - a) for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)])
    assert row_hash(chunked, table.column_names).to_pylist() == [expected[i] for i in order]


def test_a_row_hashes_the_same_alone_and_among_rows_with_nulls() -> None:
    alone = hashes({"a": pa.array([1], pa.int64()), "b": pa.array(["x"])})
    among = hashes({"a": pa.array([None, 1, 2], pa.int64()), "b": pa.array(["y", "x", None])})
    assert alone == [among[1]] == [reference_row_hash([1, "x"], ["bigint", "string"])]


def test_the_position_of_a_null_and_the_split_of_strings_are_content() -> None:
    (null_first, null_second) = hashes({"a": pa.array([None, 5], pa.int64()), "b": pa.array([5, None], pa.int64())})
    assert null_first != null_second
    (ab_c, a_bc) = hashes({"a": ["ab", "a"], "b": ["c", "bc"]})
    assert ab_c != a_bc
    (empty, null) = hashes({"a": pa.array(["", None])})
    assert empty != null
    (zero, null_int) = hashes({"a": pa.array([0, None], pa.int64())})
    assert zero != null_int
    (plus_zero, minus_zero) = hashes({"a": pa.array([0.0, -0.0])})
    assert plus_zero != minus_zero
    (positive, negative) = hashes({"a": [1.5, -1.5], "b": [2.0, -2.0]})  # the same words up to their sign bits
    assert positive != negative
    (a_b, b_a) = hashes({"a": pa.array([3, 8], pa.int64()), "b": pa.array([8, 3], pa.int64())})  # order is content
    assert a_b != b_a
    (x_y, y_x) = hashes({"a": ["x", "y"], "b": ["y", "x"]})
    assert x_y != y_x


def test_the_same_instant_in_any_zone_or_unit_hashes_the_same() -> None:
    instant = datetime(2024, 7, 13, 4, 19, 9, tzinfo=UTC)
    variants = [
        pa.array([instant], pa.timestamp("us", "UTC")),
        pa.array([instant.astimezone(timezone(timedelta(hours=-4)))], pa.timestamp("s", "America/New_York")),
        pa.array([instant], pa.timestamp("ms", "Asia/Kolkata")),
        pa.array([int(instant.timestamp()) * 10**9], pa.int64()).cast(pa.timestamp("ns", "+05:30")),
        pa.array([instant.replace(tzinfo=None)], pa.timestamp("us")),  # naive is UTC
    ]
    results = {h for v in variants for h in hashes({"t": v})}
    assert results == {reference_row_hash([instant], ["timestamp"])}
    (later,) = hashes({"t": pa.array([instant + timedelta(microseconds=1)], pa.timestamp("us", "UTC"))})
    assert later not in results


def test_an_integer_or_float_hashes_the_same_whatever_its_width() -> None:
    widths = [pa.int8(), pa.int16(), pa.int32(), pa.int64(), pa.uint8(), pa.uint32(), pa.uint64()]
    assert {h for w in widths for h in hashes({"v": pa.array([95], w)})} == set(hashes({"v": pa.array([95])}))
    (wrapped,) = hashes({"v": pa.array([2**64 - 1], pa.uint64())})  # an unsigned 64-bit value is reinterpreted
    assert wrapped == hashes({"v": pa.array([-1], pa.int64())})[0]
    floats = {h for w in (pa.float16(), pa.float32(), pa.float64()) for h in hashes({"v": pa.array([1.5], w)})}
    assert floats == {reference_row_hash([1.5], ["double"])}
    (double,) = hashes({"v": pa.array([95.0])})
    assert double != hashes({"v": pa.array([95])})[0]  # a column's type is part of how its values are written


def test_more_than_64_columns_take_more_header_words() -> None:
    values: list[object] = [i if i % 7 else None for i in range(130)]
    table = pa.table({f"c{i}": pa.array([v], pa.int64()) for i, v in enumerate(values)})
    words = reference_row_words(values, ["bigint"] * 130)
    assert words[:3] == [
        sum(1 << (i - 64 * w) for i in range(64 * w, min(64 * w + 64, 130)) if i % 7 == 0) for w in range(3)
    ]
    assert words[1] & (1 << (70 - 64)) and len(words) == 3 + 130  # no variable-length column: no MD5 word
    assert row_hash(table, table.column_names).to_pylist() == [reference_row_hash(values, ["bigint"] * 130)]


def test_decimals_dates_and_nested_values_follow_the_reference() -> None:
    table = pa.table(
        {
            "d": pa.array([Decimal("1.5"), Decimal(0), Decimal("0.000000001"), None], pa.decimal128(38, 9)),
            "day": pa.array([date(2024, 7, 13), date(1969, 12, 31), None, date(1, 1, 1)]),
            "day64": pa.array([date(2024, 7, 13), date(1969, 12, 31), None, date(1, 1, 1)], pa.date64()),
            "nested": pa.array([[1, 2], [], None, [None]], pa.list_(pa.int64())),
            "raw": pa.array([b"\x00\xff", b"", None, b"x"]),
            "tag": pa.array(["a", "b", None, "a"]).dictionary_encode(),
        }
    )
    kinds = ["decimal", "date", "date", "list", "binary", "string"]
    assert row_hash(table, table.column_names).to_pylist() == references(table, kinds)
    assert reference_row_words([Decimal("1.500000000")], ["decimal"])[-1] == md5_word(b"1.500000000")


def test_no_rows_give_an_empty_int64_array() -> None:
    empty = pa.table({"a": pa.array([], pa.int64()), "b": pa.array([], pa.string())})
    result = row_hash(empty, ["a", "b"])
    assert result.type == pa.int64() and len(result) == 0


def test_threads_hashing_at_once_get_the_results_of_one_thread() -> None:
    tables = [pa.table({"n": pa.array(range(i, i + 5_000), pa.int64()), "s": [str(i)] * 5_000}) for i in range(8)]
    expected = [row_hash(t, ["n", "s"]).to_pylist() for t in tables]
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            results[i] = row_hash(tables[i], ["n", "s"]).to_pylist()
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(tables))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and [results[i] for i in range(len(tables))] == expected


@pytest.mark.parametrize("kind", ["string", "json"])
def test_text_is_hashed_as_its_utf8_bytes(kind: str) -> None:
    assert reference_row_words(["héllo"], [kind]) == [0, 6, md5_word("héllo".encode())]
    assert hashes({"a": pa.array(["héllo"])}) == [reference_row_hash(["héllo"], [kind])]


def test_a_table_of_fixed_width_columns_is_hashed_without_md5(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_md5(rows: pa.Array) -> pa.Array:
        raise AssertionError("MD5 called for a table without variable-length columns")

    # the module itself: the package's `prepare` attribute is the function of that name
    monkeypatch.setattr(importlib.import_module("tidemark.contract.prepare"), "_md5_64", no_md5)
    instant = datetime(2024, 7, 13, 4, 19, 9, tzinfo=UTC)
    row: list[object] = [747175, 3, 1.5, True, date(2024, 7, 13), instant]
    kinds = ["bigint", "int", "double", "bool", "date", "timestamp"]
    types = [pa.int64(), pa.int32(), pa.float64(), pa.bool_(), pa.date32(), pa.timestamp("us", "UTC")]
    table = pa.table({f"c{i}": pa.array([v, None], t) for i, (v, t) in enumerate(zip(row, types, strict=True))})
    assert len(reference_row_words(row, kinds)) == 1 + len(kinds)
    assert hashes(dict(zip(table.column_names, table.columns, strict=True))) == [
        reference_row_hash(row, kinds),
        reference_row_hash([None] * len(kinds), kinds),
    ]


def test_the_md5_word_is_there_for_every_row_of_a_table_with_a_variable_length_column() -> None:
    """Empty and NULL variable values still add MD5(b""): the word depends on the column types, not on the data."""
    words = [reference_row_words([1, value], ["bigint", "string"]) for value in ("", None, "x")]
    assert [len(w) for w in words] == [4, 4, 4] and words[0][-1] == words[1][-1] == md5_word(b"")
    assert words[0][:-1] != words[1][:-1] and words[2][-1] == md5_word(b"x")
    with_tail = hashes({"a": pa.array([1, 1], pa.int64()), "s": pa.array(["", None])})
    assert with_tail == [reference_row_hash([1, v], ["bigint", "string"]) for v in ("", None)]


def md5_word(data: bytes) -> int:
    return int.from_bytes(hashlib.md5(data).digest()[:8], "little")


def test_large_and_small_batches_digest_the_tail_alike() -> None:
    """Below a few thousand rows the MD5 of the tails is taken row by row in Python, above in DuckDB: same words."""
    values = [None if i % 11 == 0 else f"v{i % 997}é" * (i % 5) for i in range(6_000)]
    table = pa.table({"n": pa.array(range(6_000), pa.int32()), "s": values})
    large = row_hash(table, ["n", "s"]).to_pylist()
    small = [h for start in range(0, 6_000, 500) for h in row_hash(table.slice(start, 500), ["n", "s"]).to_pylist()]
    assert large == small == [reference_row_hash([i, v], ["int", "string"]) for i, v in enumerate(values)]
