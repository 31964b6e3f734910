"""A DuckDB file named like one of its schemas (results.duckdb holding schema `results`) works like any other."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

import tidemark


def test_a_schema_named_like_the_database_file(tmp_path: Path) -> None:
    db = tmp_path / "results.duckdb"
    data = pa.table({"match_id": [1, 2], "score": ["2-1", "0-0"]})
    counts = tidemark.write(data, f"duckdb:{db}", "results.matches", mode="upsert", keys=["match_id"])
    assert counts.inserted == 2
    again = tidemark.write(data, f"duckdb:{db}", "results.matches", mode="upsert", keys=["match_id"])
    assert again.unchanged == 2
    con = duckdb.connect(str(db), read_only=True)
    assert con.sql('SELECT count(*) FROM "results"."results"."matches"').fetchone() == (2,)
