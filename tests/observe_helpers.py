"""What the observability tests share: the OpenLineage validator over the vendored spec schemas, the events of a
lineage file, the samples of a Prometheus text, a free port."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import jsonschema
from prometheus_client.parser import text_string_to_metric_families
from referencing import Registry, Resource

SPEC = Path(__file__).parent / "data" / "openlineage"  # the OpenLineage spec's schemas (Apache-2.0), vendored


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Prometheus text -> {(sample name, sorted labels but mapping): value}."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "mapping")))] = s.value
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def validator() -> jsonschema.Draft202012Validator:
    """A validator of OpenLineage RunEvents (the core schema and the vendored facets' schemas)."""
    resources = []
    for path in SPEC.glob("*.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry: Registry[Any] = Registry().with_resources(resources)
    core = json.loads((SPEC / "OpenLineage.json").read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(
        {"$ref": core["$id"] + "#/$defs/RunEvent"}, registry=registry, format_checker=jsonschema.FormatChecker()
    )


def check_facets(event: dict[str, Any], validator: jsonschema.Draft202012Validator) -> int:
    """Every facet validated against the schema its _schemaURL names (the vendored spec files); how many."""
    checked = 0
    facets = [*event["run"].get("facets", {}).values(), *event["job"].get("facets", {}).values()]
    for dataset in [*event["inputs"], *event["outputs"]]:
        facets += [*dataset.get("facets", {}).values(), *dataset.get("outputFacets", {}).values()]
        facets += [*dataset.get("inputFacets", {}).values()]
    for facet in facets:
        errors = list(validator.evolve(schema={"$ref": facet["_schemaURL"]}).iter_errors(facet))
        assert not errors, errors[0].message
        checked += 1
    return checked


def events(path: Path) -> list[dict[str, Any]]:
    """The events of a lineage file (one JSON object per line)."""
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
