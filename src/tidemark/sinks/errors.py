"""Driver exceptions translated once, at the sink boundary: one helper, one table per driver.

A driver module declares an :data:`ErrorTable`: rows of (driver exception class, tidemark error class, message
template), most specific first. :func:`translate` picks the first row the exception is an instance of and formats its
template with ``exc`` (the driver's text) and any fields the driver passes (host, user...); the caller raises the
result ``from exc``. An exception no row names is not the driver's: it is returned as None and re-raised as is.
"""

from __future__ import annotations

from typing import Any

from tidemark.errors import SinkError

#: (driver exception class or classes, tidemark error class, message template)
ErrorTable = list[tuple[type[BaseException] | tuple[type[BaseException], ...], type[SinkError], str]]


def translate(table: ErrorTable, exc: BaseException, **fields: Any) -> SinkError | None:
    """The tidemark error for ``exc`` by the first matching row of ``table`` (None: no row matches)."""
    for driver_error, error, template in table:
        if isinstance(exc, driver_error):
            return error(template.format(exc=exc, **fields))
    return None
