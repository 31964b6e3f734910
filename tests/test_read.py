"""tidemark.read: a stored table as a DataFrame in one call, the same from every store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import tidemark
from tests.conftest import GAME_747175

STATCAST = "game.statcast_pitches"


@pytest.fixture(scope="module", params=["duckdb", "parquet"])
def store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp(request.param)
    url = f"duckdb:{root / 'mlb.duckdb'}" if request.param == "duckdb" else f"parquet:{root}"
    assert tidemark.run("mlb:live_game", [GAME_747175], url).ok
    return url


def test_a_table_as_a_pandas_frame(store: str) -> None:
    df = tidemark.read(store, STATCAST)
    assert isinstance(df, pd.DataFrame) and len(df) == 290
    assert {"pitch_type", "release_speed", "pfx_x", "events", "at_bat_number"} <= set(df.columns)
    assert list(df["at_bat_index"]) == sorted(df["at_bat_index"])  # ordered by the primary key


def test_where_and_columns(store: str) -> None:
    nelson = tidemark.read(store, STATCAST, where={"pitcher": 669194, "pitch_type": ["SL", "CH"]}, engine="arrow")
    assert isinstance(nelson, pa.Table) and nelson.num_rows > 0
    assert set(nelson.column("pitcher").to_pylist()) == {669194}
    assert set(nelson.column("pitch_type").to_pylist()) <= {"SL", "CH"}
    no_events = tidemark.read(store, STATCAST, where={"events": None}, columns=["events", "pitch_number"])
    assert list(no_events.columns) == ["events", "pitch_number"] and len(no_events) == 290 - 75
    assert no_events["events"].isna().all()


def test_a_polars_frame(store: str) -> None:
    df = tidemark.read(store, "game.live_game_plays", engine="polars", where={"inning": 9})
    assert isinstance(df, pl.DataFrame) and df.height > 0
    assert set(df["inning"].to_list()) == {9}


def test_an_open_sink_is_left_open(tmp_path: Path) -> None:
    with tidemark.open_sink(f"duckdb:{tmp_path / 'x.duckdb'}") as sink:
        assert tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{tmp_path / 'x.duckdb'}").ok
        first = tidemark.read(sink, STATCAST, mapping="mlb:live_game", engine="arrow")
        again = tidemark.read(sink, STATCAST, engine="arrow")
    assert first.num_rows == again.num_rows == 290


def test_mistakes_say_what_exists(store: str) -> None:
    with pytest.raises(tidemark.ConfigError, match=r"no table 'game\.statcast'"):
        tidemark.read(store, "game.statcast")
    with pytest.raises(tidemark.ConfigError, match="has no column 'pitch_typ'"):
        tidemark.read(store, STATCAST, where={"pitch_typ": "FF"})
    with pytest.raises(tidemark.ConfigError, match="engine 'spark'"):
        tidemark.read(store, STATCAST, engine="spark")  # type: ignore[arg-type]
