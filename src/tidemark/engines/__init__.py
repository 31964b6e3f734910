"""Engines run a compiled plan over documents and yield Arrow batches per target.

An engine is one module implementing :class:`Engine` (engines/base.py) and one line in :data:`ENGINES`; it is
imported when it is opened (:func:`open_engine`), so a heavy engine (Spark) costs nothing until it is asked for.
An engine's own settings (Spark's master URL, ...) are keyword arguments of its class, passed as ``options``.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator, Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

from tidemark.compile.plan import Plan
from tidemark.engines.base import Engine, ExtractBatch, RejectedDocument, RowError
from tidemark.errors import ConfigError, did_you_mean
from tidemark.sources.base import Source

if TYPE_CHECKING:
    from tidemark.engines.local import LocalEngine

#: engine name -> "module:Class" (imported on open, like SINKS); the class is built as ``Class(plan)``
ENGINES: dict[str, str] = {
    "local": "tidemark.engines.local:LocalEngine",
    "spark": "tidemark.engines.spark:SparkEngine",
}
DEFAULT_ENGINE = "local"


def engine_class(name: str, options: Mapping[str, Any] | None = None) -> Callable[[Plan], Engine]:
    """The class of the engine ``name`` of :data:`ENGINES` (imported now), with its ``options`` bound; an unknown
    name, or an option the engine does not take, is a :class:`ConfigError` (with a did-you-mean)."""
    if name not in ENGINES:
        raise ConfigError(f"unknown engine {name!r}{did_you_mean(name, ENGINES)}: use one of {', '.join(ENGINES)}")
    module, _, cls = ENGINES[name].partition(":")
    engine: Callable[..., Engine] = getattr(import_module(module), cls)
    if not options:
        return engine
    try:
        inspect.signature(engine).bind(None, **options)
    except TypeError as exc:
        raise ConfigError(f"engine {name!r} does not take the options {', '.join(map(repr, options))}: {exc}") from None
    return functools.partial(engine, **options)


def open_engine(name: str, plan: Plan, options: Mapping[str, Any] | None = None) -> Engine:
    """The engine ``name`` of :data:`ENGINES`, built for ``plan`` with ``options``."""
    return engine_class(name, options)(plan)


def extract_source(engine: Engine, source: Source, *, batch_documents: int = 64) -> Iterator[ExtractBatch]:
    """The batches of every document of ``source``: through the engine's own ``extract_source`` when it has one
    (an engine that reads files where it runs, e.g. Spark's executors), else ``engine.extract(source.read())``."""
    own = getattr(engine, "extract_source", None)
    if own is not None:
        return own(source, batch_documents=batch_documents)  # type: ignore[no-any-return]
    return engine.extract(source.read(), batch_documents=batch_documents)


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
    "extract_source",
    "open_engine",
]
