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
from dataclasses import dataclass, replace
from datetime import datetime

#: where a document sits in its source: e.g. ``(0, "game", "747175.json.gz", 0)`` for a file of the first input,
#: ``(0, "plays.ndjson", 17)`` for line 17 of an NDJSON file, ``(3,)`` for the fourth of a list of documents
Position = tuple[int | str, ...]


@dataclass(frozen=True)
class RawDocument:
    """One input record, not parsed yet. ``origin`` says where it came from (``file`` or ``file:line``).

    ``modified_at`` is the modification time of the file it was read from: a mapping may fall back to it as the
    snapshot time (``timestamp: {fallback: file_modified}``) when the record carries none. ``position`` is set by
    the source that read it (None for a document made by hand). ``content_hash`` is the hash of its content when
    its source knows it already (a raw store's record): the applied-documents ledger (runtime/applied.py) uses it
    instead of hashing the bytes.
    """

    data: bytes
    origin: str
    captured_at: datetime | None = None
    error: str | None = None
    modified_at: datetime | None = None
    position: Position | None = None
    content_hash: str | None = None


#: byte order marks and NUL patterns of the first ASCII character (JSON starts with one) in other Unicode encodings;
#: UTF-32 before UTF-16, whose marks they start with
_ENCODINGS = (
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian, with a byte order mark)", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian, with a byte order mark)", "UTF-32"),
    (b"\xff\xfe", "UTF-16 (little-endian, with a byte order mark)", "UTF-16"),
    (b"\xfe\xff", "UTF-16 (big-endian, with a byte order mark)", "UTF-16"),
)


def encoding_problem(data: bytes) -> str | None:
    """Why ``data`` cannot be UTF-8 JSON when it is plainly in another Unicode encoding (UTF-16 / UTF-32, told by
    a byte order mark or by NUL bytes around the first character), else None. A parser would only say "surrogates
    not allowed" or "unexpected character"; this names the encoding and the fix."""
    head = data[:4]
    found = next(((name, short) for bom, name, short in _ENCODINGS if head.startswith(bom)), None)
    if found is None and len(head) == 4 and b"\x00" in head:
        if head[1:] == b"\x00\x00\x00" or head[:3] == b"\x00\x00\x00":
            found = ("UTF-32", "UTF-32")
        elif (head[1] == 0 and head[3] == 0) or (head[0] == 0 and head[2] == 0):
            found = ("UTF-16", "UTF-16")
    if found is None:
        return None
    name, short = found
    return f"document is {name} encoded: tidemark reads UTF-8 JSON; convert it (iconv -f {short} -t UTF-8)"


def checked(doc: RawDocument) -> RawDocument:
    """``doc``, or the same document rejected (``error`` set) when its bytes are in another Unicode encoding."""
    if doc.error is not None:
        return doc
    problem = encoding_problem(doc.data)
    return doc if problem is None else replace(doc, error=problem)


def position_key(position: Position) -> tuple[tuple[bool, int | str], ...]:
    """A sort key giving positions a total order: element by element, an int before a string, then by value.

    For positions made by one source this is plain tuple order; the key only keeps a comparison with a position
    of another shape (a checkpoint written for other inputs) from raising ``TypeError``.
    """
    return tuple((isinstance(part, str), part) for part in position)


def as_position(value: Sequence[int | str]) -> Position:
    """A position from its JSON form (a list), e.g. as a checkpoint stores it."""
    return tuple(value)


__all__ = ["Position", "RawDocument", "as_position", "checked", "encoding_problem", "position_key"]
