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
