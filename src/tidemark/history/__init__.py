"""Run history: the run ledger ``_tidemark.runs`` (ledger.py), what a store holds (status.py) and its quarantine
(quarantine.py). docs/history.md."""

from __future__ import annotations
