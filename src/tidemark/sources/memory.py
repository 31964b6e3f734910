"""Documents the caller already holds: a list (replayable) or a one-shot iterator (not replayable).

Each item is a :class:`RawDocument`, the bytes of a JSON document, or a JSON-ready value (a dict, a list) that is
serialised here. Positions are ``(index,)`` in the order given; a :class:`RawDocument` that carries a position of its
own keeps it (the caller then answers for their order).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from tidemark.documents import Position, RawDocument, checked, position_key
from tidemark.errors import SourceError

#: what a list or an iterator of documents may hold: a document (a RawDocument, the bytes of its JSON, or a value
#: such as a dict, as an API client returns it), or a ``(document, captured_at)`` pair giving its snapshot time
DocumentLike = RawDocument | bytes | dict[str, Any] | list[Any] | tuple[Any, datetime | None]


def as_document(item: Any, index: int) -> RawDocument:
    """One item of a list or iterator of documents -> a :class:`RawDocument` at position ``(index,)``.

    A ``(document, captured_at)`` pair sets the document's ``captured_at`` (a naive datetime is taken as UTC), the
    snapshot time of mappings whose ``timestamp`` is ``captured_at``.
    """
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], datetime | None):
        doc, captured_at = as_document(item[0], index), item[1]
        if captured_at is not None and captured_at.tzinfo is None:
            captured_at = captured_at.replace(tzinfo=UTC)
        return replace(doc, captured_at=captured_at)
    if isinstance(item, RawDocument):
        return item if item.position is not None else _at(item, index)
    if isinstance(item, bytes | bytearray | memoryview):
        return checked(RawDocument(bytes(item), f"document {index}", position=(index,)))
    if isinstance(item, dict | list):
        return RawDocument(_dumps(item), f"document {index}", position=(index,))
    raise SourceError(
        f"document {index} is a {type(item).__name__}: give RawDocument objects, bytes of JSON, dicts, or "
        "(document, captured_at) pairs (or paths of files and directories)"
    )


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except TypeError:  # an integer beyond 64 bits: the standard encoder writes it, the engine then refuses its row
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _at(doc: RawDocument, index: int) -> RawDocument:
    return RawDocument(doc.data, doc.origin, doc.captured_at, doc.error, doc.modified_at, (index,))


class DocumentsSource:
    """A list of documents in memory (replayable: every ``read`` yields them again)."""

    replayable = True

    def __init__(self, documents: Sequence[Any]) -> None:
        self.documents = [as_document(item, i) for i, item in enumerate(documents)]
        self.files = len(self.documents)
        self.total_bytes = sum(len(d.data) for d in self.documents)

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        if after is None:
            return iter(self.documents)
        start = position_key(after)
        return (d for d in self.documents if d.position is not None and position_key(d.position) > start)


class IteratorSource:
    """Documents from an iterator, read once (not replayable: a conflict cannot start the run over)."""

    replayable = False
    total_bytes = 0
    files = 0

    def __init__(self, documents: Iterable[Any]) -> None:
        self._documents: Iterator[Any] | None = iter(documents)

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        if self._documents is None:
            raise SourceError("this stream of documents was read already and cannot be read again")
        items, self._documents = self._documents, None
        docs = (as_document(item, i) for i, item in enumerate(items))
        if after is None:
            return docs
        start = position_key(after)
        return (d for d in docs if d.position is not None and position_key(d.position) > start)
