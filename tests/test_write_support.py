"""Shared fixtures of the tidemark.write tests (no tests here): every store of the conformance list, read helpers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.conformance.stores import STORES, Opener, Store
from tidemark.tables import TableSpec
from tidemark.write.api import WriteResult

STORE_PARAMS = [pytest.param(s, id=s.name, marks=s.marks) for s in STORES]  # new sinks join automatically


def store_fixture() -> Any:
    """A fixture opening connections to a fresh, empty store of each kind in tests/conformance/stores.py.

    A test module binds it (``any_store = store_fixture()``) and names ``any_store`` as a test argument.
    """

    @pytest.fixture(params=STORE_PARAMS)
    def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
        entry: Store = request.param
        yield entry.make(request, tmp_path)

    return any_store


def stored(opener: Opener, spec: TableSpec | WriteResult) -> list[dict[str, Any]]:
    """The rows of a table, sorted by key (then by every column)."""
    if isinstance(spec, WriteResult):
        assert spec.spec is not None
        spec = spec.spec
    with opener() as sink:
        rows: list[dict[str, Any]] = sink.read_table(spec).to_pylist()
    order = list(spec.primary_key) + [c for c in spec.column_names if c not in spec.primary_key]
    return sorted(rows, key=lambda r: tuple(str(r[c]) for c in order))


def exists(opener: Opener, spec: TableSpec) -> bool:
    """Whether the table can be read (a write that failed before its first commit leaves none)."""
    try:
        stored(opener, spec)
    except Exception:
        return False
    return True


def as_input(table: pa.Table, kind: str) -> Any:
    """The same rows as a pyarrow Table, a polars DataFrame or a pandas DataFrame."""
    if kind == "pyarrow":
        return table
    if kind == "polars":
        import polars as pl

        return pl.from_arrow(table)
    if kind == "pandas":
        return table.to_pandas()
    raise ValueError(kind)
