"""``mlb:*``: one run over documents of many endpoints, each document sent to the mapping its envelope names.

The catalog (``endpoints.yaml``) says which built-in mapping reads the documents of each endpoint: an entry's
``recorded`` endpoint / method (the envelope's ``endpoint`` and ``method``) and its ``mapping``. :func:`run_all`
reads the source once to sort the documents by envelope (only those two keys are decoded), then runs each mapping
that has documents over the source filtered to its own (a second read: the source must be replayable, i.e. files,
directories or a raw store). A document no mapping reads (an endpoint without mapping, a bare document without
envelope, a file that cannot be read) is not dropped silently: :class:`Routed` counts it per endpoint / method with
the first file it was found in, and the CLI prints them.

Each mapping is its own run (its own transaction on a transactional sink): a mapping that fails stops the runs
after it and raises; the runs before it stay committed. Re-running is safe (the contract makes re-read documents
``unchanged``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from tidemark.documents import Position, RawDocument
from tidemark.errors import ConfigError
from tidemark.sources import Source, open_source

#: what ``--mapping`` says to route every document by its envelope
ALL = "mlb:*"

Route = tuple[str, str]


class _Head(msgspec.Struct):
    endpoint: str | None = None
    method: str | None = None


_HEAD = msgspec.json.Decoder(_Head)


def routes() -> dict[Route, str]:
    """(envelope endpoint, method) -> the built-in mapping that reads it, from the catalog."""
    from tidemark.domains.mlb.client import builtin_catalog

    out: dict[Route, str] = {}
    for entry in builtin_catalog().endpoints.values():
        if entry.mapping:
            out.setdefault((entry.recorded.endpoint, entry.recorded.method), entry.mapping)
    return out


def route_of(doc: RawDocument) -> Route | None:
    """The envelope's (endpoint, method) of ``doc``; None for a document without envelope or not readable."""
    if doc.error is not None:
        return None
    try:
        head = _HEAD.decode(doc.data)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None
    if not head.endpoint or not head.method:
        return None
    return head.endpoint, head.method


@dataclass
class Unrouted:
    """Documents no mapping reads, of one kind (``endpoint/method``, ``no envelope`` or ``unreadable``)."""

    documents: int
    first: str  # where the first one was found


@dataclass
class Routed:
    """What ``mlb:*`` did: a run result per mapping (in the order run) and the documents no mapping reads."""

    results: dict[str, Any] = field(default_factory=dict)
    unrouted: dict[str, Unrouted] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(result.ok for result in self.results.values())


class RoutedSource:
    """The documents of ``inner`` whose envelope one of ``keep`` names (positions as ``inner`` gives them)."""

    def __init__(self, inner: Source, keep: set[Route]) -> None:
        self.inner, self.keep = inner, keep
        self.replayable = inner.replayable
        self.total_bytes = 0
        self.files = 0

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        return (doc for doc in self.inner.read(after) if route_of(doc) in self.keep)


def sort_documents(source: Source) -> tuple[dict[str, set[Route]], dict[str, Unrouted]]:
    """One pass: the routes of each mapping that has documents, and the documents no mapping reads."""
    table = routes()
    found: dict[str, set[Route]] = {}
    unrouted: dict[str, Unrouted] = {}
    for doc in source.read():
        route = route_of(doc)
        mapping = table.get(route) if route is not None else None
        if mapping is not None and route is not None:
            found.setdefault(mapping, set()).add(route)
            continue
        kind = "unreadable" if doc.error is not None else "no envelope" if route is None else "/".join(route)
        seen = unrouted.setdefault(kind, Unrouted(0, doc.origin))
        seen.documents += 1
    return found, unrouted


def run_all(
    inputs: Source | list[Path],
    sink: str,
    *,
    run: Callable[..., Any] | None = None,
    **options: Any,
) -> Routed:
    """Run every built-in mapping over its documents of ``inputs`` into ``sink`` (see the module docstring);
    ``options`` go to :func:`tidemark.runtime.batch.run` (mode, batch_documents, engine, reporter, ...)."""
    from tidemark.runtime.batch import run as batch_run

    source = open_source(inputs)
    if not source.replayable:
        raise ConfigError(
            f"--mapping {ALL} reads its input twice (to sort, then to load): give files, directories or --raw, "
            "not standard input"
        )
    found, unrouted = sort_documents(source)
    out = Routed(unrouted=unrouted)
    for mapping in sorted(found):
        out.results[mapping] = (run or batch_run)(mapping, RoutedSource(source, found[mapping]), sink, **options)
    return out


def builtin_mappings() -> list[tuple[str, list[str], list[str]]]:
    """Every built-in MLB mapping: (name, the envelopes it reads as endpoint/method, its tables)."""
    from importlib import resources

    from tidemark.mapping.loader import load_mapping

    reads: dict[str, list[str]] = {}
    for (endpoint, method), mapping in routes().items():
        reads.setdefault(mapping, []).append(f"{endpoint}/{method}")
    folder = resources.files("tidemark") / "domains" / "mlb" / "mappings"
    out = []
    for name in sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml")):
        model = load_mapping(f"mlb:{name}")[0]
        declared = "/".join(p for p in (model.source.endpoint, model.source.method) if p)
        endpoints = sorted(reads.get(f"mlb:{name}", [declared] if declared else []))
        out.append((f"mlb:{name}", endpoints, [target.table for target in model.targets]))
    return out


__all__ = ["ALL", "Routed", "RoutedSource", "Unrouted", "builtin_mappings", "route_of", "routes", "run_all"]
