"""The ``write:`` block: the seed pipeline framework's write settings, accepted as YAML or as a dict.

::

    write:
      connection: lake          # a name in `connections` (or a sink URL)
      format: delta             # a sink type: duckdb, postgres, delta, parquet, csv
      path: silver/customers    # or `table: silver.customers`
      mode: upsert              # overwrite | append | append_once | upsert
      keys: [customer_id]
      dedup_strategy: newest_wins   # or error
      timestamp_col: updated_at
      key: {name: match_id, from: [league, match_date, home_team, away_team]}   # a computed key (optional)

How ``connection`` + ``format`` become a sink (``project/connections.py``): a connection's value is either a sink
URL (``duckdb:wh.duckdb``, ``postgresql://...``, ``delta:/data/lake``), used as it is, a block of the project file,
or a location (``/data/lake``) that ``format`` turns into ``format:location``. Without ``connections`` given in
code, the names are the project's (``tidemark.yaml``, docs/project.md). ``path`` names the table inside it:
``silver/customers`` is table ``customers`` of schema ``silver`` (a Delta store keeps it at
``/data/lake/silver/customers``).
"""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tidemark.contract.counts import MODES, Mode
from tidemark.errors import ConfigError, did_you_mean
from tidemark.keyspec import KeyRecipe, KeySpec
from tidemark.project.connections import resolve_connection, sink_url_kind

DEDUPS = ("newest_wins", "error")


class WriteConfig(BaseModel):
    """A ``write:`` block (all names as in the seed framework; ``key`` computes a deterministic key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    connection: str | None = Field(None, description="a name in `connections`, or a sink URL")
    format: str | None = Field(None, description="the sink type when the connection is a location")
    path: str | None = Field(None, description="schema/table (or table) inside the connection")
    table: str | None = Field(None, description="schema.table (or table); an alternative to `path`")
    mode: str | None = Field(None, description="overwrite | append | append_once | upsert")
    keys: list[str] | None = Field(None, description="the columns that identify a row")
    dedup_strategy: str | None = Field(None, description="newest_wins (default) | error")
    timestamp_col: str | None = Field(None, description="the column deciding which version of a row is newer")
    key: KeySpec | None = Field(None, description="compute a deterministic key column (docs/write.md)")

    @field_validator("keys", mode="before")
    @classmethod
    def _keys(cls, v: Any) -> Any:
        return split_names(v) if isinstance(v, str) else v


def split_names(text: str) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def load_write_config(source: str | Path | MappingABC[str, Any] | WriteConfig) -> WriteConfig:
    """A write block from a model, a dict, YAML text or a YAML file; a top-level ``write:`` key is unwrapped."""
    if isinstance(source, WriteConfig):
        return source
    where = "write block"
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source and _yaml_file(source)):
        path = Path(source)
        try:
            source = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from exc
        where = str(path)
    if isinstance(source, str):
        try:
            data = yaml.safe_load(source)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    else:
        data = dict(source)
    if isinstance(data, dict) and set(data) == {"write"}:
        data = data["write"]
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of settings (connection, format, path, mode, keys, ...)")
    return _validate(data, where)


def _yaml_file(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) and Path(text).is_file()


def _validate(data: dict[str, Any], where: str) -> WriteConfig:
    problems = _unknown(data, WriteConfig, ())
    if isinstance(data.get("key"), dict):
        problems += _unknown(data["key"], KeySpec, ("key",))
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems))
    try:
        return WriteConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "block"
        raise ConfigError(f"{where}: {loc}: {first['msg']}") from None


def _unknown(data: dict[str, Any], model: type[BaseModel], loc: tuple[str, ...]) -> list[str]:
    names = [f.alias or name for name, f in model.model_fields.items()]
    out = []
    for name in data:
        if str(name) not in names:
            path = ".".join((*loc, str(name)))
            out.append(f"unknown key {path!r}{did_you_mean(str(name), names)}; valid keys: {', '.join(names)}")
    return out


@dataclass(frozen=True)
class WriteOptions:
    """Everything a write needs, resolved from arguments and/or a write block."""

    sink: Any  # a sink URL, a SinkConfig or an open Sink
    table: str
    mode: Mode
    keys: tuple[str, ...]
    timestamp: str | None
    dedup: str
    key: KeyRecipe | None


def key_recipe(key: KeySpec | KeyRecipe | MappingABC[str, Any] | None) -> KeyRecipe | None:
    """``{"name": ..., "from": [...], "trim": true}`` (or a KeySpec / KeyRecipe) -> a KeyRecipe."""
    if key is None or isinstance(key, KeyRecipe):
        return key
    if not isinstance(key, KeySpec):
        problems = _unknown(dict(key), KeySpec, ("key",))
        if problems:
            raise ConfigError("; ".join(problems))
        try:
            key = KeySpec.model_validate(dict(key))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"key: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    return key.recipe()


def resolve(
    config: WriteConfig | None,
    connections: MappingABC[str, Any] | None,
    args: dict[str, Any],
) -> WriteOptions:
    """Merge explicit arguments with a write block; the same setting given twice, differently, is an error."""
    block: dict[str, Any] = {}
    if config is not None:
        block = {
            "sink": _block_sink(config, connections),
            "table": _block_table(config),
            "mode": config.mode,
            "keys": tuple(config.keys) if config.keys is not None else None,
            "timestamp": config.timestamp_col,
            "dedup": config.dedup_strategy,
            "key": key_recipe(config.key),
        }
    merged = {}
    for name, value in args.items():
        mine = block.get(name)
        if value is not None and mine is not None and value != mine:
            raise ConfigError(f"{name} is {value!r} in the arguments but {mine!r} in the write block: give it once")
        merged[name] = value if value is not None else mine
    return _options(merged)


def _options(m: dict[str, Any]) -> WriteOptions:
    if m["sink"] is None:
        raise ConfigError("no sink: pass sink='duckdb:warehouse.duckdb' (or a write block with a connection)")
    if not m["table"]:
        raise ConfigError("no table: pass table='schema.table' (or a write block with path / table)")
    mode = m["mode"]
    if mode is None:
        raise ConfigError(f"no mode: pass mode= one of {', '.join(MODES)}")
    if mode not in MODES:
        raise ConfigError(f"unknown mode {mode!r}{did_you_mean(mode, MODES)}: use one of {', '.join(MODES)}")
    dedup = m["dedup"] or "newest_wins"
    if dedup not in DEDUPS:
        raise ConfigError(f"unknown dedup {dedup!r}{did_you_mean(dedup, DEDUPS)}: use one of {', '.join(DEDUPS)}")
    key = key_recipe(m["key"])
    keys = m["keys"]
    keys = tuple(split_names(keys)) if isinstance(keys, str) else tuple(keys or ())
    if key is not None and not keys:
        keys = (key.name,)
    return WriteOptions(m["sink"], m["table"], mode, keys, m["timestamp"], dedup, key)


def _block_sink(config: WriteConfig, connections: MappingABC[str, Any] | None) -> Any:
    if config.connection is None:
        return None
    return connection_sink(config.connection, connections, config.format)


def connection_sink(name: str, connections: MappingABC[str, Any] | None, fmt: str | None = None) -> Any:
    """A connection name (+ format) -> a sink: from ``connections``, else from the project's (tidemark.yaml)."""
    if connections is None:  # a sink URL needs no project; a name is the project's
        from tidemark.project import project_connections

        connections = {} if sink_url_kind(name) is not None else project_connections()
    return resolve_connection(name, connections, fmt)


def _block_table(config: WriteConfig) -> str | None:
    if config.path is not None and config.table is not None:
        raise ConfigError("the write block has both path and table: give one")
    if config.path is not None:
        parts = [p for p in config.path.strip("/").split("/") if p]
        if not 1 <= len(parts) <= 2:
            raise ConfigError(f"path {config.path!r}: use 'table' or 'schema/table' inside the connection")
        return ".".join(parts)
    return config.table
