"""Deterministic keys: the documented encoding, stable everywhere, computed the same vectorized and value by value."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tidemark.contract.keys import (
    KEY_NAMESPACE,
    KeyRecipe,
    KeyReport,
    apply_key,
    compute_keys,
    reference_key,
    reference_name,
)
from tidemark.errors import ContractError

RECIPE = KeyRecipe("k", ("s", "i", "d", "l"))
SCHEMA = pa.schema([("s", pa.string()), ("i", pa.int64()), ("d", pa.date32()), ("l", pa.list_(pa.string()))])

texts = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)
tuples = st.tuples(
    texts,
    st.integers(-(2**63), 2**63 - 1),
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.lists(texts, max_size=4),
)


def keys_of(rows: list[tuple[Any, ...]], recipe: KeyRecipe = RECIPE, schema: pa.Schema = SCHEMA) -> list[str | None]:
    table = pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema=schema)
    return compute_keys(table, recipe).to_pylist()  # type: ignore[no-any-return]


def test_namespace_is_the_documented_one() -> None:
    assert uuid.uuid5(uuid.NAMESPACE_URL, "tidemark:key:v1") == KEY_NAMESPACE


def test_golden_keys_never_change() -> None:
    """A change here breaks every stored key: the encoding is versioned (docs/write.md), never edited."""
    row = ("Riverside Padel League", 7, date(2024, 5, 4), ["Ana Ruiz", "Bea Kim"])
    assert reference_name(row, RECIPE) == "22:Riverside Padel League1:710:2024-05-04[8:Ana Ruiz7:Bea Kim]"
    assert keys_of([row]) == [str(uuid.uuid5(KEY_NAMESPACE, reference_name(row, RECIPE) or ""))]
    assert keys_of([row]) == ["7bb15f5f-c602-5ec6-8a54-401799b620a8"]


@settings(max_examples=60, deadline=None)
@given(st.lists(tuples, min_size=1, max_size=40))
def test_vectorized_keys_equal_the_reference(rows: list[tuple[Any, ...]]) -> None:
    assert keys_of(rows) == [reference_key(r, RECIPE) for r in rows]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        tuples,
        min_size=2,
        max_size=60,
        unique_by=lambda r: (
            unicodedata.normalize("NFC", r[0]),
            *r[1:3],
            tuple(unicodedata.normalize("NFC", x) for x in r[3]),
        ),
    )
)
def test_distinct_tuples_get_distinct_keys(rows: list[tuple[Any, ...]]) -> None:
    keys = keys_of(rows)
    assert len(set(keys)) == len(rows)


@settings(max_examples=60, deadline=None)
@given(texts)
def test_unicode_equivalent_strings_get_the_same_key(text: str) -> None:
    nfc, nfd = unicodedata.normalize("NFC", text), unicodedata.normalize("NFD", text)
    rows = [(nfc, 1, date(2024, 1, 1), [nfd]), (nfd, 1, date(2024, 1, 1), [nfc])]
    first, second = keys_of(rows)
    assert first == second
    raw = KeyRecipe("k", RECIPE.columns, normalize=False)
    if nfc != nfd:
        assert len(set(keys_of(rows, raw))) == 2


def test_same_tuples_same_keys_in_a_fresh_process() -> None:
    rows = [
        ("Zoë", -3, date(2024, 2, 29), ["b", "a"]),
        ("e\u0301", 0, date(1, 1, 1), []),
        ("", 2**62, date.today(), [""]),
    ]
    here = keys_of(rows)
    script = (
        "import json, sys, datetime, pyarrow as pa\n"
        "from tidemark.contract.keys import KeyRecipe, compute_keys\n"
        "rows = json.loads(sys.stdin.read())\n"
        "schema = pa.schema([('s', pa.string()), ('i', pa.int64()), ('d', pa.date32()),\n"
        "                    ('l', pa.list_(pa.string()))])\n"
        "data = [dict(s=r[0], i=r[1], d=datetime.date.fromisoformat(r[2]), l=r[3]) for r in rows]\n"
        "t = pa.Table.from_pylist(data, schema=schema)\n"
        "print(json.dumps(compute_keys(t, KeyRecipe('k', ('s', 'i', 'd', 'l'))).to_pylist()))\n"
    )
    payload = json.dumps([[r[0], r[1], r[2].isoformat(), r[3]] for r in rows])
    done = subprocess.run(
        [sys.executable, "-c", script], input=payload, capture_output=True, text=True, check=True, timeout=120
    )
    assert json.loads(done.stdout) == here


def test_values_key_by_what_they_say_not_how_they_were_typed() -> None:
    """A reader may type a column differently (CSV dates, JSON strings, pandas floats): the key stays the same."""
    recipe = KeyRecipe("k", ("v",))

    def key(values: list[Any], dtype: pa.DataType) -> list[str | None]:
        return compute_keys(pa.table({"v": pa.array(values, dtype)}), recipe).to_pylist()  # type: ignore[no-any-return]

    assert key([7], pa.int64()) == key([7], pa.int32()) == key([7.0], pa.float64()) == key(["7"], pa.string())
    assert key([Decimal("7.00")], pa.decimal128(5, 2)) == key([7], pa.int8())
    assert key([date(2024, 5, 4)], pa.date32()) == key(["2024-05-04"], pa.string())
    aware = datetime(2024, 5, 4, 21, 30, tzinfo=timezone(timedelta(hours=2)))
    assert key([aware], pa.timestamp("s", "Europe/Paris")) == key([datetime(2024, 5, 4, 19, 30)], pa.timestamp("ns"))
    assert key(["2024-05-04T19:30:00.000000Z"], pa.string()) == key([aware], pa.timestamp("us", "UTC"))
    assert key([True], pa.bool_()) == key(["true"], pa.string())
    assert key([Decimal("-0.50")], pa.decimal128(4, 2)) == key(["-0.5"], pa.string())
    assert key([["a", "b"]], pa.large_list(pa.string())) == key([["a", "b"]], pa.list_(pa.string()))
    dictionary = pa.array(["x", "y", "x"]).dictionary_encode()
    assert compute_keys(pa.table({"v": dictionary}), recipe).to_pylist() == key(["x", "y", "x"], pa.string())


def test_trim_casefold_and_sorted_lists_are_options() -> None:
    loose = KeyRecipe("k", ("team", "players"), trim=True, casefold=True, sort_lists=True)
    strict = KeyRecipe("k", ("team", "players"))
    data = pa.table({"team": ["Straße ", "STRASSE", "\u00a0strasse"], "players": [["b", "A"], ["a", "B"], ["B", "a"]]})
    assert len(set(compute_keys(data, loose).to_pylist())) == 1
    assert len(set(compute_keys(data, strict).to_pylist())) == 3
    assert compute_keys(data, loose).to_pylist()[0] == reference_key(("strasse", ["a", "b"]), strict)


def test_incomplete_keys_are_error_rows_never_null_keys() -> None:
    recipe = KeyRecipe("match_id", ("home", "players"))
    data = pa.table({"home": ["A", None, "C", "D"], "players": [["x"], ["y"], ["z", None], None]})
    report = KeyReport()
    keyed, errors = apply_key(data, recipe, "results.matches", "file.json", report)
    assert keyed.column_names[0] == "match_id" and keyed.column("match_id").null_count == 0
    assert keyed.column("home").to_pylist() == ["A"]
    assert [e.reason for e in errors] == [
        "match_id: key input 'home' is NULL (a key is never made from NULL)",
        "match_id: key input 'players' has a NULL element (a key is never made from NULL)",
        "match_id: key input 'players' is NULL (a key is never made from NULL)",
    ]
    assert [e.key["home"] for e in errors] == [None, "C", "D"] and errors[0].origin == "file.json"
    assert (report.rows, report.incomplete, report.keyed, report.coverage) == (4, 3, 1, 25.0)


@pytest.mark.parametrize(
    ("values", "dtype", "message"),
    [
        ([1.0, 2.5], pa.float64(), "key input 'v' holds 2.5 at row 1: a float key part must be a whole number"),
        ([b"x"], pa.binary(), "key input 'v' has type binary"),
        ([{"a": 1}], pa.struct([("a", pa.int64())]), "key input 'v' has type struct"),
    ],
)
def test_inputs_that_cannot_be_keyed_exactly_are_refused(values: list[Any], dtype: pa.DataType, message: str) -> None:
    with pytest.raises(ContractError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compute_keys(pa.table({"v": pa.array(values, dtype)}), KeyRecipe("k", ("v",)))


def test_a_missing_key_input_column_is_named_with_a_suggestion() -> None:
    with pytest.raises(ContractError, match=r"column 'hom_team' is not in the data \(did you mean 'home_team'\?\)"):
        compute_keys(pa.table({"home_team": ["A"]}), KeyRecipe("k", ("hom_team",)))


def test_reference_rules() -> None:
    r = KeyRecipe("k", ("a",))
    assert reference_name([Decimal("100")], r) == "3:100"
    assert reference_name([-0.0], r) == "1:0"
    assert reference_name([datetime(2024, 1, 1, tzinfo=UTC)], r) == "27:2024-01-01T00:00:00.000000Z"
    assert reference_name([[[1, 2], []]], r) == "[[1:11:2][]]"
    assert reference_name([None], r) is None and reference_name([[None]], r) is None
