"""CSV directories: ``csv:PATH``, one folder of CSV files per table, published by a manifest.

Every value round-trips exactly: a header row; every non-NULL value quoted (``""`` is the empty string) and NULL
written as nothing at all; timestamps in UTC with microseconds (``2024-07-13 04:19:09.000000Z``), decimals with
their scale, floats in shortest round-trip form, booleans as ``true``/``false``. Column types come from the
manifest, never from guessing. See :mod:`tidemark.sinks.files` for the layout, the atomic swap and the costs.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
from pydantic import BaseModel, ConfigDict, Field

from tidemark.sinks.files import FileSink

BLOCK = 16 << 20  # bytes parsed per block (in parallel); a row must fit in one


class CsvConfig(BaseModel):
    """``csv:PATH`` or ``csv:s3://bucket/prefix``: a directory of CSV files per table."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    type: Literal["csv"] = "csv"
    path: str
    lock_timeout: float = Field(60.0, gt=0, description="seconds to wait for another writer of the same directory")
    storage_options: dict[str, str] = Field(
        default_factory=dict, repr=False, description="object store settings (AWS_ENDPOINT_URL, keys...): storage.py"
    )


class CsvFormat:
    extension = "csv"

    def write(self, table: pa.Table, out: pa.NativeFile) -> None:
        pacsv.write_csv(table, out, pacsv.WriteOptions(include_header=True, quoting_style="all_valid"))

    def read(self, source: pa.NativeFile, schema: pa.Schema) -> pa.Table:
        convert = pacsv.ConvertOptions(
            column_types=schema,
            include_columns=schema.names,
            include_missing_columns=True,
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,  # "" is the empty string, an unquoted empty field is NULL
            true_values=["true"],
            false_values=["false"],
        )
        parse = pacsv.ParseOptions(newlines_in_values=True)
        data = source.read_buffer()  # one read (one GET on an object store), parsed from memory
        try:
            return pacsv.read_csv(pa.BufferReader(data), pacsv.ReadOptions(block_size=BLOCK), parse, convert)
        except pa.ArrowInvalid as exc:
            if "straddl" not in str(exc):
                raise
            # a row longer than a block (very long text): parse the file as one block
            whole = pacsv.ReadOptions(block_size=min(data.size + 1, 2**31 - 1))
            return pacsv.read_csv(pa.BufferReader(data), whole, parse, convert)


class CsvSink(FileSink):
    kind: ClassVar[str] = "csv"
    format: ClassVar[CsvFormat] = CsvFormat()

    def __init__(self, config: CsvConfig) -> None:
        self.config = config
        super().__init__(config.path, config.lock_timeout, config.storage_options)
