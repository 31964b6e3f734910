"""Memory of a stream is bounded by its micro-batch, not by the raw store: the peak RSS of a child process running
``tidemark stream --once`` over a raw store of N records and over one of 4N records (same micro-batch) stays flat
(a generous margin: the interpreter, the engine and the sink's buffers are the same in both)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.stream_data import MAPPING, wave
from tidemark.raw import open_raw

WAVES = 3  # the small store: 3 waves of 2 games, 6 snapshots each (36 records); the large one: 4 times as many
CHILD = """
import atexit, resource, sys
atexit.register(lambda: sys.stderr.write(f"MAXRSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n"))
from tidemark.cli.main import main
sys.argv = ["tidemark", *sys.argv[1:]]
main()
"""


def peak_kib(tmp_path: Path, waves: int) -> int:
    raw = tmp_path / f"raw{waves}"
    with open_raw(str(raw), create=True) as store:
        for number in range(waves):
            store.append(wave(number, seed=5))
        assert store.count() == waves * 12
    db = tmp_path / f"sink{waves}.duckdb"
    argv = ["stream", "-m", MAPPING, "--raw", str(raw), "-s", f"duckdb:{db}", "--once", "--batch-documents", "4"]
    done = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert f"({waves * 3:,} micro-batches in all)" in done.stdout
    line = next(line for line in done.stderr.splitlines() if line.startswith("MAXRSS "))
    return int(line.split()[1])


@pytest.mark.slow
def test_peak_memory_of_a_stream_does_not_grow_with_the_raw_store(tmp_path: Path) -> None:
    small = peak_kib(tmp_path, WAVES)
    large = peak_kib(tmp_path, 4 * WAVES)
    print(f"peak RSS: {small:,} KiB for {WAVES * 12} records, {large:,} KiB for {4 * WAVES * 12}")  # -s shows it
    assert large < small * 1.25 + 32 * 1024, (small, large)  # KiB: flat within 25 % + 32 MB
