"""OpenLineage run events for a run or a stream: START when it begins, COMPLETE when it commits, FAIL when it rolls
back, built with the OpenLineage Python client's models (``tidemark-etl[lineage]``) and sent as JSON.

- **inputs**: the files or directories given to ``--input`` (namespace ``file``, name the absolute path; more than
  :data:`MAX_INPUTS` become their common directory), standard input, or the raw store (namespace ``tidemark-raw``,
  name the store, with the selection);
- **outputs**: every table of the mapping (namespace the sink, name ``schema.table``) with a ``schema`` facet (the
  columns and their types) and a ``columnLineage`` facet: each column's input field is the JSON path it is read
  from, made absolute through the rows it is exploded from (``$.liveData.plays.allPlays[*].about.inning``); on
  COMPLETE also ``outputStatistics`` (rows inserted or updated).

Events go to a file (one JSON object per line, appended) or are POSTed to an HTTP endpoint (``--lineage URL`` or
``TIDEMARK_OPENLINEAGE_URL``). A lineage endpoint that fails is logged, never fails the run. Every name passes
through observe/redact.py: no credential reaches an event.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidemark.compile.plan import FieldPlan, Plan, TargetPlan
from tidemark.errors import MissingDependencyError
from tidemark.mapping.paths import JsonPath
from tidemark.observe.redact import redact

if TYPE_CHECKING:
    from tidemark.runtime.result import RunResult

ENV_URL = "TIDEMARK_OPENLINEAGE_URL"
NAMESPACE = "tidemark"
MAX_INPUTS = 20
PRODUCER = "https://github.com/tidemark/tidemark"
log = logging.getLogger("tidemark.lineage")


@dataclass(frozen=True)
class InputRef:
    """One input dataset of a run: where it lives (namespace) and what it is (name)."""

    namespace: str
    name: str


def file_inputs(paths: list[Path]) -> list[InputRef]:
    """The datasets of ``--input`` paths (``-``: standard input); many paths become their common directory."""
    if any(str(p) == "-" for p in paths):
        return [InputRef("stdin", "stdin")]
    absolute = [str(p.resolve()) for p in paths]
    if len(absolute) > MAX_INPUTS:
        absolute = [os.path.commonpath(absolute)]
    return [InputRef("file", p) for p in absolute]


def raw_input(display: str, select: str | None = None) -> InputRef:
    """The dataset of a raw store (``--raw``), with the endpoint selection if any."""
    return InputRef("tidemark-raw", redact(display) + (f"/{select}" if select else ""))


# -- column lineage from the mapping ---------------------------------------------------------------------------------
def absolute_path(plan: Plan, target: TargetPlan, path: JsonPath) -> str:
    """``path`` as read from the document: row- and parent-relative paths joined to the rows they start from."""
    if path.anchor in ("doc", "record"):
        return path.text
    rows = target
    if path.anchor == "parent":
        by_name = {t.name: t for t in plan.targets}
        for _ in range(path.depth):
            rows = by_name.get(rows.parent or "", rows)
        rest = path.text[path.depth :]
    else:
        rest = path.text if path.text.startswith("[") else "." + path.text
    return rows.rows.text + rest


def field_source(plan: Plan, target: TargetPlan, f: FieldPlan) -> str | None:
    """The JSON path a column's values come from (None: a constant)."""
    if f.source == "parent_field" and target.parent is not None:
        parent = next((t for t in plan.targets if t.name == target.parent), None)
        pf = next((p for p in parent.fields if p.name == f.parent_field), None) if parent else None
        return field_source(plan, parent, pf) if parent is not None and pf is not None else None
    if f.source == "lookup" and f.lookup is not None:  # a value of the matching item of another array
        items = absolute_path(plan, target, f.lookup.source)
        value = f.lookup.path
        if value is None or value.anchor != "row":
            return items if value is None else absolute_path(plan, target, value)
        return items + (value.text if value.text.startswith("[") else "." + value.text)
    if f.source in ("index", "key"):
        return target.rows.text
    if f.source == "timestamp":
        return plan.timestamp.path.text if plan.timestamp.path is not None else None
    return absolute_path(plan, target, f.path) if f.path is not None else None


@dataclass(frozen=True)
class ColumnSource:
    """Where a column's values come from: a JSON path, and how (OpenLineage's transformation subtype)."""

    path: str
    subtype: str  # IDENTITY: the value as it is; TRANSFORMATION: converted, mapped, an index or a key
    description: str


def column_sources(plan: Plan, target: TargetPlan) -> dict[str, ColumnSource]:
    """Column -> its source, for the columns of ``target`` read from the document (constants left out)."""
    out = {}
    for f in target.fields:
        path = field_source(plan, target, f)
        if path is None:
            continue
        if f.source in ("index", "key"):
            how = f"the {'array index' if f.source == 'index' else 'object key'} of the rows of {path}"
            out[f.name] = ColumnSource(path, "TRANSFORMATION", how)
        elif f.convert or f.value_map or f.format or f.source in ("previous", "lookup"):
            done = f.convert or ("mapped" if f.value_map else f.source if f.source != "path" else f"format {f.format}")
            out[f.name] = ColumnSource(path, "TRANSFORMATION", f"{path} ({done}) as {f.type}")
        else:
            out[f.name] = ColumnSource(path, "IDENTITY", f"{path} as {f.type}")
    return out


# -- events ---------------------------------------------------------------------------------------------------------
class LineageEmitter:
    """The runtime's Reporter as OpenLineage events (START, COMPLETE) plus ``failed`` (FAIL)."""

    def __init__(self, target: str, *, job: str, plan: Plan, inputs: list[InputRef], sink: str) -> None:
        try:
            from openlineage.client import event_v2
        except ImportError as exc:
            raise MissingDependencyError("openlineage-python", "lineage") from exc
        from openlineage.client.uuid import generate_new_uuid

        self.ol = event_v2
        self.target = target
        self.job = redact(job)
        self.plan = plan
        self.inputs = inputs
        self.sink = redact(sink)
        self.run_id = str(generate_new_uuid())
        self.sent: list[dict[str, Any]] = []  # what was emitted (the CLI's --json and the tests read it)

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        self.emit("START", self._outputs(None))

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        pass

    def finish(self, result: RunResult) -> None:
        self.emit("COMPLETE", self._outputs(result), tidemark_run_id=result.run_id)

    def failed(self, error: BaseException) -> None:
        from openlineage.client.facet_v2 import error_message_run

        facet = error_message_run.ErrorMessageRunFacet(
            message=redact(f"{type(error).__name__}: {error}"), programmingLanguage="PYTHON"
        )
        self.emit("FAIL", self._outputs(None), run_facets={"errorMessage": facet})

    def _outputs(self, result: RunResult | None) -> list[Any]:
        from openlineage.client.facet_v2 import (
            column_lineage_dataset,
            output_statistics_output_dataset,
            schema_dataset,
        )

        out = []
        for target in self.plan.targets:
            spec = target.spec
            fields = [schema_dataset.SchemaDatasetFacetFields(name=c.name, type=str(c.type)) for c in spec.columns]
            lineage = {
                column: column_lineage_dataset.Fields(
                    inputFields=[
                        column_lineage_dataset.InputField(
                            namespace=i.namespace,
                            name=i.name,
                            field=source.path,
                            transformations=[
                                column_lineage_dataset.Transformation(
                                    type="DIRECT", subtype=source.subtype, description=source.description
                                )
                            ],
                        )
                        for i in self.inputs
                    ]
                )
                for column, source in column_sources(self.plan, target).items()
            }
            facets: dict[str, Any] = {
                "schema": schema_dataset.SchemaDatasetFacet(fields=fields),
                "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields=lineage),
            }
            output_facets: dict[str, Any] = {}
            if result is not None and spec.qualified in result.tables:
                counts = result.tables[spec.qualified]
                stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=counts.inserted + counts.updated
                )
                output_facets["outputStatistics"] = stats
            out.append(
                self.ol.OutputDataset(
                    namespace=self.sink, name=spec.qualified, facets=facets, outputFacets=output_facets
                )
            )
        return out

    def emit(self, state: str, outputs: list[Any], *, run_facets: dict[str, Any] | None = None, **_: Any) -> None:
        from openlineage.client.facet_v2 import job_type_job
        from openlineage.client.serde import Serde

        ol = self.ol
        event = ol.RunEvent(
            eventType=ol.RunState[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=ol.Run(runId=self.run_id, facets=run_facets or {}),
            job=ol.Job(
                namespace=NAMESPACE,
                name=self.job,
                facets={"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="TIDEMARK")},
            ),
            inputs=[ol.InputDataset(namespace=i.namespace, name=i.name) for i in self.inputs],
            outputs=outputs,
            producer=PRODUCER,
        )
        data = Serde.to_dict(event)
        self.sent.append(data)
        send(self.target, data)


def send(target: str, event: dict[str, Any]) -> None:
    """Append ``event`` to a file as one JSON line, or POST it to an HTTP(S) URL; a failure is logged."""
    line = json.dumps(event, sort_keys=True)
    if target.startswith(("http://", "https://")):
        import httpx

        try:
            httpx.post(
                target, content=line, headers={"Content-Type": "application/json"}, timeout=10
            ).raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("lineage event not sent to %s: %s", redact(target), exc)
        return
    with Path(target).open("a", encoding="utf-8") as fh:
        fh.write(line + "\n")


def lineage_target(option: str | None) -> str | None:
    """Where events go: ``--lineage`` (a file or URL), else ``TIDEMARK_OPENLINEAGE_URL``, else nowhere."""
    return option or os.environ.get(ENV_URL) or None


__all__ = [
    "ENV_URL",
    "ColumnSource",
    "InputRef",
    "LineageEmitter",
    "column_sources",
    "file_inputs",
    "lineage_target",
    "raw_input",
    "send",
]
