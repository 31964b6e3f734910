"""What the Delta sink adds to the conformance suite: MERGE metrics, commit conflicts, transaction ids, partitions,
maintenance, and what a failure before or during commit leaves behind."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from typer.testing import CliRunner

from tests.lake_data import BY_SEASON, PLAYS, plays, scopes, ts
from tidemark.cli.main import app
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.contract.prepare import prepare
from tidemark.errors import SinkConflictError, SinkError, SinkTerminalError
from tidemark.sinks import open_sink
from tidemark.sinks.delta import DeltaConfig, DeltaSink
from tidemark.tables import TableSpec


def stage(sink: DeltaSink, spec: TableSpec, rows: pa.Table, at: pa.Table | None, mode: Mode = "upsert") -> WriteCounts:
    """One write inside an open transaction (begin/commit are the caller's)."""
    sink.ensure_table(spec)
    prepared = prepare(rows, spec, mode)
    counts = sink.write(spec, prepared.rows, at, mode)
    counts += prepared.counts
    return counts


def run(
    path: Path,
    spec: TableSpec,
    rows: pa.Table,
    at: pa.Table | None = None,
    mode: Mode = "upsert",
    txn: tuple[str, int] | None = None,
) -> tuple[WriteCounts, DeltaSink]:
    sink = DeltaSink(DeltaConfig(path=str(path)))
    sink.begin()
    if txn is not None:
        sink.set_transaction(*txn)
    counts = stage(sink, spec, rows, at, mode)
    sink.commit()
    return counts, sink


def stored(path: Path, spec: TableSpec = PLAYS) -> list[tuple[object, ...]]:
    with open_sink(f"delta:{path}") as sink:
        return [(r["game_pk"], r["at_bat_index"], r["event"]) for r in sink.read_table(spec).to_pylist()]


def test_an_upsert_is_one_merge_whose_metrics_are_the_counts(tmp_path: Path) -> None:
    run(tmp_path, PLAYS, plays(1, ts(1), range(4)), scopes((1, ts(1))))
    version = DeltaTable(str(tmp_path / "game" / "plays")).version()
    # a newer snapshot of game 1 that drops play 3 and adds play 4; a second game
    rows = pa.concat_tables([plays(1, ts(2), range(3), "hit"), plays(1, ts(2), range(4, 5)), plays(2, ts(2), range(2))])
    counts, sink = run(tmp_path, PLAYS, rows, scopes((1, ts(2)), (2, ts(2))))
    assert (counts.inserted, counts.updated, counts.deleted) == (3, 3, 1)
    assert sink.last_commit["game.plays"] == {"inserted": 3, "updated": 3, "deleted": 1}
    table = DeltaTable(str(tmp_path / "game" / "plays"))
    assert table.version() == version + 1  # one commit for the rows (the watermarks have their own table)
    assert table.history(1)[0]["operation"] == "MERGE"
    assert stored(tmp_path) == [
        (1, 0, "hit 0"),
        (1, 1, "hit 1"),
        (1, 2, "hit 2"),
        (1, 4, "out 4"),
        (2, 0, "out 0"),
        (2, 1, "out 1"),
    ]


def test_unchanged_rows_are_not_rewritten(tmp_path: Path) -> None:
    run(tmp_path, PLAYS, plays(1, ts(1), range(4)), scopes((1, ts(1))))
    version = DeltaTable(str(tmp_path / "game" / "plays")).version()
    counts, sink = run(tmp_path, PLAYS, plays(1, ts(1), range(4)), scopes((1, ts(1))))
    assert counts.unchanged == 4
    assert DeltaTable(str(tmp_path / "game" / "plays")).version() == version  # no commit at all
    assert sink.last_commit["game.plays"] == {"inserted": 0, "updated": 0, "deleted": 0}


def test_nothing_is_written_before_commit_and_a_failure_leaves_every_table(tmp_path: Path) -> None:
    games = dataclasses.replace(PLAYS, name="games", scope=(), primary_key=("game_pk",))
    run(tmp_path, PLAYS, plays(1, ts(1), range(3)), scopes((1, ts(1))))
    sink = DeltaSink(DeltaConfig(path=str(tmp_path)))
    sink.begin()
    stage(sink, PLAYS, plays(1, ts(2), range(1)), scopes((1, ts(2))))
    stage(sink, games, plays(7, ts(2), range(1)), None)
    assert not (tmp_path / "game" / "games").exists()  # buffered, not written
    broken = prepare(plays(2, ts(2), range(1)), PLAYS, "upsert").rows.drop_columns(["event"])
    with pytest.raises(SinkError):
        sink.write(PLAYS, broken, scopes((2, ts(2))), "upsert")
    sink.rollback()
    assert stored(tmp_path) == [(1, 0, "out 0"), (1, 1, "out 1"), (1, 2, "out 2")]
    assert not (tmp_path / "game" / "games").exists()


def test_a_commit_conflict_is_retried_against_the_newer_version(tmp_path: Path) -> None:
    run(tmp_path, PLAYS, plays(1, ts(1), range(4)), scopes((1, ts(1))))
    late = DeltaSink(DeltaConfig(path=str(tmp_path)))  # reads version N, commits after another writer
    late.begin()
    counts = stage(late, PLAYS, plays(1, ts(2), range(3), "late"), scopes((1, ts(2))))
    assert (counts.updated, counts.deleted) == (3, 1)  # against the version it read
    run(tmp_path, PLAYS, plays(1, ts(3), range(2), "newest"), scopes((1, ts(3))))  # commits first
    late.commit()  # conflicts, is classified again against the newest version: everything in it is older
    assert stored(tmp_path) == [(1, 0, "newest 0"), (1, 1, "newest 1")]
    assert late.last_commit["game.plays"] == {"inserted": 0, "updated": 0, "deleted": 0}


def test_a_newer_late_commit_still_wins_after_the_retry(tmp_path: Path) -> None:
    run(tmp_path, PLAYS, plays(1, ts(1), range(4)), scopes((1, ts(1))))
    late = DeltaSink(DeltaConfig(path=str(tmp_path)))
    late.begin()
    stage(late, PLAYS, plays(1, ts(5), range(2), "final"), scopes((1, ts(5))))
    run(tmp_path, PLAYS, plays(1, ts(3), range(3), "middle"), scopes((1, ts(3))))
    late.commit()
    assert stored(tmp_path) == [(1, 0, "final 0"), (1, 1, "final 1")]
    assert late.last_commit["game.plays"] == {"inserted": 0, "updated": 2, "deleted": 1}


def test_a_conflict_beyond_the_retries_is_a_clear_transient_error(tmp_path: Path) -> None:
    run(tmp_path, PLAYS, plays(1, ts(1), range(2)), scopes((1, ts(1))))
    late = DeltaSink(DeltaConfig(path=str(tmp_path), commit_retries=0))
    late.begin()
    stage(late, PLAYS, plays(1, ts(5), range(2), "late"), scopes((1, ts(5))))
    run(tmp_path, PLAYS, plays(1, ts(3), range(2), "first"), scopes((1, ts(3))))
    # nothing of the run was published: the runtime may start the whole run over (SinkConflictError)
    with pytest.raises(SinkConflictError, match=r"game\.plays: another writer kept committing first.*run again"):
        late.commit()
    assert stored(tmp_path) == [(1, 0, "first 0"), (1, 1, "first 1")]


def test_a_replayed_micro_batch_is_applied_once(tmp_path: Path) -> None:
    batch = plays(1, ts(1), range(3))
    first, _ = run(tmp_path, PLAYS, batch, mode="append", txn=("stream-a", 7))
    assert first.inserted == 3
    again, sink = run(tmp_path, PLAYS, batch, mode="append", txn=("stream-a", 7))  # the same micro-batch, replayed
    assert (again.inserted, again.unchanged) == (0, 3)
    assert sink.committed_version(PLAYS, "stream-a") == 7
    assert len(stored(tmp_path)) == 3
    # the next micro-batch of the stream, and another stream's batch 7, are applied
    assert run(tmp_path, PLAYS, plays(2, ts(1), range(2)), mode="append", txn=("stream-a", 8))[0].inserted == 2
    assert run(tmp_path, PLAYS, plays(3, ts(1), range(1)), mode="append", txn=("stream-b", 7))[0].inserted == 1
    assert sink.committed_version(PLAYS, "stream-a") == 8
    assert sink.committed_version(PLAYS, "nobody") is None


def test_partitions_are_declared_and_an_upsert_rewrites_only_the_touched_one(tmp_path: Path) -> None:
    rows = pa.concat_tables([plays(1, ts(1), range(3), season=2023), plays(2, ts(1), range(3), season=2024)])
    run(tmp_path, BY_SEASON, rows, scopes((1, ts(1)), (2, ts(1))))
    table = DeltaTable(str(tmp_path / "game" / "plays_by_season"))
    assert table.metadata().partition_columns == ["season"]
    before = {
        a["path"] for a in pa.table(table.get_add_actions(flatten=True)).to_pylist() if "season=2023" in a["path"]
    }
    assert before and (tmp_path / "game" / "plays_by_season" / "season=2024").is_dir()
    run(tmp_path, BY_SEASON, plays(2, ts(2), range(3), "hit", season=2024), scopes((2, ts(2))))
    after = pa.table(DeltaTable(str(tmp_path / "game" / "plays_by_season")).get_add_actions(flatten=True)).to_pylist()
    assert {a["path"] for a in after if "season=2023" in a["path"]} == before
    assert [r[2] for r in stored(tmp_path, BY_SEASON)] == ["out 0", "out 1", "out 2", "hit 0", "hit 1", "hit 2"]


def test_another_partitioning_than_the_stored_one_is_refused(tmp_path: Path) -> None:
    run(tmp_path, PLAYS, plays(1, ts(1), range(1)), scopes((1, ts(1))))
    with pytest.raises(SinkTerminalError, match=r"partitioned by nothing, the mapping says \['season'\]"):
        run(tmp_path, dataclasses.replace(PLAYS, partition_by=("season",)), plays(1, ts(2), range(1)))


def test_maintain_compacts_and_vacuums(tmp_path: Path) -> None:
    for game in range(1, 5):
        run(tmp_path, PLAYS, plays(game, ts(1), range(3)), scopes((game, ts(1))))
    path = str(tmp_path / "game" / "plays")
    assert len(DeltaTable(path).file_uris()) == 4
    result = CliRunner().invoke(app, ["maintain", "--sink", f"delta:{tmp_path}", "--retention-hours", "0"])
    assert result.exit_code == 0, result.output
    assert "game/plays" in result.output
    assert len(DeltaTable(path).file_uris()) == 1
    assert len(list((tmp_path / "game" / "plays").glob("*.parquet"))) == 1  # the 4 old files are gone
    assert len(stored(tmp_path)) == 12


def test_an_existing_table_with_another_type_is_refused_naming_the_column(tmp_path: Path) -> None:
    write_deltalake(str(tmp_path / "game" / "plays"), pa.table({"game_pk": ["x"]}))
    with pytest.raises(SinkTerminalError, match=r"column 'game_pk' is string in the store but bigint"):
        run(tmp_path, PLAYS, plays(1, ts(1), range(1)))
