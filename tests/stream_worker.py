"""The process a crash test kills: ``tidemark`` (the real CLI, ``main()``) with the given arguments.

Processes are forked from a fork server that has imported tidemark and the stores' drivers already
(:func:`context`), so a test can start and SIGKILL dozens of them without paying the interpreter's start-up each
time; each is still a process of its own, killed for real.
"""

from __future__ import annotations

import multiprocessing
import sys
from multiprocessing.context import ForkServerContext

PRELOAD = [
    "tidemark.cli.main",
    "tidemark.cli.stream",
    "tidemark.runtime.stream",
    "tidemark.raw.directory",
    "tidemark.sinks.duckdb",
    "tidemark.sinks.postgres",
    "tidemark.sinks.delta",
    "tidemark.sinks.parquet",
    "tidemark.engines.local",
    "tests.stream_worker",
]


def context() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def tidemark(argv: list[str]) -> None:
    """Run the ``tidemark`` command with ``argv``; the process exits with its exit code."""
    import os

    from tidemark.cli.main import main

    devnull = os.open(os.devnull, os.O_WRONLY)  # the summary is not read: the test reads the store
    os.dup2(devnull, 1)
    sys.argv = ["tidemark", *argv]
    main()
