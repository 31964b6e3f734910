"""The ``tidemark write`` command's work, apart from rendering: flat files -> :func:`tidemark.write`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tidemark.errors import ConfigError
from tidemark.write.api import WriteReporter, WriteResult, write
from tidemark.write.config import split_names
from tidemark.write.files import read_files


def parse_key(text: str) -> dict[str, Any]:
    """``match_id=league,match_date,home_team`` -> a key block (string options come from --config)."""
    name, sep, columns = text.partition("=")
    if not sep or not name.strip() or not split_names(columns):
        raise ConfigError(f"--key {text!r}: write NAME=COLUMN,COLUMN,... (e.g. match_id=league,match_date,home_team)")
    return {"name": name.strip(), "from": split_names(columns)}


def parse_connections(items: Sequence[str]) -> dict[str, str]:
    """``lake=delta:/data/lake`` (repeatable) -> {"lake": "delta:/data/lake"}."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ConfigError(f"--connection {item!r}: write NAME=URL (e.g. lake=delta:/data/lake)")
        out[name.strip()] = value.strip()
    return out


def write_files(
    files: Sequence[Path],
    *,
    sink: str | None,
    table: str | None,
    mode: str | None,
    keys: str | None,
    timestamp: str | None,
    dedup: str | None,
    key: str | None,
    config: Path | None,
    connections: Sequence[str],
    batch_rows: int,
    reporter: WriteReporter,
) -> WriteResult:
    if config is None and mode is None:
        mode = "upsert"
    return write(
        read_files(files),
        sink,
        table,
        mode=mode,
        keys=keys,
        timestamp=timestamp,
        dedup=dedup,
        key=parse_key(key) if key else None,
        config=config,
        connections=parse_connections(connections) or None,  # none given: the project's (tidemark.yaml)
        batch_rows=batch_rows,
        reporter=reporter,
    )
