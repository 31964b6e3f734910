"""A raw store read as a :class:`~tidemark.sources.Source`: ``tidemark.run(mapping, RawSource(...), sink)``.

Each record becomes a :class:`~tidemark.documents.RawDocument` (the envelope; ``captured_at`` = ``fetched_at``)
with the record's position. ``read`` asks the store for one batch of records at a time (``batch_records`` and
``batch_bytes`` bound it), so memory never grows with the store. A record the store could not read comes as a
document with ``error`` set (the runtime quarantines it) and the stream goes on past its position.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType

from tidemark.documents import Position, RawDocument
from tidemark.errors import ConfigError
from tidemark.raw.base import RawStore


class RawSource:
    """The records of a raw store (all, or one endpoint / one endpoint and method), in position order; replayable.

    ``store`` is a :class:`~tidemark.raw.base.RawStore` (the caller closes it) or a URL that
    :func:`tidemark.raw.open_raw` opens now (a missing store fails here, before anything is written) and
    :meth:`close` closes. ``select`` is ``"endpoint"`` or ``"endpoint/method"``, e.g. ``"game/liveGameV1"``.
    """

    replayable = True
    total_bytes = 0  # unknown without reading the store
    files = 0

    def __init__(
        self,
        store: RawStore | str,
        *,
        select: str | None = None,
        batch_records: int = 64,
        batch_bytes: int = 64 << 20,
    ) -> None:
        from tidemark.raw import open_raw

        self._owned = not isinstance(store, RawStore)
        self.store = open_raw(store) if isinstance(store, str) else store
        self.endpoint, self.method = parse_select(select)
        self.batch_records = batch_records
        self.batch_bytes = batch_bytes

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        return self._read(after)

    def _read(self, after: Position | None) -> Iterator[RawDocument]:
        cursor = after
        while True:
            batch = self.store.read(
                cursor,
                limit=self.batch_records,
                max_bytes=self.batch_bytes,
                endpoint=self.endpoint,
                method=self.method,
            )
            if not batch:
                return
            for record in batch:
                yield record.document()
            cursor = batch[-1].position

    def close(self) -> None:
        if self._owned:
            self.store.close()

    def __enter__(self) -> RawSource:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def parse_select(select: str | None) -> tuple[str | None, str | None]:
    """``"game/liveGameV1"`` -> ``("game", "liveGameV1")``; ``"game"`` -> ``("game", None)``; None -> all."""
    if not select:
        return None, None
    endpoint, _, method = select.partition("/")
    if not endpoint or "/" in method:
        raise ConfigError(f"select {select!r}: give an endpoint or endpoint/method, e.g. game/liveGameV1")
    return endpoint, method or None


__all__ = ["RawSource", "parse_select"]
