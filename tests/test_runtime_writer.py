"""The run's writer: tables are prepared in a worker thread while the previous one is written; a failure in the
middle of a run still rolls everything back and leaves no thread behind."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import tidemark
from tests.conftest import GAME_747175
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.errors import SinkTerminalError
from tidemark.sinks.base import META_SCHEMA
from tidemark.sinks.duckdb import DuckDBConfig, DuckDBSink
from tidemark.tables import TableSpec


class FailingSink(DuckDBSink):
    """A real DuckDB sink whose n-th write fails (fault injection: everything else is the real store)."""

    def __init__(self, config: DuckDBConfig, fail_at: int) -> None:
        super().__init__(config)
        self.writes: list[str] = []
        self.fail_at = fail_at

    def write(self, spec: TableSpec, rows: pa.Table, scopes: pa.Table | None, mode: Mode) -> WriteCounts:
        if spec.schema == META_SCHEMA:  # the run ledger (written last in the transaction; after a failure, alone)
            return super().write(spec, rows, scopes, mode)
        self.writes.append(spec.qualified)
        if len(self.writes) == self.fail_at:
            raise SinkTerminalError(f"disk full while writing {spec.qualified}")
        return super().write(spec, rows, scopes, mode)


def prepare_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tidemark-prepare")]


def test_tables_are_written_in_plan_order_with_the_counts_of_a_plain_run(tmp_path: Path) -> None:
    sink = FailingSink(DuckDBConfig(path=str(tmp_path / "a.duckdb")), fail_at=0)
    result = tidemark.run("mlb:live_game", [GAME_747175], sink)
    plain = tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{tmp_path / 'b.duckdb'}")
    data_writes = [w for w in sink.writes if not w.startswith("_tidemark.")]  # then the applied-documents ledger
    assert data_writes == list(result.tables)  # parents before children, each table once for one batch
    assert {n: c.as_dict() for n, c in result.tables.items()} == {n: c.as_dict() for n, c in plain.tables.items()}
    assert result.tables["game.live_game_pitch_events"].inserted == 290
    # every stage is reported, as a duration a summary can print (how long it took is not the test's business)
    assert set(result.seconds) == {"extract", "prepare", "write"}
    assert all(isinstance(s, float) and math.isfinite(s) and s >= 0 for s in result.seconds.values())
    assert not prepare_threads()


def test_a_write_failing_mid_run_rolls_back_and_stops_the_worker(tmp_path: Path) -> None:
    db = tmp_path / "fail.duckdb"
    tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}")  # stored before: must survive the failed run
    con = duckdb.connect(str(db))
    before = con.execute("SELECT count(*), max(captured_at) FROM game.live_game_plays").fetchone()
    con.close()
    sink = FailingSink(DuckDBConfig(path=str(db)), fail_at=5)
    newer = tmp_path / "newer.json"
    newer.write_bytes(_newer_feed())
    with pytest.raises(SinkTerminalError, match="disk full while writing"):
        tidemark.run("mlb:live_game", [newer], sink)
    sink.close()
    assert len(sink.writes) == 5
    assert not prepare_threads()
    con = duckdb.connect(str(db))
    assert con.execute("SELECT count(*), max(captured_at) FROM game.live_game_plays").fetchone() == before
    con.close()


def _newer_feed() -> bytes:
    """The bundled feed one hour later (metaData.timeStamp is the snapshot time)."""
    import gzip

    import orjson

    envelope = orjson.loads(gzip.decompress(GAME_747175.read_bytes()))
    stamp = envelope["response"]["metaData"]["timeStamp"]  # e.g. 20240713_041909
    envelope["response"]["metaData"]["timeStamp"] = f"{stamp[:9]}{int(stamp[9:11]) + 1:02d}{stamp[11:]}"
    return orjson.dumps(envelope)
