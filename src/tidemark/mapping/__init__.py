"""The mapping language: YAML files that say how one kind of document becomes tables."""

from __future__ import annotations

from tidemark.mapping.loader import load_mapping, parse_mapping, resolve_mapping_path
from tidemark.mapping.models import FieldSpec, Mapping, SourceSpec, TargetSpec

__all__ = [
    "FieldSpec",
    "Mapping",
    "SourceSpec",
    "TargetSpec",
    "load_mapping",
    "parse_mapping",
    "resolve_mapping_path",
]
