"""Append documents a user already has to a raw store (``tidemark raw import RAW PATH...``).

Files, directories (walked like ``tidemark run`` inputs), ``.json.gz`` and NDJSON (one document a line). An
envelope is kept as it is; a bare document gets a minimal envelope whose endpoint and method are the file's two
parent folders (``<endpoint>/<method>/<file>``, as recorded) unless given. ``fetched_at`` is the file's
modification time. A document that is not JSON is not appended: it is listed in the result. Records go to the
store in batches (one ``append`` each, bounded by records and bytes).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tidemark.documents import RawDocument
from tidemark.raw.base import AppendCounts, RawRecord, RawStore
from tidemark.raw.decode import decode_record
from tidemark.sources.files import is_document_file, read_files, walk_inputs

_BATCH_RECORDS = 256
_BATCH_BYTES = 64 << 20


@dataclass
class ImportResult:
    """What an import did: files read, records appended and duplicates, documents refused (origin, reason)."""

    files: int = 0
    counts: AppendCounts = field(default_factory=AppendCounts)
    invalid: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.invalid


def import_paths(
    store: RawStore,
    paths: Sequence[str | Path],
    *,
    endpoint: str | None = None,
    method: str | None = None,
) -> ImportResult:
    """Append every document under ``paths`` to ``store`` (a missing path raises before anything is appended)."""
    listed = walk_inputs(paths, is_document_file, empty_directory="no .json, .json.gz or NDJSON files in it")
    result = ImportResult(files=len(listed))
    batch: list[RawRecord] = []
    size = 0
    for record in _records(read_files(listed), result, endpoint, method):
        batch.append(record)
        size += record.size
        if len(batch) >= _BATCH_RECORDS or size >= _BATCH_BYTES:
            result.counts += store.append(batch)
            batch, size = [], 0
    if batch:
        result.counts += store.append(batch)
    return result


def _records(
    documents: Iterator[RawDocument], result: ImportResult, endpoint: str | None, method: str | None
) -> Iterator[RawRecord]:
    for doc in documents:
        if doc.error is not None:
            result.invalid.append((doc.origin, doc.error))
            continue
        fetched = doc.modified_at or datetime.now(UTC)
        folder = Path(doc.origin.rsplit(":", 1)[0] if _is_line(doc.origin) else doc.origin).parent
        bare = (endpoint or folder.parent.name or "unknown", method or folder.name or "unknown")
        record = decode_record(doc.data, fetched, origin=doc.origin, bare=bare)
        if record.error is not None:
            result.invalid.append((doc.origin, record.error))
            continue
        yield record


def _is_line(origin: str) -> bool:
    head, sep, tail = origin.rpartition(":")
    return bool(sep) and tail.isdigit() and bool(head)


__all__ = ["ImportResult", "import_paths"]
