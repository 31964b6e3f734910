"""Timestamp text -> aware UTC datetimes: one reading of times for the engines (snapshot times, timestamp columns)
and for ``tidemark.write`` (timestamp columns given as strings)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(v: str, fmt: str | None = None) -> datetime:
    """ISO 8601 (``Z`` or an offset; none means UTC) or a strptime format; always returns an aware UTC datetime."""
    parsed = datetime.strptime(v, fmt) if fmt else datetime.fromisoformat(v)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def from_ns(ns: int) -> datetime:
    """A file's modification time in nanoseconds as a UTC datetime, truncated to the microsecond in integers: every
    reader of the same file (the files source, the raw directory) gets the same value, which float seconds do not
    guarantee (``st_mtime`` and ``ns / 1e9`` can round one microsecond apart)."""
    seconds, rest = divmod(ns, 1_000_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
