"""Every bundled MLB mapping over every recorded file, into PostgreSQL and into DuckDB: the same tables, value for
value. PostgreSQL receives them in its binary COPY format (sinks/pg_copy.py), DuckDB from Arrow directly, so this
checks the binary encoding on real data of every type the mappings produce."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import tidemark
from tests.conftest import DATA
from tests.test_mlb_endpoints import ENDPOINTS
from tidemark.compile.plan import compile_mapping
from tidemark.mapping.loader import load_mapping
from tidemark.sinks import open_sink

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
MAPPINGS = {**ENDPOINTS, "live_game": ["game/liveGameV1"]}


def stored(url: str, name: str) -> dict[str, list[dict[str, Any]]]:
    """Every table of mapping ``name`` as rows (JSON columns parsed: the stores spell JSON text differently)."""
    plan = compile_mapping(load_mapping(f"mlb:{name}")[0])
    sink = open_sink(url)
    try:
        out = {}
        for t in plan.targets:
            json_columns = [c.name for c in t.spec.columns if c.type.kind == "json"]
            rows = sink.read_table(t.spec).to_pylist()
            for row in rows:
                for c in json_columns:
                    row[c] = None if row[c] is None else json.loads(row[c])
            out[t.name] = rows
        return out
    finally:
        sink.close()


@pytest.mark.parametrize("name", sorted(MAPPINGS))
def test_postgresql_stores_what_duckdb_stores(name: str, pg_dsn: str, tmp_path: Path) -> None:
    inputs = [DATA / d for d in MAPPINGS[name]]
    duck = f"duckdb:{tmp_path / 'mlb.duckdb'}"
    on_duckdb = tidemark.run(f"mlb:{name}", inputs, duck)
    on_postgres = tidemark.run(f"mlb:{name}", inputs, pg_dsn)
    assert on_postgres.ok and on_duckdb.ok
    counts = {t: c.as_dict() for t, c in on_postgres.tables.items()}
    assert counts == {t: c.as_dict() for t, c in on_duckdb.tables.items()}
    assert sum(c["inserted"] for c in counts.values()) > 0
    assert stored(pg_dsn, name) == stored(duck, name)
