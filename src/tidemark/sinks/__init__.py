"""Sinks: where tables are written under the write contract.

A sink is one module with a pydantic config (``type: Literal[...]``) and a :class:`Sink` subclass; it joins the
:data:`SinkConfig` union and :data:`SINKS` below with one line each. Drivers load when a sink is opened, never at
``import tidemark``.
"""

from __future__ import annotations

import re
from importlib import import_module
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from tidemark.errors import ConfigError
from tidemark.sinks.base import Capabilities, QuarantineEntry, Sink
from tidemark.sinks.csv import CsvConfig
from tidemark.sinks.delta import DeltaConfig
from tidemark.sinks.duckdb import DuckDBConfig
from tidemark.sinks.parquet import ParquetConfig
from tidemark.sinks.postgres import SCHEMES as PG_SCHEMES
from tidemark.sinks.postgres import PostgresConfig

SinkConfig = Annotated[
    DuckDBConfig | PostgresConfig | DeltaConfig | ParquetConfig | CsvConfig, Field(discriminator="type")
]

#: sink type -> "module:Class" (imported on open, so optional drivers stay optional)
SINKS: dict[str, str] = {
    "duckdb": "tidemark.sinks.duckdb:DuckDBSink",
    "postgres": "tidemark.sinks.postgres:PostgresSink",
    "delta": "tidemark.sinks.delta:DeltaSink",
    "parquet": "tidemark.sinks.parquet:ParquetSink",
    "csv": "tidemark.sinks.csv:CsvSink",
}


def _masked(url: str) -> str:
    """The URL with the password of ``//user:password@`` masked, for error messages."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def parse_sink_url(url: str) -> SinkConfig:
    """``duckdb:PATH`` -> a validated config. Errors name the valid forms."""
    scheme, sep, rest = url.partition(":")
    if scheme in PG_SCHEMES and sep:  # postgresql://..., postgres://..., or postgres: alone (TIDEMARK_PG_DSN)
        return PostgresConfig.from_url(url)
    if not sep or scheme not in SINKS:
        raise ConfigError(
            f"unknown sink {_masked(url)!r}: use one of {', '.join(f'{s}:...' for s in SINKS)} "
            "(e.g. duckdb:warehouse.duckdb or postgresql://user@host:5432/db)"
        )
    if scheme == "duckdb":
        return DuckDBConfig.from_url(rest)
    return sink_config({"type": scheme, "path": rest.removeprefix("//") or ":memory:"})


def sink_config(data: dict[str, object]) -> SinkConfig:
    try:
        return TypeAdapter(SinkConfig).validate_python(data)
    except ValidationError as exc:
        raise ConfigError(
            f"invalid sink configuration: {exc.errors()[0]['msg']}; valid types: {sorted(SINKS)}"
        ) from exc


def open_sink(target: str | SinkConfig) -> Sink:
    """Open a sink from a URL (``duckdb:out.duckdb``) or a config object."""
    config = parse_sink_url(target) if isinstance(target, str) else target
    module, _, cls = SINKS[config.type].partition(":")
    sink_cls = getattr(import_module(module), cls)
    return sink_cls(config)  # type: ignore[no-any-return]


__all__ = ["SINKS", "Capabilities", "QuarantineEntry", "Sink", "SinkConfig", "open_sink", "parse_sink_url"]
