"""Credentials never leave tidemark: every log line, metric label, lineage event, JSON summary and run-ledger row
goes through :func:`redact` / :func:`redact_data`, which mask

- the password of a URL: ``postgresql://user:secret@host`` -> ``user:***@host`` (also ``s3://KEY:SECRET@bucket``,
  the form pyarrow's filesystems accept; an ``@`` inside the password masks up to the last one);
- the value of a setting whose name says it is a credential: ``password=``, ``token=``, ``secret=``, ``api_key=``
  and names holding those words (``aws_secret_access_key=``, ``client_secret:``, ``"password": "..."``, a libpq
  key-value DSN, a query string), an Azure SAS ``sig=``, S3 presigned ``X-Amz-Signature=`` / ``X-Amz-Credential=``;
- an HTTP ``Bearer`` token;
- in JSON-like data, the whole value of a key whose name is such a name (``{"aws_secret_access_key": "..."}``).
"""

from __future__ import annotations

import re
from typing import Any

MASK = "***"
# a setting's name that says it holds a credential: it ends with one of these words (aws_secret_access_key,
# AWS_SESSION_TOKEN, client_secret, X-Amz-Signature), so token_count or AWS_ACCESS_KEY_ID are left alone
_NAME = (
    r"(?:[A-Za-z0-9]+[_.-])*(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key"
    r"|private[_-]?key|credentials?|sig|signature)"
)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*):(?P<secret>[^\s\"'<>]*)@")
_SETTING = re.compile(
    rf"(?P<head>(?<![A-Za-z0-9_.-])(?:{_NAME})[\"']?\s*[=:]\s*)(?P<secret>'[^']*'|\"[^\"]*\"|[^\s&;,'\"]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<head>\bBearer\s+)(?P<secret>[A-Za-z0-9._~+/=-]+)", re.IGNORECASE)
_SECRET_KEY = re.compile(rf"(?:{_NAME})", re.IGNORECASE)


def _masked(m: re.Match[str]) -> str:
    secret = m["secret"]
    quote = secret[0] if secret[:1] in ("'", '"') else ""
    return f"{m['head']}{quote}{MASK}{quote}"


def redact(text: str) -> str:
    """``text`` with every credential it holds replaced by ``***``."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)
    text = _SETTING.sub(_masked, text)
    return _BEARER.sub(_masked, text)


def is_secret_key(name: str) -> bool:
    """Whether a setting named ``name`` holds a credential (``password``, ``aws_secret_access_key``, ``token``...)."""
    return _SECRET_KEY.fullmatch(name) is not None


def redact_data(value: Any) -> Any:
    """A JSON-like value (dicts, lists, strings) with every string redacted and the text value of every
    credential-named key masked (a table or a rule so named keeps its counts: they are not text)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            redact_data(k): MASK
            if isinstance(k, str) and isinstance(v, str) and v and is_secret_key(k)
            else redact_data(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value


__all__ = ["MASK", "is_secret_key", "redact", "redact_data"]
