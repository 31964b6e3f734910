"""Write any table with the contract: ``tidemark.write`` for Arrow / polars / pandas data, ``write:`` blocks.

See docs/write.md. A mapping run is "documents -> Arrow -> write"; this package is "any table -> the same write".
"""

from __future__ import annotations

from tidemark.write.api import DEFAULT_BATCH_ROWS, WriteReporter, WriteResult, write
from tidemark.write.config import WriteConfig, load_write_config

__all__ = ["DEFAULT_BATCH_ROWS", "WriteConfig", "WriteReporter", "WriteResult", "load_write_config", "write"]
