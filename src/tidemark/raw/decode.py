"""Stored bytes -> :class:`RawRecord`: the one decoding every raw store and reader shares.

A record comes back from a recorded file (``tidemark raw import``, a recorded directory), a segment line or a
database row. Each gives the envelope's bytes (maybe gzip-compressed), when they were fetched and, for a record the
store wrote itself, the content hash it stored. :func:`decode_record` turns that into a record, or into a *broken*
record (``error`` set, position kept) when the bytes cannot be read back, so a stream quarantines it and goes on:

* compressed bytes are decompressed (``the stored document does not decompress``);
* with a known hash only the envelope's head is decoded (:func:`envelope_head`, msgspec skips the response: a feed
  is ~1 MB, the head a few hundred bytes); bytes that are no envelope give ``the stored document is not an envelope``;
* without one the envelope is parsed and its response hashed (``not JSON``, ``not an envelope``); a document with
  no envelope is wrapped in one when the caller names its endpoint and method (``bare``, e.g. from its folders).
"""

from __future__ import annotations

import gzip
import zlib
from datetime import datetime
from typing import Any

import msgspec
import orjson

from tidemark.documents import Position
from tidemark.raw.base import RawRecord, bare_record, broken, is_envelope, record_from_envelope, string_params, utc


class Head(msgspec.Struct):
    """The envelope's keys a store indexes, decoded without building the response."""

    endpoint: str = ""
    method: str = ""
    path_params: Any = None  # read as record_from_envelope reads them: null / missing are empty
    query_params: Any = None
    url: str | None = None
    status_code: int | None = None
    response: msgspec.Raw = msgspec.Raw(b"null")


_HEAD = msgspec.json.Decoder(Head)


def envelope_head(data: bytes) -> Head | None:
    """The head of an envelope's bytes; None when they are not JSON or name no endpoint and method."""
    try:
        head = _HEAD.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError):
        return None
    return head if head.endpoint and head.method else None


def decode_record(
    data: bytes,
    fetched_at: datetime,
    *,
    position: Position | None = None,
    origin: str = "",
    digest: str | None = None,
    compressed: bool = False,
    bare: tuple[str, str] | None = None,
) -> RawRecord:
    """The record of stored bytes (see the module docstring); a broken record says why it could not be read."""
    when = utc(fetched_at)
    if compressed:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            return broken(position, origin, f"the stored document does not decompress: {exc}", when)
    if digest is not None:
        return _with_hash(data, when, digest, position, origin)
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return broken(position, origin, f"not JSON: {exc}", when)
    if is_envelope(parsed):
        record = record_from_envelope(data, when, origin, parsed=parsed)
    elif bare is not None:
        record = bare_record(data, when, endpoint=bare[0], method=bare[1], origin=origin)
    else:
        return broken(position, origin, "not an envelope (needs endpoint, method and response)", when)
    return record if position is None else record.at(position, origin)


def _with_hash(data: bytes, when: datetime, digest: str, position: Position | None, origin: str) -> RawRecord:
    try:
        head = _HEAD.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError) as exc:
        return broken(position, origin, f"the stored document is not an envelope: {exc}", when)
    path, query = string_params(head.path_params), string_params(head.query_params)
    url, status = head.url or "", head.status_code or 200
    return RawRecord(head.endpoint, head.method, path, query, url, status, when, digest, data, position, origin)


__all__ = ["Head", "decode_record", "envelope_head"]
