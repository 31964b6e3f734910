"""The error a ``fail`` quality rule raises (a :class:`~tidemark.errors.TidemarkError`; the run is rolled back)."""

from __future__ import annotations

from typing import Any

from tidemark.errors import TidemarkError


class QualityError(TidemarkError):
    """Rows broke a quality rule whose action is ``fail``: the run was rolled back, nothing was written.

    ``table`` and ``rule`` name the rule, ``rows`` counts the rows that broke it in the batch, ``key`` is the first
    such row's primary key.
    """

    def __init__(self, table: str, rule: str, text: str, rows: int, key: dict[str, Any]) -> None:
        self.table, self.rule, self.rows, self.key = table, rule, rows, key
        where = f" (first: {key})" if key else ""
        super().__init__(
            f"quality rule {rule!r} of {table} failed: {rows} row(s) break {text}{where}; nothing was written. "
            "Fix the input or the rule, or set the rule's action to quarantine or warn"
        )


__all__ = ["QualityError"]
