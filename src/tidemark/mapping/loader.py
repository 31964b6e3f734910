"""Load a mapping file: YAML with positions -> pydantic models, every problem reported with file:line:col.

Errors look like::

    live_game.yaml:41:9: targets[2].fields[3].tpye: unknown key (did you mean 'type'?)

The loader also runs the semantic checks (checks.py: parents, keys, foreign keys, scopes) so that
``tidemark validate`` reports everything a run would refuse.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from tidemark.errors import MappingError, did_you_mean
from tidemark.mapping.checks import check_mapping
from tidemark.mapping.models import Mapping

Loc = tuple[str | int, ...]
Positions = dict[Loc, tuple[int, int]]


def resolve_mapping_path(ref: str | Path) -> Path:
    """A file path, or a built-in mapping name like ``mlb:live_game`` (a YAML file of a domain pack)."""
    text = str(ref)
    if is_all(text):
        domain = text.partition(":")[0]
        raise MappingError(
            [
                f"{text} names every built-in mapping of {domain}; this takes one mapping: give one "
                f"of {', '.join(builtin_names(domain))}"
            ]
        )
    if ":" in text and not Path(text).exists():
        domain, _, name = text.partition(":")
        root = resources.files("tidemark") / "domains" / domain / "mappings"
        candidate = root / f"{name}.yaml"
        if candidate.is_file():
            return Path(str(candidate))
        known = sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".yaml")) if root.is_dir() else []
        hint = did_you_mean(name, known)
        raise MappingError([f"{text}: no built-in mapping '{name}' in domain '{domain}'{hint}; known: {known}"])
    return Path(text)


def builtin_names(domain: str) -> list[str]:
    """The built-in mappings of ``domain`` (``mlb`` -> ``["mlb:alumni", ...]``), sorted; a MappingError if the
    domain has none."""
    root = resources.files("tidemark") / "domains" / domain / "mappings"
    if not root.is_dir():
        raise MappingError([f"{domain}:*: no built-in domain '{domain}'"])
    return sorted(f"{domain}:{p.name[:-5]}" for p in root.iterdir() if p.name.endswith(".yaml"))


def is_all(ref: str | Path) -> bool:
    """True for ``domain:*`` (e.g. ``mlb:*``: every built-in mapping of the domain), not for a file of that name."""
    domain, sep, name = str(ref).partition(":")
    return bool(sep and domain) and name == "*" and not Path(str(ref)).exists()


def expand_refs(refs: Iterable[str]) -> list[str]:
    """Mapping references with ``domain:*`` expanded to every built-in mapping of that domain (sorted), each
    mapping once: the one place ``mlb:*`` becomes the list of mappings for the commands that inspect them."""
    out: list[str] = []
    for ref in refs:
        out += builtin_names(ref.partition(":")[0]) if is_all(ref) else [ref]
    return list(dict.fromkeys(out))


_FAST = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_mapping(ref: str | Path) -> tuple[Mapping, Path]:
    """Read and validate a mapping file (or built-in name). Returns the model and the file it came from."""
    path = resolve_mapping_path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError([f"{path}: cannot read mapping file: {exc.strerror or exc}"]) from exc
    return parse_mapping(text, str(path)), path


def parse_mapping(text: str, filename: str = "<mapping>") -> Mapping:
    """Validate mapping YAML text; raise :class:`MappingError` listing every problem with its position."""
    try:
        try:  # libyaml when PyYAML has it (~10x faster); the Python loader words the errors
            node, data = yaml.compose(text, Loader=_FAST), yaml.load(text, Loader=_FAST)
        except yaml.YAMLError:
            node, data = yaml.compose(text, Loader=yaml.SafeLoader), yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{filename}:{mark.line + 1}:{mark.column + 1}" if mark else filename
        raise MappingError([f"{where}: not valid YAML: {getattr(exc, 'problem', None) or exc}"]) from exc
    if not isinstance(data, dict):
        raise MappingError([f"{filename}:1:1: a mapping must be a YAML object with 'source' and 'targets'"])
    positions: Positions = {}
    _collect_positions(node, (), positions)
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise MappingError(_format_validation(exc, data, positions, filename)) from None
    problems = check_mapping(mapping)
    if problems:
        raise MappingError([_place(filename, positions, loc) + f": {msg}" for loc, msg in problems])
    return mapping


def locate(path: Path, loc: Loc) -> str:
    """``file:line:col: yaml.path`` of ``loc`` in the mapping file ``path`` (for findings about a valid mapping)."""
    node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    positions: Positions = {}
    _collect_positions(node, (), positions)
    return _place(str(path), positions, loc)


def _collect_positions(node: yaml.Node | None, loc: Loc, out: Positions) -> None:
    if node is None:
        return
    out[loc] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            out[(*loc, key, "__key__")] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _collect_positions(value_node, (*loc, key), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _collect_positions(item, (*loc, i), out)


def _place(filename: str, positions: Positions, loc: Loc) -> str:
    """``file:line:col: yaml.path`` for the deepest known position of ``loc``."""
    probe = tuple(loc)
    key_pos = positions.get((*probe, "__key__"))
    while probe and probe not in positions:
        probe = probe[:-1]
    line, col = key_pos or positions.get(probe, (1, 1))
    return f"{filename}:{line}:{col}: {format_loc(loc)}"


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _format_validation(exc: ValidationError, data: Any, positions: Positions, filename: str) -> list[str]:
    problems = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        loc = tuple(p for p in loc if p not in {"str", "list[str]"})
        if err["type"] == "extra_forbidden":
            model = _model_at(loc[:-1])
            choices = list(model.model_fields) if model else []
            if model is not None:
                choices += [f.alias for f in model.model_fields.values() if f.alias]
            msg = f"unknown key{did_you_mean(str(loc[-1]), choices)}"
            if choices:
                msg += f"; allowed: {', '.join(sorted(c for c in choices if not c.endswith('_')))}"
        else:
            msg = str(err["msg"]).removeprefix("Value error, ")
        problems.append(f"{_place(filename, positions, loc)}: {msg}")
    return problems


def _model_at(loc: Loc) -> type[BaseModel] | None:
    """The pydantic model that validates the object at ``loc`` (for did-you-mean on unknown keys)."""
    model: type[BaseModel] | None = Mapping
    for part in loc:
        if model is None:
            return None
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            field = next((f for f in model.model_fields.values() if f.alias == part), None)
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
