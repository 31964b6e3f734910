"""The MLB Stats API catalog: ``domains/mlb/endpoints.yaml`` loaded, validated, and turned into requests.

The catalog is data (see the YAML's header for its fields). :func:`load_catalog` validates it with pydantic (a bad
catalog is a :class:`~tidemark.errors.ConfigError` naming the file and the field); :meth:`Catalog.prepare` turns
``(endpoint name, parameters)`` into one canonical :class:`PreparedRequest`:

* unknown endpoint or parameter, missing required parameter, a value of the wrong type: ``ConfigError`` with a
  did-you-mean;
* defaults added, nothing else: ``schedule(date=D)`` is exactly ``sportId=1&date=D``, ``live_game(gamePk=P)``
  has no query parameters at all;
* every value becomes its canonical string (``7`` and ``"7"`` are the same request; dates ``YYYY-MM-DD``; lists
  comma-joined), which is what recordings store and compare.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal
from urllib.parse import quote

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tidemark.errors import ConfigError, did_you_mean
from tidemark.http.recording import RequestKey

ParamType = Literal["int", "str", "date", "datetime", "bool", "int_list", "str_list"]
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class Param(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ParamType = "str"
    required: bool = False
    default: str | int | None = None
    recorded_as: str | None = None
    pattern: str | None = None
    doc: str = ""


class Recorded(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint: str
    method: str


class Endpoint(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    recorded: Recorded
    mapping: str | None
    doc: str = ""
    path_params: dict[str, Param] = Field(default_factory=dict)
    query_params: dict[str, Param] = Field(default_factory=dict)
    together: list[list[str]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> Endpoint:
        placeholders = _PLACEHOLDER.findall(self.url)
        if sorted(placeholders) != sorted(self.path_params):
            raise ValueError(f"url {self.url!r} names {placeholders}, path_params are {sorted(self.path_params)}")
        both = set(self.path_params) & set(self.query_params)
        if both:
            raise ValueError(f"{sorted(both)} are both path and query parameters")
        for group in self.together:
            unknown = [name for name in group if name not in self.params]
            if unknown:
                raise ValueError(f"together names unknown parameters {unknown}")
        return self

    @property
    def params(self) -> dict[str, Param]:
        return {**self.path_params, **self.query_params}


class Catalog(BaseModel):
    """Every endpoint by name (what ``mlb:<name>`` names), and the API's base URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    endpoints: dict[str, Endpoint]

    def endpoint(self, name: str) -> Endpoint:
        bare = name.removeprefix("mlb:")
        found = self.endpoints.get(bare)
        if found is None:
            raise ConfigError(
                f"unknown MLB endpoint {name!r}{did_you_mean(bare, self.endpoints)}; "
                f"known: {', '.join(sorted(self.endpoints))}"
            )
        return found

    def prepare(self, name: str, params: Mapping[str, object] | None = None) -> PreparedRequest:
        """The canonical request of endpoint ``name`` with ``params`` (see the module docstring)."""
        bare = name.removeprefix("mlb:")
        endpoint = self.endpoint(bare)
        given = {key: value for key, value in (params or {}).items() if value is not None}
        _check_names(bare, endpoint, given)
        values = _canonical_values(bare, endpoint, given)
        path = {key: values[key] for key in endpoint.path_params}
        query = [(key, values[key]) for key in endpoint.query_params if key in values]
        url = self.base_url.rstrip("/") + _PLACEHOLDER.sub(lambda m: quote(path[m.group(1)], safe=""), endpoint.url)
        recorded_path = {(endpoint.path_params[k].recorded_as or k): v for k, v in path.items()}
        key = RequestKey.of(endpoint.recorded.endpoint, endpoint.recorded.method, recorded_path, dict(query))
        return PreparedRequest(bare, url, query, key)


@dataclass(frozen=True)
class PreparedRequest:
    """One canonical request: the catalog name, the URL without query, the query (in catalog order), its key."""

    name: str
    url: str
    query: list[tuple[str, str]]
    key: RequestKey

    @property
    def full_url(self) -> str:
        return self.url + ("?" + "&".join(f"{k}={quote(v, safe=',')}" for k, v in self.query) if self.query else "")


def _check_names(name: str, endpoint: Endpoint, given: Mapping[str, object]) -> None:
    known = endpoint.params
    for key in given:
        if key not in known:
            raise ConfigError(
                f"mlb:{name} has no parameter {key!r}{did_you_mean(key, known)}; "
                f"its parameters: {', '.join(known) or '(none)'}"
            )
    missing = [key for key, param in known.items() if param.required and key not in given]
    if missing:
        example = " ".join(f"{key}=..." for key in missing)
        raise ConfigError(f"mlb:{name} needs {', '.join(missing)} (e.g. mlb:{name} {example})")
    for group in endpoint.together:
        present = [key for key in group if key in given]
        if present and len(present) != len(group):
            absent = [key for key in group if key not in given]
            raise ConfigError(f"mlb:{name}: {', '.join(present)} needs {', '.join(absent)} as well")


def _canonical_values(name: str, endpoint: Endpoint, given: Mapping[str, object]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, param in endpoint.params.items():
        if key in given:
            values[key] = canonical_value(given[key], param, f"mlb:{name} {key}")
        elif param.default is not None:
            values[key] = str(param.default)
    return values


def canonical_value(value: object, param: Param, where: str) -> str:
    """``value`` as the string the API gets and recordings store; ConfigError when it is not of ``param.type``."""
    try:
        text = _convert(value, param.type)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {value!r} is not a valid {param.type} ({exc})") from exc
    if param.pattern is not None and not re.fullmatch(param.pattern, text):
        raise ConfigError(f"{where}: {text!r} does not match {param.pattern}")
    return text


def _convert(value: object, kind: str) -> str:
    if kind in ("int_list", "str_list"):
        items: list[object] = (
            list(value.split(","))
            if isinstance(value, str)
            else list(value)
            if isinstance(value, list | tuple)
            else [value]
        )
        return ",".join(_convert(item, kind.removesuffix("_list")) for item in items)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError(f"expected an integer, got {type(value).__name__}")
        return str(int(value))
    if kind == "date":
        return (value if isinstance(value, date) else date.fromisoformat(str(value))).isoformat()[:10]
    if kind == "datetime":
        return (value if isinstance(value, datetime) else datetime.fromisoformat(str(value))).isoformat()
    if kind == "bool":
        text = str(value).lower()
        if text not in ("true", "false"):
            raise ValueError("expected true or false")
        return text
    return str(value).strip()


CATALOG_FILE = "endpoints.yaml"


def load_catalog(path: str | Path | None = None) -> Catalog:
    """The catalog of ``path`` (default: the one of the MLB domain pack), validated."""
    if path is None:
        return _builtin_catalog()
    return _load(Path(path).read_text(encoding="utf-8"), str(path))


@cache
def _builtin_catalog() -> Catalog:
    source = resources.files("tidemark") / "domains" / "mlb" / CATALOG_FILE
    return _load(source.read_text(encoding="utf-8"), f"mlb:{CATALOG_FILE}")


def _load(text: str, origin: str) -> Catalog:
    try:
        return Catalog.model_validate(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"{origin}: invalid endpoint catalog: {problems}") from exc


def builtin_catalog() -> Catalog:
    return _builtin_catalog()


def mapping_of(name: str) -> str | None:
    """The mapping (``mlb:...``) that turns documents of endpoint ``name`` into tables, if any."""
    return builtin_catalog().endpoint(name).mapping


__all__ = ["Catalog", "Endpoint", "Param", "PreparedRequest", "builtin_catalog", "load_catalog", "mapping_of"]
