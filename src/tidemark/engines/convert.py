"""JSON values -> typed Arrow arrays, vectorized when the values are clean, value by value when they are not.

The fast path hands whole columns to Arrow. Only when a column holds something unexpected does the slow path
convert each value, so that exactly the offending rows are reported (and quarantined) instead of the whole batch.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from tidemark.timestamps import parse_timestamp
from tidemark.types import LogicalType

_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, OverflowError)


def to_arrow(values: list[Any], ltype: LogicalType, fmt: str | None = None) -> tuple[pa.Array, dict[int, str]]:
    """Convert a column; returns the array (bad values as null) and ``{row: reason}`` for values that failed."""
    fast = _fast(values, ltype, fmt)
    if fast is not None:
        return fast, {}
    out: list[Any] = []
    bad: dict[int, str] = {}
    for i, v in enumerate(values):
        try:
            out.append(None if v is None else convert_value(v, ltype, fmt))
        except (ValueError, TypeError, ArithmeticError):
            out.append(None)
            bad[i] = f"{_show(v)} is not a valid {ltype}" + (f" (format {fmt!r})" if fmt else "")
    return pa.array(out, ltype.arrow), bad


def _fast(values: list[Any], t: LogicalType, fmt: str | None) -> pa.Array | None:
    """Whole-column conversion: Arrow infers the values' type in C, then a cast that refuses anything lossy.

    Returns None when the column needs the value-by-value path (mixed or unexpected values).
    """
    kind = t.kind
    try:
        if kind == "json":
            try:
                return pa.array([None if v is None else json_text(v) for v in values], pa.string())
            except ValueError:  # a value nested too deeply: the value-by-value path refuses exactly its row
                return None
        if kind == "string":  # only str converts to a string, no inference pass needed: anything else raises
            return pa.array(values, pa.string())
        inferred = pa.array(values)
        it = inferred.type
        if pa.types.is_null(it):
            return pa.nulls(len(values), t.arrow)
        if kind in ("int", "bigint"):
            return inferred.cast(t.arrow) if pa.types.is_integer(it) else None
        if kind == "double":
            return inferred.cast(t.arrow) if pa.types.is_integer(it) or pa.types.is_floating(it) else None
        if kind == "bool":
            return inferred if pa.types.is_boolean(it) else None
        if kind == "decimal":
            if pa.types.is_floating(it):  # via the shortest repr, not the binary value
                return pa.array([None if v is None else str(v) for v in values], pa.string()).cast(t.arrow)
            return inferred.cast(t.arrow) if pa.types.is_integer(it) or pa.types.is_string(it) else None
        if pa.types.is_timestamp(it) and kind == "timestamp":
            return inferred.cast(t.arrow) if it.tz else pc.assume_timezone(inferred, "UTC").cast(t.arrow)
        if pa.types.is_date(it) and kind == "date":
            return inferred.cast(t.arrow)
        if not pa.types.is_string(it):
            return None
        if fmt is not None:
            parsed = pc.strptime(inferred, format=fmt, unit="us")
            return parsed.cast(pa.date32()) if kind == "date" else pc.assume_timezone(parsed, "UTC")
        return inferred.cast(t.arrow)
    except _ARROW_ERRORS:
        return None


def convert_value(v: Any, t: LogicalType, fmt: str | None = None) -> Any:
    """Convert one JSON value to the Python value Arrow stores for ``t``; raise ValueError/TypeError if impossible."""
    kind = t.kind
    if kind in {"int", "bigint"}:
        return _to_int(v, t)
    if kind == "double":
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise TypeError(v)
        return float(v)
    if kind == "bool":
        if isinstance(v, bool):
            return v
        if isinstance(v, str) and v.lower() in {"true", "false"}:
            return v.lower() == "true"
        raise TypeError(v)
    if kind == "string":
        return _to_string(v)
    if kind == "json":
        return json_text(v)
    if kind == "decimal":
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise TypeError(v)
        return Decimal(str(v)).quantize(Decimal(1).scaleb(-t.scale))
    if isinstance(v, datetime) and kind == "timestamp":
        return v if v.tzinfo else v.replace(tzinfo=UTC)
    if isinstance(v, date) and not isinstance(v, datetime) and kind == "date":
        return v
    if not isinstance(v, str):
        raise TypeError(v)
    if kind == "date":
        return datetime.strptime(v, fmt).date() if fmt else date.fromisoformat(v)
    return parse_timestamp(v, fmt)


def _to_int(v: Any, t: LogicalType) -> int:
    if isinstance(v, bool):
        raise TypeError(v)
    number: int
    if isinstance(v, float):
        if not v.is_integer():
            raise ValueError(v)
        number = int(v)
    elif isinstance(v, str):
        number = int(v.strip())
    elif isinstance(v, int):
        number = v
    else:
        raise TypeError(v)
    limit = 2**31 if t.kind == "int" else 2**63
    if not -limit <= number < limit:
        raise OverflowError(v)
    return number


def _to_string(v: Any) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    return json_text(v)


def json_text(v: Any) -> str:
    """A JSON value as compact JSON text. orjson refuses integers beyond 64 bits, which JSON (and the documents that
    carry them) allow: those values are written by the standard encoder instead, exactly. orjson also stops at 255
    levels of nesting, and the standard encoder at Python's recursion limit: deeper values are refused (ValueError)."""
    try:
        return orjson.dumps(v).decode()
    except TypeError:
        pass
    try:
        return json.dumps(v, separators=(",", ":"), ensure_ascii=False)
    except RecursionError:
        raise ValueError("a JSON value nested too deeply to be written as JSON text") from None


def _show(v: Any) -> str:
    try:
        text = orjson.dumps(v).decode()
    except TypeError:
        try:
            text = repr(v)
        except RecursionError:
            return "a value nested too deeply"
    return text if len(text) <= 60 else text[:57] + "..."
