"""bench/extract.py runs end to end on a tiny corpus (its figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_extraction_benchmark_runs_on_two_games_next_to_a_before_tree(tmp_path: Path) -> None:
    # --before pointed at this very tree: the side-by-side rows are printed for both
    command = [sys.executable, "bench/extract.py", "--games", "2", "--before", str(ROOT / "src")]
    done = subprocess.run([*command, "--dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = {line.split("  ")[0]: line.split() for line in done.stdout.splitlines() if "  " in line}
    for measure in ("floor: read + orjson.loads", "extract, 1 process", "extract, 1 process (before)",
                    "DuckDB first load", "DuckDB first load (before)"):  # fmt: skip
        assert measure in rows, (measure, done.stdout)
    assert rows["extract, 1 process"][3] == "2"  # both documents extracted
    assert list(tmp_path.iterdir()) == []  # the corpus is removed afterwards
