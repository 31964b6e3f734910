"""The unit every source yields and every engine reads: one raw document, not parsed yet, and where it sits.

A :class:`Position` says where a document sits in its source, so a checkpoint can store it and a later read can
resume strictly after it (``Source.read(after=position)``). It is opaque to everything but the source that made it,
and it is:

- **ordered**: a source yields its documents in increasing position (compare with :func:`position_key`);
- **JSON-serialisable**: a tuple of ints and strings (a checkpoint stores it as a JSON array and gives it back as
  a tuple: see :func:`as_position`);
- **stable**: it names the document, not its ordinal in one listing (a file is named by its path inside the input
  it was found under, so files that arrive later do not shift the positions of the earlier ones).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

#: where a document sits in its source: e.g. ``(0, "game", "747175.json.gz", 0)`` for a file of the first input,
#: ``(0, "plays.ndjson", 17)`` for line 17 of an NDJSON file, ``(3,)`` for the fourth of a list of documents
Position = tuple[int | str, ...]


@dataclass(frozen=True)
class RawDocument:
    """One input record, not parsed yet. ``origin`` says where it came from (``file`` or ``file:line``).

    ``modified_at`` is the modification time of the file it was read from: a mapping may fall back to it as the
    snapshot time (``timestamp: {fallback: file_modified}``) when the record carries none. ``position`` is set by
    the source that read it (None for a document made by hand).
    """

    data: bytes
    origin: str
    captured_at: datetime | None = None
    error: str | None = None
    modified_at: datetime | None = None
    position: Position | None = None


def position_key(position: Position) -> tuple[tuple[bool, int | str], ...]:
    """A sort key giving positions a total order: element by element, an int before a string, then by value.

    For positions made by one source this is plain tuple order; the key only keeps a comparison with a position
    of another shape (a checkpoint written for other inputs) from raising ``TypeError``.
    """
    return tuple((isinstance(part, str), part) for part in position)


def as_position(value: Sequence[int | str]) -> Position:
    """A position from its JSON form (a list), e.g. as a checkpoint stores it."""
    return tuple(value)


__all__ = ["Position", "RawDocument", "as_position", "position_key"]
