"""The raw store on every backend (one suite, like the sinks' conformance list): append and read back in position
order, dedup, positions strictly increasing, ``read(after=p)`` resuming exactly after ``p``, bounded reads, a
store that is not there, and ``tidemark.run`` over a raw store giving the same tables as over the files."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import DATA, GAME_747175, LIVE
from tidemark.documents import Position, position_key
from tidemark.errors import ConfigError, SourceError
from tidemark.raw import RawSource, open_raw
from tidemark.raw.base import RawRecord, content_hash, record_from_envelope, record_from_response
from tidemark.raw.decode import decode_record, envelope_head
from tidemark.raw.importer import import_paths

Url = Callable[[pytest.FixtureRequest, Path], str]


@dataclass(frozen=True)
class Backend:
    name: str
    url: Url  # -> the URL of a fresh store that does not exist yet
    marks: tuple[pytest.MarkDecorator, ...] = field(default=())


BACKENDS = [
    Backend("directory", lambda request, tmp_path: str(tmp_path / "raw")),
    Backend("duckdb", lambda request, tmp_path: f"duckdb:{tmp_path / 'raw.duckdb'}"),
    Backend("postgres", lambda request, tmp_path: request.getfixturevalue("pg_dsn"), (pytest.mark.postgres,)),
]


@pytest.fixture(params=[pytest.param(b, id=b.name, marks=b.marks) for b in BACKENDS])
def raw_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return request.param.url(request, tmp_path)  # type: ignore[no-any-return]


T0 = datetime(2024, 10, 27, 23, 0, tzinfo=UTC)


def record(n: int, *, game: int = 1, when: datetime = T0) -> RawRecord:
    """A small live-feed-like record: game ``game``, snapshot ``n``."""
    body = json.dumps({"gamePk": game, "metaData": {"timeStamp": f"20241027_2300{n % 60:02d}"}, "n": n}).encode()
    url = f"https://statsapi.mlb.com/api/v1.1/game/{game}/feed/live"
    return record_from_response("game", "liveGameV1", body, when, path_params={"game_pk": str(game)}, url=url)


def positions(records: list[RawRecord]) -> list[Position]:
    out = [r.position for r in records]
    assert all(p is not None for p in out)
    return out  # type: ignore[return-value]


def test_append_and_read_back_in_position_order(raw_url: str) -> None:
    with open_raw(raw_url, create=True) as store:
        first = store.append([record(i) for i in range(3)])
        second = store.append([record(i) for i in range(3, 5)])
        assert (first.appended, first.duplicates, second.appended) == (3, 0, 2)
        got = store.read()
    assert [json.loads(r.data)["response"]["n"] for r in got] == [0, 1, 2, 3, 4]
    assert positions(got) == first.positions + second.positions
    keys = [position_key(p) for p in positions(got)]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)  # strictly increasing
    r = got[0]
    assert (r.endpoint, r.method, r.path_params, r.query_params, r.status_code) == (
        "game",
        "liveGameV1",
        {"game_pk": "1"},
        {},
        200,
    )
    assert r.fetched_at == T0 and r.content_hash == content_hash(
        {"gamePk": 1, "metaData": {"timeStamp": "20241027_230000"}, "n": 0}
    )
    assert json.loads(r.data)["url"].endswith("/game/1/feed/live")


def test_an_identical_record_is_stored_once(raw_url: str) -> None:
    with open_raw(raw_url, create=True) as store:
        assert store.append([record(1), record(1, when=T0 + timedelta(minutes=1))]).appended == 1  # same batch
        again = store.append([record(1, when=T0 + timedelta(hours=1)), record(2)])
        other_game = store.append([record(1, game=2)])  # same content, another source: not a duplicate
        assert (again.appended, again.duplicates, other_game.appended) == (1, 1, 1)
        got = store.read()
    assert [(r.path_params["game_pk"], json.loads(r.data)["response"]["n"]) for r in got] == [
        ("1", 1),
        ("1", 2),
        ("2", 1),
    ]
    assert got[0].fetched_at == T0  # the first one is kept, never updated


def test_read_after_a_position_resumes_exactly_after_it(raw_url: str) -> None:
    with open_raw(raw_url, create=True) as store:
        for start in range(0, 12, 4):  # three appends
            store.append([record(i) for i in range(start, start + 4)])
        everything = store.read()
        assert len(everything) == 12
        for i, r in enumerate(everything):
            assert r.position is not None
            assert [json.loads(x.data)["response"]["n"] for x in store.read(after=r.position)] == list(range(i + 1, 12))
        # batch by batch, as a stream does: every record once, in order
        seen: list[RawRecord] = []
        cursor = None
        while batch := store.read(cursor, limit=5):
            assert len(batch) <= 5
            seen += batch
            cursor = batch[-1].position
        assert positions(seen) == positions(everything)


def test_reads_are_bounded_by_bytes_and_filtered_by_source(raw_url: str) -> None:
    with open_raw(raw_url, create=True) as store:
        store.append([record(i, game=1 + i % 2) for i in range(6)])
        store.append([record_from_response("schedule", "schedule", b'{"dates": []}', T0)])
        one = store.read(max_bytes=1)  # always at least one record, so a huge record still moves on
        assert len(one) == 1
        size = one[0].size
        assert len(store.read(max_bytes=size * 3)) == 3
        assert [r.endpoint for r in store.read(endpoint="schedule")] == ["schedule"]
        games = store.read(endpoint="game", method="liveGameV1")
        assert len(games) == 6 and all(r.method == "liveGameV1" for r in games)
        stats = {(s.endpoint, s.method): s for s in store.stats()}
    assert set(stats) == {("game", "liveGameV1"), ("schedule", "schedule")}
    live = stats["game", "liveGameV1"]
    assert (live.records, live.first_fetched, live.last_fetched, live.bytes) == (6, T0, T0, sum(r.size for r in games))


def test_a_raw_store_that_is_not_there_is_a_clear_error(raw_url: str) -> None:
    if raw_url.startswith("postgresql"):
        with pytest.raises(SourceError, match=r"holds no raw store .*tidemark raw import"):
            open_raw(raw_url)
    else:
        with pytest.raises(SourceError, match=r"raw store .* not found: .*tidemark raw import"):
            open_raw(raw_url)


def test_a_position_of_another_store_is_refused(raw_url: str) -> None:
    with open_raw(raw_url, create=True) as store:
        store.append([record(1)])
        alien: Position = ("x",) if not raw_url.startswith(("duckdb", "postgresql")) else (1, 0, "a", 0)
        with pytest.raises(SourceError, match="another raw store"):
            store.read(alien)


def test_import_keeps_envelopes_and_counts_duplicates(raw_url: str, tmp_path: Path) -> None:
    bare = tmp_path / "in" / "schedule" / "schedule"
    bare.mkdir(parents=True)
    (bare / "day.json").write_text('{"dates": [{"date": "2024-10-27"}]}')
    lines = tmp_path / "in" / "feeds.ndjson"
    envelope = {"endpoint": "game", "method": "linescore", "path_params": {"game_pk": "1"}, "response": {"a": 1}}
    lines.write_text(json.dumps(envelope) + "\n\n" + json.dumps({**envelope, "response": {"a": 2}}) + "\n")
    with open_raw(raw_url, create=True) as store:
        result = import_paths(store, [GAME_747175, tmp_path / "in"])
        assert (result.files, result.counts.appended, result.counts.duplicates, result.ok) == (3, 4, 0, True)
        assert import_paths(store, [GAME_747175, tmp_path / "in"]).counts.duplicates == 4
        got = {(r.endpoint, r.method): r for r in store.read()}
    with gzip.open(GAME_747175, "rb") as fh:
        original = fh.read()
    # byte for byte (a directory's segment keeps one record a line: its newlines, JSON whitespace, become spaces)
    stored = got["game", "liveGameV1"].data
    assert stored == original or (raw_url.startswith("/") and stored == original.replace(b"\n", b" "))
    schedule = json.loads(got["schedule", "schedule"].data)
    assert schedule["response"] == {"dates": [{"date": "2024-10-27"}]} and schedule["status_code"] == 200


# -- tidemark.run over a raw store ----------------------------------------------------------------------------------


def dump(db: Path) -> dict[str, list[dict[str, Any]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = con.sql(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables "
            "WHERE table_schema <> '_tidemark' ORDER BY 1"
        ).fetchall()
        return {n: con.sql(f"SELECT * FROM {n} ORDER BY ALL").to_arrow_table().to_pylist() for (n,) in names}
    finally:
        con.close()


def test_run_over_a_raw_store_gives_the_tables_of_the_files(raw_url: str, tmp_path: Path) -> None:
    files_db, raw_db = tmp_path / "files.duckdb", tmp_path / "raw.duckdb"
    expected = tidemark.run("mlb:live_game", [LIVE], f"duckdb:{files_db}")
    with open_raw(raw_url, create=True) as store:
        import_paths(store, [DATA])  # every endpoint: the source selects the live feeds
        source = RawSource(store, select="game/liveGameV1", batch_records=2)
        got = tidemark.run("mlb:live_game", source, f"duckdb:{raw_db}")
    assert got.ok and got.documents == expected.documents == 7
    assert got.counts == expected.counts
    tables = dump(files_db)
    assert len(tables) == len(expected.tables) == 21 and dump(raw_db) == tables  # 20 live-game tables + statcast


def test_the_recorded_directory_is_a_raw_store(tmp_path: Path) -> None:
    with open_raw(str(DATA)) as store:
        records = store.read(limit=1000)
        stats = store.stats()
        for i, r in enumerate(records):  # resuming after each recorded file gives exactly the ones after it
            assert r.position is not None and positions(store.read(r.position, limit=1000)) == positions(
                records[i + 1 :]
            )
    assert len(records) == 50 and sum(s.records for s in stats) == 50
    assert not (DATA / "_segments").exists()  # reading writes nothing
    files_db, raw_db = tmp_path / "files.duckdb", tmp_path / "raw.duckdb"
    tidemark.run("mlb:boxscore", [DATA / "game" / "boxscore"], f"duckdb:{files_db}")
    result = tidemark.run("mlb:boxscore", RawSource(str(DATA), select="game/boxscore"), f"duckdb:{raw_db}")
    assert result.ok and result.documents == 1
    assert dump(raw_db) == dump(files_db)  # captured_at = the file's modification time, as the files' fallback


def test_record_from_envelope_refuses_what_is_not_one() -> None:
    with pytest.raises(SourceError, match="not JSON"):
        record_from_envelope(b"{", T0, "x.json")
    with pytest.raises(SourceError, match="not an envelope"):
        record_from_envelope(b'{"a": 1}', T0, "x.json")


def test_one_decoding_for_every_way_a_record_comes_back() -> None:
    """raw.decode.decode_record: a recorded file, a segment line (hash known) and a database row (compressed) give
    the same record; what cannot be read back is a broken record at its position, saying why."""
    data = gzip.decompress(GAME_747175.read_bytes())
    parsed = decode_record(data, T0, position=(1,), origin="file")
    head_only = decode_record(data, T0, position=(1,), origin="file", digest=parsed.content_hash)
    stored = decode_record(
        gzip.compress(data), T0, position=(1,), origin="file", digest=parsed.content_hash, compressed=True
    )
    assert parsed == head_only == stored
    assert (parsed.endpoint, parsed.method, parsed.path_params, parsed.status_code) == (
        "game",
        "liveGameV1",
        {"game_pk": "747175"},
        200,
    )
    assert parsed.content_hash == content_hash(json.loads(data)["response"]) and parsed.error is None
    bare = decode_record(b'{"dates": []}', T0, origin="schedule/schedule/x.json", bare=("schedule", "schedule"))
    assert (bare.endpoint, bare.method, bare.error, bare.origin) == (
        "schedule",
        "schedule",
        None,
        "schedule/schedule/x.json",
    )
    for data_, kwargs, reason in [
        (b"not gzip", {"compressed": True}, "the stored document does not decompress"),
        (b"[1]", {"digest": "abc"}, "the stored document is not an envelope"),
        (b"{", {}, "not JSON"),
        (b'{"a": 1}', {}, "not an envelope (needs endpoint, method and response)"),
    ]:
        got = decode_record(data_, T0, position=(7,), origin="row", **kwargs)
        assert (got.position, got.origin, got.fetched_at) == ((7,), "row", T0) and reason in (got.error or ""), reason
    assert envelope_head(data) is not None and envelope_head(b'{"response": 1}') is None and envelope_head(b"{") is None


def test_open_raw_names_the_valid_forms() -> None:
    with pytest.raises(ConfigError, match=r"directory, duckdb:FILE or a postgresql://"):
        open_raw("mysql:host/raw")  # s3:// is a raw directory on S3 (tests/test_object_storage.py)
    with pytest.raises(ConfigError, match="select"):
        RawSource(str(DATA), select="a/b/c")


def test_raw_source_is_lazy_and_replayable(raw_url: str) -> None:
    with open_raw(raw_url, create=True) as store:
        store.append([record(i) for i in range(5)])
        source = RawSource(store, batch_records=2)
        docs = list(source.read())
        assert source.replayable and [d.position for d in source.read()] == [d.position for d in docs]
        assert docs[0].captured_at == T0 and docs[0].modified_at == T0 and docs[0].error is None
        assert docs[2].position is not None
        assert [d.position for d in source.read(after=docs[2].position)] == [d.position for d in docs[3:]]
        reader = source.read()
        assert next(reader).position == docs[0].position  # nothing read beyond the first batch yet
        store.append([record(9)])
        assert len(list(reader)) == 5  # a lazy reader sees what was appended meanwhile


def test_a_file_read_directly_and_as_a_raw_record_has_one_modification_time(tmp_path: Path) -> None:
    # a modification time whose float seconds (st_mtime) and ns / 1e9 round one microsecond apart: both readers
    # must give the same captured_at (the raw directory and the files source disagreed on such a file)
    import shutil

    from tidemark.sources.files import iter_documents

    raw = tmp_path / "raw"
    (raw / "game" / "boxscore").mkdir(parents=True)
    source = next((DATA / "game" / "boxscore").iterdir())
    copy = raw / "game" / "boxscore" / source.name
    shutil.copy(source, copy)
    ns = 1_764_795_528_000_118_643
    os.utime(copy, ns=(ns, ns))
    (direct,) = iter_documents([copy])
    with open_raw(str(raw)) as store:
        (record,) = store.read(limit=10)
    assert direct.modified_at == record.fetched_at == datetime(2025, 12, 3, 20, 58, 48, 118, tzinfo=UTC)
