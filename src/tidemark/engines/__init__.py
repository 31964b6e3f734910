"""Engines run a compiled plan over documents and yield Arrow batches per target."""

from __future__ import annotations

from tidemark.engines.base import Engine, ExtractBatch, RejectedDocument, RowError
from tidemark.engines.local import LocalEngine

__all__ = ["Engine", "ExtractBatch", "LocalEngine", "RejectedDocument", "RowError"]
