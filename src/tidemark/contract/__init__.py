"""The write contract: modes, the newest-wins guard, the tie-break, duplicate reduction and the counts.

The rules are written once in docs/write-contract.md. This package holds the half that does not depend on a store
(validation, content hash, in-batch reduction, counts); each sink implements the comparison with stored rows.
"""

from __future__ import annotations

from tidemark.contract.counts import MODES, Mode, WriteCounts
from tidemark.contract.prepare import Prepared, RowError, prepare, reduce_duplicates, row_hash

__all__ = ["MODES", "Mode", "Prepared", "RowError", "WriteCounts", "prepare", "reduce_duplicates", "row_hash"]
