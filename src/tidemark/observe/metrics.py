"""Prometheus metrics of a run or a stream, built from its :class:`~tidemark.runtime.result.RunResult`.

:class:`RunMetrics` is a prometheus-client collector over the latest state it was given (a finished run, or a
stream's totals after each micro-batch); :class:`MetricsReporter` is the runtime's Reporter that feeds it, writes
the textfile-collector format (``--metrics FILE``, replaced atomically) when a run ends or a micro-batch commits,
and serves it over HTTP (``--metrics-port N``) while a stream runs. Every metric carries the ``mapping`` label. One
reporter may see several runs in a row (the loads of ``tidemark live``): its counters sum them.

- ``tidemark_documents_total{outcome=accepted|rejected}``: documents read
- ``tidemark_rows_total{table, outcome=inserted|updated|unchanged|skipped|deleted|error}``: rows by outcome
- ``tidemark_input_bytes_total``: bytes of documents read (after decompression)
- ``tidemark_stage_seconds_total{stage=extract|prepare|write}``: time per stage (prepare overlaps write)
- ``tidemark_errors_total{kind=rejected_document|row_error|failed}``: what was refused, runs that failed
- ``tidemark_quality_rule_rows_total{table, rule}``: rows that broke each quality rule
- ``tidemark_stream_micro_batches_total{stream}``, ``tidemark_stream_lag_records{stream}``: a stream's progress
  and the raw store's records after its checkpoint
- ``tidemark_last_success`` (1 / 0) and ``tidemark_last_end_timestamp_seconds``
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, start_http_server, write_to_textfile
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tidemark.observe.redact import redact

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

    from tidemark.runtime.result import RunResult

OUTCOMES = ("inserted", "updated", "unchanged", "skipped", "deleted", "error")


@dataclass
class _Stream:
    name: str
    batches: int
    lag: int | None


@dataclass
class Totals:
    """Counts summed over runs: the runs an observer saw end (a live day loads many times through one), plus the
    latest one's so far. Counters never go down between two scrapes."""

    documents: int = 0
    rejected: int = 0
    row_errors: int = 0
    rows: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    quality: dict[str, dict[str, int]] = field(default_factory=dict)

    def plus(self, result: RunResult | None) -> Totals:
        out = Totals(self.documents, self.rejected, self.row_errors)
        out.rows = {table: dict(outcomes) for table, outcomes in self.rows.items()}
        out.seconds = dict(self.seconds)
        out.quality = {table: dict(rules) for table, rules in self.quality.items()}
        if result is None:
            return out
        out.documents += result.documents
        out.rejected += len(result.rejected)
        out.row_errors += len(result.row_errors)
        for table, counts in result.tables.items():
            into = out.rows.setdefault(table, dict.fromkeys(OUTCOMES, 0))
            for outcome, n in counts.as_dict().items():
                if outcome in into:
                    into[outcome] += n
        for stage, seconds in result.seconds.items():
            out.seconds[stage] = out.seconds.get(stage, 0.0) + seconds
        for table, broken in result.quality.items():
            rules = out.quality.setdefault(table, {})
            for rule, n in broken.items():
                rules[rule] = rules.get(rule, 0) + n
        return out


class RunMetrics(Collector):
    """The metrics of one run or stream (all zero before anything happened), or of several in a row: ``done``
    holds what the runs before the latest did (:meth:`MetricsReporter.start` folds a finished run in)."""

    def __init__(self, mapping: str) -> None:
        self.mapping = redact(mapping)
        self.result: RunResult | None = None
        self.done = Totals()
        self.batches_done = 0  # micro-batches of the streams before the latest
        self.bytes_read = 0
        self.failures = 0
        self.success: bool | None = None
        self.ended: float | None = None
        self.stream: _Stream | None = None

    def _counter(self, name: str, doc: str, labels: tuple[str, ...] = ()) -> CounterMetricFamily:
        return CounterMetricFamily(name, doc, labels=["mapping", *labels])

    def collect(self) -> Iterator[Metric]:
        now, m = self.done.plus(self.result), self.mapping
        documents = self._counter("tidemark_documents", "Documents read, by outcome.", ("outcome",))
        documents.add_metric([m, "accepted"], now.documents)
        documents.add_metric([m, "rejected"], now.rejected)
        yield documents
        rows = self._counter("tidemark_rows", "Rows by table and outcome.", ("table", "outcome"))
        for table, values in now.rows.items():
            for outcome in OUTCOMES:
                rows.add_metric([m, table, outcome], values[outcome])
        yield rows
        bytes_read = self._counter("tidemark_input_bytes", "Bytes of documents read (after decompression).")
        bytes_read.add_metric([m], self.bytes_read)
        yield bytes_read
        stages = self._counter("tidemark_stage_seconds", "Seconds per stage (prepare overlaps write).", ("stage",))
        for stage, seconds in now.seconds.items():
            stages.add_metric([m, stage], seconds)
        yield stages
        yield from self._errors(now)
        yield from self._stream()
        yield from self._last()

    def _errors(self, now: Totals) -> Iterator[Metric]:
        m = self.mapping
        errors = self._counter("tidemark_errors", "Refused documents and rows, and failed runs.", ("kind",))
        errors.add_metric([m, "rejected_document"], now.rejected)
        errors.add_metric([m, "row_error"], now.row_errors)
        errors.add_metric([m, "failed"], self.failures)
        yield errors
        rules = self._counter("tidemark_quality_rule_rows", "Rows that broke a quality rule.", ("table", "rule"))
        for table, broken in now.quality.items():
            for rule, n in broken.items():
                rules.add_metric([m, table, rule], n)
        yield rules

    def _stream(self) -> Iterator[Metric]:
        if self.stream is None:
            return
        s, m = self.stream, self.mapping
        batches = self._counter("tidemark_stream_micro_batches", "Micro-batches committed by this stream.", ("stream",))
        batches.add_metric([m, s.name], self.batches_done + s.batches)
        yield batches
        if s.lag is not None:
            lag = GaugeMetricFamily(
                "tidemark_stream_lag_records", "Raw store records after the checkpoint.", labels=["mapping", "stream"]
            )
            lag.add_metric([m, s.name], s.lag)
            yield lag

    def _last(self) -> Iterator[Metric]:
        if self.success is None:
            return
        ok = GaugeMetricFamily(
            "tidemark_last_success", "1 if the last run or micro-batch committed.", labels=["mapping"]
        )
        ok.add_metric([self.mapping], 1 if self.success else 0)
        yield ok
        end = GaugeMetricFamily(
            "tidemark_last_end_timestamp_seconds", "When the last run or micro-batch ended.", labels=["mapping"]
        )
        end.add_metric([self.mapping], self.ended or 0)
        yield end


class MetricsReporter:
    """Feeds :class:`RunMetrics` from the runtime's Reporter calls; writes ``path`` and serves ``port``."""

    def __init__(self, mapping: str, *, path: Path | None = None, port: int | None = None) -> None:
        self.metrics = RunMetrics(mapping)
        self.registry = CollectorRegistry()
        self.registry.register(self.metrics)
        self.path = path
        self.port = port
        self.server: WSGIServer | None = None

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        metrics = self.metrics
        if metrics.result is not None:  # another run through this reporter: what the last one did stays counted
            metrics.done = metrics.done.plus(metrics.result)
            metrics.result = None
            if (s := metrics.stream) is not None:  # the same stream goes on: its series stays
                metrics.batches_done += s.batches
                metrics.stream = _Stream(s.name, 0, s.lag)
        self.serve()

    def serve(self) -> None:
        """Serve the metrics on ``port`` (if any) from now until :meth:`close`."""
        if self.port is not None and self.server is None:
            self.server, _ = start_http_server(self.port, registry=self.registry)

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        self.metrics.bytes_read += bytes_read

    def committed(self, result: RunResult, stream: str, batches: int, lag: int | None) -> None:
        self.metrics.stream = _Stream(redact(stream), batches, lag)
        self._ended(result, True)

    def finish(self, result: RunResult) -> None:
        self._ended(result, True)

    def failed(self, error: BaseException) -> None:
        self.metrics.failures += 1
        self._ended(self.metrics.result, False)

    def _ended(self, result: RunResult | None, success: bool) -> None:
        self.metrics.result = result
        self.metrics.success = success
        self.metrics.ended = time.time()
        self.write()

    def write(self) -> None:
        """The textfile-collector file, replaced atomically (node_exporter never reads half of it)."""
        if self.path is not None:
            write_to_textfile(str(self.path), self.registry)

    def text(self) -> str:
        """The metrics in Prometheus' text format."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry).decode("utf-8")

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


__all__ = ["OUTCOMES", "MetricsReporter", "RunMetrics", "Totals"]
