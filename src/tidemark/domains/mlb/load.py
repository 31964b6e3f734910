"""Loading what the MLB workflows fetched: the raw store's records of a mapping's endpoint, streamed into a sink.

``backfill`` and ``live`` append responses to a raw store; :func:`stream_loader` gives them the ``load()`` that
moves those records into the tables through :func:`tidemark.runtime.stream.stream` (``once``): the same engine,
contract and transaction as ``tidemark stream``, with a checkpoint committed with the rows. A killed backfill
resumes after its last committed micro-batch; on a store whose checkpoint is atomic the load is exactly-once
(the stream's summed counts equal one run's). The stream's name is the mapping + the raw store + the selection
(``mlb:live_game <- raw/ [game/liveGameV1]``), so ``tidemark streams`` shows it and ``tidemark stream`` with the
same mapping and raw store and ``--name`` continues it.

``mlb:*`` loads every endpoint of the store a built-in mapping reads, each as the stream its own mapping would be
(:func:`tidemark.domains.mlb.routing.stream_all`); :func:`loader` picks one or the other from the mapping.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidemark.domains.mlb.routing import RoutedStreams
    from tidemark.observe.lineage import InputRef
    from tidemark.raw import RawStore
    from tidemark.runtime.result import Reporter
    from tidemark.runtime.stream import StreamResult


def stream_loader(
    mapping: str,
    store: RawStore,
    sink: str,
    *,
    engine: str = "local",
    batch_documents: int = 64,
    name: str | None = None,
    reporter: Reporter | None = None,
) -> Callable[[], StreamResult]:
    """A function that streams the records ``store`` holds for ``mapping`` (its endpoint and method) into ``sink``,
    from the stream's checkpoint to the end (``once``); each call goes on where the last one stopped. ``reporter``
    (the CLI's observers: logs, metrics, lineage) hears every load."""
    from tidemark.raw import RawSource
    from tidemark.runtime.stream import stream

    records = RawSource(store, select=_selection(mapping), batch_records=batch_documents)

    def load() -> StreamResult:
        return stream(
            mapping,
            records,
            sink,
            name=name,
            once=True,
            batch_documents=batch_documents,
            engine=engine,
            reporter=reporter,
        )

    return load


def routed_loader(
    store: RawStore,
    sink: str,
    *,
    engine: str = "local",
    batch_documents: int = 64,
    reporter: Reporter | None = None,
) -> Callable[[], RoutedStreams]:
    """A function that streams every endpoint of ``store`` a built-in mapping reads into ``sink`` (``mlb:*``), each
    from its stream's checkpoint to the end; the endpoints no mapping reads are in its result's ``unrouted``."""
    from tidemark.domains.mlb.routing import stream_all

    def load() -> RoutedStreams:
        return stream_all(store, sink, once=True, engine=engine, batch_documents=batch_documents, reporter=reporter)

    return load


def loader(
    mapping: str,
    store: RawStore,
    sink: str,
    *,
    engine: str = "local",
    batch_documents: int = 64,
    reporter: Reporter | None = None,
) -> Callable[[], StreamResult | RoutedStreams]:
    """:func:`routed_loader` for ``mlb:*``, :func:`stream_loader` for one mapping."""
    from tidemark.domains.mlb.routing import ALL  # routing reads the raw store: imported on use

    if mapping == ALL:
        return routed_loader(store, sink, engine=engine, batch_documents=batch_documents, reporter=reporter)
    return stream_loader(mapping, store, sink, engine=engine, batch_documents=batch_documents, reporter=reporter)


def _selection(mapping: str) -> str | None:
    """``endpoint/method`` of the documents ``mapping`` reads (its source block)."""
    from tidemark.mapping.loader import load_mapping

    source = load_mapping(mapping)[0].source
    return "/".join(part for part in (source.endpoint, source.method) if part) or None


def lineage_inputs(mapping: str, store: RawStore) -> list[InputRef]:
    """The load's input datasets for lineage: the raw store's records of the mapping's endpoint, and the Stats API
    endpoint they were fetched from (namespace the API's base URL, name its path template) when the catalog has it."""
    from tidemark.domains.mlb.client.catalog import builtin_catalog
    from tidemark.domains.mlb.routing import ALL
    from tidemark.observe.lineage import InputRef, raw_input

    if mapping == ALL:  # every endpoint a built-in mapping reads: the raw store as a whole
        return [raw_input(store.display, None)]
    select = _selection(mapping)
    found = [raw_input(store.display, select)]
    catalog = builtin_catalog()
    for endpoint in catalog.endpoints.values():
        if f"{endpoint.recorded.endpoint}/{endpoint.recorded.method}" == select:
            found.append(InputRef(catalog.base_url, endpoint.url))
            break
    return found


__all__ = ["lineage_inputs", "loader", "routed_loader", "stream_loader"]
