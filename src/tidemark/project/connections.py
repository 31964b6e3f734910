"""Connections: a name -> where a sink is (a URL or a block), with secrets only by reference.

A connection's value is a sink URL (``duckdb:wh.duckdb``, ``postgresql://tidemark:${TIDEMARK_PG_PASSWORD}@db/mlb``,
``delta:/data/lake``), a location (``/data/lake``) that a write block's ``format`` turns into ``format:location``,
or a block of a sink kind (``{type: postgres, host: ..., password_env: ...}``). ``${VAR}`` and ``password_env`` are
read from the environment only when the connection is opened (:func:`expand`), so a secret is never held by a model,
written to a file or printed: errors name the variable, never its value.

This is where ``write/config.py``'s connections live now; ``tidemark.write`` and the ``write:`` block resolve their
``connection`` here, against the project's connections (``tidemark.yaml``) or ones given in code.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from tidemark.errors import ConfigError, did_you_mean
from tidemark.sinks import SINKS, SinkConfig, sink_config

_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_FILE_KINDS = ("duckdb", "delta", "parquet", "csv")


def sink_url_kind(value: str) -> str | None:
    """The sink type of a URL-looking value (``duckdb:x``, ``postgresql://...``), or None for a plain location."""
    scheme, sep, _ = value.partition(":")
    if not sep or len(scheme) < 2:  # C:\\... is a Windows drive, not a scheme
        return None
    if scheme in SINKS:
        return scheme
    return "postgres" if scheme in ("postgres", "postgresql") else None


def masked(url: str) -> str:
    """The URL with the password of ``//user:password@`` masked, for messages."""
    return re.sub(r"(//[^:/@]*:)[^@]*@", r"\1***@", url)


def expand(text: str, where: str) -> str:
    """``${VAR}`` -> the environment's value; an unset variable is an error naming it (and ``where``)."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        found = os.environ.get(name)
        if found is None:
            raise ConfigError(
                f"{where}: environment variable {name} is not set: export {name}=... before running "
                "(on a cluster: a key of the Kubernetes Secret, docs/deploy.md)"
            )
        return found

    return _REF.sub(value, text)


def literal_password(value: str) -> bool:
    """Whether a URL holds a password written out (not a ``${VAR}`` reference): secrets are references only."""
    if sink_url_kind(value) != "postgres" or "//" not in value:
        return False
    try:
        password = urlsplit(_REF.sub("REF", value)).password
    except ValueError:
        return False
    return password is not None and password != "REF"


def open_target(value: str | MappingABC[str, Any], root: Path | None, where: str) -> str | SinkConfig:
    """A connection's value -> what ``open_sink`` takes: the URL with its references expanded, or a SinkConfig.

    Relative file paths are relative to ``root`` (the project's directory), not to the current directory.
    """
    if isinstance(value, str):
        return _relative_url(expand(value, where), root)
    data = dict(value)
    if data.get("type") == "postgres":
        return sink_config({"type": "postgres", "dsn": _pg_dsn(data, where), "foreign_keys": data["foreign_keys"]})
    data = {k: expand(v, where) if isinstance(v, str) else v for k, v in data.items()}
    if root is not None and data.get("type") in _FILE_KINDS:
        data["path"] = _relative_path(str(data["path"]), root)
    return sink_config(data)


def _pg_dsn(block: dict[str, Any], where: str) -> str:
    user = expand(block["user"], where) if block.get("user") else ""
    password = ""
    if block.get("password_env"):
        password = expand("${" + block["password_env"] + "}", where)
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    host = expand(block["host"], where)
    dsn = f"postgresql://{auth + '@' if auth else ''}{host}:{block['port']}/{quote(expand(block['database'], where))}"
    options = "&".join(f"{k}={quote(expand(v, where))}" for k, v in block.get("options", {}).items())
    return dsn + (f"?{options}" if options else "")


def _relative_url(url: str, root: Path | None) -> str:
    kind = sink_url_kind(url)
    if root is None or kind not in _FILE_KINDS:
        return url
    rest = url.partition(":")[2]
    query = ""
    if kind == "duckdb" and "?" in rest:
        rest, _, query = rest.rpartition("?")
    return f"{kind}:{_relative_path(rest, root)}" + (f"?{query}" if query else "")


def _relative_path(path: str, root: Path) -> str:
    """``path`` inside the project: absolute paths, URLs (``s3://``) and ``:memory:`` stay as they are."""
    if not path or path == ":memory:" or "://" in path or Path(path).is_absolute():
        return path
    return str(root / path)


def relative_location(location: str, root: Path | None) -> str:
    """A raw store or input location relative to the project (``duckdb:raw.duckdb``, ``raw/``, a URL as it is)."""
    if root is None:
        return location
    scheme, sep, rest = location.partition(":")
    if sep and scheme == "duckdb":
        return f"duckdb:{_relative_path(rest, root)}"
    if sep and len(scheme) > 1:
        return location
    return _relative_path(location, root)


def resolve_connection(
    name: str, connections: MappingABC[str, str | SinkConfig], fmt: str | None = None
) -> str | SinkConfig:
    """A write block's ``connection`` (+ ``format``) -> a sink URL or config (the rules of docs/write.md)."""
    value = connections.get(name)
    if value is None:
        if sink_url_kind(name) is None:
            known = sorted(connections)
            raise ConfigError(
                f"unknown connection {name!r}{did_you_mean(name, known)}: pass connections={{{name!r}: "
                f"'delta:/data/lake'}} (known: {', '.join(known) or 'none'}), add it to tidemark.yaml's connections, "
                "or write a sink URL as the connection"
            )
        value = name
    if not isinstance(value, str):
        if fmt is not None and fmt != value.type:
            raise ConfigError(f"connection {name!r} is a {value.type} sink but the block says format {fmt!r}")
        return value
    scheme = sink_url_kind(value)
    if scheme is not None:
        if fmt is not None and fmt != scheme and not {fmt, scheme} <= {"postgres", "postgresql"}:
            raise ConfigError(
                f"connection {name!r} is a {scheme} sink ({masked(value)}) but the block says format {fmt!r}"
            )
        return value
    if fmt is None:
        raise ConfigError(f"connection {name!r} is a location ({value}): give the block a format ({', '.join(SINKS)})")
    if fmt not in SINKS:
        raise ConfigError(f"unknown format {fmt!r}{did_you_mean(fmt, SINKS)}: available sinks: {', '.join(SINKS)}")
    return f"{fmt}:{value}"
