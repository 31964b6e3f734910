"""A name longer than a store holds (``Capabilities.max_identifier_bytes``) is refused when the table is ensured,
naming it, its length and the limit; a store without a limit holds it (sinks/names.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pyarrow as pa
import pytest

from tests.conformance.conftest import write
from tests.conformance.stores import Opener
from tests.conformance.tables import GAMES
from tidemark.errors import SinkTerminalError

T1 = datetime(2024, 7, 13, 1, tzinfo=UTC)


def one_game() -> pa.Table:
    return pa.table({"game_pk": pa.array([1], pa.int64()), "status": ["Live"], "captured_at": pa.array([T1])})


def test_a_name_longer_than_the_store_holds_is_refused_naming_it(store: Opener) -> None:
    probe = store()
    limit = probe.capabilities.max_identifier_bytes
    probe.close()
    name = "g" * (300 if limit is None or limit >= 255 else 70)
    spec = dataclasses.replace(GAMES, name=name)
    if limit is None:  # DuckDB holds it
        assert write(store, spec, one_game()).inserted == 1
        return
    with pytest.raises(SinkTerminalError) as info:
        write(store, spec, one_game())
    assert str(info.value).startswith(f"table t.{name}: table '{name}' ({len(name)} bytes) longer than the {limit}")
    assert "shorten it in the mapping" in str(info.value)
