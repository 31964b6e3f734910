"""Where documents come from: files and directories today; the raw store and the API client plug in here."""

from __future__ import annotations

from tidemark.sources.files import RawDocument, expand_inputs, iter_documents

__all__ = ["RawDocument", "expand_inputs", "iter_documents"]
