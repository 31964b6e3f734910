"""Flat files for ``tidemark write``: CSV, Parquet, NDJSON and JSON arrays of records, streamed through DuckDB.

All files of one format are read by one DuckDB query (``union_by_name``: a column missing from a file is NULL
there) that also says which file each row came from, so refused rows are named ``file record N``. Formats are
read one after another and their schemas unified; nothing is collected whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from tidemark.errors import ConfigError, SourceError
from tidemark.sources.files import walk_inputs
from tidemark.write.inputs import ORIGIN_COLUMN, Source

_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".json": "json",
    ".ndjson": "json",
    ".jsonl": "json",
}
_READERS = {
    "csv": "read_csv(?, union_by_name = true, filename = '{origin}')",
    "parquet": "read_parquet(?, union_by_name = true, filename = '{origin}')",
    "json": "read_json(?, format = 'auto', union_by_name = true, filename = '{origin}')",
}


def file_format(path: Path) -> str:
    """csv / parquet / json from the file name (a .gz suffix is allowed for text formats)."""
    name = path.name.lower()
    base = name[:-3] if name.endswith(".gz") else name
    fmt = _FORMATS.get(Path(base).suffix)
    if fmt is None or (fmt == "parquet" and name.endswith(".gz")):
        known = ", ".join(sorted(_FORMATS))
        raise ConfigError(f"{path}: unknown file type; tidemark write reads {known} (and .gz of the text ones)")
    return fmt


def expand_files(paths: Iterable[str | Path]) -> list[Path]:
    """Files in the order given; a directory stands for its readable files, sorted (the walker of sources/files.py
    with this module's file types)."""
    empty = "no CSV, Parquet or JSON files in this directory"
    return [f.path for f in walk_inputs(paths, _readable, empty_directory=empty)]


def _readable(path: Path) -> bool:
    try:
        file_format(path)
    except ConfigError:
        return False
    return True


def read_files(paths: Iterable[str | Path], batch_rows: int = 100_000) -> Source:
    """A :class:`Source` streaming the rows of every file, with each row's file in :data:`ORIGIN_COLUMN`."""
    import duckdb

    files = expand_files(paths)
    if not files:
        raise SourceError("no input files")
    groups: dict[str, list[str]] = {}
    for f in files:
        groups.setdefault(file_format(f), []).append(str(f))
    con = duckdb.connect(":memory:")
    readers = []
    for fmt, names in groups.items():
        sql = "SELECT * FROM " + _READERS[fmt].format(origin=ORIGIN_COLUMN)
        try:
            readers.append(con.cursor().execute(sql, [names]).to_arrow_reader(batch_rows))
        except duckdb.Error as exc:
            raise SourceError(f"cannot read {fmt} files {', '.join(names)}: {exc}") from exc
    schema = _unify([r.schema for r in readers])
    return Source(schema, _stream(con, readers, schema), None, len(files), sum(f.stat().st_size for f in files))


def _unify(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for files of several formats: types widened where Arrow can, text where the formats disagree
    (e.g. times read as timestamps from CSV but as strings from Parquet: the timestamp column parses them later)."""
    fields: dict[str, list[pa.DataType]] = {}
    for schema in schemas:
        for f in schema:
            fields.setdefault(f.name, []).append(f.type)
    out = []
    for name, types in fields.items():
        try:
            merged = pa.unify_schemas([pa.schema([(name, t)]) for t in types], promote_options="permissive")
            out.append(merged.field(name))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            out.append(pa.field(name, pa.string()))
    return pa.schema(out)


def _stream(con: Any, readers: list[pa.RecordBatchReader], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    import duckdb

    try:
        for reader in readers:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    break
                except (duckdb.Error, pa.ArrowInvalid) as exc:
                    raise SourceError(f"cannot read the input files: {exc}") from exc
                yield _conform(batch, schema)
    finally:
        con.close()


def _conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    if batch.schema.equals(schema):
        return batch
    columns = [
        batch.column(f.name).cast(f.type) if f.name in batch.schema.names else pa.nulls(batch.num_rows, f.type)
        for f in schema
    ]
    return pa.RecordBatch.from_arrays(columns, schema=schema)
