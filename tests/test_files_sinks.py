"""What the Parquet and CSV directories add to the conformance suite: the manifest swap, crashes, partitions that
are rewritten alone, the writers' lock, maintenance, and the CSV text itself."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from tests.lake_data import BY_SEASON, PLAYS, TS, plays, scopes, ts
from tidemark.cli.main import app
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.contract.prepare import prepare
from tidemark.errors import SinkTerminalError, SinkTransientError
from tidemark.sinks import open_sink, sink_config
from tidemark.sinks.files import FileSink
from tidemark.tables import Column, TableSpec
from tidemark.types import LogicalType, parse_type

KINDS = ["parquet", "csv"]


def opened(url: str) -> FileSink:
    sink = open_sink(url)
    assert isinstance(sink, FileSink)
    return sink


def stage(sink: FileSink, spec: TableSpec, rows: pa.Table, at: pa.Table | None, mode: Mode = "upsert") -> WriteCounts:
    sink.ensure_table(spec)
    prepared = prepare(rows, spec, mode)
    return sink.write(spec, prepared.rows, at, mode)


def run(url: str, spec: TableSpec, rows: pa.Table, at: pa.Table | None = None, mode: Mode = "upsert") -> WriteCounts:
    with opened(url) as sink:
        sink.begin()
        counts = stage(sink, spec, rows, at, mode)
        sink.commit()
        return counts


def stored(url: str, spec: TableSpec = PLAYS) -> list[tuple[object, ...]]:
    with opened(url) as sink:
        return [(r["game_pk"], r["at_bat_index"], r["event"]) for r in sink.read_table(spec).to_pylist()]


def files_of(root: Path, name: str = "game.plays") -> list[str]:
    manifest = json.loads((root / "_tidemark" / "manifest.json").read_text())
    return sorted(f["path"] for f in manifest["tables"][name]["files"])


def data_files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("part-*") if "_tidemark" not in p.parts)


@pytest.mark.parametrize("kind", KINDS)
def test_an_upsert_rewrites_only_the_files_holding_touched_keys(kind: str, tmp_path: Path) -> None:
    url = f"{kind}:{tmp_path}"
    run(url, PLAYS, plays(1, ts(1), range(3)), scopes((1, ts(1))))
    run(url, PLAYS, plays(2, ts(1), range(3)), scopes((2, ts(1))))
    game1, game2 = files_of(tmp_path)  # one file per commit
    counts = run(url, PLAYS, plays(2, ts(2), range(2), "hit"), scopes((2, ts(2))))
    assert (counts.updated, counts.deleted) == (2, 1)
    after = files_of(tmp_path)
    assert game1 in after and game2 not in after and len(after) == 2
    assert data_files(tmp_path) == after  # the superseded file is deleted after the swap
    assert stored(url) == [(1, 0, "out 0"), (1, 1, "out 1"), (1, 2, "out 2"), (2, 0, "hit 0"), (2, 1, "hit 1")]


@pytest.mark.parametrize("kind", KINDS)
def test_a_partitioned_upsert_leaves_other_partitions_untouched(kind: str, tmp_path: Path) -> None:
    url = f"{kind}:{tmp_path}"
    rows = pa.concat_tables([plays(1, ts(1), range(3), season=2023), plays(2, ts(1), range(3), season=2024)])
    run(url, BY_SEASON, rows, scopes((1, ts(1)), (2, ts(1))))
    files = files_of(tmp_path, "game.plays_by_season")
    assert [Path(f).parent.name for f in files] == ["season=2023", "season=2024"]
    old_2023 = tmp_path / files[0]
    inode = old_2023.stat().st_ino
    run(url, BY_SEASON, plays(2, ts(2), range(3), "hit", season=2024), scopes((2, ts(2))))
    after = files_of(tmp_path, "game.plays_by_season")
    assert after[0] == files[0] and old_2023.stat().st_ino == inode  # the 2023 file was not rewritten
    assert after[1] != files[1]
    # every file is complete on its own (partition columns stay in it): plain tools read the listed files
    listed = ", ".join(f"'{tmp_path / f}'" for f in after)
    reader = "read_parquet" if kind == "parquet" else "read_csv"
    count = duckdb.sql(f"SELECT count(*), count(DISTINCT season) FROM {reader}([{listed}])").fetchone()
    assert count == (6, 2)


def _crash_before_publish(url: str) -> None:  # pragma: no cover - runs in the child process
    sink = opened(url)
    sink.begin()
    stage(sink, PLAYS, plays(1, ts(2), range(1), "hit"), scopes((1, ts(2))))
    stage(sink, PLAYS, plays(9, ts(2), range(4)), scopes((9, ts(2))))
    sink.stage()  # every new file is written ...
    os._exit(3)  # ... and the process dies before the manifest is replaced


@pytest.mark.parametrize("kind", KINDS)
def test_a_crash_before_the_manifest_swap_leaves_the_old_data(kind: str, tmp_path: Path) -> None:
    url = f"{kind}:{tmp_path}"
    run(url, PLAYS, plays(1, ts(1), range(3)), scopes((1, ts(1))))
    before, listed = stored(url), files_of(tmp_path)
    child = multiprocessing.get_context("spawn").Process(target=_crash_before_publish, args=(url,))
    child.start()
    child.join(timeout=120)
    assert child.exitcode == 3
    assert len(data_files(tmp_path)) > len(listed)  # the dead run's files are on disk, listed nowhere
    assert stored(url) == before and files_of(tmp_path) == listed
    # the lock died with the process; maintain removes the leftovers; writing goes on
    result = CliRunner().invoke(app, ["maintain", "--sink", url])
    assert result.exit_code == 0, result.output
    assert data_files(tmp_path) == listed
    assert run(url, PLAYS, plays(1, ts(2), range(1), "hit"), scopes((1, ts(2)))).deleted == 2


@pytest.mark.parametrize("kind", KINDS)
def test_a_rolled_back_run_leaves_no_file_behind(kind: str, tmp_path: Path) -> None:
    url = f"{kind}:{tmp_path}"
    run(url, PLAYS, plays(1, ts(1), range(3)), scopes((1, ts(1))))
    listed = files_of(tmp_path)
    with opened(url) as sink:
        sink.begin()
        stage(sink, PLAYS, plays(5, ts(2), range(2)), scopes((5, ts(2))))
        sink.stage()
        sink.rollback()
    assert data_files(tmp_path) == listed


@pytest.mark.parametrize("kind", KINDS)
def test_writers_take_turns_on_the_lock(kind: str, tmp_path: Path) -> None:
    first = opened(f"{kind}:{tmp_path}")
    first.begin()
    stage(first, PLAYS, plays(1, ts(1), range(2)), scopes((1, ts(1))))
    second = open_sink(sink_config({"type": kind, "path": str(tmp_path), "lock_timeout": 0.2}))
    with pytest.raises(SinkTransientError, match=r"another writer holds .*lock.*retry"):
        second.begin()
    first.commit()
    second.begin()  # reads the manifest the first writer published
    assert isinstance(second, FileSink)
    assert stage(second, PLAYS, plays(1, ts(1), range(2)), scopes((1, ts(1)))).unchanged == 2
    second.commit()
    first.close()
    second.close()


@pytest.mark.parametrize("kind", KINDS)
def test_maintain_merges_each_partitions_files(kind: str, tmp_path: Path) -> None:
    url = f"{kind}:{tmp_path}"
    for game in range(1, 5):
        run(url, BY_SEASON, plays(game, ts(1), range(2), season=2023 + game % 2), scopes((game, ts(1))))
    assert len(files_of(tmp_path, "game.plays_by_season")) == 4
    before = stored(url, BY_SEASON)
    with opened(url) as sink:
        report = sink.maintain()
    assert report["game.plays_by_season"] == {"files_removed": 4, "files_added": 2}
    assert len(files_of(tmp_path, "game.plays_by_season")) == 2
    assert stored(url, BY_SEASON) == before
    assert len(data_files(tmp_path)) == len(files_of(tmp_path, "game.plays_by_season"))


def test_csv_text_has_a_header_quotes_values_and_writes_null_as_nothing(tmp_path: Path) -> None:
    spec = TableSpec(
        schema=None,
        name="notes",
        columns=(
            Column("id", LogicalType("int"), nullable=False),
            Column("text", LogicalType("string")),
            Column("at", LogicalType("timestamp")),
            Column("amount", parse_type("decimal(10,3)")),
        ),
        primary_key=("id",),
    )
    rows = pa.table(
        {
            "id": [1, 2, 3],
            "text": ["", None, 'say "hi", then\nleave'],
            "at": [ts(4), None, None],
            "amount": pa.array([None, None, 1], pa.decimal128(10, 3)),
        },
        schema=pa.schema([("id", pa.int32()), ("text", pa.string()), ("at", TS), ("amount", pa.decimal128(10, 3))]),
    )
    run(f"csv:{tmp_path}", spec, rows, mode="overwrite")
    (path,) = tmp_path.rglob("part-*.csv")
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[0] == '"id","text","at","amount","_tidemark_hash"'
    assert lines[1].startswith('"1","","2024-07-13 04:00:00.000000Z",,"')
    assert lines[2].startswith('"2",,,,"')
    assert lines[3] == '"3","say ""hi"", then'
    assert lines[4].startswith('leave",,"1.000","')
    with opened(f"csv:{tmp_path}") as sink:
        assert sink.read_table(spec).column("text").to_pylist() == ["", None, 'say "hi", then\nleave']


def test_a_directory_of_the_other_format_is_refused(tmp_path: Path) -> None:
    run(f"csv:{tmp_path}", PLAYS, plays(1, ts(1), range(1)))
    with pytest.raises(SinkTerminalError, match=r"holds csv files, not parquet: use another path"):
        open_sink(f"parquet:{tmp_path}")
