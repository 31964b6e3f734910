"""The lake sinks and the raw directory store on S3: moto's S3 server on loopback (tests/s3server.py), driven
through the ``tidemark`` command and the Python API as a user would, read back from the bucket."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import tidemark
from tests.conformance.tables import GAMES
from tests.conftest import GAME_747175, snapshot, write_docs
from tests.s3server import S3Server, s3_server_fixture  # noqa: F401  (the session's server)
from tidemark.cli.main import app
from tidemark.compile.plan import compile_mapping
from tidemark.contract.prepare import prepare
from tidemark.errors import SinkConflictError
from tidemark.mapping.loader import load_mapping
from tidemark.sinks import open_sink

PLAN = compile_mapping(load_mapping("mlb:live_game")[0])
PLAYS = "game.live_game_plays"
PITCHES = "game.live_game_pitch_events"
runner = CliRunner()


def _spec(name: str) -> Any:
    return next(t.spec for t in PLAN.targets if t.name == name)


def _rows(url: str, table: str) -> list[dict[str, Any]]:
    with open_sink(url) as sink:
        return sink.read_table(_spec(table)).to_pylist()  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", ["parquet", "csv", "delta"])
def test_run_the_bundled_game_twice_into_s3(s3_server: S3Server, kind: str) -> None:
    url = f"{kind}:{s3_server.url(kind)}"
    args = ["run", "--mapping", "mlb:live_game", "--sink", url, "--input", str(GAME_747175), "--json"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert len(_rows(url, PITCHES)) == 290 and len(_rows(url, PLAYS)) == 75

    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    skipped = tidemark.run(PLAN, [GAME_747175], url)  # through the Python API: applied before, not parsed again
    assert (skipped.documents, skipped.unchanged_documents) == (0, 1)
    result = tidemark.run(PLAN, [GAME_747175], url, reprocess=True)  # applied again: every row unchanged
    assert result.ok
    assert result.tables[PITCHES].as_dict()["unchanged"] == 290
    assert result.tables[PITCHES].as_dict()["inserted"] == 0
    assert len(_rows(url, PITCHES)) == 290
    assert s3_server.keys(url.partition(":")[2]), "nothing was written to the bucket"


@pytest.mark.parametrize("kind", ["parquet", "delta"])
def test_newer_wins_and_older_is_skipped_on_s3(
    s3_server: S3Server, kind: str, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    url = f"{kind}:{s3_server.url(kind)}"
    early = write_docs(tmp_path / "early", [snapshot(feed_747175, timestamp="20240713_020000")])
    first = tidemark.run(PLAN, early, url)
    newer = tidemark.run(PLAN, [GAME_747175], url)
    older = tidemark.run(PLAN, early, url, reprocess=True)  # not skipped as applied before: through the contract
    assert first.ok and newer.ok and older.ok
    assert first.tables[PLAYS].as_dict()["inserted"] == 75
    assert newer.tables[PLAYS].as_dict()["updated"] == 75  # a newer snapshot of every play
    assert older.tables[PLAYS].as_dict()["skipped"] == 75  # the older one again: refused row by row
    column = _spec(PLAYS).timestamp
    stamp = feed_747175["metaData"]["timeStamp"]
    assert {r[column].strftime("%Y%m%d_%H%M%S") for r in _rows(url, PLAYS)} == {stamp}


def test_a_second_writer_on_s3_is_refused_not_lost(s3_server: S3Server) -> None:
    url = f"parquet:{s3_server.url('race')}"
    one, two = open_sink(url), open_sink(url)
    assert not one.capabilities.concurrent_writers and one.capabilities.transactional
    rows = pa.table(
        {"game_pk": [1], "status": ["Live"], "captured_at": [datetime(2024, 7, 13, tzinfo=UTC)]},
    )
    prepared = prepare(rows, GAMES, "upsert")
    one.begin(), two.begin()
    for sink in (one, two):
        sink.ensure_table(GAMES)
        sink.write(GAMES, prepared.rows, None, "upsert")
    one.commit()
    with pytest.raises(SinkConflictError, match="another writer committed"):
        two.commit()
    assert _count(url) == 1  # the first writer's commit stands; the second changed nothing
    assert not [k for k in s3_server.keys(url[8:]) if k.endswith(".parquet")][1:]  # its files were removed


def _count(url: str) -> int:
    with open_sink(url) as sink:
        return sink.read_table(GAMES).num_rows


def test_the_raw_store_on_s3_imports_lists_and_streams_into_duckdb(
    s3_server: S3Server, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    raw = s3_server.url("raw")
    early = write_docs(tmp_path / "early", [snapshot(feed_747175, timestamp="20240713_020000")])
    assert runner.invoke(app, ["raw", "import", raw, str(early[0])]).exit_code == 0
    imported = runner.invoke(app, ["raw", "import", raw, str(GAME_747175), str(early[0])])
    assert imported.exit_code == 0, imported.output
    segments = [k for k in s3_server.keys(raw) if "/_segments/" in k]
    assert len(segments) == 2  # one new object per append; the duplicate was not written again

    listed = runner.invoke(app, ["raw", "ls", raw, "--json"])
    assert listed.exit_code == 0, listed.output
    listing = json.loads(listed.stdout)
    assert [(e["endpoint"], e["method"], e["records"]) for e in listing["endpoints"]] == [("game", "liveGameV1", 2)]

    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    args = ["stream", "-m", "mlb:live_game", "--raw", raw, "-s", sink, "--once", "--name", "s3"]
    streamed = runner.invoke(app, args)
    assert streamed.exit_code == 0, streamed.output
    again = runner.invoke(app, args)  # nothing new: the checkpoint is past both segments
    assert again.exit_code == 0, again.output
    plays = _rows(sink, PLAYS)
    assert len(plays) == 75
    stamp = feed_747175["metaData"]["timeStamp"]
    assert {r[_spec(PLAYS).timestamp].strftime("%Y%m%d_%H%M%S") for r in plays} == {stamp}
