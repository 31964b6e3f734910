"""The MLB mappings' quality rules: every recorded feed passes them all (no false positives), and broken copies of a
real feed are caught (a game whose home and away team are the same is rejected as a whole; an impossible count is
quarantined; a pitch faster than physics is only a warning)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

import tidemark
from tests.conftest import DATA, GAME_747175, LIVE, snapshot, write_docs

FEEDS = sorted(LIVE.glob("*.json.gz"))
PLAY_BY_PLAY = sorted((DATA / "game" / "playByPlay").glob("*.json.gz"))


@pytest.mark.parametrize(("mapping", "files"), [("mlb:live_game", FEEDS), ("mlb:play_by_play", PLAY_BY_PLAY)])
def test_every_recorded_feed_passes_every_rule(tmp_path: Path, mapping: str, files: list[Path]) -> None:
    assert files, "no recorded feeds found"
    result = tidemark.run(mapping, files, f"duckdb:{tmp_path / 'mlb.duckdb'}")
    assert result.ok, (result.rejected, result.row_errors[:3])
    assert result.error == 0
    ruled = [name for name, spec in result.specs.items() if result.quality.get(name) is not None]
    assert len(ruled) == len(result.specs)  # every table was checked (tables without rules report nothing)
    assert {name: q for name, q in result.quality.items() if q} == {}  # no rule broken, warnings included


def test_the_live_game_rules_cover_what_a_baseball_user_expects() -> None:
    from tidemark.compile.plan import compile_mapping
    from tidemark.mapping.loader import load_mapping

    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    names = {t.name.removeprefix("game.live_game_"): {r.name: r.action for r in t.rules} for t in plan.targets}
    assert names["metadata"]["home_away_differ"] == "reject_document"
    assert names["pitch_events"]["count_before_pitch"] == "quarantine"
    assert names["pitch_events"]["pitch_speed_physical"] == "warn"
    assert names["hit_data"]["batted_ball_physical"] == "warn"
    assert {"ids_positive", "outs_in_range"} <= set(names["plays"])


def _first_pitch(doc: dict[str, Any]) -> dict[str, Any]:
    play = doc["liveData"]["plays"]["allPlays"][0]
    return next(e for e in play["playEvents"] if e.get("isPitch"))


def test_broken_copies_of_a_real_feed_are_caught(tmp_path: Path, feed_747175: dict[str, Any]) -> None:
    def same_teams(doc: dict[str, Any]) -> None:
        doc["gameData"]["teams"]["home"]["id"] = doc["gameData"]["teams"]["away"]["id"]

    def impossible_and_fast(doc: dict[str, Any]) -> None:
        pitch = _first_pitch(doc)
        pitch["count"]["balls"] = 7
        pitch["pitchData"]["startSpeed"] = 140.0

    docs = [
        snapshot(feed_747175, game_pk=1, edit=same_teams),
        snapshot(feed_747175, game_pk=2, edit=impossible_and_fast),
    ]
    db = tmp_path / "broken.duckdb"
    result = tidemark.run("mlb:live_game", [*write_docs(tmp_path / "docs", docs), GAME_747175], f"duckdb:{db}")
    [rejected] = result.rejected
    assert "home_away_differ" in rejected.reason and "'game_pk': 1" in rejected.origin
    pitches = result.quality["game.live_game_pitch_events"]
    # 7 balls after the first pitch, so 7 balls before the next one too
    assert pitches == {"count_after_pitch": 1, "count_before_pitch": 1, "pitch_speed_physical": 1}
    con = duckdb.connect(str(db))
    try:
        games = con.execute("SELECT game_pk FROM game.live_game_metadata ORDER BY 1").fetchall()
        assert games == [(2,), (747175,)]  # game 1 was rejected whole: no row in any table
        assert con.execute("SELECT count(*) FROM game.live_game_pitch_events WHERE game_pk = 1").fetchone() == (0,)
        fast = "SELECT count(*) FROM game.live_game_pitch_events WHERE start_speed = 140"
        assert con.execute(fast).fetchone() == (0,)  # the same row broke a quarantine rule: not written
        reasons = con.execute(
            "SELECT reason FROM _tidemark.quarantine WHERE table_name LIKE '%pitch_events'"
        ).fetchall()
        assert sorted(r.split("'")[1] for (r,) in reasons) == ["count_after_pitch", "count_before_pitch"]
    finally:
        con.close()
