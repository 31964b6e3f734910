"""What ``tidemark run`` reads and how: --input paths or standard input, --raw with its filters, the lineage's
input datasets, and the Spark engine's options (shared with ``tidemark stream``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tidemark.errors import ConfigError

if TYPE_CHECKING:
    from tidemark.sources import Source


def lineage_inputs(source: list[Path] | Source) -> list[Any]:
    """The lineage's input datasets: the --input paths, standard input, or the raw store (as the run ledger
    describes a source: history/ledger.py)."""
    from tidemark.history.ledger import describe_inputs
    from tidemark.observe.lineage import file_inputs, raw_input

    if isinstance(source, list):
        return file_inputs(source)
    given = describe_inputs(source, None)
    if "raw" in given:
        return [raw_input(given["raw"], given["select"])]
    return file_inputs([Path(p) for p in given.get("paths", ["-"])])


def raw_or_documents(
    raw: str | None, select: str | None, filters: dict[str, Any], inputs: list[Path], max_bytes: int
) -> list[Path] | Source:
    """``--raw`` (a raw store, all of it or ``--select`` / ``--since`` / ``--until`` / ``--game``) or ``--input``
    (files, directories, standard input)."""
    if raw is None:
        if select is not None or any(filters.values()):
            raise ConfigError("--select, --since, --until and --game pick records of a raw store: give --raw too")
        if not inputs:
            raise ConfigError("give --input FILES (or --raw RAW to rebuild from a raw store)")
        return documents(inputs, max_bytes)
    if inputs:
        raise ConfigError("give either --input or --raw, not both")
    from tidemark.raw import RawSource

    return RawSource(raw, select=select, **filters)


def documents(inputs: list[Path], max_document_bytes: int) -> list[Path] | Source:
    """The paths given to ``--input`` (the values after the first one arrive as arguments), or standard input."""
    if Path("-") not in inputs:
        return inputs
    if len(inputs) > 1:
        raise ConfigError("--input -: standard input is read alone; give files and directories in another run")
    from tidemark.sources.stdin import StdinSource

    return StdinSource(max_document_bytes=max_document_bytes)


def spark_options(master: str | None, conf: list[str]) -> dict[str, Any]:
    """The Spark engine's options from ``--spark-master`` / ``--spark-conf k=v`` (none given: none)."""
    options: dict[str, Any] = {} if master is None else {"master": master}
    for setting in conf:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--spark-conf {setting!r}: give key=value, e.g. spark.executor.memory=4g")
        options.setdefault("conf", {})[key.strip()] = value
    return options
