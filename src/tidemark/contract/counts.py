"""Write modes and the per-table counts every write reports."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

Mode = Literal["overwrite", "append", "append_once", "upsert"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass(frozen=True)
class RowError:
    """One row that is not written (bad type, missing required value, no timestamp, NULL key, no parent row);
    quarantined."""

    table: str
    key: dict[str, Any]
    reason: str
    row: dict[str, Any]
    origin: str


@dataclass
class WriteCounts:
    """What a write did to one table. ``error`` rows were quarantined, never written.

    - inserted: new keys written
    - updated: stored rows replaced by newer ones (or by the tie-break winner at an equal timestamp)
    - unchanged: same key, same timestamp, same content: nothing written
    - skipped: older than what is stored (or than the scope's watermark), or an existing key in append_once
    - deleted: rows removed by reconciliation (absent from a newer snapshot) or by overwrite
    - error: rows refused (no timestamp, no key, a value of the wrong type, no parent row) and quarantined

    ``refused`` lists the rows a *sink* refused (a child row whose parent row is not stored, contract/orphans.py):
    the transaction quarantines them (runtime/transaction.py); they are in ``error`` too.
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    error: int = 0
    refused: list[RowError] = field(default_factory=list, compare=False, repr=False)

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        for name in _COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.refused:
            self.refused = [*self.refused, *other.refused]
        return self

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in _COUNTS}

    @property
    def rows_seen(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.skipped + self.error


_COUNTS = tuple(f.name for f in fields(WriteCounts) if f.name != "refused")
