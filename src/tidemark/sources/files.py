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
from datetime import UTC, datetime
from pathlib import Path

from tidemark.documents import Position, RawDocument, position_key
from tidemark.errors import SourceError

DOCUMENT_SUFFIXES = (".json", ".json.gz", ".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_LINES_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_LAST_LINE = 2**63 - 1


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
    ``read`` reads them again, lazily, one file at a time.
    """

    replayable = True

    def __init__(self, paths: Sequence[str | Path]) -> None:
        self.inputs = [Path(p) for p in paths]
        self.listed = walk_inputs(self.inputs, is_document_file)
        self.files = len(self.listed)
        self.total_bytes = sum(f.path.stat().st_size for f in self.listed)

    def read(self, after: Position | None = None) -> Iterator[RawDocument]:
        if after is None:
            return read_files(self.listed)
        start = position_key(after)
        # whole files at or before the position are not opened at all
        todo = [f for f in self.listed if position_key(f.position(_LAST_LINE)) > start]
        return (doc for doc in read_files(todo) if doc.position is None or position_key(doc.position) > start)


def iter_documents(files: Iterable[Path]) -> Iterator[RawDocument]:
    """Yield every document of every file, lazily (a file is read only when its turn comes)."""
    return read_files(InputFile(path, index, (path.name,)) for index, path in enumerate(files))


def read_files(files: Iterable[InputFile]) -> Iterator[RawDocument]:
    """Every document of every file, lazily, each with its position."""
    for f in files:
        path = f.path
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            data = _read(path)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            yield RawDocument(b"", str(path), error=f"cannot read file: {exc}", position=f.position())
            continue
        if path.name.endswith(_LINES_SUFFIXES):
            yield from _lines(data, f, modified)
        else:
            yield RawDocument(data, str(path), modified_at=modified, position=f.position())


def _read(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def _lines(data: bytes, f: InputFile, modified: datetime) -> Iterator[RawDocument]:
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield RawDocument(line, f"{f.path}:{number}", modified_at=modified, position=f.position(number))
