"""One call from a store to a DataFrame: ``tidemark.read(sink, "game.statcast_pitches", where={...})``.

The table is found by name among the built-in mappings (or in the mapping given), read through the store's own
``read_table`` (every store has it, so this works the same for DuckDB, PostgreSQL, Delta, Parquet and CSV), filtered
in Arrow and handed over as the frame the caller asks for. No SQL text is built: ``where`` is a dict of column ->
value (or a list of values), compared in memory after the read; for large tables and richer filters, query the
store with its own SQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.compile.plan import compile_mapping
from tidemark.errors import ConfigError, MissingDependencyError
from tidemark.mapping.loader import expand_refs, load_mapping
from tidemark.sinks import open_sink
from tidemark.sinks.base import Sink
from tidemark.tables import TableSpec

Engine = Literal["arrow", "pandas", "polars"]


def read(
    sink: str | Sink,
    table: str,
    *,
    where: Mapping[str, Any] | None = None,
    columns: Iterable[str] | None = None,
    mapping: str | None = None,
    engine: Engine = "pandas",
) -> Any:
    """The rows of ``table`` in ``sink`` as a pandas DataFrame (``engine="polars"``: a polars DataFrame,
    ``"arrow"``: a ``pyarrow.Table``), ordered by the table's primary key.

    ``sink``: a sink URL (``duckdb:mlb.duckdb``, ``postgresql://...``, ``delta:DIR``...) or an open sink (left open).
    ``table``: ``schema.table`` as the mapping names it (``game.statcast_pitches``), found among the built-in
    mappings unless ``mapping`` names the one to use (a file or a built-in such as ``mlb:live_game``).
    ``where``: ``{column: value}`` keeps rows equal to the value; a list, tuple or set of values keeps rows equal
    to any of them; ``None`` keeps NULLs. ``columns``: the columns to return (default: all).
    """
    spec = table_spec(table, mapping)
    unknown = [c for c in [*(where or {}), *(columns or [])] if c not in spec.column_names]
    if unknown:
        raise ConfigError(f"{table} has no column {', '.join(map(repr, unknown))}; its columns: {spec.column_names}")
    store = open_sink(sink) if isinstance(sink, str) else sink
    try:
        rows = store.read_table(spec)
    finally:
        if store is not sink:
            store.close()
    rows = _filter(rows, where or {})
    if columns is not None:
        rows = rows.select(list(columns))
    return _frame(rows, engine)


def table_spec(table: str, mapping: str | None = None) -> TableSpec:
    """The :class:`TableSpec` of ``table`` in ``mapping`` (default: every built-in mapping)."""
    specs = _specs((mapping,) if mapping else tuple(_builtin_refs()))
    found = specs.get(table)
    if found is None:
        where = mapping or "the built-in mappings"
        raise ConfigError(f"no table {table!r} in {where}; tables: {', '.join(sorted(specs))}")
    return found


def _builtin_refs() -> list[str]:
    root = resources.files("tidemark") / "domains"
    domains = sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "mappings").is_dir())
    return expand_refs(f"{d}:*" for d in domains)


@lru_cache(maxsize=8)
def _specs(refs: tuple[str, ...]) -> dict[str, TableSpec]:
    out: dict[str, TableSpec] = {}
    for ref in refs:
        for target in compile_mapping(load_mapping(ref)[0]).targets:
            out.setdefault(target.name, target.spec)
    return out


def _filter(rows: pa.Table, where: Mapping[str, Any]) -> pa.Table:
    mask = None
    for column, wanted in where.items():
        values = rows.column(column)
        if wanted is None:
            keep = pc.is_null(values)
        elif isinstance(wanted, list | tuple | set | frozenset):
            keep = pc.is_in(values, value_set=pa.array(list(wanted), type=values.type))
        else:
            keep = pc.fill_null(pc.equal(values, pa.scalar(wanted, type=values.type)), False)
        mask = keep if mask is None else pc.and_(mask, keep)
    return rows if mask is None else rows.filter(mask)


def _frame(rows: pa.Table, engine: Engine) -> Any:
    if engine == "arrow":
        return rows
    if engine == "pandas":
        try:
            return rows.to_pandas()
        except ImportError as exc:
            raise MissingDependencyError("pandas", "pandas") from exc
    if engine == "polars":
        try:
            import polars
        except ImportError as exc:
            raise MissingDependencyError("polars", "polars") from exc
        return polars.from_arrow(rows)
    raise ConfigError(f"engine {engine!r}: use 'pandas', 'polars' or 'arrow'")
