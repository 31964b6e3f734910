"""Write modes and the per-table counts every write reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, get_args

Mode = Literal["overwrite", "append", "append_once", "upsert"]
MODES: tuple[str, ...] = get_args(Mode)


@dataclass
class WriteCounts:
    """What a write did to one table. ``error`` rows were quarantined, never written.

    - inserted: new keys written
    - updated: stored rows replaced by newer ones (or by the tie-break winner at an equal timestamp)
    - unchanged: same key, same timestamp, same content: nothing written
    - skipped: older than what is stored (or than the scope's watermark), or an existing key in append_once
    - deleted: rows removed by reconciliation (absent from a newer snapshot) or by overwrite
    - error: rows refused (no timestamp, no key, a value of the wrong type) and quarantined
    """

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    deleted: int = 0
    error: int = 0

    def __iadd__(self, other: WriteCounts) -> WriteCounts:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    @property
    def rows_seen(self) -> int:
        return self.inserted + self.updated + self.unchanged + self.skipped + self.error
