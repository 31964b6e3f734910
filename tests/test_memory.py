"""Memory stays flat with the number of documents: ``tidemark run`` in a child process over N and 4N copies of the
bundled game (distinct gamePks), first load and unchanged re-run, peak RSS read with ``getrusage`` of the child.

The margin is generous (the interpreter, DuckDB and one batch of decoded documents are a fixed cost of a few hundred
MB; what must not happen is a cost per document: before the applied-documents ledger and the commit steps, 4N cost
~1.5x N on a first load and ~2.3x on an unchanged re-run, and a season of 2,430 games 1.8 / 6.1 GB)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GAME_747175, load_envelope

N = 25
MB = 1024  # ru_maxrss is in KiB on Linux


def corpus(directory: Path, games: int) -> Path:
    """``games`` copies of the bundled live feed, each under its own gamePk (one file each, plain JSON)."""
    envelope = load_envelope(GAME_747175)
    directory.mkdir(parents=True)
    for i in range(games):
        envelope["response"]["gamePk"] = 900_000 + i
        (directory / f"game_{900_000 + i}.json").write_bytes(json.dumps(envelope).encode())
    return directory


def peak_mb(*args: str) -> tuple[float, dict[str, Any]]:
    """Run ``tidemark ARGS --json`` as the only child of a fresh process (so that its getrusage sees that one
    alone) -> peak RSS in MB, the run's summary."""
    probe = (
        "import resource, subprocess, sys\n"
        "p = subprocess.run([*sys.argv[1:], '--json'], capture_output=True, text=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, p.returncode)\n"
        "print(p.stdout + p.stderr)\n"
    )
    tidemark = str(Path(sys.executable).with_name("tidemark"))
    done = subprocess.run([sys.executable, "-c", probe, tidemark, *args], capture_output=True, text=True, check=True)
    first, _, output = done.stdout.partition("\n")
    kib, code = first.split()
    assert code == "0", output
    return int(kib) / MB, json.loads(output)


@pytest.mark.slow
def test_peak_memory_is_flat_between_n_and_4n_documents(tmp_path: Path) -> None:
    peaks: dict[int, tuple[float, float]] = {}
    for games in (N, 4 * N):
        inputs = corpus(tmp_path / f"in{games}", games)
        args = ("run", "--mapping", "mlb:live_game", "--input", str(inputs), "--sink", f"duckdb:{tmp_path}/{games}.db")
        first, loaded = peak_mb(*args)
        assert (loaded["documents"], loaded["counts"]["inserted"] > 0) == (games, True)
        again, skipped = peak_mb(*args)
        assert (skipped["documents"], skipped["unchanged_documents"]) == (0, games)
        peaks[games] = (first, again)
    (small_first, small_again), (big_first, big_again) = peaks[N], peaks[4 * N]
    assert big_first < small_first * 1.5 + 150, peaks
    assert big_again < small_again * 1.5 + 150, peaks
    assert big_again < big_first, peaks  # a re-run that parses nothing needs less than a load
