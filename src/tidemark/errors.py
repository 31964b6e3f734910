"""The tidemark exception tree.

Every error a user can cause or meet derives from :class:`TidemarkError` and carries a message that says what
failed, where, and what to do next. Driver exceptions are translated once, at the plug-in boundary (for sinks:
``sinks/errors.py``, one table per driver), and chained with ``raise ... from exc``::

    TidemarkError
    ├── ConfigError            bad CLI arguments, sink URLs, options
    ├── MappingError           a mapping file that cannot be loaded or compiled (file:line:col + YAML path)
    ├── SourceError            input that cannot be read at all (a missing path)
    ├── SinkError              a store refused or failed a write
    │   ├── SinkTransientError     (+ Transient) worth retrying (lock, serialization failure, network blip)
    │   │   └── SinkConflictError      another writer conflicted (deadlock, serialization failure): rerun the run
    │   └── SinkTerminalError      (+ Terminal) retrying will not help (constraint, permission, incompatible schema)
    ├── ContractError          data that violates the write contract before anything is written
    ├── MissingDependencyError an optional driver is not installed (names the pip extra)
    ├── Transient              mixin: retrying may succeed (``except Transient`` catches any family's)
    └── Terminal               mixin: retrying will not help

Whether to retry is a mixin, not a branch of the tree, so any family can have both kinds (as dlt's
``common/exceptions.py`` does): a sink's are above; a source's would be ``SourceTransientError(SourceError,
Transient)`` (an API timeout) next to ``SourceError``. Callers decide on ``isinstance(exc, Transient)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TidemarkError(Exception):
    """Base class of every error tidemark raises on purpose."""


class ConfigError(TidemarkError):
    """Invalid configuration: CLI arguments, sink URLs, options."""


class MappingError(TidemarkError):
    """A mapping file failed to load, validate or compile.

    ``problems`` lists every problem found (each already formatted with its location); the message joins them.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = len(problems)
        head = "invalid mapping" if count == 1 else f"invalid mapping ({count} problems)"
        super().__init__(head + ":\n  " + "\n  ".join(problems))


class SourceError(TidemarkError):
    """Input that cannot be read at all (as opposed to one bad document, which is rejected and reported)."""


class SinkError(TidemarkError):
    """A sink failed to write; the run's transaction was rolled back."""


class Transient(TidemarkError):
    """Mixin of errors that may go away when the operation is retried."""


class Terminal(TidemarkError):
    """Mixin of errors that retrying will not fix."""


class SinkTransientError(SinkError, Transient):
    """A failure that may succeed when retried (locks, serialization failures, dropped connections)."""


class SinkConflictError(SinkTransientError):
    """Another writer conflicted (deadlock, serialization failure); the transaction was rolled back as a whole.

    Nothing of the run was written, so the whole run can run again: the batch runtime does, a bounded number of
    times, when its inputs can be read again.
    """


class SinkTerminalError(SinkError, Terminal):
    """A failure that retrying will not fix (constraints, permissions, incompatible schema)."""


class ContractError(TidemarkError):
    """Input that the write contract refuses before anything is written (no keys for upsert, bad timestamp)."""


class MissingDependencyError(TidemarkError):
    """An optional dependency is missing; the message names the pip extra that installs it."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(f"{package} is not installed: pip install 'tidemark-etl[{extra}]'")


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` for the closest choice, or ``""`` when nothing is close."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
