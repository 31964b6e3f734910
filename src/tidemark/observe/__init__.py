"""Observability of runs and streams: structured logs (logs.py), Prometheus metrics (metrics.py), OpenLineage events
(lineage.py), and credential redaction for all of them (redact.py).

Each observer is a :class:`~tidemark.runtime.result.Reporter` (``start`` / ``advance`` / ``finish``) with three more
optional calls: ``committed`` after each micro-batch of a stream, ``failed`` when a run or stream rolls back, and
``planned`` when a write knows its table (lineage describes it).
:class:`Observers` fans the runtime's calls out to the CLI's progress bar and the observers the options asked for.
Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tidemark.runtime.result import RunResult
    from tidemark.runtime.stream import StreamResult
    from tidemark.write.plan import WritePlan


class Observers:
    """One Reporter for the runtime, many listeners: the progress bar, logs, metrics, lineage."""

    def __init__(self, *reporters: Any) -> None:
        self.reporters = [r for r in reporters if r is not None]

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        for r in self.reporters:
            r.start(total_bytes, files, total_rows)

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        for r in self.reporters:
            r.advance(documents=documents, rows=rows, bytes_read=bytes_read)

    def finish(self, result: RunResult) -> None:
        for r in self.reporters:
            r.finish(result)

    def committed(self, stream: StreamResult, source: Any = None) -> None:
        """After a stream's micro-batch committed: its totals so far, and the raw store's records after it."""
        listeners = [c for r in self.reporters if (c := getattr(r, "committed", None)) is not None]
        if not listeners:
            return
        lag = stream_lag(stream, source)
        for call in listeners:
            call(stream.result, stream.name, stream.batches, lag)

    def planned(self, plan: WritePlan, sink: str) -> None:
        """A write's table, known once the input's schema was read, and its store (before ``start``)."""
        for r in self.reporters:
            call = getattr(r, "planned", None)
            if call is not None:
                call(plan, sink)

    def failed(self, error: BaseException) -> None:
        for r in self.reporters:
            call = getattr(r, "failed", None)
            if call is not None:
                call(error)

    @contextmanager
    def watching(self) -> Iterator[Observers]:
        """Around a run: what an observer serves opens first (``--metrics-port``: scraped before the first load of
        a live day); an exception that escapes is reported as ``failed`` (then raised on); all close at the end."""
        try:
            for r in self.reporters:
                serve = getattr(r, "serve", None)
                if serve is not None:
                    serve()
            yield self
        except BaseException as exc:
            self.failed(exc)
            raise
        finally:
            for r in self.reporters:
                close = getattr(r, "close", None)
                if close is not None:
                    close()


def stream_lag(stream: StreamResult, source: Any) -> int | None:
    """Records of the raw store after the stream's checkpoint (None when the source is not a raw store)."""
    store = getattr(source, "store", None)
    count = getattr(store, "count", None)
    return None if count is None else int(count(after=stream.checkpoint.position))


__all__ = ["Observers", "stream_lag"]
