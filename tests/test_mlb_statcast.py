"""game.statcast_pitches (mlb:live_game) against pitches of game 747175 checked by hand in the feed's JSON.

No Baseball Savant export of a bundled game was found in a public repository, so every expected value below was read
from the recorded feed (data/statsapi/game/liveGameV1/liveGameV1_game_pk=747175_...json.gz) and converted by the
rule Savant's documentation states (pfx in feet = the feed's inches / 12; at_bat_number = atBatIndex + 1; the count
before the pitch = the count after the play's previous event).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import GAME_747175
from tidemark.compile.plan import compile_mapping
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import load_mapping
from tidemark.sources.files import iter_documents

GAME = {"game_pk": 747175, "game_year": 2024, "game_type": "R", "home_team": "AZ", "away_team": "TOR"}


@pytest.fixture(scope="module")
def pitches() -> dict[tuple[int, int], dict[str, Any]]:
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    (batch,) = LocalEngine(plan).extract(iter_documents([GAME_747175]))
    assert batch.rejected == [] and batch.row_errors == []
    rows = batch.tables["game.statcast_pitches"].to_pylist()
    assert len(rows) == 290  # one per pitch (isPitch true), as in game.live_game_pitch_events
    return {(r["at_bat_number"], r["pitch_number"]): r for r in rows}


def check(row: dict[str, Any], expected: dict[str, Any]) -> None:
    approx = {k: pytest.approx(v) if isinstance(v, float) else v for k, v in expected.items()}
    assert {k: row[k] for k in expected} == approx


def test_a_ball_in_play_the_games_first_pitch_ending_a_plate_appearance(pitches: dict[Any, Any]) -> None:
    # allPlays[0].playEvents[5]: Springer grounds out to short on Nelson's 0-2 slider
    row = pitches[(1, 3)]
    check(row, GAME)
    check(
        row,
        {
            "at_bat_index": 0,
            "event_index": 5,
            "play_id": "e546edd8-fb61-4083-b09d-97f561df509c",
            "pitch_type": "SL",
            "pitch_name": "Slider",
            "release_speed": 85.4,
            "release_spin_rate": 2446.0,
            "spin_axis": 72.0,
            "release_extension": 6.244192816477008,
            "pfx_x": 1.6816541983451692 / 12,
            "pfx_z": -1.4817760866623306 / 12,
            "plate_x": 0.9322231564143914,
            "plate_z": 2.731428573053898,
            "sz_top": 3.66,
            "sz_bot": 1.63,
            "zone": 12,
            "vx0": 6.0337584466361704,
            "vy0": -124.31496938110823,
            "vz0": -1.410679631818799,
            "ax": 2.648629833176108,
            "ay": 23.470553738400486,
            "az": -34.514042608044974,
            "description": "hit_into_play",
            "type": "X",
            "events": "field_out",
            "des": "George Springer grounds out, shortstop Geraldo Perdomo to first baseman Christian Walker.",
            "balls": 0,
            "strikes": 2,
            "outs_when_up": 0,
            "inning": 1,
            "inning_topbot": "Top",
            "batter": 543807,
            "pitcher": 669194,
            "player_name": "Nelson, Ryne",
            "stand": "R",
            "p_throws": "R",
            "launch_speed": 91.7,
            "launch_angle": -16.0,
            "hit_distance_sc": 10.0,
            "hc_x": 117.21,
            "hc_y": 140.89,
            "bb_type": "ground_ball",
            "hit_location": 6,
            "home_score": 0,
            "away_score": 0,
        },
    )
    assert str(row["game_date"]) == "2024-07-12"
    # the plate appearance's result sits on its last pitch only
    assert (pitches[(1, 1)]["events"], pitches[(1, 1)]["des"], pitches[(1, 2)]["events"]) == (None, None, None)


def test_a_walk_with_a_steal_and_pickoff_throws_during_the_plate_appearance(pitches: dict[Any, Any]) -> None:
    # allPlays[20]: pickoff throws (events 0, 5) and Carroll's steal of 2nd (event 7) between pitches; the walk is
    # event 8, the 6th pitch. The count before it is the count after the steal (3-2), not after the 5th pitch.
    pa = [pitches[(21, n)] for n in range(1, 7)]
    assert [(p["event_index"], p["balls"], p["strikes"]) for p in pa] == [
        (1, 0, 0),
        (2, 1, 0),
        (3, 1, 1),
        (4, 1, 2),
        (6, 2, 2),
        (8, 3, 2),
    ]
    assert [p["description"] for p in pa] == ["ball", "called_strike", "foul", "ball", "ball", "ball"]
    assert [p["type"] for p in pa] == ["B", "S", "S", "B", "B", "B"]
    assert [p["events"] for p in pa] == [None] * 5 + ["walk"]
    check(
        pa[-1],
        {
            "pitch_type": "SI",
            "pitch_name": "Sinker",
            "release_speed": 94.0,
            "release_spin_rate": 2308.0,
            "spin_axis": 225.0,
            "pfx_x": -9.80327687943124 / 12,
            "pfx_z": 3.880337864046534 / 12,
            "plate_x": -2.0195265907225237,
            "plate_z": 1.9901466359143565,
            "zone": 13,
            "des": "Gabriel Moreno walks.",
            "outs_when_up": 1,
            "inning": 3,
            "inning_topbot": "Bot",
            "batter": 672515,
            "pitcher": 684320,
            "player_name": "Rodríguez, Yariel",
            "launch_speed": None,
            "bb_type": None,
            "hit_location": None,
            "home_score": 1,  # Carroll's single in the previous plate appearance scored Newman
            "away_score": 0,
        },
    )


def test_runs_in_play_after_a_wild_pitch(pitches: dict[Any, Any]) -> None:
    # allPlays[65]: ball, wild pitch (an action, event 1), foul, then Thomas's two-run single (event 3)
    row = pitches[(66, 3)]
    check(
        row,
        {
            "event_index": 3,
            "pitch_type": "FF",
            "pitch_name": "4-Seam Fastball",
            "description": "hit_into_play",
            "type": "X",
            "events": "single",
            "balls": 1,
            "strikes": 1,
            "outs_when_up": 2,
            "stand": "L",
            "p_throws": "R",
            "player_name": "Richards, Trevor",
            "launch_speed": 87.1,
            "launch_angle": 20.0,
            "hit_distance_sc": 271.0,
            "hc_x": 89.64,
            "hc_y": 97.44,
            "bb_type": "line_drive",
            "hit_location": 7,
            "home_score": 2,  # before the plate appearance; the play ends 4-4
            "away_score": 4,
        },
    )


def test_the_savant_vocabularies_hold_for_every_pitch(pitches: dict[Any, Any]) -> None:
    rows = list(pitches.values())
    assert {r["description"] for r in rows} <= {
        "ball", "blocked_ball", "called_strike", "swinging_strike", "foul", "hit_into_play",
    }  # fmt: skip
    assert {r["type"] for r in rows} == {"B", "S", "X"}
    assert {r["inning_topbot"] for r in rows} == {"Top", "Bot"}
    assert {r["bb_type"] for r in rows} == {None, "ground_ball", "fly_ball", "line_drive", "popup"}
    assert all(r["pitch_name"] is not None for r in rows)  # every pitch type of this game has a Savant name
    in_play = [r for r in rows if r["type"] == "X"]
    assert len(in_play) == 48 and all(r["events"] is not None for r in in_play)  # the 48 batted balls end a PA
    assert sum(r["events"] is not None for r in rows) == 75  # one per plate appearance (each had a pitch)
