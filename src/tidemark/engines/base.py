"""What every engine produces: per-target Arrow tables, per-target scopes, and what it had to refuse.

An engine takes a compiled :class:`~tidemark.compile.Plan` and a stream of raw documents, and yields
:class:`ExtractBatch` objects covering a bounded number of documents each. The runtime hands every batch to the
write contract and a sink; engines never write.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import pyarrow as pa

from tidemark.contract.prepare import Prepared, RowError
from tidemark.documents import RawDocument

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True)
class RejectedDocument:
    """A whole document that was refused: unparseable, or missing something the mapping requires."""

    origin: str
    reason: str


@dataclass
class ExtractBatch:
    """The output of a bounded slice of documents.

    ``tables[target]`` holds the rows (columns of the target's TableSpec, no hash yet); ``scopes[target]`` holds,
    for scoped targets, one row per document: the scope values and the document's snapshot time. A document with
    no rows for a scoped target still appears in its scopes, so reconciliation can empty that scope.

    ``origins[target]``, when the engine keeps it (the local engine does), is the origin of each row of
    ``tables[target]`` (same order): the quarantine names the document of a row refused after extraction with it
    (runtime/origins.py). Whoever filters a table filters its origins alike.

    ``violations[target][rule]``, when the engine evaluated the mapping's quality rules itself (Spark, in Spark
    SQL: engines/spark_rules.py), says which rows of ``tables[target]`` break the rule; quality/check.py applies it
    instead of evaluating the rule again, and filters it with the rows.

    ``prepared[target]``, when the engine ran the contract's prepare itself (Spark, in its executors:
    engines/spark_prepare.py), is exactly what ``contract.prepare`` gives for ``tables[target]``; the writer uses it
    as long as no row of the table was removed since (by a quality rule: the rows left are then prepared again).
    """

    tables: dict[str, pa.Table] = field(default_factory=dict)
    scopes: dict[str, pa.Table] = field(default_factory=dict)
    origins: dict[str, list[str]] = field(default_factory=dict)
    violations: dict[str, dict[str, npt.NDArray[np.bool_]]] = field(default_factory=dict)
    prepared: dict[str, Prepared] = field(default_factory=dict)
    row_errors: list[RowError] = field(default_factory=list)
    rejected: list[RejectedDocument] = field(default_factory=list)
    documents: int = 0
    bytes_read: int = 0
    #: accepted documents whose snapshot time is their file's modification time (``fallback: file_modified``)
    time_from_file: int = 0


__all__ = ["Engine", "ExtractBatch", "RejectedDocument", "RowError"]


class Engine(Protocol):
    """An engine runs a compiled plan over documents."""

    name: str

    def extract(self, documents: Iterable[RawDocument], *, batch_documents: int = 64) -> Iterator[ExtractBatch]:
        """Yield batches, each covering at most ``batch_documents`` documents (bounded memory)."""
        ...
