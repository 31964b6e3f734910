"""Table specifications: what a sink needs to know about a target table, whoever produced it.

A mapping target compiles to a :class:`TableSpec`; ``tidemark.write`` of an arbitrary Arrow table builds one from its
arguments. Sinks only ever see TableSpecs and Arrow data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pyarrow as pa

from tidemark.types import LogicalType

#: Every stored row carries a 64-bit hash of its canonical content: it tells "unchanged" from "changed" and breaks
#: ties between rows with the same key and timestamp (greater hash wins). See docs/write-contract.md.
HASH_COLUMN = "_tidemark_hash"


@dataclass(frozen=True)
class Column:
    name: str
    type: LogicalType
    nullable: bool = True
    description: str | None = None


@dataclass(frozen=True)
class Index:
    columns: tuple[str, ...]
    name: str | None = None
    unique: bool = False


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    ref_schema: str | None
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """A target table: columns, key, timestamp and reconciliation scope, plus DDL extras."""

    schema: str | None
    name: str
    columns: tuple[Column, ...]
    primary_key: tuple[str, ...] = ()
    timestamp: str | None = None
    scope: tuple[str, ...] = ()
    indexes: tuple[Index, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = field(default=())
    description: str | None = None
    #: columns whose values split the stored table into partitions (file and lake stores; SQL stores ignore it)
    partition_by: tuple[str, ...] = ()
    #: rows carry the content hash column (every data table; tidemark's bookkeeping tables do not)
    hashed: bool = True
    #: how two different rows of one key and an equal timestamp are ordered (contract/rules.py, TIES): "hash" (the
    #: greater content hash wins: order-independent) or "incoming" (the later arrival wins: corrections that keep
    #: their timestamp)
    tie: Literal["hash", "incoming"] = "hash"

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The schema of the rows handed to a sink (the data columns, then the content hash if ``hashed``)."""
        fields = [pa.field(c.name, c.type.arrow, nullable=c.nullable) for c in self.columns]
        if not self.hashed:
            return pa.schema(fields)
        return pa.schema([*fields, pa.field(HASH_COLUMN, pa.int64(), nullable=False)])

    @property
    def stored_columns(self) -> tuple[str, ...]:
        """The columns a store holds: the data columns, then the content hash if ``hashed``."""
        return (*self.column_names, HASH_COLUMN) if self.hashed else self.column_names

    @property
    def scope_schema(self) -> pa.Schema:
        """The schema of a scope batch: the scope columns and the snapshot time that covers them."""
        assert self.timestamp is not None
        ts = self.column(self.timestamp)
        return pa.schema([*(pa.field(c, self.column(c).type.arrow) for c in self.scope), (ts.name, ts.type.arrow)])
