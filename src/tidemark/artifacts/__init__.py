"""Artifacts generated from a mapping's tables: SQL DDL per dialect (ddl.py), Avro schemas (avro.py) and JSON Schemas
of the rows (json_schema.py). Each depends only on the compiled plan's :class:`~tidemark.tables.TableSpec`\\ s, so
its output is a pure function of the mapping (``tidemark schema ddl / avro / json``; golden files pin it)."""

from __future__ import annotations

from dataclasses import replace

from tidemark.compile.plan import Plan, TargetPlan, compile_mapping
from tidemark.errors import MappingError
from tidemark.mapping.loader import expand_refs, is_all, load_mapping


def plan_for(mapping: str) -> Plan:
    """The compiled plan of a mapping file or built-in name (``mlb:live_game``); ``mlb:*``: one plan with the
    tables of every built-in mapping of mlb (see :func:`combined_plan`)."""
    if is_all(mapping):
        return combined_plan(mapping, [compile_mapping(load_mapping(ref)[0]) for ref in expand_refs([mapping])])
    return compile_mapping(load_mapping(mapping)[0])


def combined_plan(name: str, plans: list[Plan]) -> Plan:
    """The tables (each plan's parents first) and expectations of ``plans`` as one plan named ``name``, for the
    commands that inspect tables (DDL, Avro, JSON Schema, checks). A table two mappings write appears once; a
    MappingError if their definitions differ."""
    targets: dict[str, TargetPlan] = {}
    owner: dict[str, str] = {}
    for plan in plans:
        for target in plan.targets:
            seen = targets.setdefault(target.spec.qualified, target)
            owner.setdefault(target.spec.qualified, plan.source_name)
            if seen.spec != target.spec:
                raise MappingError(
                    [
                        f"{name}: table {target.spec.qualified} is defined differently by "
                        f"{owner[target.spec.qualified]} and {plan.source_name}; give one of them as the mapping"
                    ]
                )
    expectations = tuple(e for plan in plans for e in plan.expectations)
    return replace(plans[0], source_name=name, targets=tuple(targets.values()), expectations=expectations)


__all__ = ["combined_plan", "plan_for"]
