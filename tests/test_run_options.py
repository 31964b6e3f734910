"""Run options that an engine cannot honour are refused before anything is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

import tidemark
from tests.conftest import GAME_747175
from tidemark.errors import ConfigError


def test_commit_steps_are_refused_for_an_engine_that_reads_the_source_itself(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with pytest.raises(ConfigError, match="the spark engine reads the source where it runs") as info:
        tidemark.run("mlb:live_game", [GAME_747175], f"duckdb:{db}", engine="spark", commit_every=10)
    assert "drop --commit-every" in str(info.value)
    assert not db.exists()  # refused before the store was opened
