"""Find, load and check a project file; answer what a pipeline runs and where a connection points.

Every problem names ``file:line:col``, the YAML path, a did-you-mean and the fix, the way mapping files do
(``mapping/loader.py``)::

    tidemark.yaml:14:17: pipelines.season.connection: unknown connection 'warehose' (did you mean 'warehouse'?);
    add it under connections: or give a sink URL
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from tidemark.errors import ConfigError, did_you_mean
from tidemark.mapping.loader import format_loc
from tidemark.project.connections import literal_password, open_target, relative_location, sink_url_kind
from tidemark.project.models import KIND_MODELS, KINDS, ConnectionBlock, Pipeline
from tidemark.project.settings import ENV_PREFIX, ProjectSettings, merged
from tidemark.sinks import SinkConfig

FILENAMES = ("tidemark.yaml", "tidemark.yml")
ENV_PROJECT = "TIDEMARK_PROJECT"  # the project file when --project is not given
Loc = tuple[str | int, ...]
Positions = dict[Loc, tuple[int, int]]


def find_project(start: Path | None = None) -> Path | None:
    """``$TIDEMARK_PROJECT``, else ``tidemark.yaml`` in ``start`` (the current directory) or its nearest parent."""
    if os.environ.get(ENV_PROJECT):
        return Path(os.environ[ENV_PROJECT])
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        for name in FILENAMES:
            if (folder / name).is_file():
                return folder / name
    return None


@dataclass(frozen=True)
class Project:
    """A loaded project: its settings (file < environment < flags) and where each key stands in the file."""

    path: Path
    settings: ProjectSettings
    positions: Positions = field(repr=False)
    blocks: dict[str, ConnectionBlock] = field(repr=False)

    @property
    def root(self) -> Path:
        """The project's directory: relative paths in the file are relative to it."""
        return self.path.parent

    def where(self, loc: Loc) -> str:
        """``file:line:col: yaml.path`` (the deepest position the file has for ``loc``)."""
        return place(str(self.path), self.positions, loc)

    def pipeline(self, name: str) -> Pipeline:
        found = self.settings.pipelines.get(name)
        if found is None:
            known = sorted(self.settings.pipelines)
            raise ConfigError(
                f"{self.path}: no pipeline {name!r}{did_you_mean(name, known)}; pipelines: "
                f"{', '.join(known) or 'none'} (add it under pipelines:, docs/project.md)"
            )
        return found

    def connection(self, name: str, loc: Loc | None = None) -> str | SinkConfig:
        """The sink a connection name (or a sink URL) stands for, its ``${VAR}`` references read now."""
        loc = loc or ("connections", name)
        if name in self.blocks:
            return open_target(self.blocks[name].model_dump(), self.root, self.where(("connections", name)))
        value = self.settings.connections.get(name)
        if isinstance(value, str):
            return open_target(value, self.root, self.where(("connections", name)))
        if sink_url_kind(name) is not None:
            return open_target(name, self.root, self.where(loc))
        known = sorted(self.settings.connections)
        raise ConfigError(
            f"{self.where(loc)}: unknown connection {name!r}{did_you_mean(name, known)}; connections: "
            f"{', '.join(known) or 'none'} (add it under connections:, or give a sink URL such as duckdb:wh.duckdb)"
        )

    def raw_store(self, name: str, loc: Loc | None = None) -> str:
        """A raw store name (or a location) -> the location, relative to the project."""
        from tidemark.project.connections import expand

        value = self.settings.raw.get(name, name)
        if name not in self.settings.raw and not _looks_like_location(name):
            known = sorted(self.settings.raw)
            raise ConfigError(
                f"{self.where(loc or ('raw', name))}: unknown raw store {name!r}{did_you_mean(name, known)}; raw "
                f"stores: {', '.join(known) or 'none'} (add it under raw:, or give a directory such as raw/)"
            )
        return relative_location(expand(value, self.where(("raw", name))), self.root)

    def connections(self) -> Connections:
        """The connections by name (for a write block's ``connection:``); each one's references are read when it is
        looked up, so an unset variable of another connection does not matter."""
        return Connections(self)


class Connections(MappingABC[str, "str | SinkConfig"]):
    """A project's connections as a read-only mapping, opened on lookup."""

    def __init__(self, project: Project) -> None:
        self.project = project

    def __getitem__(self, name: str) -> str | SinkConfig:
        if name not in self.project.settings.connections:
            raise KeyError(name)
        return self.project.connection(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.project.settings.connections)

    def __len__(self) -> int:
        return len(self.project.settings.connections)


def _looks_like_location(name: str) -> bool:
    return "/" in name or ":" in name or name.startswith(".")


def load_project(path: Path | None = None, flags: dict[str, Any] | None = None) -> Project:
    """Read and check ``path`` (default: :func:`find_project`), under the environment and ``flags``."""
    path = path or find_project()
    if path is None:
        raise ConfigError(
            "no tidemark.yaml in this directory or a parent: run `tidemark init` to make one, or give --project FILE"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read project file {path}: {exc.strerror or exc}") from exc
    path = path.resolve()
    data, positions = parse_yaml(text, str(path))
    try:
        settings = merged(data, flags or {})
    except ValidationError as exc:
        raise ConfigError(_problems(exc, positions, str(path))) from None
    project = Project(path, settings, positions, {})
    project.blocks.update(_check(project))
    return project


def parse_yaml(text: str, filename: str) -> tuple[dict[str, Any], Positions]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{filename}:1:1: a project file is a YAML object with connections, raw and pipelines")
    positions: Positions = {}
    _collect(node, (), positions)
    return data, positions


def _collect(node: yaml.Node | None, loc: Loc, out: Positions) -> None:
    if node is None:
        return
    out[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            out[(*loc, key_node.value, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _collect(value_node, (*loc, key_node.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect(item, (*loc, i), out)


def place(filename: str, positions: Positions, loc: Loc) -> str:
    """``file:line:col: yaml.path``; a key the file does not have came from the environment or a flag."""
    probe = tuple(loc)
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = positions.get((*probe, "__key__")) or positions.get(probe, (1, 1))
    origin = "" if probe == tuple(loc) else f" (set by {ENV_PREFIX}{'__'.join(map(str, loc)).upper()} or a flag)"
    return f"{filename}:{line}:{col}: {format_loc(loc)}{origin}"


def _problems(exc: ValidationError, positions: Positions, filename: str) -> str:
    lines = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and "[" in p))
        if err["type"] == "extra_forbidden":
            choices = _fields_at(ProjectSettings, loc[:-1])
            msg = f"unknown key{did_you_mean(str(loc[-1]), choices)}; allowed: {', '.join(sorted(choices))}"
        elif err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            tag = str((err.get("ctx") or {}).get("tag", ""))
            msg = f"unknown kind {tag!r}{did_you_mean(tag, KINDS)}; give type: one of {', '.join(KINDS)}"
        elif err["type"] == "literal_error":
            value, choices = str(err["input"]), re.findall(r"'([^']*)'", str((err.get("ctx") or {}).get("expected")))
            msg = f"{value!r}{did_you_mean(value, choices)} is not one of {', '.join(choices)}"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{place(filename, positions, loc)}: {msg}")
    return "invalid project file:\n  " + "\n  ".join(lines) if len(lines) > 1 else lines[0]


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """The keys allowed at ``loc`` (for did-you-mean): walk models, dict values and list items."""
    annotation: Any = model
    for part in loc:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            info = annotation.model_fields.get(str(part)) or next(
                (f for f in annotation.model_fields.values() if f.alias == part), None
            )
            annotation = info.annotation if info else None
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        elif get_origin(annotation) is list:
            annotation = get_args(annotation)[0]
        annotation = _model_in(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


def _model_in(annotation: Any) -> Any:
    """``Pipeline | None`` -> ``Pipeline`` (dicts and lists are kept for the next step)."""
    if get_origin(annotation) in (dict, list) or isinstance(annotation, type):
        return annotation
    for arg in get_args(annotation):
        if (isinstance(arg, type) and issubclass(arg, BaseModel)) or get_origin(arg) in (dict, list):
            return arg
    return annotation


def _check(project: Project) -> dict[str, ConnectionBlock]:
    """Each connection block against its kind, no password written out, pipelines naming what exists."""
    blocks: dict[str, ConnectionBlock] = {}
    adapter: TypeAdapter[ConnectionBlock] = TypeAdapter(ConnectionBlock)
    filename = str(project.path)
    for name, value in project.settings.connections.items():
        loc: Loc = ("connections", name)
        if isinstance(value, str):
            if literal_password(value):
                raise ConfigError(
                    f"{project.where(loc)}: a password is written in the file: write "
                    "postgresql://user:${TIDEMARK_PG_PASSWORD}@host/db and export TIDEMARK_PG_PASSWORD"
                )
            continue
        if "password" in value:
            raise ConfigError(
                f"{project.where((*loc, 'password'))}: secrets are references only: write password_env: "
                "TIDEMARK_PG_PASSWORD (the variable's name) instead of the password"
            )
        try:
            blocks[name] = adapter.validate_python(value)
        except ValidationError as exc:
            raise ConfigError(_block_problems(exc, loc, value.get("type"), project.positions, filename)) from None
    for name, pipeline in project.settings.pipelines.items():
        _check_pipeline(project, name, pipeline)
    return blocks


def _block_problems(exc: ValidationError, loc: Loc, kind: Any, positions: Positions, filename: str) -> str:
    """A connection block's errors at their place in the file (pydantic puts the kind first in each location)."""
    lines = []
    for err in exc.errors():
        parts = tuple(err["loc"])
        parts = parts[1:] if parts and parts[0] == kind else parts
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            where = place(filename, positions, (*loc, "type"))
            tag = str(kind or "")
            hint = did_you_mean(tag, KINDS) if tag else " (a block needs type:)"
            msg = f"unknown kind {tag!r}{hint}; give type: one of {', '.join(KINDS)}" if tag else f"no kind{hint}"
        elif err["type"] == "extra_forbidden":
            where = place(filename, positions, (*loc, *parts))
            choices = list(KIND_MODELS[str(kind)].model_fields)
            msg = f"unknown key{did_you_mean(str(parts[-1]), choices)}; a {kind} connection takes: {', '.join(choices)}"
        else:
            where = place(filename, positions, (*loc, *parts))
            msg = str(err["msg"]).removeprefix("Value error, ")
        lines.append(f"{where}: {msg}")
    return "invalid project file:\n  " + "\n  ".join(lines) if len(lines) > 1 else lines[0]


def _check_pipeline(project: Project, name: str, pipeline: Pipeline) -> None:
    """A pipeline names a connection and raw store that exist, and reads either input files or a raw store."""
    loc: Loc = ("pipelines", name)
    settings = project.settings
    if pipeline.connection not in settings.connections and sink_url_kind(pipeline.connection) is None:
        project.connection(pipeline.connection, (*loc, "connection"))  # raises: unknown connection
    if pipeline.raw is not None and pipeline.raw not in settings.raw:
        project.raw_store(pipeline.raw, (*loc, "raw"))  # raises unless it is a location
    if (pipeline.input is None) == (pipeline.raw is None):
        raise ConfigError(
            f"{project.where(loc)}: give the pipeline either input: (files or directories) or raw: (a raw store)"
        )
    ingest = pipeline.ingest
    if ingest is not None:
        if (ingest.backfill is None) == (ingest.live is None):
            raise ConfigError(f"{project.where((*loc, 'ingest'))}: give ingest either backfill: or live:")
        if pipeline.raw is None:
            raise ConfigError(
                f"{project.where((*loc, 'ingest'))}: an ingesting pipeline needs raw: (where to keep "
                "the fetched responses)"
            )
