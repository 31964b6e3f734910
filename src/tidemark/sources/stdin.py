"""Documents piped in on standard input (``tidemark run --input -``): one JSON document, or NDJSON.

Which of the two is told by the first non-blank line: a line that is a whole JSON value starts NDJSON (one document
per line, streamed, each line capped like a file's); anything else (a pretty-printed document's ``{``) is read as
one document, up to the cap. A stream is read once (``replayable = False``). Positions: ``(0, line)``, the line
number from 1 (0 for a whole document).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator
from typing import BinaryIO

import orjson

from tidemark.documents import Position, RawDocument, checked, position_key
from tidemark.errors import SourceError
from tidemark.sources.files import MAX_DOCUMENT_BYTES, numbered_lines, too_large

ORIGIN = "<stdin>"


class StdinSource:
    """The documents of a byte stream, standard input by default (read once)."""

    replayable = False
    total_bytes = 0
    files = 0

    def __init__(self, stream: BinaryIO | None = None, *, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> None:
        self._stream: BinaryIO | None = stream if stream is not None else sys.stdin.buffer
        self.max_document_bytes = max_document_bytes

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        if self._stream is None:
            raise SourceError("standard input was read already and cannot be read again")
        stream, self._stream = self._stream, None
        docs = read_stream(stream, self.max_document_bytes)
        if after is None:
            return docs
        start = position_key(after)
        return (d for d in docs if d.position is not None and position_key(d.position) > start)


def read_stream(fh: BinaryIO, cap: int) -> Iterator[RawDocument]:
    """NDJSON or one document (see the module docstring), lazily."""
    lines = numbered_lines(fh, cap)
    first = next(lines, None)
    if first is None:
        return
    number, line = first
    if line is not None and not _is_json(line):  # one document over many lines
        data = line + b"\n" + fh.read(cap - len(line))
        rest = fh.read(1)
        if rest:
            yield RawDocument(b"", ORIGIN, error=too_large(cap), position=(0, 0))
        else:
            yield checked(RawDocument(data, ORIGIN, position=(0, 0)))
        return
    for number, line in itertools.chain([first], lines):
        origin = f"{ORIGIN}:{number}"
        if line is None:
            yield RawDocument(b"", origin, error=too_large(cap), position=(0, number))
        else:
            yield checked(RawDocument(line, origin, position=(0, number)))


def _is_json(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True
