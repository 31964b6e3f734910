"""Compiling a mapping into an engine-neutral extraction plan."""

from __future__ import annotations

from tidemark.compile.plan import FieldPlan, Plan, TargetPlan, compile_mapping

__all__ = ["FieldPlan", "Plan", "TargetPlan", "compile_mapping"]
