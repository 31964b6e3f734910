"""A DuckDB file held open by another process (a notebook) (issue 18, item 11): one line that says so and what to
do; ``duckdb:FILE?wait=SECONDS`` waits for the other process to let go."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tidemark.errors import SinkTransientError
from tidemark.sinks import open_sink, parse_sink_url
from tidemark.sinks.duckdb import DuckDBConfig

HOLD = (
    "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read(); con.close()"
)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """A DuckDB file, open for writing in another process until its stdin closes."""
    path = tmp_path / "notebook.duckdb"
    duckdb.connect(str(path)).close()
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    yield path, proc
    if proc.stdin is not None and not proc.stdin.closed:
        proc.stdin.close()
    proc.wait(timeout=60)


def test_a_file_open_in_another_process_says_so_and_what_to_do(held: tuple[Path, subprocess.Popen[str]]) -> None:
    path, proc = held
    with pytest.raises(SinkTransientError) as info:
        open_sink(f"duckdb:{path}")
    message = str(info.value)
    assert message.startswith(f"DuckDB file {path} is open in another process {proc.pid} (")
    assert "close it there (a notebook: con.close(), or restart its kernel) and run again" in message
    assert f"--sink 'duckdb:{path}?wait=60'" in message
    assert "\n" not in message


def test_wait_retries_until_the_other_process_lets_go(held: tuple[Path, subprocess.Popen[str]]) -> None:
    path, proc = held
    opened: list[object] = []
    worker = threading.Thread(target=lambda: opened.append(open_sink(f"duckdb:{path}?wait=120")))
    worker.start()
    assert proc.stdin is not None
    proc.stdin.close()  # the notebook closes its connection; the waiting open then succeeds
    assert proc.wait(timeout=60) == 0
    worker.join(timeout=120)
    assert not worker.is_alive()
    (sink,) = opened
    sink.close()  # type: ignore[attr-defined]


def test_wait_in_the_sink_url() -> None:
    assert parse_sink_url("duckdb:out/w.duckdb?wait=30") == DuckDBConfig(path="out/w.duckdb", wait_seconds=30)
    assert parse_sink_url("duckdb:out/w.duckdb") == DuckDBConfig(path="out/w.duckdb")
    assert parse_sink_url("duckdb:odd?name.duckdb") == DuckDBConfig(path="odd?name.duckdb")  # not a wait: a path
