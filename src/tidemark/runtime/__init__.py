"""Running plans: batch runs today; streaming and checkpoints plug in here."""

from __future__ import annotations

from tidemark.runtime.batch import NullReporter, Reporter, RunResult, run

__all__ = ["NullReporter", "Reporter", "RunResult", "run"]
