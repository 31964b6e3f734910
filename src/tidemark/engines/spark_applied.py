"""Files cut into the Spark engine's work items, and the applied-documents ledger (runtime/applied.py) on
``--engine spark``: files' documents applied before are skipped before any work item is cut, as the local engine
skips them before its batches.

The ledger's decision needs each document's hash, and the files are read in the executors. So, when the run's
ledger records (every mode but ``append``), one Spark job reads every file once and sends back, per document, a
**stub**: a :class:`RawDocument` without its bytes, carrying the content hash the ledger would compute from them
(the record's own ``content_hash``, else the sha256 of the bytes as read), its origin, times and read error. The
driver passes the stubs, in document order, through the run's own :meth:`Ledger.filter` (the same skip rule, the
same pending entries the run records in its transaction, the same ``unchanged_documents``), and the documents it
lets through are what the work items are cut from: the batches, and every count, are the local engine's.

This is one more read of the files (decompression and sha256; no parsing) in the executors; the driver holds one
small stub per document, as the local engine's ledger holds one pending entry per document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from tidemark.documents import RawDocument
from tidemark.engines.spark import SparkEngine, _count, _Lines, _Work
from tidemark.sources.files import _LINES_SUFFIXES, InputFile, read_files

if TYPE_CHECKING:
    from pyspark import SparkContext

    from tidemark.runtime.applied import Ledger


def file_work(engine: SparkEngine, files: list[InputFile], batch_documents: int) -> Iterator[_Work]:
    """The files' documents (those the run's ledger lets through) cut into work items of exactly
    ``batch_documents`` documents (the last one fewer): ranges of files' documents."""
    if engine.ledger is not None and engine.ledger.records:
        kept = kept_documents(engine.spark.sparkContext, files, engine.ledger)
    else:
        kept = [list(range(count)) for count in _count_documents(engine.spark.sparkContext, files)]
    item: _Work = []
    size = 0
    for f, indices in zip(files, kept, strict=True):
        for start, count in runs(indices):
            while count:
                take = min(count, batch_documents - size)
                item.append(_Lines(f, start, take))
                start, count, size = start + take, count - take, size + take
                if size == batch_documents:
                    yield item
                    item, size = [], 0
    if item:
        yield item


def _count_documents(sc: SparkContext, files: list[InputFile]) -> list[int]:
    """Documents per file: one for a whole-file document (readable or not), the lines of an NDJSON file."""
    lines = [f for f in files if f.path.name.endswith(_LINES_SUFFIXES)]
    if not lines:
        return [1] * len(files)
    counted = dict(zip(lines, sc.parallelize(lines, min(len(lines), 64)).map(_count).collect(), strict=True))
    return [counted.get(f, 1) for f in files]


def kept_documents(sc: SparkContext, files: list[InputFile], ledger: Ledger) -> list[list[int]]:
    """Per file, the indices (in ``read_files`` order) of its documents the ledger lets through."""
    if not files:
        return []
    per_file = sc.parallelize(files, min(len(files), 64)).map(_stubs).collect()
    numbered = [(f, i, stub) for f, stubs in enumerate(per_file) for i, stub in enumerate(stubs)]
    kept: list[list[int]] = [[] for _ in files]
    passed = {id(stub) for stub in ledger.filter(stub for _, _, stub in numbered)}
    for f, i, stub in numbered:
        if id(stub) in passed:
            kept[f].append(i)
    return kept


def _stubs(f: InputFile) -> list[RawDocument]:
    """In an executor: the file's documents without their bytes, each with the hash the ledger reads."""
    return [
        RawDocument(
            b"",
            doc.origin,
            doc.captured_at,
            doc.error,
            doc.modified_at,
            doc.position,
            doc.content_hash or hashlib.sha256(doc.data).hexdigest(),
        )
        for doc in read_files([f])
    ]


def runs(indices: list[int]) -> Iterator[tuple[int, int]]:
    """``indices`` (ascending) as (start, count) runs of consecutive numbers."""
    start = count = 0
    for i in indices:
        if count and i == start + count:
            count += 1
            continue
        if count:
            yield start, count
        start, count = i, 1
    if count:
        yield start, count


__all__ = ["file_work", "kept_documents", "runs"]
