"""The source interface: where documents come from. A source is one file implementing :class:`Source`.

The runtime calls, per attempt of a run::

    source.read(after=None)          # every document, in position order (lazily: bounded memory)

and, when a conflict with another writer rolled the attempt back, ``source.read()`` again: a retry re-reads the
source, it never keeps a copy of the documents. A source that cannot be read twice (a one-shot stream of
documents) says so with ``replayable = False``; the runtime then does not retry and says why.

A streaming run stores the ``position`` of the last document it committed and reads ``after=`` it next time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from tidemark.documents import Position, RawDocument


@runtime_checkable
class Source(Protocol):
    """Documents, each with a position, readable from any position on (when ``replayable``)."""

    #: True when ``read`` may be called again and yields the same documents (files, a list); False for a stream
    replayable: bool
    #: bytes of input in all, for progress (0 when unknown)
    total_bytes: int
    #: files (or documents, for documents in memory) in all, for progress (0 when unknown)
    files: int

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        """The documents strictly after ``after`` (all when None), in position order, each with its position."""
        ...


__all__ = ["Source"]
