"""bench/season.py runs end to end on a tiny season (its figures are printed, never asserted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_season_benchmark_runs_on_two_games(tmp_path: Path) -> None:
    command = [sys.executable, "bench/season.py", "--games", "2", "--dlt-games", "0", "--no-postgres"]
    done = subprocess.run([*command, "--dir", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    measures = ("floor: read + orjson.loads", "floor + plain INSERT (DuckDB)", "extract, 2 worker(s)", "duckdb older")
    for measure in (*measures, "duckdb first load"):
        assert any(line.startswith(measure) for line in lines), measure
    assert "'inserted': 0, 'updated': 0, 'unchanged': " in done.stdout  # the unchanged re-run wrote nothing
    assert "DuckDB first load / (read + orjson.loads + plain INSERT of the same tables): CPU " in done.stdout
    assert list(tmp_path.iterdir()) == []  # the corpus is removed afterwards
