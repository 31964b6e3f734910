"""tidemark: nested JSON API documents -> normalized tables, kept correct by one write contract.

The public API is this module's ``__all__`` (pinned by a test). Importing tidemark loads no database driver.
"""

from __future__ import annotations

from tidemark.compile.plan import Plan, compile_mapping
from tidemark.contract.counts import MODES, Mode, WriteCounts
from tidemark.documents import RawDocument
from tidemark.errors import (
    ConfigError,
    ContractError,
    MappingError,
    MissingDependencyError,
    SinkError,
    SinkTerminalError,
    SinkTransientError,
    SourceError,
    TidemarkError,
)
from tidemark.mapping.loader import load_mapping, parse_mapping
from tidemark.mapping.models import Mapping
from tidemark.read import read
from tidemark.runtime.batch import Reporter, RunResult, run
from tidemark.sinks import open_sink
from tidemark.sources import Source
from tidemark.write.api import WriteResult, write
from tidemark.write.config import WriteConfig

__version__ = "0.1.0"

__all__ = [
    "MODES",
    "ConfigError",
    "ContractError",
    "Mapping",
    "MappingError",
    "MissingDependencyError",
    "Mode",
    "Plan",
    "RawDocument",
    "Reporter",
    "RunResult",
    "SinkError",
    "SinkTerminalError",
    "SinkTransientError",
    "Source",
    "SourceError",
    "TidemarkError",
    "WriteConfig",
    "WriteCounts",
    "WriteResult",
    "__version__",
    "compile_mapping",
    "load_mapping",
    "open_sink",
    "parse_mapping",
    "read",
    "run",
    "write",
]
