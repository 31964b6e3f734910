"""Documents from files: single JSON files, ``.json.gz``, NDJSON (``.ndjson`` / ``.jsonl``, optionally gzipped),
and directories of those (e.g. the recorded ``statsapi/<endpoint>/<method>/*.json.gz`` layout), read lazily.

A file that cannot be read is not fatal: it becomes a :class:`RawDocument` with ``error`` set, which the engine
reports as a rejected document while the rest of the input goes on. A path that does not exist is fatal
(:class:`~tidemark.errors.SourceError`) because it is almost always a typo.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tidemark.errors import SourceError

DOCUMENT_SUFFIXES = (".json", ".json.gz", ".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_LINES_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")


@dataclass(frozen=True)
class RawDocument:
    """One input record, not parsed yet. ``origin`` says where it came from (``file`` or ``file:line``).

    ``modified_at`` is the modification time of the file it was read from: a mapping may fall back to it as the
    snapshot time (``timestamp: {fallback: file_modified}``) when the record carries none.
    """

    data: bytes
    origin: str
    captured_at: datetime | None = None
    error: str | None = None
    modified_at: datetime | None = None


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files to read, in a stable order: directories are walked recursively for document files."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(DOCUMENT_SUFFIXES))
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise SourceError(f"input not found: {path} (give a file, a directory or several of them)")
    return files


def iter_documents(files: Iterable[Path]) -> Iterator[RawDocument]:
    """Yield every document of every file, lazily (a file is read only when its turn comes)."""
    for path in files:
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
            data = _read(path)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            yield RawDocument(b"", str(path), error=f"cannot read file: {exc}")
            continue
        if path.name.endswith(_LINES_SUFFIXES):
            yield from _lines(data, path, modified)
        else:
            yield RawDocument(data, str(path), modified_at=modified)


def _read(path: Path) -> bytes:
    if path.name.endswith(".gz"):
        with gzip.open(path, "rb") as fh:
            return fh.read()
    return path.read_bytes()


def _lines(data: bytes, path: Path, modified: datetime) -> Iterator[RawDocument]:
    for number, line in enumerate(data.splitlines(), start=1):
        if line.strip():
            yield RawDocument(line, f"{path}:{number}", modified_at=modified)
