"""Loading what the MLB workflows fetched: the raw store's records of a mapping's endpoint, streamed into a sink.

``backfill`` and ``live`` append responses to a raw store; :func:`stream_loader` gives them the ``load()`` that
moves those records into the tables through :func:`tidemark.runtime.stream.stream` (``once``): the same engine,
contract and transaction as ``tidemark stream``, with a checkpoint committed with the rows. A killed backfill
resumes after its last committed micro-batch; on a store whose checkpoint is atomic the load is exactly-once
(the stream's summed counts equal one run's). The stream's name is the mapping + the raw store + the selection
(``mlb:live_game <- raw/ [game/liveGameV1]``), so ``tidemark streams`` shows it and ``tidemark stream`` with the
same mapping and raw store and ``--name`` continues it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tidemark.raw import RawStore
    from tidemark.runtime.stream import StreamResult


def stream_loader(
    mapping: str,
    store: RawStore,
    sink: str,
    *,
    engine: str = "local",
    batch_documents: int = 64,
    name: str | None = None,
) -> Callable[[], StreamResult]:
    """A function that streams the records ``store`` holds for ``mapping`` (its endpoint and method) into ``sink``,
    from the stream's checkpoint to the end (``once``); each call goes on where the last one stopped."""
    from tidemark.mapping.loader import load_mapping
    from tidemark.raw import RawSource
    from tidemark.runtime.stream import stream

    source = load_mapping(mapping)[0].source
    select = "/".join(part for part in (source.endpoint, source.method) if part) or None
    records = RawSource(store, select=select, batch_records=batch_documents)

    def load() -> StreamResult:
        return stream(mapping, records, sink, name=name, once=True, batch_documents=batch_documents, engine=engine)

    return load


__all__ = ["stream_loader"]
