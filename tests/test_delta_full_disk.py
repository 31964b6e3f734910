"""A full disk under Delta (issue 18, item 10): one line that says so, which tables were written (each is one Delta
commit) and that a rerun completes the others. A real full disk: a small tmpfs, mounted for the test (skipped
where mounting is not permitted)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conformance.tables import GAMES, games_spec
from tidemark.contract.prepare import prepare
from tidemark.errors import SinkTransientError
from tidemark.sinks import open_sink
from tidemark.tables import Column
from tidemark.types import LogicalType

T1 = datetime(2024, 7, 13, 1, tzinfo=UTC)
BIG = games_spec("big", Column("blob", LogicalType("string")))


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB file system (tmpfs)."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def run(url: str) -> None:
    """One run: a small table, then one too big for the disk."""
    games = pa.table({"game_pk": pa.array([1], pa.int64()), "status": ["Live"], "captured_at": pa.array([T1])})
    n = 3000  # ~2.4 MB of random text: does not fit in 1 MB
    big = pa.table(
        {
            "game_pk": pa.array(range(n), pa.int64()),
            "blob": [os.urandom(400).hex() for _ in range(n)],
            "captured_at": pa.array([T1] * n),
        }
    )
    with open_sink(url) as sink:
        sink.begin()
        for spec in (GAMES, BIG):
            sink.ensure_table(spec)
        sink.write(GAMES, prepare(games, GAMES, "upsert").rows, None, "upsert")
        sink.write(BIG, prepare(big, BIG, "upsert").rows, None, "upsert")
        sink.commit()


def test_a_full_disk_says_which_tables_were_written_and_that_a_rerun_completes(small_disk: Path) -> None:
    url = f"delta:{small_disk / 'store'}"
    with pytest.raises(SinkTransientError) as info:
        run(url)
    message = str(info.value)
    assert message == (
        f"no space left on the device holding {small_disk / 'store'}: free space there. Written before the "
        "failure: t.games; not written: t.big. Run the same input again: it completes them (a rerun is idempotent)"
    )
    with open_sink(url) as sink:
        assert sink.read_table(GAMES).num_rows == 1
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)  # space freed
    run(url)
    with open_sink(url) as sink:
        assert (sink.read_table(GAMES).num_rows, sink.read_table(BIG).num_rows) == (1, 3000)
