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

A raw store is routed without reading it: its records are kept per endpoint/method (``store.stats()``), so
:func:`stream_all` streams each endpoint/method a mapping reads as its own stream (named, like the MLB load step's,
``mlb:live_game <- raw/ [game/liveGameV1]``: ``tidemark stream --mapping mlb:live_game`` and ``tidemark mlb
backfill`` continue the same checkpoint), and reports the endpoints no mapping reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidemark.documents import Position, RawDocument
from tidemark.errors import ConfigError
from tidemark.raw.decode import envelope_head
from tidemark.sources import Source, open_source

if TYPE_CHECKING:
    from tidemark.raw import RawStore
    from tidemark.runtime.stream import StreamResult

#: what ``--mapping`` says to route every document by its envelope
ALL = "mlb:*"

Route = tuple[str, str]


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
    head = None if doc.error is not None else envelope_head(doc.data)
    return None if head is None else (head.endpoint, head.method)


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


def store_routes(store: RawStore) -> tuple[dict[str, set[Route]], dict[str, Unrouted]]:
    """From the store's records per endpoint/method (nothing read): the routes of each mapping that has records,
    and the endpoint/methods no mapping reads."""
    table = routes()
    found: dict[str, set[Route]] = {}
    unrouted: dict[str, Unrouted] = {}
    for stats in store.stats():
        route = (stats.endpoint, stats.method)
        mapping = table.get(route)
        if mapping is not None:
            found.setdefault(mapping, set()).add(route)
        elif stats.records:
            unrouted["/".join(route)] = Unrouted(stats.records, store.display)
    return found, unrouted


@dataclass
class RoutedStreams:
    """What ``mlb:*`` streaming did: per stream (by name), the last call that committed micro-batches (or its only
    call), and the endpoints no mapping reads (as the last round saw them)."""

    results: dict[str, StreamResult] = field(default_factory=dict)
    unrouted: dict[str, Unrouted] = field(default_factory=dict)
    rounds: int = 0

    @property
    def ok(self) -> bool:
        return all(result.result.ok for result in self.results.values())


def stream_all(
    store: RawStore,
    sink: str,
    *,
    once: bool = True,
    stop: threading.Event | None = None,
    poll_seconds: float = 2.0,
    batch_documents: int = 64,
    max_batch_bytes: int = 64 << 20,
    stream: Callable[..., StreamResult] | None = None,
    **options: Any,
) -> RoutedStreams:
    """Stream every endpoint/method of ``store`` that a built-in mapping reads into ``sink``, each as its own stream
    (see the module docstring). A round streams each to the end of the store; ``once``: one round, otherwise a round
    every ``poll_seconds`` until ``stop`` is set. ``options`` go to :func:`tidemark.runtime.stream.stream` (engine,
    workers, reporter...)."""
    from tidemark.raw import RawSource
    from tidemark.runtime.stream import stream as stream_one

    stop = stop or threading.Event()
    out = RoutedStreams()
    while not stop.is_set():
        found, out.unrouted = store_routes(store)
        for mapping, route in sorted((m, r) for m, found_routes in found.items() for r in found_routes):
            select = "/".join(route)
            source = RawSource(store, select=select, batch_records=batch_documents, batch_bytes=max_batch_bytes)
            result = (stream or stream_one)(
                mapping,
                source,
                sink,
                once=True,
                stop=stop,
                batch_documents=batch_documents,
                max_batch_bytes=max_batch_bytes,
                **options,
            )
            if result.batches or result.name not in out.results:
                out.results[result.name] = result
        out.rounds += 1
        if once or stop.wait(poll_seconds):
            break
    return out


def builtin_mappings() -> list[tuple[str, list[str], list[str]]]:
    """Every built-in MLB mapping: (name, the envelopes it reads as endpoint/method, its tables)."""
    from tidemark.mapping.loader import builtin_names, load_mapping

    reads: dict[str, list[str]] = {}
    for (endpoint, method), mapping in routes().items():
        reads.setdefault(mapping, []).append(f"{endpoint}/{method}")
    out = []
    for name in builtin_names("mlb"):
        model = load_mapping(name)[0]
        declared = "/".join(p for p in (model.source.endpoint, model.source.method) if p)
        endpoints = sorted(reads.get(name, [declared] if declared else []))
        out.append((name, endpoints, [target.table for target in model.targets]))
    return out


__all__ = [
    "ALL",
    "Routed",
    "RoutedSource",
    "RoutedStreams",
    "Unrouted",
    "builtin_mappings",
    "route_of",
    "routes",
    "run_all",
    "store_routes",
    "stream_all",
]
