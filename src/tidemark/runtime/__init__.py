"""Running plans: a batch run (batch.py) in one transaction (transaction.py), its result and reporter (result.py);
streaming and checkpoints plug in here."""

from __future__ import annotations

from tidemark.runtime.batch import run
from tidemark.runtime.result import NullReporter, Reporter, RunResult
from tidemark.runtime.transaction import CONFLICT_RETRIES, Transaction, retry_conflicts

__all__ = ["CONFLICT_RETRIES", "NullReporter", "Reporter", "RunResult", "Transaction", "retry_conflicts", "run"]
