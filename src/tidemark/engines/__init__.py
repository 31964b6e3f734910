"""Engines run a compiled plan over documents and yield Arrow batches per target.

An engine is one module implementing :class:`Engine` (engines/base.py) and one line in :data:`ENGINES`; it is
imported when it is opened (:func:`open_engine`), so a heavy engine (Spark) costs nothing until it is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING, Any

from tidemark.compile.plan import Plan
from tidemark.engines.base import Engine, ExtractBatch, RejectedDocument, RowError
from tidemark.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from tidemark.engines.local import LocalEngine

#: engine name -> "module:Class" (imported on open, like SINKS); the class is built as ``Class(plan)``
ENGINES: dict[str, str] = {
    "local": "tidemark.engines.local:LocalEngine",
}
DEFAULT_ENGINE = "local"


def engine_class(name: str) -> Callable[[Plan], Engine]:
    """The class of the engine ``name`` of :data:`ENGINES` (imported now); an unknown name is a
    :class:`ConfigError` with a did-you-mean."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}{did_you_mean(name, ENGINES)}: use one of {', '.join(ENGINES)}")
    module, _, cls = ENGINES[name].partition(":")
    return getattr(import_module(module), cls)  # type: ignore[no-any-return]


def open_engine(name: str, plan: Plan) -> Engine:
    """The engine ``name`` of :data:`ENGINES`, built for ``plan``."""
    return engine_class(name)(plan)


def __getattr__(name: str) -> Any:
    if name == "LocalEngine":  # imported on first use, like every engine
        return import_module("tidemark.engines.local").LocalEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_ENGINE",
    "ENGINES",
    "Engine",
    "ExtractBatch",
    "LocalEngine",
    "RejectedDocument",
    "RowError",
    "engine_class",
    "open_engine",
]
