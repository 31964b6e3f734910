"""Deterministic keys: a key column computed from named columns, the same on every run, machine and library version.

A source without an id (scraped match results, flat exports) still needs a key for ``upsert`` and ``append_once``.
The key of a row is a UUIDv5 of a canonical text of its key inputs, so it depends only on what the values *say*,
not on how a reader typed them (docs/write.md, "Deterministic keys", is the normative description):

- ``text(v)``: strings NFC-normalized (``normalize``), stripped of :data:`TRIM_CHARS` (``trim``), case-folded with
  Unicode full case folding, then NFC again (``casefold``); integers as decimal digits; floats only when integral
  and finite, as integers; decimals in plain notation without trailing fractional zeros; booleans ``true`` /
  ``false``; dates ``YYYY-MM-DD``; timestamps in UTC (naive ones are UTC) as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``;
- ``enc(scalar) = len(text) ":" text`` (length in code points); ``enc(list) = "[" enc(e1) enc(e2) ... "]"`` with
  the elements in order (or sorted by their encoding, ``sort_lists``);
- ``name = enc(v1) enc(v2) ... enc(vn)`` over the ``from`` columns in order; ``key = uuid5(KEY_NAMESPACE, name)``.

The encoding is prefix-free, so distinct inputs give distinct names. A NULL input (or a NULL element of a list
input) makes the key *incomplete*: the row is refused with the reason, never keyed on NULL.

:func:`reference_key` is the encoding written plainly, value by value; :func:`compute_keys` computes the same keys
over whole Arrow columns (Arrow kernels for the text, DuckDB's SHA-1 for the hash) and checks a sample of its
output against the reference on every call.
"""

from __future__ import annotations

import functools
import math
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tidemark.contract.counts import WriteCounts
from tidemark.contract.prepare import RowError
from tidemark.errors import ContractError, did_you_mean
from tidemark.keyspec import KeyRecipe as KeyRecipe  # re-exported: the recipe the functions here take

#: uuid5(NAMESPACE_URL, "tidemark:key:v1"): the namespace of version 1 of the encoding (pinned by a test)
KEY_NAMESPACE = uuid.UUID("68826b71-47e9-5077-9da0-88068bee11b7")
#: what ``trim`` strips at both ends: ASCII white space, no-break space, ideographic space, byte order mark
TRIM_CHARS = " \t\n\r\x0b\x0c\u00a0\u3000\ufeff"


# -- the reference: the encoding written plainly ----------------------------------------------------------------
def reference_name(values: Sequence[Any], recipe: KeyRecipe) -> str | None:
    """The canonical text of one tuple of key inputs; None when the key is incomplete (a NULL input)."""
    parts = [_ref_encode(v, recipe) for v in values]
    return None if any(p is None for p in parts) else "".join(p for p in parts if p is not None)


def reference_key(values: Sequence[Any], recipe: KeyRecipe) -> str | None:
    """The key of one tuple of key inputs (a UUID string); None when the key is incomplete."""
    name = reference_name(values, recipe)
    return None if name is None else str(uuid.uuid5(KEY_NAMESPACE, name))


def _ref_encode(v: Any, r: KeyRecipe) -> str | None:
    if v is None:
        return None
    if isinstance(v, list | tuple):
        items = [_ref_encode(e, r) for e in v]
        if any(i is None for i in items):
            return None
        done = [i for i in items if i is not None]
        return "[" + "".join(sorted(done) if r.sort_lists else done) + "]"
    text = _ref_text(v, r)
    return f"{len(text)}:{text}"


def _ref_text(v: Any, r: KeyRecipe) -> str:
    if isinstance(v, str):
        return fold(v, r)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not (math.isfinite(v) and v.is_integer()):
            raise ValueError(f"{v!r} is not an integral number")
        return str(int(v))
    if isinstance(v, Decimal):
        return decimal_text(v)
    if isinstance(v, datetime):
        utc = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(v, date):
        return v.isoformat()
    raise TypeError(f"cannot key on a {type(v).__name__}")


def fold(s: str, r: KeyRecipe) -> str:
    """The string options, in their documented order: NFC, trim, case folding (then NFC again)."""
    if r.normalize:
        s = unicodedata.normalize("NFC", s)
    if r.trim:
        s = s.strip(TRIM_CHARS)
    if r.casefold:
        s = s.casefold()
        if r.normalize:
            s = unicodedata.normalize("NFC", s)
    return s


def decimal_text(d: Decimal) -> str:
    """Plain notation, no exponent, no trailing fractional zeros, no negative zero."""
    if not d.is_finite():
        raise ValueError(f"{d} is not a finite number")
    text = format(d.normalize(), "f")
    return "0" if text == "-0" else text


# -- the same over Arrow columns ---------------------------------------------------------------------------------
def compute_keys(table: pa.Table, recipe: KeyRecipe) -> pa.Array:
    """The key of every row (UUID strings), NULL where a key input is incomplete.

    Raises :class:`ContractError` when a ``from`` column is missing or holds values that cannot be keyed exactly
    (a non-integral float, a binary or struct column), naming the column and the first offending row.
    """
    missing = [c for c in recipe.columns if c not in table.column_names]
    if missing:
        hint = did_you_mean(missing[0], table.column_names)
        raise ContractError(
            f"key {recipe.name!r}: column {missing[0]!r} is not in the data{hint}; "
            f"columns: {', '.join(table.column_names)}"
        )
    if table.num_rows == 0:
        return pa.array([], pa.string())
    pieces: list[pa.Array | pa.Scalar] = [_binary(KEY_NAMESPACE.bytes)]
    for c in recipe.columns:
        pieces += _pieces(_one_chunk(table.column(c)), recipe, c)
    data = pc.binary_join_element_wise(*pieces, _binary(b""))  # one pass: namespace bytes + name, NULL if incomplete
    return uuid5_column(data)


def _one_chunk(column: pa.ChunkedArray) -> pa.Array:
    if column.num_chunks == 1:
        return column.chunk(0)
    return column.combine_chunks() if column.num_chunks else pa.array([], column.type)


def _pieces(arr: pa.Array, r: KeyRecipe, column: str) -> list[pa.Array | pa.Scalar]:
    """``enc`` of each value as binary pieces to concatenate (NULL where the value is incomplete)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        return _pieces(arr.dictionary_decode(), r, column)
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t):
        return [_encode_list(arr, r, column).cast(pa.binary())]
    text = _text(arr, r, column)
    return [pc.cast(pc.utf8_length(text), pa.string()).cast(pa.binary()), _binary(b":"), text.cast(pa.binary())]


def _encode(arr: pa.Array, r: KeyRecipe, column: str) -> pa.Array:
    """``enc`` of each value (strings), NULL where the value is incomplete."""
    return pc.binary_join_element_wise(*_pieces(arr, r, column), _binary(b"")).cast(pa.string())


def _encode_list(arr: pa.Array, r: KeyRecipe, column: str) -> pa.Array:
    lengths = pc.fill_null(pc.list_value_length(arr), 0)
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), pc.cumulative_sum(pc.cast(lengths, pa.int32()))])
    elements = _encode(pc.list_flatten(arr), r, f"{column}[]")
    if r.sort_lists and len(elements):
        parents = pc.list_parent_indices(pa.ListArray.from_arrays(offsets, elements))
        order = pc.sort_indices(
            pa.table({"p": parents, "e": elements}), sort_keys=[("p", "ascending"), ("e", "ascending")]
        )
        elements = elements.take(order)
    lists = pa.ListArray.from_arrays(offsets, elements, mask=pc.is_null(arr))
    return pc.binary_join_element_wise("[", pc.binary_join(lists, ""), "]", "")  # NULL element -> NULL


def _text(arr: pa.Array, r: KeyRecipe, column: str) -> pa.Array:
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return _fold_strings(arr.cast(pa.string()), r)
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return arr.cast(pa.string())
    if pa.types.is_floating(t):
        return _float_text(arr, column)
    if pa.types.is_decimal(t):
        return _map_unique(arr, decimal_text)
    if pa.types.is_date(t):
        return arr.cast(pa.date32()).cast(pa.string())
    if pa.types.is_timestamp(t):
        return _timestamp_text(arr, column)
    if pa.types.is_null(t):
        return pa.nulls(len(arr), pa.string())
    raise ContractError(
        f"key input {column!r} has type {t}: a key can be made of strings, integers, integral floats, decimals, "
        "booleans, dates, timestamps and lists of those; cast the column first"
    )


def _fold_strings(arr: pa.Array, r: KeyRecipe) -> pa.Array:
    """``fold`` over a column: Arrow kernels for ASCII strings, the reference for the (distinct) others."""
    if not (r.normalize or r.trim or r.casefold):
        return arr
    ascii_mask = pc.fill_null(pc.string_is_ascii(arr), True)
    out = arr
    if r.trim:
        out = pc.utf8_trim(out, characters=TRIM_CHARS)
    if r.casefold:
        out = pc.ascii_lower(out)
    if pc.all(ascii_mask).as_py():
        return out
    other = pc.invert(ascii_mask)
    return pc.replace_with_mask(out, other, _map_unique(arr.filter(other), lambda s: fold(s, r)))


def _map_unique(arr: pa.Array, fn: Any) -> pa.Array:
    """Apply a Python function once per distinct value (NULL stays NULL)."""
    distinct = pc.unique(arr)
    mapped = pa.array([None if v is None else fn(v) for v in distinct.to_pylist()], pa.string())
    return mapped.take(pc.index_in(arr, distinct))


def _float_text(arr: pa.Array, column: str) -> pa.Array:
    exact = pc.and_(pc.is_finite(arr), pc.equal(pc.floor(arr), arr))
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(exact, True)))
    if pc.any(bad).as_py():
        row = pc.index(bad, True).as_py()
        raise ContractError(
            f"key input {column!r} holds {arr[row].as_py()!r} at row {row}: a float key part must be a whole number "
            "(floats are not exact); cast the column to decimal or string"
        )
    try:
        return arr.cast(pa.int64()).cast(pa.string())
    except pa.ArrowInvalid as exc:
        raise ContractError(f"key input {column!r}: a value is too large for an exact key ({exc})") from exc


def _timestamp_text(arr: pa.Array, column: str) -> pa.Array:
    try:
        utc = arr.cast(pa.timestamp("us", "UTC"))
    except pa.ArrowInvalid as exc:
        raise ContractError(
            f"key input {column!r} has timestamps finer than a microsecond: round them first ({exc})"
        ) from exc
    return pc.strftime(utc, format="%Y-%m-%dT%H:%M:%SZ")  # %S of a microsecond timestamp prints SS.ffffff


# -- hashing ----------------------------------------------------------------------------------------------------
@functools.cache  # built on first use: making Arrow scalars at import time would import pandas when installed
def _binary(value: bytes) -> pa.Scalar:
    return pa.scalar(value, pa.binary())


@functools.cache
def _variant_table() -> tuple[pa.Array, pa.Array]:
    """Hex digit -> the same digit with the RFC 4122 variant (the two top bits of byte 8 are 10)."""
    return pa.array(list("0123456789abcdef")), pa.array(list("89ab89ab89ab89ab"))


def uuid5_column(data: pa.Array) -> pa.Array:
    """``uuid5(KEY_NAMESPACE, name)`` of every ``namespace bytes + name`` (binary; NULL stays NULL), checked
    against :func:`uuid.uuid5` on a sample of rows."""
    valid = pc.is_valid(data)
    complete = data if data.null_count == 0 else data.filter(valid)
    if len(complete) == 0:
        return pa.nulls(len(data), pa.string())
    keys = _format_uuid5(_sha1_hex(complete))
    for i in {0, len(complete) // 2, len(complete) - 1}:
        expected = str(uuid.uuid5(KEY_NAMESPACE, complete[i].as_py()[16:].decode("utf-8")))
        if keys[i].as_py() != expected:  # pragma: no cover - guards the engine against a change of behaviour
            raise RuntimeError(f"key hashing disagrees with uuid5 at row {i}: {keys[i].as_py()} != {expected}")
    return keys if data.null_count == 0 else pc.replace_with_mask(pa.nulls(len(data), pa.string()), valid, keys)


def _sha1_hex(data: pa.Array) -> pa.Array:
    """SHA-1 (lower-case hex) of each binary value, vectorized in an in-memory DuckDB."""
    import duckdb  # a core dependency; imported here so that importing tidemark stays light

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET preserve_insertion_order = true")  # the default, relied upon: row i -> hash i
        con.register("_tm_names", pa.table({"b": data}))
        result = con.execute("SELECT sha1(b) AS h FROM _tm_names").to_arrow_table().column(0)
    finally:
        con.close()
    return _one_chunk(result).cast(pa.string())


def _format_uuid5(hexes: pa.Array) -> pa.Array:
    """40 hex digits of SHA-1 -> the UUID text: first 128 bits, version nibble 5, RFC 4122 variant."""

    def part(start: int, stop: int) -> pa.Array:
        return pc.utf8_slice_codeunits(hexes, start, stop)

    digits, variants = _variant_table()
    variant = variants.take(pc.index_in(part(16, 17), digits))
    return pc.binary_join_element_wise(
        part(0, 8), "-", part(8, 12), "-5", part(13, 16), "-", variant, part(17, 20), "-", part(20, 32), ""
    )


# -- applying a key to rows, and reporting on it -----------------------------------------------------------------
@dataclass
class KeyReport:
    """How complete and unique a table's keys were in one write (or mapping run).

    - rows: rows read; incomplete: rows refused because a key input (or key column) was NULL;
    - duplicates: rows whose key appeared earlier in the same input; each was resolved by the contract:
      dropped_older (older, or a smaller content hash at an equal time), dropped_identical (same time and content
      as the row kept), replaced (it came in a later batch, was newer, and replaced the row written earlier);
    - coverage: percent of the rows read that got a complete key.
    """

    rows: int = 0
    incomplete: int = 0
    duplicates: int = 0
    dropped_older: int = 0
    dropped_identical: int = 0
    replaced: int = 0
    strategy: str = "newest_wins"
    column: str | None = None  # the computed key column, when the key is computed

    @property
    def keyed(self) -> int:
        return self.rows - self.incomplete

    @property
    def coverage(self) -> float:
        return 100.0 * self.keyed / self.rows if self.rows else 100.0

    def add_reduced(self, counts: WriteCounts) -> None:
        """Duplicates that the contract's in-batch reduction dropped (``prepare``'s unchanged / skipped)."""
        self.duplicates += counts.unchanged + counts.skipped
        self.dropped_identical += counts.unchanged
        self.dropped_older += counts.skipped

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "keyed": self.keyed, "coverage": round(self.coverage, 3)}


def incomplete_reasons(table: pa.Table, recipe: KeyRecipe, rows: pa.Array) -> list[str]:
    """Why each of ``rows`` (indices) has no complete key: the NULL inputs, or the lists with a NULL element."""
    picked = table.take(rows)
    columns = {c: picked.column(c).to_pylist() for c in recipe.columns}
    reasons = []
    for i in range(len(rows)):
        parts = []
        for c, values in columns.items():
            if values[i] is None:
                parts.append(f"key input {c!r} is NULL")
            elif _has_null(values[i]):
                parts.append(f"key input {c!r} has a NULL element")
        reasons.append(f"{recipe.name}: " + "; ".join(parts) + " (a key is never made from NULL)")
    return reasons


def _decoded(table: pa.Table, columns: list[str]) -> pa.Table:
    for name in columns:
        values = [None if v is None else orjson.loads(v) for v in table.column(name).to_pylist()]
        try:
            decoded = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise ContractError(f"key input {name!r}: its JSON values mix kinds and cannot be keyed ({exc})") from exc
        table = table.set_column(table.column_names.index(name), name, decoded)
    return table


def _has_null(value: Any) -> bool:
    if isinstance(value, list):
        return any(_has_null(v) for v in value)
    return value is None


def apply_key(
    table: pa.Table,
    recipe: KeyRecipe,
    table_name: str,
    origin: str = "",
    report: KeyReport | None = None,
    json_columns: tuple[str, ...] = (),
) -> tuple[pa.Table, list[RowError]]:
    """Add the key column (first) to ``table``; rows without a complete key are returned as error rows instead.

    ``json_columns`` hold JSON text (a mapping's ``type: json`` fields): their values are keyed as the lists and
    scalars the text holds, so ``sort_lists`` and NULL elements work as for Arrow lists.
    """
    if recipe.name in table.column_names:
        raise ContractError(
            f"key {recipe.name!r} would overwrite the column of that name in the data: "
            "name the key differently, or drop the column"
        )
    inputs = _decoded(table, [c for c in recipe.columns if c in json_columns])
    keys = compute_keys(inputs, recipe)
    errors: list[RowError] = []
    if keys.null_count:
        bad = pc.is_null(keys)
        rows = pc.indices_nonzero(bad)
        reasons = incomplete_reasons(inputs, recipe, rows)
        for row, reason in zip(table.take(rows).to_pylist(), reasons, strict=True):
            errors.append(RowError(table_name, {c: row[c] for c in recipe.columns}, reason, row, origin))
        keep = pc.invert(bad)
        table, keys = table.filter(keep), keys.filter(keep)
    if report is not None:
        report.rows += table.num_rows + len(errors)
        report.incomplete += len(errors)
    return table.add_column(0, pa.field(recipe.name, pa.string(), nullable=False), keys), errors
