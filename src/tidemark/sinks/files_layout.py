"""The layout of a file store (sinks/files.py): the manifest's table entries, partition folders, the file format
interface, and a table's committed files as the working copy reads them (:class:`StoredFiles`).

A manifest entry is plain JSON: ``{"columns": [{"name", "type", "nullable"}], "primary_key": [...],
"partition_by": [...], "files": [{"path", "rows", "partition": {column: text or null}}]}``; ``path`` is relative to
the store's root, a partition value is its text (``isoformat`` for dates) and NULL is Hive's default partition name.
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from tidemark.sinks.bookkeeping import legacy_watermark_name, watermark_schema, watermark_spec
from tidemark.sinks.rowsets import matching
from tidemark.tables import HASH_COLUMN, Column, TableSpec
from tidemark.types import parse_type

if TYPE_CHECKING:
    from tidemark.sinks.files import FileSink

META = "_tidemark"
MANIFEST = "manifest.json"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
Entry = dict[str, Any]  # one table in the manifest


class FileFormat(Protocol):
    """How one file of rows is written and read back exactly (one small class per format)."""

    extension: str

    def write(self, table: pa.Table, out: pa.NativeFile) -> None: ...

    def read(self, source: pa.NativeFile, schema: pa.Schema) -> pa.Table:
        """The file's rows with ``schema``'s columns (read only those; NULL for columns the file lacks)."""
        ...


class StoredFiles:
    """A table's committed files, and which of them the transaction copied into its working table."""

    def __init__(self, sink: FileSink, spec: TableSpec, entry: Entry | None) -> None:
        self.sink, self.spec = sink, spec
        self.files: list[Entry] = list(entry["files"]) if entry else []
        self.loaded: set[str] = set()
        #: files this transaction looked into (the only ones that can hold a row it changes), and their thin columns
        self.seen: set[str] = set()
        self._thin: dict[tuple[str, tuple[str, ...]], pa.Table] = {}

    def probe(self, scopes: pa.Table, columns: list[str]) -> pa.Table | None:
        """The thin columns of the stored rows of ``scopes``; a file whose statistics exclude every scope value of
        the first scope column is not opened, and each file's thin columns are read once per transaction."""
        spec = self.spec
        first = spec.scope[0]
        wanted = pc.unique(scopes.column(first))
        low, high = pc.min_max(wanted).values()
        hits = []
        for f in self.files:
            if not self.sink.may_hold(f, first, low.as_py(), high.as_py()):
                continue
            thin = self.thin(f, columns)
            found = thin.filter(matching(thin, spec, None, scopes))
            if found.num_rows:
                hits.append(found)
        return pa.concat_tables(hits) if hits else None

    def thin(self, f: Entry, columns: list[str]) -> pa.Table:
        """``columns`` of one file (cached for the transaction: a committed file never changes)."""
        self.seen.add(f["path"])
        cached = self._thin.get((f["path"], tuple(columns)))
        if cached is None:
            schema = pa.schema([self.spec.arrow_schema.field(c) for c in columns])
            cached = self._thin[(f["path"], tuple(columns))] = self.sink.read_file(f, schema)
        return cached

    def fetch(
        self,
        keys: pa.Table | None,
        scopes: pa.Table | None,
        *,
        by: tuple[str, ...] | None = None,
        columns: list[str] | None = None,
    ) -> pa.Table | None:
        candidates = [f for f in self.files if f["path"] not in self.loaded]
        if not candidates:
            return None
        spec = self.spec
        probe_cols = list(dict.fromkeys([*(by or spec.primary_key), *spec.scope]))
        hits = [f for f in candidates if pc.any(matching(self.thin(f, probe_cols), spec, keys, scopes, by)).as_py()]
        if not hits:
            return None
        if by is None:  # copied into the working table (a lookup by other columns is not)
            self.loaded.update(f["path"] for f in hits)
            return pa.concat_tables([self.sink.read_file(f, spec.arrow_schema) for f in hits])
        if columns is not None:  # a lookup reads a few columns, again and again: kept for the transaction
            return pa.concat_tables([self.thin(f, columns) for f in hits])
        return pa.concat_tables([self.sink.read_file(f, spec.arrow_schema) for f in hits])

    def count(self) -> int:
        return sum(int(f["rows"]) for f in self.files)

    def watermarks(self) -> pa.Table | None:
        tables = self.sink.manifest["tables"]
        entry = tables.get(watermark_spec(self.spec).qualified) or tables.get(legacy_marks(self.spec))
        if entry is None:
            return None
        return self.sink.read_entry(entry, watermark_schema(self.spec))


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def legacy_marks(spec: TableSpec) -> str:
    return f"{META}.{legacy_watermark_name(spec)}"


def new_entry(spec: TableSpec) -> Entry:
    return {
        "columns": [{"name": c.name, "type": str(c.type), "nullable": c.nullable} for c in spec.columns],
        "primary_key": list(spec.primary_key),
        "partition_by": list(spec.partition_by),
        "files": [],
    }


def spec_of(name: str, entry: Entry) -> TableSpec:
    schema, _, table = name.rpartition(".")
    cols = tuple(Column(c["name"], parse_type(c["type"]), bool(c["nullable"])) for c in entry["columns"])
    return TableSpec(
        schema or None, table, cols, primary_key=tuple(entry["primary_key"]), partition_by=tuple(entry["partition_by"])
    )


def file_schema(spec: TableSpec) -> pa.Schema:
    """What a file holds: the data columns, plus the content hash (bookkeeping tables under _tidemark have none)."""
    if spec.schema == META:
        return pa.schema([f for f in spec.arrow_schema if f.name != HASH_COLUMN])
    return spec.arrow_schema


def partitions(rows: pa.Table, columns: tuple[str, ...]) -> list[tuple[dict[str, str | None], pa.Table]]:
    keys = rows.select(list(columns)).group_by(list(columns)).aggregate([]).to_pylist()
    out = []
    for combo in keys:
        mask = None
        for col, value in combo.items():
            term = pc.is_null(rows.column(col)) if value is None else pc.equal(rows.column(col), value)
            term = pc.fill_null(term, False)
            mask = term if mask is None else pc.and_(mask, term)
        shown = {col: None if v is None else text(v) for col, v in combo.items()}
        out.append((shown, rows.filter(mask)))
    return out


def text(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def dir_value(value: str | None) -> str:
    return NULL_PARTITION if value is None else urllib.parse.quote(value, safe="")
