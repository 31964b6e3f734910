"""Where documents come from: a :class:`Source` yields :class:`RawDocument` objects with their positions.

Files and directories (:class:`FileSource`), documents in memory (:class:`DocumentsSource`), one-shot streams of
documents (:class:`IteratorSource`), standard input (:class:`StdinSource`) and the rows of a Spark DataFrame
(:class:`DataFrameSource`) are here; the raw store and the API
client plug in as more sources.
:func:`open_source` picks one for what a caller passes to ``tidemark.run``.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tidemark.documents import Position, RawDocument
from tidemark.errors import ConfigError
from tidemark.sources.base import Source
from tidemark.sources.dataframe import DataFrameSource, is_spark_frame
from tidemark.sources.files import MAX_DOCUMENT_BYTES, FileSource, expand_inputs, iter_documents, walk_inputs
from tidemark.sources.memory import DocumentsSource, IteratorSource
from tidemark.sources.stdin import StdinSource

PathLike = str | Path


def open_source(inputs: Source | PathLike | Iterable[Any], *, max_document_bytes: int = MAX_DOCUMENT_BYTES) -> Source:
    """A source for ``inputs``: a :class:`Source` as it is; paths (one, or a list) -> files and directories; a list
    of documents (:class:`RawDocument`, bytes, dicts) -> in memory; any other iterable of documents -> a one-shot
    stream (read once, never kept whole). Files reject a document past ``max_document_bytes`` unread."""
    if isinstance(inputs, Source):
        return inputs
    if is_spark_frame(inputs):  # a Spark DataFrame with a "document" column (sources/dataframe.py)
        return DataFrameSource(inputs)
    if isinstance(inputs, PathLike):
        return FileSource([inputs], max_document_bytes=max_document_bytes)
    if isinstance(inputs, list | tuple):
        paths = [isinstance(i, PathLike) for i in inputs]
        if inputs and all(paths):
            return FileSource(inputs, max_document_bytes=max_document_bytes)
        if any(paths):
            raise ConfigError("inputs mix paths and documents: give either files and directories, or documents")
        return DocumentsSource(inputs)
    items = iter(inputs)
    first = list(itertools.islice(items, 1))
    if first and isinstance(first[0], PathLike):  # an iterable of paths: a short list, read like one
        return FileSource([*first, *items], max_document_bytes=max_document_bytes)
    return IteratorSource(itertools.chain(first, items))


__all__ = [
    "MAX_DOCUMENT_BYTES",
    "DataFrameSource",
    "DocumentsSource",
    "FileSource",
    "IteratorSource",
    "Position",
    "RawDocument",
    "Source",
    "StdinSource",
    "expand_inputs",
    "iter_documents",
    "open_source",
    "walk_inputs",
]
