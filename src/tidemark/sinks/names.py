"""Identifiers a store can hold: a store's limit is data (``Capabilities.max_identifier_bytes``), checked here.

PostgreSQL silently truncates identifiers to 63 bytes, so two long table names would become one table; a file
system holds a directory name of at most 255 bytes. A name over the limit is refused before anything is created
(when a sink ensures a table, and by ``tidemark validate``), with the name, its length, the limit and the fix.
Names tidemark derives itself (watermark tables, indexes, foreign keys) are made to fit by
:func:`tidemark.sinks.bookkeeping.internal_name`.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from tidemark.errors import SinkTerminalError
from tidemark.tables import TableSpec

if TYPE_CHECKING:
    from tidemark.mapping.models import Mapping


def spec_names(spec: TableSpec) -> list[tuple[str, str]]:
    """(what, name) of every identifier a store must hold for ``spec``: schema, table, columns, named indexes."""
    out = [("schema", spec.schema)] if spec.schema else []
    out.append(("table", spec.name))
    out += [("column", c.name) for c in spec.columns]
    out += [("index", i.name) for i in spec.indexes if i.name]
    return out


def too_long(name: str, limit: int | None) -> bool:
    return limit is not None and len(name.encode()) > limit


def check_names(spec: TableSpec, limit: int | None, where: str) -> None:
    """Raise one :class:`SinkTerminalError` naming every identifier of ``spec`` longer than ``limit`` bytes."""
    long = [f"{what} {name!r} ({len(name.encode())} bytes)" for what, name in spec_names(spec) if too_long(name, limit)]
    if long:
        raise SinkTerminalError(
            f"table {spec.qualified}: {', '.join(long)} longer than the {limit} bytes {where} can hold in a name "
            "(a longer one would be cut, and two names could become one): shorten it in the mapping"
        )


def identifier_limit(sink_type: str | None = None) -> int | None:
    """The identifier limit of one sink type, or (None) the strictest of every known store."""
    from tidemark.sinks import SINKS

    limits = []
    for name, target in SINKS.items():
        if sink_type is None or name == sink_type:
            module, _, cls = target.partition(":")
            limits.append(getattr(import_module(module), cls).capabilities.max_identifier_bytes)
    known = [n for n in limits if n is not None]
    return min(known) if known else None


def mapping_name_problems(mapping: Mapping, path: object, sink: str | None = None) -> list[str]:
    """``tidemark validate``: every name of ``mapping`` (loaded from ``path``) that ``sink`` (a sink URL), or the
    strictest store when None, cannot hold; one line each with its YAML path."""
    from tidemark.mapping.checks import identifier_problems
    from tidemark.mapping.loader import format_loc
    from tidemark.sinks import parse_sink_url

    limit = identifier_limit(parse_sink_url(sink).type if sink else None)
    where = f"{sink.split(':')[0]} sink" if sink else "the strictest store (PostgreSQL); --sink names yours"
    return [f"{path}: {format_loc(loc)}: {msg} ({where})" for loc, msg in identifier_problems(mapping, limit)]
