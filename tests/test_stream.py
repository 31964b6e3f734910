"""The stream runtime on real stores: batch = stream on every store of the conformance list, a raw directory that
gains files while a stream follows it, a record appended twice, a corrupt record, a raw store that is not there,
and the CLI (``tidemark stream`` / ``streams`` / ``run --raw``)."""

from __future__ import annotations

import json
import shutil
import threading
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

import tidemark
from tests.conformance.stores import STORES, Opener, Store
from tests.conftest import GAME_747175, LIVE
from tests.stream_data import MAPPING, corrupt_line, plan, tables, wave
from tidemark.cli.main import app
from tidemark.errors import SinkTerminalError, SourceError
from tidemark.raw import RawSource, open_raw
from tidemark.runtime.stream import stream
from tidemark.sinks import open_sink
from tidemark.sinks.base import Sink
from tidemark.sinks.bookkeeping import applied_spec, quarantine_spec

runner = CliRunner()


def opener(store: Store, request: pytest.FixtureRequest, path: Path) -> Opener:
    """A fresh store of this kind at ``path``; on the PostgreSQL server a database of its own each call (the
    conformance entry gives one database per test, and a stream test compares two stores)."""
    if any(mark.name == "postgres" for mark in store.marks):
        server = request.getfixturevalue("pg_server")
        return partial(open_sink, server.dsn(server.create_database()))
    path.mkdir(parents=True)
    return store.make(request, path)


def raw_directory(path: Path, *waves: int, games: int = 2, plays: tuple[int, ...] = (3, 6, 9, 12)) -> str:
    with open_raw(str(path), create=True) as store:
        for n in waves:
            store.append(wave(n, seed=3, games=games, plays=plays))
    return str(path)


@pytest.mark.parametrize("store", [pytest.param(s, id=s.name, marks=s.marks) for s in STORES])
def test_batch_equals_stream(store: Store, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """The same raw records loaded by one batch run and as a stream of micro-batches of 1, 3 and all records give
    the same tables, and the stream's counts summed over its micro-batches are the batch run's."""
    raw = raw_directory(tmp_path / "raw", 0, games=1, plays=(3, 6, 9))
    the_plan = plan()
    records = len(open_raw(raw).read(limit=1000))
    assert records == 5
    expected = None
    for size in (1, 3, records):
        with opener(store, request, tmp_path / f"run{size}")() as sink:
            ran = tidemark.run(the_plan, RawSource(raw), sink, batch_documents=size)
            want = tables(sink, the_plan)
        with opener(store, request, tmp_path / f"stream{size}")() as sink:
            streamed = stream(the_plan, raw, sink, once=True, batch_documents=size, name="s")
            assert tables(sink, the_plan) == want
            checkpoint = sink.read_checkpoint("s")
            again = stream(the_plan, raw, sink, once=True, batch_documents=2, name="t")  # the ledger: nothing parsed
            assert tables(sink, the_plan) == want and len(sink.read_table(applied_spec())) == records
        assert (again.result.documents, again.result.unchanged_documents, again.batches) == (0, records, 3)
        assert again.result.counts.rows_seen == 0 and not any(again.result.extracted.values())
        assert checkpoint is not None and checkpoint.batch == streamed.batches == -(-records // size)
        assert streamed.result.documents == checkpoint.totals["documents"] == ran.documents == records
        run_counts = {name: c.as_dict() for name, c in ran.tables.items()}
        assert {name: c.as_dict() for name, c in streamed.result.tables.items()} == run_counts
        assert checkpoint.totals["tables"] == run_counts
        assert streamed.result.unchanged_documents == checkpoint.totals["unchanged_documents"] == 0
        assert expected is None or want == expected  # any batching: the same tables
        expected = want
    assert expected is not None and any(expected.values())


def written(result: tidemark.RunResult) -> int:
    return sum(c.inserted + c.updated + c.deleted for c in result.tables.values())


def test_a_stream_over_a_raw_store_a_run_loaded_skips_it(tmp_path: Path) -> None:
    """``tidemark run --raw`` loads a raw store; a stream over it then skips every record before parsing (the
    applied-documents ledger), its checkpoint moves on, later records go through; ``reprocess`` applies all."""
    raw = raw_directory(tmp_path / "raw", 0, games=1)
    url, the_plan = f"duckdb:{tmp_path / 's.duckdb'}", plan()
    ran = tidemark.run(the_plan, RawSource(raw), url, batch_documents=2)
    assert ran.ok and ran.documents == 6 and written(ran) > 0
    with open_sink(url) as sink:
        before = tables(sink, the_plan)
    skipped = stream(the_plan, raw, url, once=True, batch_documents=2, name="s")
    assert (skipped.result.documents, skipped.result.unchanged_documents, skipped.batches) == (0, 6, 3)
    assert skipped.checkpoint.position is not None and skipped.checkpoint.totals["unchanged_documents"] == 6
    assert written(skipped.result) == 0 and skipped.result.counts.rows_seen == 0
    with open_raw(raw) as store:
        store.append(wave(1, seed=3, games=1))
    later = stream(the_plan, raw, url, once=True, batch_documents=2, name="s")
    assert (later.result.documents, later.result.unchanged_documents) == (6, 0)
    forced = stream(the_plan, raw, url, once=True, batch_documents=4, name="r", reprocess=True)
    assert (forced.result.documents, forced.result.unchanged_documents) == (12, 0) and written(forced.result) == 0
    reference = f"duckdb:{tmp_path / 'ref.duckdb'}"
    tidemark.run(the_plan, RawSource(raw), reference)
    with open_sink(url) as a, open_sink(reference) as b:
        assert tables(a, the_plan) == tables(b, the_plan) != before
        assert len(a.read_table(applied_spec())) == 12


def test_cli_stream_reprocess(tmp_path: Path) -> None:
    raw = raw_directory(tmp_path / "raw", 0, games=1, plays=(3, 6))
    sink = f"duckdb:{tmp_path / 's.duckdb'}"
    args = ["stream", "-m", MAPPING, "--raw", raw, "--sink", sink, "--once", "--json"]
    first, second, forced = (
        runner.invoke(app, [*args, *more]) for more in ([], ["--name", "b"], ["--name", "c", "--reprocess"])
    )
    for outcome in (first, second, forced):
        assert outcome.exit_code == 0, outcome.output
    done = [json.loads(o.output)["result"] for o in (first, second, forced)]
    assert [(r["documents"], r["unchanged_documents"]) for r in done] == [(4, 0), (0, 4), (4, 0)]


def test_a_followed_directory_gains_files(tmp_path: Path) -> None:
    """A stream following a raw directory picks up recorded files copied in while it runs."""
    raw = tmp_path / "raw"
    raw_directory(raw, 0, games=1, plays=(3, 6))
    seen: list[int] = []

    class Count:
        def start(self, total_bytes: int, files: int, total_rows: int | None = None) -> None:
            pass

        def advance(self, *, documents: int = 0, rows: int = 0, bytes_read: int = 0) -> None:
            seen.append(documents)

        def finish(self, result: object) -> None:
            pass

    stop = threading.Event()
    sink_url = f"duckdb:{tmp_path / 'follow.duckdb'}"
    out: list[object] = []
    kwargs = {"once": False, "poll_seconds": 0.05, "reporter": Count(), "stop": stop, "name": "f"}
    follower = threading.Thread(target=lambda: out.append(stream(MAPPING, str(raw), sink_url, **kwargs)))
    follower.start()
    try:
        _wait(lambda: sum(seen) >= 4, follower)  # the first wave: 2 snapshots + twin + correction
        target = raw / "game" / "liveGameV1"
        target.mkdir(parents=True)
        for path in sorted(LIVE.glob("*.json.gz"))[:2]:
            shutil.copy(path, target / path.name)  # shutil.copy: the modification time is now
        _wait(lambda: sum(seen) >= 6, follower)
    finally:
        stop.set()
        follower.join(timeout=120)
    assert not follower.is_alive() and out, "the stream did not stop"
    result = out[0]
    assert result.stopped and result.result.documents == 6  # type: ignore[attr-defined]
    reference = tmp_path / "ref.duckdb"
    the_plan = plan()
    tidemark.run(the_plan, RawSource(str(raw)), f"duckdb:{reference}")
    with open_sink(sink_url) as a, open_sink(f"duckdb:{reference}") as b:
        assert tables(a, the_plan) == tables(b, the_plan)


def _wait(done: object, thread: threading.Thread) -> None:
    """Until ``done()`` (bounded: a stream that never gets there fails the test instead of hanging it)."""
    event = threading.Event()
    for _ in range(2400):
        if done():  # type: ignore[operator]
            return
        assert thread.is_alive(), "the stream ended early"
        event.wait(0.05)
    raise AssertionError("the stream did not pick up the records")


def test_a_record_appended_twice_is_streamed_once(tmp_path: Path) -> None:
    records = wave(0, seed=1, games=1, plays=(3, 4))
    with open_raw(str(tmp_path / "raw"), create=True) as store:
        first = store.append(records)
        again = store.append(records[:1])
    assert (first.appended, again.appended, again.duplicates) == (len(records), 0, 1)
    result = stream(MAPPING, str(tmp_path / "raw"), f"duckdb:{tmp_path / 's.duckdb'}", once=True)
    assert result.result.documents == len(records)


def test_a_corrupt_record_is_quarantined_with_its_position(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    corrupt_line(raw)
    sink_url = f"duckdb:{tmp_path / 's.duckdb'}"
    result = stream(MAPPING, str(raw), sink_url, once=True, batch_documents=1, name="c")
    assert result.result.documents == 2 and len(result.result.rejected) == 1  # the stream went on past it
    rejected = result.result.rejected[0]
    assert "not a raw record" in rejected.reason and "(position [" in rejected.origin and ":2" in rejected.origin
    with open_sink(sink_url) as sink:
        quarantined = sink.read_table(quarantine_spec()).to_pylist()
        checkpoint = sink.read_checkpoint("c")
    assert [q["origin"] for q in quarantined] == [rejected.origin]
    assert checkpoint is not None and checkpoint.batch == 3 and checkpoint.totals["rejected"] == 1
    assert checkpoint.position is not None and checkpoint.position[3] == 3  # the last line of the segment


def test_a_raw_store_that_is_not_there(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match=r"raw store .*nope not found.*tidemark raw import"):
        stream(MAPPING, str(tmp_path / "nope"), f"duckdb:{tmp_path / 's.duckdb'}", once=True)
    with pytest.raises(SourceError, match="not found"):
        stream(MAPPING, f"duckdb:{tmp_path / 'nope.duckdb'}", f"duckdb:{tmp_path / 's.duckdb'}", once=True)
    assert not (tmp_path / "nope").exists()


def test_cli_stream_status_and_run_from_raw(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    assert runner.invoke(app, ["raw", "import", str(raw), str(GAME_747175)]).exit_code == 0
    rebuilt = f"duckdb:{tmp_path / 'rebuilt.duckdb'}"
    ran = runner.invoke(app, ["run", "--raw", str(raw), "--select", "game/liveGameV1", "-m", MAPPING, "-s", rebuilt])
    assert ran.exit_code == 0, ran.output
    listed = runner.invoke(app, ["streams", "--sink", rebuilt, "--json"])
    assert listed.exit_code == 0 and json.loads(listed.output) == []  # run --raw touches no checkpoint
    sink = f"duckdb:{tmp_path / 's.duckdb'}"
    args = ["stream", "-m", MAPPING, "--raw", str(raw), "--sink", sink, "--once", "--name", "live", "--json"]
    streamed = runner.invoke(app, args)
    assert streamed.exit_code == 0, streamed.output
    summary = json.loads(streamed.output)
    assert (summary["stream"], summary["batches"], summary["totals"]["documents"]) == ("live", 1, 1)
    status = runner.invoke(app, ["stream", "--status", "--sink", sink, "--raw", str(raw), "--json"])
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.output)
    assert (row["stream"], row["batches"], row["lag"], row["position"]) == ("live", 1, 0, summary["position"])
    missing = runner.invoke(app, ["stream", "-m", MAPPING, "--raw", str(tmp_path / "nope"), "--sink", sink])
    assert missing.exit_code == 1 and "not found" in str(missing.exception or missing.output)


class _Crash(Exception):
    """A fault injected between two table commits of Delta (the process dying there)."""


def test_delta_replays_a_half_committed_micro_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Delta commits table by table: a micro-batch that died after some tables is replayed exactly (its pending
    end), the tables that hold its transaction identifier skip it, and the tables equal one batch run."""
    from tidemark.sinks.delta import DeltaSink

    raw = raw_directory(tmp_path / "raw", 0, games=1, plays=(3, 6))
    published: list[str] = []
    original = DeltaSink._publish

    def dies_after_five(self: DeltaSink, table: object) -> dict[str, int]:
        if len(published) == 5:
            raise _Crash
        published.append(table.spec.qualified)  # type: ignore[attr-defined]
        return original(self, table)  # type: ignore[arg-type]

    monkeypatch.setattr(DeltaSink, "_publish", dies_after_five)
    url, the_plan = f"delta:{tmp_path / 'lake'}", plan()
    with pytest.raises(_Crash):
        stream(the_plan, raw, url, once=True, batch_documents=100, name="d")
    monkeypatch.undo()
    with open_sink(url) as sink:
        announced = sink.read_checkpoint("d")
        assert applied(sink) == 0  # the ledger is published after every table of the micro-batch: not yet
    assert announced is not None and announced.batch == 0 and announced.pending is not None  # not committed
    resumed = stream(the_plan, raw, url, once=True, batch_documents=100, name="d")
    assert (resumed.result.documents, resumed.result.unchanged_documents) == (4, 0)
    assert resumed.batches == 1 and resumed.checkpoint.batch == 1 and resumed.checkpoint.pending is None
    skipped = [resumed.result.tables[t.name] for t in the_plan.targets if t.spec.qualified in published]
    assert published[0] == "_tidemark.checkpoints"  # the announcement (pending), a commit of its own
    assert len(skipped) == 4 and all(c.inserted == c.updated == 0 and c.unchanged for c in skipped)
    tidemark.run(the_plan, RawSource(raw), f"delta:{tmp_path / 'reference'}")
    with open_sink(url) as a, open_sink(f"delta:{tmp_path / 'reference'}") as b:
        assert tables(a, the_plan) == tables(b, the_plan)
        assert applied(a) == 4
    again = stream(the_plan, raw, url, once=True, batch_documents=100, name="e")
    assert (again.result.documents, again.result.unchanged_documents) == (0, 4)


def applied(sink: Sink) -> int:
    """Rows of the applied-documents ledger (0 before the table exists)."""
    try:
        return len(sink.read_table(applied_spec()))
    except SinkTerminalError as exc:
        assert "does not exist" in str(exc)
        return 0


def test_delta_replays_a_micro_batch_whose_ledger_was_published(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A micro-batch that died after its ledger entries were published (every table of it was), before its
    checkpoint: the replay skips nothing (the records count as documents, as in the first attempt), and the
    tables, the ledger and the checkpoint's totals end up those of one uninterrupted stream."""
    from tidemark.sinks.delta import DeltaSink

    raw = raw_directory(tmp_path / "raw", 0, games=1, plays=(3, 6))
    published: list[str] = []
    original = DeltaSink._publish

    def dies_before_the_checkpoint(self: DeltaSink, table: object) -> dict[str, int]:
        name = table.spec.qualified  # type: ignore[attr-defined]
        if name == "_tidemark.checkpoints" and applied_spec().qualified in published:
            raise _Crash
        published.append(name)
        return original(self, table)  # type: ignore[arg-type]

    monkeypatch.setattr(DeltaSink, "_publish", dies_before_the_checkpoint)
    url, the_plan = f"delta:{tmp_path / 'lake'}", plan()
    with pytest.raises(_Crash):
        stream(the_plan, raw, url, once=True, batch_documents=100, name="d")
    monkeypatch.undo()
    assert all(t.spec.qualified in published for t in the_plan.targets)
    with open_sink(url) as sink:
        assert applied(sink) == 4 and sink.read_checkpoint("d").pending is not None  # type: ignore[union-attr]
    resumed = stream(the_plan, raw, url, once=True, batch_documents=100, name="d")
    assert (resumed.result.documents, resumed.result.unchanged_documents) == (4, 0)
    assert resumed.checkpoint.totals["documents"] == 4 and resumed.checkpoint.pending is None
    assert all(c.inserted == c.updated == c.deleted == 0 for c in resumed.result.tables.values())
    reference = f"delta:{tmp_path / 'reference'}"
    tidemark.run(the_plan, RawSource(raw), reference)
    with open_sink(url) as a, open_sink(reference) as b:
        assert tables(a, the_plan) == tables(b, the_plan)
        assert applied(a) == applied(b) == 4
