"""tidemark: nested JSON API documents -> normalized tables, kept correct by one write contract.

The public API is this module's ``__all__`` (pinned by a test). Importing tidemark is cheap: it loads no database
driver, and not even Arrow, until a public name is first used (module ``__getattr__`` below), so that the
``tidemark`` command starts at once; ``from tidemark import run`` works as always.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:  # what the names below resolve to, for type checkers and editors
    from tidemark.compile.plan import Plan, compile_mapping
    from tidemark.contract.counts import MODES, Mode, WriteCounts
    from tidemark.documents import RawDocument
    from tidemark.mapping.loader import load_mapping, parse_mapping
    from tidemark.mapping.models import Mapping
    from tidemark.read import read
    from tidemark.runtime.batch import Reporter, RunResult, run
    from tidemark.sinks import open_sink
    from tidemark.sources import Source
    from tidemark.write.api import WriteResult, write
    from tidemark.write.config import WriteConfig

__version__ = "0.1.0"

#: public name -> the module that defines it, imported on first use
_LAZY = {
    "MODES": "tidemark.contract.counts",
    "Mode": "tidemark.contract.counts",
    "WriteCounts": "tidemark.contract.counts",
    "Plan": "tidemark.compile.plan",
    "compile_mapping": "tidemark.compile.plan",
    "RawDocument": "tidemark.documents",
    "load_mapping": "tidemark.mapping.loader",
    "parse_mapping": "tidemark.mapping.loader",
    "Mapping": "tidemark.mapping.models",
    "read": "tidemark.read",
    "Reporter": "tidemark.runtime.batch",
    "RunResult": "tidemark.runtime.batch",
    "run": "tidemark.runtime.batch",
    "open_sink": "tidemark.sinks",
    "Source": "tidemark.sources",
    "WriteResult": "tidemark.write.api",
    "write": "tidemark.write.api",
    "WriteConfig": "tidemark.write.config",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tidemark' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


class _Tidemark(ModuleType):
    """``tidemark.write`` is the function although a subpackage has the same name: importing ``tidemark.write``
    (first done lazily now, after this module) makes the import system set the attribute to the package, which the
    setter below ignores, so the function stays (as it did when this module imported it eagerly)."""

    @property
    def write(self) -> Any:
        return __getattr__("write")

    @write.setter
    def write(self, value: Any) -> None:
        pass

    @property
    def read(self) -> Any:  # the same for tidemark.read, the function, and its module
        return __getattr__("read")

    @read.setter
    def read(self, value: Any) -> None:
        pass


sys.modules[__name__].__class__ = _Tidemark


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
