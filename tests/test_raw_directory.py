"""The raw directory: recorded files and segments in one order, a directory that gains files while a reader follows
it, corrupt records (a segment line that is not JSON, a truncated .gz) coming back with their position and an
error, and the ``tidemark raw`` commands."""

from __future__ import annotations

import gzip
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import duckdb
from typer.testing import CliRunner

from tests.conftest import DATA, GAME_747175
from tidemark.cli.main import app
from tidemark.documents import Position
from tidemark.raw import RawSource, open_raw
from tidemark.raw.base import record_from_response
from tidemark.raw.directory import SEGMENTS
from tidemark.raw.sql import TABLE

T0 = datetime(2024, 10, 27, 23, 0, tzinfo=UTC)


def recorded(tmp_path: Path) -> Path:
    """A copy of the recorded boxscore and schedule folders, as a raw directory."""
    raw = tmp_path / "raw"
    for folder in ("game/boxscore", "schedule/schedule"):
        shutil.copytree(DATA / folder, raw / folder)
    return raw


def test_recorded_files_and_segments_share_one_order(tmp_path: Path) -> None:
    raw = recorded(tmp_path)
    with open_raw(str(raw)) as store:
        before = store.read()
        assert len(before) == 8 and all(p.position is not None and p.position[1] == 0 for p in before)
        store.append([record_from_response("game", "linescore", b'{"innings": []}', T0)])
        after = store.read()
    assert after[:8] == before and len(after) == 9
    last = after[-1].position
    assert last is not None and last[1] == 1 and last[0] > max(p.position[0] for p in before if p.position)


def test_a_directory_that_gains_files_while_it_is_followed(tmp_path: Path) -> None:
    raw = recorded(tmp_path)
    with open_raw(str(raw)) as store:
        seen = store.read()
        cursor: Position | None = seen[-1].position
        assert store.read(cursor) == []
        # a recorded file copied in (modification time: now), then an append, then another copied file
        target = raw / "game" / "liveGameV1"
        target.mkdir(parents=True)
        shutil.copy(GAME_747175, target / GAME_747175.name)
        new = store.read(cursor)
        assert [(r.endpoint, r.method) for r in new] == [("game", "liveGameV1")]
        cursor = new[-1].position
        store.append([record_from_response("game", "linescore", b'{"innings": []}', T0)])
        second = target / "copy.json"
        second.write_bytes(b'{"endpoint": "game", "method": "liveGameV1", "response": {"x": 1}}')
        later = store.read(cursor)
    assert [(r.method, r.origin.endswith("copy.json")) for r in later] == [("linescore", False), ("liveGameV1", True)]
    assert len(RawSource(str(raw)).store.read(limit=100)) == 11


def test_a_file_copied_with_an_old_modification_time_sorts_where_its_time_says(tmp_path: Path) -> None:
    # documented: cp -p / rsync -a keep an old time; such a file sorts before a stream that has read past it
    raw = recorded(tmp_path)
    with open_raw(str(raw)) as store:
        cursor = store.read()[-1].position
        old = raw / "game" / "boxscore" / "old.json"
        old.write_bytes(b'{"endpoint": "game", "method": "boxscore", "response": {"x": 1}}')
        os.utime(old, ns=(10**18, 10**18))  # 2001
        assert store.read(cursor) == []
        assert any(r.origin.endswith("old.json") for r in store.read())


def test_a_segment_line_that_is_not_json_comes_back_with_its_position(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    with open_raw(str(raw), create=True) as store:
        store.append([record_from_response("game", "linescore", b'{"n": %d}' % i, T0) for i in range(3)])
        (segment,) = (raw / SEGMENTS).glob("*.ndjson.gz")
        lines = gzip.decompress(segment.read_bytes()).splitlines(keepends=True)
        lines[1] = b'{"fetched_at": "2024-10-27T23:00:00+00:00", "content_hash": "x", "document": {oops\n'
        segment.write_bytes(gzip.compress(b"".join(lines)))
        got = store.read()
        # the stream's view: the corrupt record is a document with an error, and reading goes on past it
        docs = list(RawSource(store, select="game/linescore").read())
    assert [r.error is None for r in got] == [True, False, True]
    assert got[1].position == (*(got[0].position or ())[:3], 2)
    assert "not a raw record" in (got[1].error or "") and got[1].origin.endswith(":2")
    assert [d.error is None for d in docs] == [True, False, True] and docs[1].position == got[1].position


def test_a_truncated_gz_comes_back_with_its_position(tmp_path: Path) -> None:
    raw = recorded(tmp_path)
    with open_raw(str(raw), create=True) as store:
        store.append([record_from_response("game", "linescore", b'{"n": %d}' % i, T0) for i in range(200)])
        (segment,) = (raw / SEGMENTS).glob("*.ndjson.gz")
        data = segment.read_bytes()
        segment.write_bytes(data[: len(data) // 2])
        box = next((raw / "game" / "boxscore").glob("*.json.gz"))
        mtime = box.stat().st_mtime_ns
        box.write_bytes(box.read_bytes()[:1000])
        os.utime(box, ns=(mtime, mtime))
        got = store.read(limit=1000)
    broken = [r for r in got if r.error is not None]
    assert len(broken) == 2
    file_error, segment_error = sorted(broken, key=lambda r: r.position[1] if r.position else 0)
    assert file_error.position == (mtime, 0, f"game/boxscore/{box.name}", 0) and "cannot read file" in (
        file_error.error or ""
    )
    good = [r for r in got if r.error is None and r.method == "linescore"]
    assert 0 < len(good) < 200
    assert segment_error.position is not None and segment_error.position[3] == len(good) + 1
    assert got[-1] is segment_error  # the segment's good lines, then where it breaks


def test_a_corrupt_document_in_duckdb_comes_back_with_its_position(tmp_path: Path) -> None:
    url = f"duckdb:{tmp_path / 'raw.duckdb'}"
    with open_raw(url, create=True) as store:
        store.append([record_from_response("game", "linescore", b'{"n": %d}' % i, T0) for i in range(3)])
    con = duckdb.connect(str(tmp_path / "raw.duckdb"))
    con.execute(f"UPDATE {TABLE} SET document = 'not gzip'::BLOB WHERE position = 2")
    con.close()
    with open_raw(url) as store:
        got = store.read()
    assert [(r.position, r.error is None) for r in got] == [((1,), True), ((2,), False), ((3,), True)]
    assert "does not decompress" in (got[1].error or "")


def test_cli_import_and_ls(tmp_path: Path) -> None:
    runner = CliRunner()
    raw = tmp_path / "raw"
    first = runner.invoke(app, ["raw", "import", str(raw), str(DATA / "game")])
    assert first.exit_code == 0, first.output
    assert "13 appended, 0 duplicates (13 files)" in first.output
    again = runner.invoke(app, ["raw", "import", str(raw), str(DATA)])
    assert again.exit_code == 0 and "37 appended, 13 duplicates (50 files)" in again.output
    listed = runner.invoke(app, ["raw", "ls", str(raw)])
    assert listed.exit_code == 0 and f"{raw}: 50 records" in listed.output
    assert "game/liveGameV1" in listed.output and " 7 " in listed.output


def test_cli_import_reports_documents_that_are_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "in" / "game" / "boxscore" / "bad.json"
    bad.parent.mkdir(parents=True)
    bad.write_text("{not json")
    result = CliRunner().invoke(app, ["raw", "import", f"duckdb:{tmp_path / 'r.duckdb'}", str(tmp_path / "in")])
    assert result.exit_code == 1
    assert "not appended: " in result.output and "0 appended, 0 duplicates, 1 not appended" in result.output


def test_cli_ls_of_a_store_that_is_not_there(tmp_path: Path) -> None:
    from tidemark.errors import SourceError

    result = CliRunner().invoke(app, ["raw", "ls", str(tmp_path / "nope")])
    assert result.exit_code != 0 and isinstance(result.exception, SourceError)
    assert "not found" in str(result.exception) and "tidemark raw import" in str(result.exception)
