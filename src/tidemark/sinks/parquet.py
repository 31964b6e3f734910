"""Parquet directories: ``parquet:PATH``, one folder of Parquet files per table, published by a manifest.

See :mod:`tidemark.sinks.files` for the layout, the atomic swap and what an upsert costs.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from tidemark.sinks.files import FileSink


class ParquetConfig(BaseModel):
    """``parquet:PATH`` or ``parquet:s3://bucket/prefix``: a directory of Parquet files per table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["parquet"] = "parquet"
    path: str
    compression: Literal["snappy", "zstd", "gzip", "none"] = "zstd"
    lock_timeout: float = Field(60.0, gt=0, description="seconds to wait for another writer of the same directory")
    storage_options: dict[str, str] = Field(
        default_factory=dict, repr=False, description="object store settings (AWS_ENDPOINT_URL, keys...): storage.py"
    )


class ParquetFormat:
    extension = "parquet"

    def __init__(self, compression: str = "zstd") -> None:
        self.compression = compression

    def write(self, table: pa.Table, out: pa.NativeFile) -> None:
        pq.write_table(table, out, compression=self.compression)

    def bounds(self, source: pa.NativeFile, column: str) -> tuple[Any, Any] | None:
        """(min, max) of ``column`` over the file, from the footer's row-group statistics (None if unknown)."""
        meta = pq.ParquetFile(source).metadata
        names = [meta.schema.column(i).name for i in range(meta.num_columns)]
        if column not in names:
            return None
        index, low, high = names.index(column), None, None
        for g in range(meta.num_row_groups):
            stats = meta.row_group(g).column(index).statistics
            if stats is None or not stats.has_min_max:
                return None
            low = stats.min if low is None else min(low, stats.min)
            high = stats.max if high is None else max(high, stats.max)
        return None if low is None else (low, high)

    def read(self, source: pa.NativeFile, schema: pa.Schema) -> pa.Table:
        parquet = pq.ParquetFile(source)
        present = set(parquet.schema_arrow.names)
        return parquet.read(columns=[f.name for f in schema if f.name in present])


class ParquetSink(FileSink):
    kind: ClassVar[str] = "parquet"
    format: ClassVar[ParquetFormat] = ParquetFormat()

    def __init__(self, config: ParquetConfig) -> None:
        self.config = config
        self.format = ParquetFormat(config.compression)  # type: ignore[misc]
        super().__init__(config.path, config.lock_timeout, config.storage_options)
