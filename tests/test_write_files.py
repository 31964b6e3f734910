"""``tidemark write`` reads CSV, Parquet, NDJSON and JSON arrays (streamed by DuckDB); refused rows name their file."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tidemark.cli.main import app
from tidemark.errors import ConfigError, SourceError
from tidemark.write.files import read_files


def make_files(root: Path) -> list[Path]:
    root.mkdir()
    (root / "a.csv").write_text("id,team,ts\n1,Reds,2024-07-01T10:00:00Z\n,Blues,2024-07-01T10:00:00Z\n")
    pq.write_table(
        pa.table({"id": [2, 3], "team": ["Greens", "Whites"], "ts": ["2024-07-01T10:00:00Z"] * 2}), root / "b.parquet"
    )
    lines = [{"id": 1, "team": "Reds FC", "ts": "2024-07-02T10:00:00Z"}, {"id": 4, "team": "Blacks", "ts": None}]
    (root / "c.ndjson").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with gzip.open(root / "d.json.gz", "wt") as fh:
        json.dump([{"id": 5, "team": "Golds", "ts": "2024-07-01T10:00:00Z", "extra": 1.5}], fh)
    return sorted(root.iterdir())


def test_every_format_into_one_table_with_refused_rows_named_by_file(tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    db = tmp_path / "wh.duckdb"
    args = ["write", *map(str, files), "--sink", f"duckdb:{db}", "--table", "t.teams", "--keys", "id"]
    done = CliRunner().invoke(app, [*args, "--timestamp", "ts", "--json"])
    assert done.exit_code == 1, done.output  # rows were refused
    summary = json.loads(done.output)
    counts = summary["counts"]
    assert (summary["rows"], counts["inserted"], counts["skipped"], counts["error"]) == (7, 4, 1, 2)  # id 1 twice
    assert {(e["origin"].rsplit("/", 1)[-1], e["reason"].split(":")[0]) for e in summary["refused"]} == {
        ("a.csv record 2", "key column 'id' is NULL"),
        ("c.ndjson record 2", "ts"),
    }
    con = duckdb.connect(str(db), read_only=True)
    rows = con.sql("SELECT id, team, extra FROM t.teams ORDER BY id").fetchall()
    assert rows == [(1, "Reds FC", None), (2, "Greens", None), (3, "Whites", None), (5, "Golds", 1.5)]
    kept = con.sql("SELECT table_name, row_key, origin FROM _tidemark.quarantine ORDER BY origin").fetchall()
    assert [(t, k, o.rsplit("/", 1)[-1]) for t, k, o in kept] == [
        ("t.teams", '{"id":null}', "a.csv record 2"),
        ("t.teams", '{"id":4}', "c.ndjson record 2"),
    ]


def test_directories_unknown_files_and_missing_paths(tmp_path: Path) -> None:
    make_files(tmp_path / "in")
    (tmp_path / "in" / "notes.txt").write_text("not data")
    assert read_files([tmp_path / "in"]).files == 4  # a directory: its readable files
    with pytest.raises(ConfigError, match=r"notes\.txt: unknown file type"):
        read_files([tmp_path / "in" / "notes.txt"])
    with pytest.raises(SourceError, match="input not found"):
        read_files([tmp_path / "nope.csv"])


def test_the_cli_prints_known_errors_in_one_line(tmp_path: Path) -> None:
    files = make_files(tmp_path / "in")
    done = CliRunner().invoke(
        app,
        ["write", str(files[0]), "--sink", f"duckdb:{tmp_path / 'x.duckdb'}", "--table", "t.teams", "--keys", "idd"],
    )
    assert done.exit_code != 0
    assert isinstance(done.exception, Exception) and "key column 'idd' is not in the data" in str(done.exception)
