"""Extraction over several processes: the local engine's batches computed by a pool of workers, yielded in order.

The caller's process reads the documents (the source stays where it is: files, a raw store, standard input) and
cuts them into slices of ``batch_documents``, exactly where a single local engine cuts its batches. Each slice goes
to a worker process, which runs an ordinary :class:`~tidemark.engines.local.LocalEngine` over it and sends back one
:class:`~tidemark.engines.base.ExtractBatch` (Arrow tables pickle as their buffers). Batches come back in input
order, so the runtime sees the very batches one process would have produced: the same rows, row errors, rejected
documents and counts, whatever the number of workers.

Backpressure: at most ``workers + 1`` slices are in flight (sent and not yet handed to the caller); the next slice
is read only when the caller has taken a batch, so memory is bounded by a few batches, not by the input.

Workers are started with ``spawn`` (a fresh interpreter: the caller may hold store connections and threads, which
``fork`` would copy half-alive), receive the plan once (it pickles), and live as long as the engine that owns the
pool: a stream reuses them from one micro-batch to the next.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice
from typing import Any

from tidemark.compile.plan import Plan
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch
from tidemark.errors import ConfigError, TidemarkError

#: the worker process's engine, built once by :func:`_start`
_engine: Any = None


def resolve_workers(workers: int | str) -> int:
    """``workers`` as a count: a positive integer, or ``"auto"`` for the machine's cores (as the OS lets this
    process use them)."""
    if isinstance(workers, str):
        if workers.strip().lower() == "auto":
            return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        try:
            workers = int(workers)
        except ValueError:
            raise ConfigError(f"workers {workers!r}: give a number of processes (1, 2, ...) or 'auto'") from None
    if workers < 1:
        raise ConfigError(f"workers={workers}: give at least 1 (1 = extract in this process), or 'auto' for the cores")
    return workers


def _start(plan: Plan, fast_decode: bool) -> None:
    global _engine
    from tidemark.engines.local import LocalEngine

    _engine = LocalEngine(plan, fast_decode=fast_decode)


def _extract(documents: list[RawDocument]) -> ExtractBatch:
    """In a worker: one slice -> its one batch (the slice is exactly one batch long)."""
    batches: list[ExtractBatch] = list(_engine.extract(documents, batch_documents=len(documents)))
    assert len(batches) == 1, "a slice of documents makes exactly one batch"
    return batches[0]


class ExtractPool:
    """A pool of ``workers`` processes extracting batches of ``plan``; :meth:`extract` yields them in order."""

    def __init__(self, plan: Plan, workers: int, *, fast_decode: bool = True) -> None:
        self.workers = workers
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(plan, fast_decode),
        )

    def extract(self, documents: Iterable[RawDocument], *, batch_documents: int = 64) -> Iterator[ExtractBatch]:
        """The batches of ``documents``, in order, each of ``batch_documents`` documents (the last may be shorter)."""
        docs = iter(documents)
        per = max(1, batch_documents)  # as one engine cuts: below 1, a batch per document
        pending: deque[Future[ExtractBatch]] = deque()
        try:
            while True:
                while len(pending) <= self.workers:  # workers + 1 in flight: one more than can run at once
                    chunk = list(islice(docs, per))
                    if not chunk:
                        break
                    pending.append(self._executor.submit(_extract, chunk))
                if not pending:
                    return
                yield self._result(pending.popleft())
        finally:
            for future in pending:  # the caller stopped early (or failed): drop what it will not take
                future.cancel()

    def _result(self, future: Future[ExtractBatch]) -> ExtractBatch:
        try:
            return future.result()
        except BrokenProcessPool as exc:
            raise TidemarkError(
                f"an extraction worker process died ({exc}): killed by a signal, or by the system for lack of memory; "
                "nothing of this run was committed. Run it again, with fewer workers (--workers 1) or smaller batches "
                "(--batch-documents) if memory is short"
            ) from exc

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
