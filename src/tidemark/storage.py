"""Where a store's files live: a local directory, or an object store named by a URL (``s3://bucket/prefix``).

The lake sinks (Parquet, CSV, Delta) and the raw directory store take either. Local paths keep the local
guarantees (flock, rename, fsync). A URL with a scheme is opened as a pyarrow filesystem:

- ``s3://`` (and ``s3a://``): :class:`pyarrow.fs.S3FileSystem`. Credentials and endpoint come from the environment
  (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_REGION``, ``AWS_ENDPOINT_URL``,
  profiles and instance metadata through the AWS SDK) or from the connection's ``storage_options`` (the same
  names, which win). An ``http://`` endpoint (MinIO, moto, a gateway) is allowed as given.
- any other scheme pyarrow knows (``gs://``, ``abfs://``, ``hdfs://``) through :meth:`pyarrow.fs.FileSystem.from_uri`,
  and finally any fsspec filesystem when fsspec and its plug-in are installed.

Secrets never leave this module in text: :class:`Location` shows only the URL, and errors name the URL and the
variable to set, never a value.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyarrow import fs as pafs

from tidemark.errors import ConfigError

_S3 = ("s3", "s3a")
#: storage option names (as delta-rs spells them) -> pyarrow S3FileSystem arguments
_S3_ARGS = {
    "AWS_ACCESS_KEY_ID": "access_key",
    "AWS_SECRET_ACCESS_KEY": "secret_key",
    "AWS_SESSION_TOKEN": "session_token",
    "AWS_REGION": "region",
}


def is_remote(url: str) -> bool:
    """A URL with a scheme other than ``file://`` (Windows drive letters are one letter: not a scheme)."""
    scheme, sep, _ = url.partition("://")
    return bool(sep) and len(scheme) > 1 and scheme != "file"


@dataclass(frozen=True)
class Location:
    """A root directory on a filesystem: ``fs`` and the ``root`` path inside it (``bucket/prefix`` on S3)."""

    url: str
    fs: pafs.FileSystem = field(repr=False)
    root: str
    remote: bool

    def path(self, *parts: str) -> str:
        """The filesystem path of ``parts`` under the root (always ``/``-separated)."""
        return "/".join([self.root.rstrip("/"), *(p.strip("/") for p in parts if p)])

    def url_of(self, *parts: str) -> str:
        """The URL of ``parts`` under the root, in the user's spelling (``s3://bucket/prefix/a/b``)."""
        return "/".join([self.url.rstrip("/"), *(p.strip("/") for p in parts if p)])

    def files(self, *parts: str) -> list[pafs.FileInfo]:
        """Every file under ``parts`` (recursive; none when the folder does not exist)."""
        selector = pafs.FileSelector(self.path(*parts), recursive=True, allow_not_found=True)
        return [i for i in self.fs.get_file_info(selector) if i.type == pafs.FileType.File]

    def relative(self, info: pafs.FileInfo) -> str:
        return str(info.path)[len(self.root.rstrip("/")) + 1 :]

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open_input_stream(self.path(*parts), compression=None) as fh:
            return bytes(fh.read())

    def write_bytes(self, data: bytes, *parts: str) -> None:
        """One object written whole: on an object store it becomes visible at once, complete, or not at all."""
        with self.fs.open_output_stream(self.path(*parts), compression=None) as fh:
            fh.write(data)

    def delete(self, *parts: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self.path(*parts))


def locate(url: str, options: Mapping[str, str] | None = None) -> Location:
    """Open the filesystem holding ``url`` (a local path, or a URL with a scheme) with ``options`` (credentials)."""
    if not is_remote(url):
        local = url.removeprefix("file://")
        return Location(url, pafs.LocalFileSystem(), os.path.abspath(local), remote=False)
    scheme, _, rest = url.partition("://")
    if scheme in _S3:
        return Location(url, _s3(url, options or {}), rest.rstrip("/"), remote=True)
    try:
        filesystem, root = pafs.FileSystem.from_uri(url)
    except (pa.ArrowException, ValueError, OSError) as exc:
        return _fsspec(url, exc)
    return Location(url, filesystem, root.rstrip("/"), remote=True)


def _s3(url: str, options: Mapping[str, str]) -> pafs.S3FileSystem:
    settings = _settings(options)
    kwargs: dict[str, Any] = {arg: settings[name] for name, arg in _S3_ARGS.items() if settings.get(name)}
    endpoint = settings.get("AWS_ENDPOINT_URL")
    if endpoint:
        scheme, sep, host = endpoint.partition("://")
        kwargs["endpoint_override"] = host if sep else endpoint
        kwargs["scheme"] = scheme if sep else "https"
    try:
        return pafs.S3FileSystem(**kwargs)
    except (ValueError, OSError) as exc:
        raise ConfigError(
            f"cannot open {url}: {exc}. Set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for "
            "an S3-compatible server) in the environment or the connection's storage_options"
        ) from exc


def _settings(options: Mapping[str, str]) -> dict[str, str]:
    """The AWS settings: the environment, overridden by the connection's ``storage_options`` (any case)."""
    found = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
    if "AWS_REGION" not in found and "AWS_DEFAULT_REGION" in found:
        found["AWS_REGION"] = found["AWS_DEFAULT_REGION"]
    if "AWS_ENDPOINT_URL" not in found and "AWS_ENDPOINT_URL_S3" in found:
        found["AWS_ENDPOINT_URL"] = found["AWS_ENDPOINT_URL_S3"]
    found.update({k.upper(): str(v) for k, v in options.items()})
    return found


def delta_options(url: str, options: Mapping[str, str] | None = None) -> dict[str, str]:
    """delta-rs ``storage_options`` for ``url``: the connection's options, plus ``AWS_ALLOW_HTTP`` when the
    endpoint is plain HTTP (delta-rs reads the rest of the ``AWS_*`` environment itself)."""
    given = {k.upper(): str(v) for k, v in (options or {}).items()}
    if url.partition("://")[0] in _S3:
        endpoint = _settings(given).get("AWS_ENDPOINT_URL", "")
        if endpoint.startswith("http://"):
            given.setdefault("AWS_ALLOW_HTTP", "true")
            given.setdefault("AWS_ENDPOINT_URL", endpoint)
    return given


def _fsspec(url: str, cause: BaseException) -> Location:
    try:
        fsspec = importlib.import_module("fsspec")  # optional: only for schemes pyarrow lacks
    except ImportError as exc:
        raise ConfigError(
            f"no filesystem for {url}: {cause}. pip install fsspec and its plug-in for that scheme"
        ) from exc
    try:
        filesystem, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise ConfigError(
            f"no filesystem for {url}: {cause}; {exc}. Use s3://, gs://, abfs:// or a local path, or install "
            "the fsspec plug-in for that scheme"
        ) from exc
    handler = pafs.PyFileSystem(pafs.FSSpecHandler(filesystem))
    return Location(url, handler, str(root).rstrip("/"), remote=True)
