"""The seed's ``write:`` block, as YAML and as a dict: connection + format -> a sink, path -> a table, did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import tidemark
from tests.conformance.stores import Opener
from tests.test_write_support import store_fixture, stored
from tidemark.errors import ConfigError
from tidemark.write.config import load_write_config

any_store = store_fixture()

BLOCK = """
write:
  connection: lake
  format: {fmt}
  path: silver/customers
  mode: upsert
  keys: [customer_id]
  dedup_strategy: newest_wins
  timestamp_col: updated_at
"""


def customers(*rows: tuple[int, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer_id", "name", "updated_at"])
    frame["updated_at"] = pd.to_datetime(frame["updated_at"], utc=True)
    return frame


def connection_of(opener: Opener) -> tuple[str, str]:
    """(format, connection value) for a conformance store: a location + format, or a whole sink URL."""
    url: str = opener.args[0]
    scheme, _, rest = url.partition(":")
    return ("postgres", url) if scheme.startswith("postgres") else (scheme, rest)


def test_the_pipeline_frameworks_block_makes_reruns_safe_on_every_store(any_store: Opener) -> None:
    fmt, location = connection_of(any_store)
    block = BLOCK.format(fmt=fmt)
    first = customers((1, "Ada", "2024-07-01T10:00:00"), (2, "Bo", "2024-07-01T10:00:00"))
    result = tidemark.write(first, config=block, connections={"lake": location})
    assert (result.table, result.inserted) == ("silver.customers", 2)
    retry = tidemark.write(first, config=block, connections={"lake": location})  # a retried job: nothing changes
    assert (retry.inserted, retry.updated, retry.unchanged) == (0, 0, 2)
    late = customers((1, "Ada L.", "2024-07-02T10:00:00"), (2, "Bob", "2024-06-30T10:00:00"))
    third = tidemark.write(late, config=block, connections={"lake": location})
    assert (third.updated, third.skipped) == (1, 1)
    assert [(r["customer_id"], r["name"]) for r in stored(any_store, third)] == [(1, "Ada L."), (2, "Bo")]


def test_a_delta_path_is_a_table_directory(tmp_path: Path) -> None:
    from deltalake import DeltaTable

    frame = customers((1, "Ada", "2024-07-01T10:00:00"))
    tidemark.write(frame, config=BLOCK.format(fmt="delta"), connections={"lake": str(tmp_path / "lake")})
    assert DeltaTable(str(tmp_path / "lake" / "silver" / "customers")).to_pyarrow_table().num_rows == 1


def test_a_block_as_a_dict_a_file_and_with_a_sink_url_as_connection(tmp_path: Path) -> None:
    url = f"duckdb:{tmp_path / 'wh.duckdb'}"
    block = {"connection": url, "table": "crm.customers", "mode": "append_once", "keys": "customer_id"}
    assert tidemark.write(customers((1, "Ada", "2024-07-01")), config=block).inserted == 1
    path = tmp_path / "write.yaml"
    path.write_text("connection: wh\nformat: duckdb\ntable: crm.customers\nmode: append_once\nkeys: [customer_id]\n")
    again = tidemark.write(customers((1, "Ada", "2024-07-01")), config=path, connections={"wh": url})
    assert (again.inserted, again.skipped) == (0, 1)
    # explicit arguments fill what the block leaves out, and must agree with what it says
    assert tidemark.write(customers((2, "Bo", "2024-07-01")), url, config={**block, "connection": None}).inserted == 1
    with pytest.raises(ConfigError, match="mode is 'upsert' in the arguments but 'append_once' in the write block"):
        tidemark.write(customers(), config=block, mode="upsert")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("conection: lake", r"unknown key 'conection' \(did you mean 'connection'\?\)"),
        ("timestamp_column: x", r"unknown key 'timestamp_column' \(did you mean 'timestamp_col'\?\)"),
        ("key: {name: k, fro: [a]}", r"unknown key 'key.fro' \(did you mean 'from'\?\)"),
        ("keys: {a: 1}", r"keys: Input should be a valid list"),
        ("- a list", r"expected a mapping of settings"),
        (
            "connection: lak\nformat: delta\npath: a\nmode: upsert",
            r"unknown connection 'lak' \(did you mean 'lake'\?\)",
        ),
        (
            "connection: lake\nformat: deltaa\npath: a\nmode: upsert",
            r"unknown format 'deltaa' \(did you mean 'delta'\?\)",
        ),
        (
            "connection: lake\npath: a\nmode: upsert",
            r"connection 'lake' is a location \(/data\): give the block a format",
        ),
        ("connection: lake\nformat: delta\npath: a/b/c\nmode: upsert", r"path 'a/b/c': use 'table' or 'schema/table'"),
        ("connection: lake\nformat: delta\npath: a\ntable: b\nmode: upsert", r"both path and table"),
        ("connection: wh\nformat: delta\ntable: a\nmode: upsert", r"'wh' is a duckdb sink .* format 'delta'"),
    ],
)
def test_bad_blocks_say_what_and_where(block: str, message: str) -> None:
    connections = {"lake": "/data", "wh": "duckdb:x.duckdb"}
    with pytest.raises(ConfigError, match=message):
        tidemark.write(customers(), config=block, connections=connections)


def test_the_block_names_are_the_seed_frameworks() -> None:
    config = load_write_config({"write": {"connection": "lake", "format": "delta", "path": "silver/customers"}})
    assert (config.connection, config.format, config.path) == ("lake", "delta", "silver/customers")
    assert set(tidemark.WriteConfig.model_fields) >= {
        "connection",
        "format",
        "path",
        "table",
        "mode",
        "keys",
        "dedup_strategy",
        "timestamp_col",
    }
