"""Structured logs through the standard :mod:`logging` module (logging is not printing: the core may log).

Every tidemark logger lives under ``tidemark``; :func:`configure` gives it one handler on standard error, as text
(``time level logger: message key=value``) or as one JSON object per line (``--log-format json``), with the
fields a record carries in ``extra={"fields": {...}}``. A filter redacts credentials from every message and field
(observe/redact.py), so a DSN with a password never reaches a log. :class:`LogReporter` turns a run's progress
(the runtime's Reporter calls) into log records.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from tidemark.errors import ConfigError
from tidemark.observe.redact import redact, redact_data

if TYPE_CHECKING:
    from tidemark.runtime.result import RunResult

LOGGER = "tidemark"
FORMATS = ("text", "json")
LEVELS = ("debug", "info", "warning", "error")
log = logging.getLogger("tidemark.run")
# a library logs only where its user asked (configure): without a handler, Python's last resort would print warnings
logging.getLogger(LOGGER).addHandler(logging.NullHandler())


class RedactFilter(logging.Filter):
    """Renders the message with its arguments and redacts it (and the structured fields) in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            record.fields = redact_data(fields)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, then the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            data["error"] = redact(self.formatException(record.exc_info))
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        fields = getattr(record, "fields", None) or {}
        extra = "".join(f" {k}={json.dumps(v, default=str)}" for k, v in fields.items())
        return f"{when} {record.levelname.lower()} {record.name}: {record.getMessage()}{extra}"


def configure(level: str = "warning", fmt: str = "text", stream: IO[str] | None = None) -> logging.Logger:
    """Send tidemark's log records at ``level`` and above to ``stream`` (standard error) in ``fmt``."""
    if fmt not in FORMATS:
        raise ConfigError(f"--log-format {fmt!r}: use one of {', '.join(FORMATS)}")
    if level.lower() not in LEVELS:
        raise ConfigError(f"--log-level {level!r}: use one of {', '.join(LEVELS)}")
    logger = logging.getLogger(LOGGER)
    for old in list(logger.handlers):
        if not isinstance(old, logging.NullHandler):
            logger.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False
    return logger


def reset() -> None:
    """Back to the default: no handler of tidemark's own (a CLI invocation without --log-format / --log-level
    must not write to the standard error of an earlier one, e.g. in a test runner)."""
    logger = logging.getLogger(LOGGER)
    for old in list(logger.handlers):
        if not isinstance(old, logging.NullHandler):
            logger.removeHandler(old)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


class LogReporter:
    """The runtime's Reporter as log records: start and finish at INFO, each batch at DEBUG."""

    def __init__(self, command: str, fields: dict[str, Any] | None = None) -> None:
        self.command = command
        self.fields = fields or {}

    def _log(self, level: int, message: str, **fields: Any) -> None:
        # redacted here too: an application's own handlers (without RedactFilter) get no credential either
        data = redact_data({"command": self.command, **self.fields, **fields})
        log.log(level, redact(message), extra={"fields": data})

    def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
        self._log(logging.INFO, f"{self.command} started", input_bytes=total_bytes, files=files)

    def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
        self._log(logging.DEBUG, "batch written", documents=documents, rows=rows, bytes=bytes_read)

    def committed(self, result: RunResult, stream: str, batches: int, lag: int | None) -> None:
        self._log(
            logging.INFO,
            "micro-batch committed",
            stream=stream,
            micro_batches=batches,
            documents=result.documents,
            lag=lag,
        )

    def finish(self, result: RunResult) -> None:
        counts = result.counts.as_dict()
        level = logging.INFO if result.ok else logging.WARNING
        self._log(
            level,
            f"{self.command} committed",
            run_id=result.run_id,
            sink=result.sink,
            documents=result.documents,
            rejected=len(result.rejected),
            row_errors=len(result.row_errors),
            counts=counts,
            seconds={k: round(v, 3) for k, v in result.seconds.items()},
        )

    def failed(self, error: BaseException) -> None:
        self._log(logging.ERROR, f"{self.command} failed, rolled back: {error}", error_type=type(error).__name__)


__all__ = ["FORMATS", "LEVELS", "LogReporter", "configure"]
