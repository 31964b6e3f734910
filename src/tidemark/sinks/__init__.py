"""Sinks: where tables are written under the write contract.

A sink is one module with a pydantic config (``type: Literal[...]``) and a :class:`Sink` subclass; it joins the
:data:`SinkConfig` union and :data:`SINKS` below with one line each. Drivers load when a sink is opened, never at
``import tidemark``.
"""

from __future__ import annotations

from importlib import import_module
from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from tidemark.errors import ConfigError
from tidemark.sinks.base import Capabilities, QuarantineEntry, Sink
from tidemark.sinks.duckdb import DuckDBConfig

SinkConfig = Annotated[DuckDBConfig, Field(discriminator="type")]

#: sink type -> "module:Class" (imported on open, so optional drivers stay optional)
SINKS: dict[str, str] = {
    "duckdb": "tidemark.sinks.duckdb:DuckDBSink",
}


def parse_sink_url(url: str) -> SinkConfig:
    """``duckdb:PATH`` -> a validated config. Errors name the valid forms."""
    scheme, sep, rest = url.partition(":")
    if not sep or scheme not in SINKS:
        raise ConfigError(
            f"unknown sink {url!r}: use one of {', '.join(f'{s}:...' for s in SINKS)} (e.g. duckdb:warehouse.duckdb)"
        )
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
