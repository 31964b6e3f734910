"""PostgreSQL errors translated once, at the sink boundary, into tidemark errors that say what to do next.

The password of the DSN never reaches a message: only host, port, user and database are named, and driver text is
searched for the password and masked before it is quoted.
"""

from __future__ import annotations

import os
import re
from typing import Any

from tidemark.errors import ConfigError, SinkConflictError, SinkError, SinkTerminalError, SinkTransientError
from tidemark.sinks.errors import ErrorTable
from tidemark.sinks.errors import translate as translate_with

_URL = re.compile(r"(?i)postgres(?:ql)?://")


def malformed_url(dsn: str) -> bool:
    """A ``postgresql://`` URL whose user or password holds an unencoded ``@`` or ``/``: libpq would read part of
    the password as the host or the database (and a message would show it)."""
    if not _URL.match(dsn):
        return False
    rest = _URL.sub("", dsn, count=1).split("?", 1)[0]
    netloc, _, path = rest.partition("/")
    return netloc.count("@") > 1 or "@" in path or "/" in path


def conninfo(dsn: str) -> dict[str, str]:
    """The DSN's parts (URL or ``key=value`` form), as libpq reads them."""
    from psycopg.conninfo import conninfo_to_dict

    if malformed_url(dsn):  # never echoed: its pieces may be the password's
        raise ConfigError(
            "malformed PostgreSQL URL: a character of the user or password must be percent-encoded ('@' as %40, "
            "'/' as %2F, ':' as %3A), e.g. postgresql://user:p%40ss@host:5432/dbname; or leave the password out of "
            "the URL and set PGPASSWORD or ~/.pgpass"
        )

    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items() if v is not None}
    except Exception:  # psycopg.ProgrammingError quotes the DSN, password included: not chained on purpose
        raise ConfigError(
            "invalid PostgreSQL DSN: use postgresql://user:password@host:5432/dbname or host=... dbname=..."
        ) from None


def display(info: dict[str, str]) -> str:
    """``postgresql://user@host:port/dbname``: what logs and summaries show (never the password)."""
    user = info.get("user", "")
    host = info.get("host", "localhost")
    return f"postgresql://{user + '@' if user else ''}{host}:{info.get('port', '5432')}/{info.get('dbname', user)}"


def redact(text: str, info: dict[str, str]) -> str:
    password = info.get("password")
    return text.replace(password, "***") if password else text


def connect_error(exc: Exception, info: dict[str, str]) -> SinkError:
    """A failed connection: unreachable server (transient), bad password, unknown role or database (terminal)."""
    text = redact(str(exc), info)
    where = f"{info.get('host', 'localhost')}:{info.get('port', '5432')}"
    user = info.get("user") or os.environ.get("PGUSER") or "(default)"
    if re.search(r"authentication failed|no password supplied|password is required", text):
        return SinkTerminalError(
            f"PostgreSQL authentication failed for user {user} at {where}: check the user and password in the DSN "
            "(or PGPASSWORD / ~/.pgpass)"
        )
    if m := re.search(r'(role|database) "([^"]+)" does not exist', text):
        fix = f"createdb {m.group(2)}" if m.group(1) == "database" else "CREATE ROLE ... LOGIN"
        return SinkTerminalError(f"PostgreSQL {m.group(1)} {m.group(2)} does not exist at {where} ({fix})")
    # libpq's own hint ("Is the server running on that host...?") is left out: the message gives one
    lines = [line.strip() for line in text.splitlines() if line.strip() and "Is the server running" not in line]
    reason = lines[-1].removeprefix("connection failed: ") if lines else type(exc).__name__
    return SinkTransientError(
        f"PostgreSQL server not reachable at {where} (database {info.get('dbname', user)}): {reason}. "
        "Is the server running and accepting TCP connections there? Check the host and port of the DSN."
    )


def errors(pg: Any) -> ErrorTable:
    """psycopg's exceptions (``pg`` is the module) -> tidemark's, most specific first (sinks/errors.py)."""
    e = pg.errors
    return [
        (
            (e.SerializationFailure, e.DeadlockDetected),
            SinkConflictError,
            "PostgreSQL {message} on {where}: another writer touched the same rows; the transaction was rolled "
            "back, run it again",
        ),
        (
            e.InsufficientPrivilege,
            SinkTerminalError,
            "permission denied on {what} for user {user} at {where}: connect as the owner of the schemas, or grant "
            "this role USAGE and CREATE on them and write access to their tables",
        ),
        (
            e.UniqueViolation,
            SinkTerminalError,
            "PostgreSQL refused the write: {message}{detail}. In 'append' mode a key that already exists is an "
            "error; use --mode append_once or --mode upsert.",
        ),
        (
            e.ForeignKeyViolation,
            SinkTerminalError,
            "PostgreSQL foreign key check failed at commit: {message}{detail}. A stored child row references a "
            "parent row that is gone (deleted by this run, or its table is not written by this run, so the run "
            "could not quarantine the child); nothing was written. Write parent and child tables in the same run, "
            "or open the sink with foreign_keys: false.",
        ),
    ]


def translate(pg: Any, exc: Exception, info: dict[str, str], *, connection_lost: bool) -> SinkError:
    """A failed statement (``pg`` is the psycopg module); the caller raises the result ``from exc``."""
    diag = getattr(exc, "diag", None)
    message = redact((diag.message_primary if diag else None) or str(exc).strip(), info)
    detail = redact(f" ({diag.message_detail})" if diag and diag.message_detail else "", info)
    where = display(info)
    m = re.search(r"permission denied for (\w+) (\S+)", message)
    what = f"{m.group(1)} {m.group(2)}" if m else f"an object ({message})"
    user = info.get("user") or "(default user)"
    fields = {"message": message, "detail": detail, "where": where, "what": what, "user": user}
    error = translate_with(errors(pg), exc, **fields)
    if error is not None:
        return error
    if isinstance(exc, pg.OperationalError) and connection_lost:
        return connect_error(exc, info)
    return SinkTerminalError(f"PostgreSQL error on {where}: {message}{detail}")
