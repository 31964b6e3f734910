"""Documents from files: single JSON files, ``.json.gz``, NDJSON (``.ndjson`` / ``.jsonl``, optionally gzipped),
and directories of those (e.g. the recorded ``statsapi/<endpoint>/<method>/*.json.gz`` layout), read lazily.

A file that cannot be read is not fatal: it becomes a :class:`RawDocument` with ``error`` set, which the engine
reports as a rejected document while the rest of the input goes on. A path that does not exist is fatal
(:class:`~tidemark.errors.SourceError`) because it is almost always a typo.

Positions: ``(input, *parts, line)`` — the index of the input (file or directory) among those given, the parts of
the file's path inside it (a file given directly: its name), and the line (NDJSON, from 1; 0 for a whole file).
Inside a directory, files are read in the order of their path parts (the order of ``sorted(pathlib.Path)``), which
is the order of these positions; a file added later does not move the others.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast

from tidemark.documents import Position, RawDocument, checked, position_key
from tidemark.errors import SourceError
from tidemark.timestamps import from_ns

DOCUMENT_SUFFIXES = (".json", ".json.gz", ".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_LINES_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_LAST_LINE = 2**63 - 1
#: the largest document read by default (after decompression): larger ones are rejected, not read into memory
MAX_DOCUMENT_BYTES = 256 * 2**20


@dataclass(frozen=True)
class InputFile:
    """A file to read and its place: the index of the input it was found under and its path parts inside it."""

    path: Path
    input: int
    parts: tuple[str, ...]

    def position(self, line: int = 0) -> Position:
        return (self.input, *self.parts, line)


def walk_inputs(
    paths: Iterable[str | Path], accept: Callable[[Path], bool], *, empty_directory: str | None = None
) -> list[InputFile]:
    """Files to read, in a stable order: directories are walked recursively for files ``accept`` takes.

    A path that does not exist raises :class:`SourceError`; so does a directory without a file to read when
    ``empty_directory`` (the message's end) is given. Shared by ``tidemark run`` (documents) and ``tidemark write``
    (flat files), each with its own ``accept``.
    """
    files: list[InputFile] = []
    for index, raw in enumerate(paths):
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and accept(p))
            if not found and empty_directory is not None:
                raise SourceError(f"{path}: {empty_directory}")
            files.extend(InputFile(p, index, p.relative_to(path).parts) for p in found)
        elif path.is_file():
            files.append(InputFile(path, index, (path.name,)))
        else:
            raise SourceError(f"input not found: {path} (give a file, a directory or several of them)")
    return files


def is_document_file(path: Path) -> bool:
    return path.name.endswith(DOCUMENT_SUFFIXES)


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Document files to read, in a stable order: directories are walked recursively for document files."""
    return [f.path for f in walk_inputs(paths, is_document_file)]


class FileSource:
    """The documents of files and directories (a :class:`~tidemark.sources.base.Source`; replayable).

    The files are listed when the source is opened (a missing path fails then, before anything is written); each
    ``read`` reads them again, lazily, one file at a time. A document larger than ``max_document_bytes`` (as read,
    after decompression) is rejected without being read further: see :func:`read_files`.
    """

    replayable = True

    def __init__(self, paths: Sequence[str | Path], *, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> None:
        self.inputs = [Path(p) for p in paths]
        self.listed = walk_inputs(self.inputs, is_document_file)
        self.files = len(self.listed)
        self.total_bytes = sum(f.path.stat().st_size for f in self.listed)
        self.max_document_bytes = max_document_bytes

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        if after is None:
            return read_files(self.listed, self.max_document_bytes)
        start = position_key(after)
        # whole files at or before the position are not opened at all
        todo = [f for f in self.listed if position_key(f.position(_LAST_LINE)) > start]
        docs = read_files(todo, self.max_document_bytes)
        return (doc for doc in docs if doc.position is None or position_key(doc.position) > start)


def iter_documents(files: Iterable[Path], max_document_bytes: int = MAX_DOCUMENT_BYTES) -> Iterator[RawDocument]:
    """Yield every document of every file, lazily (a file is read only when its turn comes)."""
    listed = (InputFile(path, index, (path.name,)) for index, path in enumerate(files))
    return read_files(listed, max_document_bytes)


def read_files(files: Iterable[InputFile], max_document_bytes: int = MAX_DOCUMENT_BYTES) -> Iterator[RawDocument]:
    """Every document of every file, lazily, each with its position.

    Memory stays bounded by ``max_document_bytes``: a whole-file document is read (and a gzip stream decompressed)
    only up to one byte past the cap, an NDJSON file one line at a time, a line only up to the cap. A document
    past the cap (a gzip bomb, a runaway export) becomes a :class:`RawDocument` with ``error`` set, and the read
    goes on with the next one.
    """
    for f in files:
        try:
            modified = from_ns(f.path.stat().st_mtime_ns)
            if f.path.name.endswith(_LINES_SUFFIXES):
                yield from _lines(f, modified, max_document_bytes)
                continue
            data = _read(f.path, max_document_bytes)
        except _READ_ERRORS as exc:
            yield RawDocument(b"", str(f.path), error=f"cannot read file: {exc}", position=f.position())
            continue
        if data is None:
            yield RawDocument(b"", str(f.path), error=too_large(max_document_bytes), position=f.position())
        else:
            yield checked(RawDocument(data, str(f.path), modified_at=modified, position=f.position()))


_READ_ERRORS = (OSError, EOFError, zlib.error, gzip.BadGzipFile)


def too_large(max_document_bytes: int) -> str:
    """The reason a document past the cap is rejected."""
    return (
        f"document larger than {_size(max_document_bytes)} (the cap on one document, counted after decompression); "
        "not read further. Raise the cap with --max-document-mb (max_document_bytes= in Python) if it is genuine"
    )


def _size(n: int) -> str:
    mb = n / 2**20
    return f"{mb:g} MB" if mb >= 1 else f"{n} bytes"


def _open(path: Path) -> BinaryIO:
    if path.name.endswith(".gz"):
        return cast(
            BinaryIO, gzip.open(path, "rb")
        )  # decompresses as it is read: a bomb never expands past what is asked
    return path.open("rb")


def _read(path: Path, cap: int) -> bytes | None:
    """The file's bytes (decompressed), or None when they pass ``cap``: never more than ``cap + 1`` in memory."""
    if not path.name.endswith(".gz") and path.stat().st_size > cap:
        return None
    with _open(path) as fh:
        data = fh.read(cap + 1)
    return None if len(data) > cap else data


def _lines(f: InputFile, modified: datetime, cap: int) -> Iterator[RawDocument]:
    """One document per non-blank line, streamed. A line past ``cap`` is rejected (and skipped without keeping it);
    a read error part way through rejects the rest of the file, after the lines already read."""
    number = 0
    with _open(f.path) as fh:
        try:
            for number, line in numbered_lines(fh, cap):
                origin, position = f"{f.path}:{number}", f.position(number)
                if line is None:
                    yield RawDocument(b"", origin, error=too_large(cap), position=position)
                else:
                    yield checked(RawDocument(line, origin, modified_at=modified, position=position))
        except _READ_ERRORS as exc:
            origin = f"{f.path}:{number + 1}"
            yield RawDocument(b"", origin, error=f"cannot read file: {exc}", position=f.position(number + 1))


def numbered_lines(fh: BinaryIO, cap: int) -> Iterator[tuple[int, bytes | None]]:
    """``(line number from 1, line without its end)`` for every non-blank line of ``fh``, read one at a time; the
    line is None when it is longer than ``cap`` (its bytes are skipped, never held)."""
    number = 0
    while line := fh.readline(cap + 1):
        number += 1
        if len(line) > cap and not line.endswith(b"\n"):
            _skip_line(fh)
            yield number, None
        elif line.strip():
            yield number, line.rstrip(b"\r\n")


def _skip_line(fh: BinaryIO) -> None:
    while (chunk := fh.readline(2**20)) and not chunk.endswith(b"\n"):
        pass
