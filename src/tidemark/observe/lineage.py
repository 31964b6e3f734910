"""OpenLineage run events for a run, a write or a stream: START when it begins, COMPLETE when it commits, FAIL when
it rolls back, built with the OpenLineage Python client's models (``tidemark-etl[lineage]``) and sent as JSON.

- **inputs**: the files or directories given to ``--input`` (namespace ``file``, name the absolute path; more than
  :data:`MAX_INPUTS` become their common directory), standard input, or the raw store (namespace ``tidemark-raw``,
  name the store, with the selection);
- **outputs**: every table of the mapping, or the table of a write (namespace the sink, name ``schema.table``) with
  a ``schema`` facet (the columns and their types) and a ``columnLineage`` facet (observe/columns.py: a mapping's
  column from the JSON path it is read from, ``$.liveData.plays.allPlays[*].about.inning``; a write's from the input
  column); on COMPLETE also ``outputStatistics`` (rows inserted or updated).

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

from tidemark.errors import MissingDependencyError
from tidemark.observe.columns import ColumnSource, OutputTable, column_sources, mapping_outputs, write_output
from tidemark.observe.redact import redact

if TYPE_CHECKING:
    from tidemark.runtime.result import RunResult
    from tidemark.write.plan import WritePlan

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


# -- events ---------------------------------------------------------------------------------------------------------
class LineageEmitter:
    """The runtime's Reporter as OpenLineage events (START, COMPLETE) plus ``failed`` (FAIL).

    ``outputs``: the tables written (observe/columns.py); a write learns its table only once it has read the input's
    schema, and hears it through :meth:`planned` before it starts. Each ``start`` begins a new OpenLineage run (a
    live day loads many times through one emitter); ``failed`` fails the run in progress, or one that never started
    (a write refused before it began), never one that completed.
    """

    def __init__(
        self, target: str, *, job: str, outputs: list[OutputTable], inputs: list[InputRef], sink: str | None
    ) -> None:
        try:
            from openlineage.client import event_v2
        except ImportError as exc:
            raise MissingDependencyError("openlineage-python", "lineage") from exc

        self.ol = event_v2
        self.target = target
        self.job = redact(job)
        self.outputs = outputs
        self.inputs = [InputRef(i.namespace, redact(i.name)) for i in inputs]
        self.sink = redact(sink) if sink else None
        self.run_id = self._new_run_id()
        self.state = "new"  # new -> started -> completed (or failed); start again: started
        self.sent: list[dict[str, Any]] = []  # what was emitted (the CLI's --json and the tests read it)

    @staticmethod
    def _new_run_id() -> str:
        from openlineage.client.uuid import generate_new_uuid

        return str(generate_new_uuid())

    def planned(self, plan: WritePlan, sink: str) -> None:
        """A write's table, once known from its input's schema, and the store it goes to."""
        self.outputs = [write_output(plan)]
        self.sink = self.sink or redact(sink)

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        if self.state != "new":
            self.run_id = self._new_run_id()
        self.state = "started"
        self.emit("START", self._outputs(None))

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        pass

    def finish(self, result: RunResult) -> None:
        self.state = "completed"
        self.emit("COMPLETE", self._outputs(result))

    def failed(self, error: BaseException) -> None:
        from openlineage.client.facet_v2 import error_message_run

        if self.state == "completed":
            return
        self.state = "failed"
        facet = error_message_run.ErrorMessageRunFacet(
            message=redact(f"{type(error).__name__}: {error}"), programmingLanguage="PYTHON"
        )
        self.emit("FAIL", self._outputs(None), run_facets={"errorMessage": facet})

    def _outputs(self, result: RunResult | None) -> list[Any]:
        from openlineage.client.facet_v2 import output_statistics_output_dataset, schema_dataset

        out = []
        for table in self.outputs:
            spec = table.spec
            fields = [schema_dataset.SchemaDatasetFacetFields(name=c.name, type=str(c.type)) for c in spec.columns]
            facets: dict[str, Any] = {
                "schema": schema_dataset.SchemaDatasetFacet(fields=fields),
                "columnLineage": self._column_lineage(table),
            }
            output_facets: dict[str, Any] = {}
            if result is not None and spec.qualified in result.tables:
                counts = result.tables[spec.qualified]
                stats = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=counts.inserted + counts.updated
                )
                output_facets["outputStatistics"] = stats
            namespace = self.sink or (result.sink if result is not None else "tidemark")
            out.append(
                self.ol.OutputDataset(
                    namespace=redact(namespace), name=spec.qualified, facets=facets, outputFacets=output_facets
                )
            )
        return out

    def _column_lineage(self, table: OutputTable) -> Any:
        from openlineage.client.facet_v2 import column_lineage_dataset as cl

        return cl.ColumnLineageDatasetFacet(
            fields={
                column: cl.Fields(
                    inputFields=[
                        cl.InputField(
                            namespace=i.namespace,
                            name=i.name,
                            field=field,
                            transformations=[
                                cl.Transformation(type="DIRECT", subtype=source.subtype, description=source.description)
                            ],
                        )
                        for i in self.inputs
                        for field in source.fields
                    ]
                )
                for column, source in table.columns.items()
            }
        )

    def emit(self, state: str, outputs: list[Any], *, run_facets: dict[str, Any] | None = None) -> None:
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
            log.warning("lineage event not sent to %s: %s", redact(target), redact(str(exc)))
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
    "OutputTable",
    "column_sources",
    "file_inputs",
    "lineage_target",
    "mapping_outputs",
    "raw_input",
    "send",
    "write_output",
]
