"""Credentials never leave tidemark: every log line, metric label, lineage event and JSON summary goes through
:func:`redact`, which masks the password of a URL (``postgresql://user:secret@host`` -> ``user:***@host``) and the
value of ``password=`` / ``token=`` style settings (a libpq key-value DSN, a query string)."""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):(?P<secret>[^@\s/]*)@")
_SETTING = re.compile(
    r"(?P<head>\b(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)\s*[=:]\s*)(?P<secret>'[^']*'|\"[^\"]*\"|[^\s&;,'\"]+)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """``text`` with every credential it holds replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _SETTING.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact_data(k): redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


__all__ = ["MASK", "redact", "redact_data"]
