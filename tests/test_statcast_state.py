"""game.statcast_pitches' per-pitch game state: on_1b/on_2b/on_3b and fielder_2..fielder_9 (the ``fold`` field
source, domains/mlb/folds.py), checked by hand against the recorded feeds.

Expected ids were read from the feeds' JSON: the play events (steals, wild pitches, substitutions) with their
indexes, ``runners[].details.playIndex``, the boxscore's lineups and ``liveData.linescore.defense``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import GAME_747175, LIVE, load_envelope
from tidemark.compile.plan import compile_mapping
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import load_mapping
from tidemark.sources.files import iter_documents

GAME_718096 = next(LIVE.glob("liveGameV1_game_pk=718096_*.json.gz"))
FIELDERS = [f"fielder_{n}" for n in range(2, 10)]
CARROLL, MORENO, SUAREZ, PERDOMO, MARTE = 682998, 672515, 553993, 672695, 606466


def _pitches(docs: Any) -> dict[tuple[int, int, int], dict[str, Any]]:
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    rows: list[dict[str, Any]] = []
    for batch in LocalEngine(plan).extract(docs):
        assert batch.rejected == [] and batch.row_errors == []
        rows += batch.tables["game.statcast_pitches"].to_pylist()
    return {(r["game_pk"], r["at_bat_index"], r["event_index"]): r for r in rows}


@pytest.fixture(scope="module")
def pitches() -> dict[tuple[int, int, int], dict[str, Any]]:
    return _pitches(iter_documents([GAME_747175, GAME_718096]))


def bases(row: dict[str, Any]) -> tuple[Any, Any, Any]:
    return row["on_1b"], row["on_2b"], row["on_3b"]


def test_a_stolen_base_moves_the_runner_between_two_pitches(pitches: dict[Any, Any]) -> None:
    # 747175 allPlays[20]: Carroll on first; pitches at events 1-4 and 6, his steal of 2nd is event 7
    # (runners[0].details.playIndex 7), the walk is the pitch at event 8
    before = [bases(pitches[(747175, 20, e)]) for e in (1, 2, 3, 4, 6)]
    assert before == [(CARROLL, None, None)] * 5
    assert bases(pitches[(747175, 20, 8)]) == (None, CARROLL, None)
    # the batter walked on that pitch: the next plate appearance starts with him on first, Carroll on second
    first_next = min(k for k in pitches if k[:2] == (747175, 21))
    assert bases(pitches[first_next]) == (MORENO, CARROLL, None)


def test_a_wild_pitch_advances_both_runners_before_the_next_pitch(pitches: dict[Any, Any]) -> None:
    # 747175 allPlays[65]: Suárez on 1st, Perdomo on 2nd; the wild pitch (event 1) moves them to 2nd and 3rd
    assert bases(pitches[(747175, 65, 0)]) == (SUAREZ, PERDOMO, None)
    assert bases(pitches[(747175, 65, 2)]) == (None, SUAREZ, PERDOMO)
    assert bases(pitches[(747175, 65, 3)]) == (None, SUAREZ, PERDOMO)  # the two-run single: before it


def test_a_double_steal_after_the_pitches_of_an_intentional_walk(pitches: dict[Any, Any]) -> None:
    # 747175 allPlays[73]: two pitches, then Carroll steals 3rd and Marte 2nd (event 2), then automatic balls
    assert [bases(pitches[(747175, 73, e)]) for e in (0, 1)] == [(MARTE, CARROLL, None)] * 2
    assert (747175, 73, 3) not in pitches  # an automatic ball is not a pitch


def test_the_catcher_changes_after_a_defensive_substitution(pitches: dict[Any, Any]) -> None:
    # 718096 (MIN at LAA): Matt Thaiss (642136, boxscore battingOrder 800, allPositions [C]) catches for the Angels
    # until Rengifo pinch-hits for him; allPlays[56] event 0: "Chad Wallach replaces Luis Rengifo, playing catcher"
    assert pitches[(718096, 38, 0)]["fielder_2"] == 642136  # top 5th
    assert pitches[(718096, 56, 2)]["fielder_2"] == 595453  # top 7th, the play's only pitch
    # the other Angels stay where the lineup put them: Walsh 1B, Drury 2B, Urshela 3B, Neto SS, Ward LF, Trout CF,
    # Renfroe RF
    row = pitches[(718096, 56, 2)]
    assert [row[f] for f in FIELDERS] == [595453, 665120, 592273, 570482, 687263, 621493, 545361, 592669]


def test_a_defensive_switch_and_a_substitution_in_one_plate_appearance(pitches: dict[Any, Any]) -> None:
    # 747175 allPlays[61] events 0-1: Horwitz moves from 2nd to 1st, Schneider replaces Turner (1B) at 2nd
    before, after = pitches[(747175, 55, 2)], pitches[(747175, 61, 3)]  # Toronto in the field, 7th and 8th
    assert (before["fielder_3"], before["fielder_4"]) == (457759, 687462)
    assert (after["fielder_3"], after["fielder_4"]) == (687462, 676914)
    assert before["fielder_2"] == after["fielder_2"] == 672386  # Kirk catches throughout


def test_the_fielders_are_eight_players_of_the_fielding_team_on_every_pitch() -> None:
    feeds = sorted(LIVE.glob("*.json.gz"))
    rows = _pitches(iter_documents(feeds))
    checked: set[tuple[int, int, int]] = set()
    for path in feeds:
        doc = load_envelope(path)["response"]
        teams = doc["liveData"]["boxscore"]["teams"]
        roster = {side: {p["person"]["id"] for p in teams[side]["players"].values()} for side in ("home", "away")}
        for key, row in rows.items():
            if key[0] != doc["gamePk"]:
                continue
            fielders = [row[f] for f in FIELDERS]
            side = "home" if row["inning_topbot"] == "Top" else "away"
            assert len(set(fielders)) == 8 and set(fielders) <= roster[side], row
            checked.add(key)
        # the fold's defence after the last event is the feed's current defence
        last = max((k for k in rows if k[0] == doc["gamePk"]), default=None)
        if last is not None and doc["gameData"]["status"]["abstractGameState"] == "Final":
            defense = doc["liveData"]["linescore"]["defense"]
            names = ["catcher", "first", "second", "third", "shortstop", "left", "center", "right"]
            assert [rows[last][f] for f in FIELDERS] == [defense[n]["id"] for n in names]
    assert len(checked) == len(rows) > 1000  # two snapshots of 747175 hold the same pitches


def test_the_bases_fold_ends_each_play_where_the_feed_does() -> None:
    """Folding a play's runner movements from the bases the fold gives its first event ends on the feed's own
    postOnFirst/Second/Third, for every completed play of every bundled game that does not end a half-inning
    (after the third out the feed clears the bases)."""
    from tidemark.domains.mlb.folds import BASE_NAMES, bases_before, play_bases

    compared = 0
    for path in sorted(LIVE.glob("*.json.gz")):
        doc = load_envelope(path)["response"]
        before = bases_before(doc)
        for play in doc["liveData"]["plays"]["allPlays"]:
            if not play["playEvents"] or not play["about"]["isComplete"] or play["count"]["outs"] == 3:
                continue
            after = play_bases(play, before[id(play["playEvents"][0])], {})
            posts = ("postOnFirst", "postOnSecond", "postOnThird")
            feed = {b: play["matchup"].get(p, {}).get("id") for b, p in zip(BASE_NAMES, posts, strict=True)}
            assert after == feed, (path.name, play["about"]["atBatIndex"])
            compared += 1
    assert compared > 300


def _insert_event(play: dict[str, Any], event: dict[str, Any]) -> None:
    """Put ``event`` first in the play's events, shifting the runners' event indexes as the feed would have them."""
    play["playEvents"].insert(0, event)
    for runner in play["runners"]:
        runner["details"]["playIndex"] += 1


def test_the_extra_inning_automatic_runner_and_a_pinch_runner(tmp_path: Path) -> None:
    # no bundled game went to extra innings: a real feed edited the way the Stats API writes the automatic runner
    # (an action 'runner_placed' with the base number and the runner) and a pinch runner (a substitution whose
    # replaced player is on base)
    feed = copy.deepcopy(load_envelope(GAME_747175)["response"])
    plays = feed["liveData"]["plays"]["allPlays"]
    top2 = next(p for p in plays if (p["about"]["inning"], p["about"]["isTopInning"]) == (2, True))
    placed = {"type": "action", "details": {"eventType": "runner_placed"}, "player": {"id": 666182}, "base": 2}
    _insert_event(top2, placed)
    pinch = {
        "type": "action",
        "isSubstitution": True,
        "details": {"eventType": "offensive_substitution"},
        "player": {"id": 606466},
        "position": {"code": "12", "abbreviation": "PR"},
        "replacedPlayer": {"id": CARROLL},
    }
    _insert_event(plays[20], pinch)
    rows = _pitches(iter_documents(_write(tmp_path, feed)))
    first = min(k for k in rows if k[:2] == (747175, top2["about"]["atBatIndex"]))
    assert bases(rows[first]) == (None, 666182, None)
    assert bases(rows[(747175, 20, 2)]) == (606466, None, None)  # the pinch runner, on first before the 1st pitch


def _write(tmp_path: Path, feed: dict[str, Any]) -> list[Path]:
    import orjson

    path = tmp_path / "liveGameV1_edited.json"
    path.write_bytes(orjson.dumps({"endpoint": "game", "method": "liveGameV1", "response": feed}))
    return [path]


def test_the_pruned_decoder_builds_what_the_folds_read() -> None:
    # a mapping that reads nothing but the folds: the plan-pruned decoder builds only the paths each fold names,
    # and must give the same rows as decoding the feed whole
    from tidemark.mapping.loader import parse_mapping

    fields = "".join(
        f"      - {{name: {name}, type: bigint, fold: {{name: {fold}, read: '{read}'}}}}\n"
        for name, fold, read in [
            ("on_1b", "mlb_bases", "1B"), ("on_2b", "mlb_bases", "2B"), ("on_3b", "mlb_bases", "3B"),
            *((f, "mlb_defence", f[-1]) for f in FIELDERS),
        ]
    )  # fmt: skip
    text = (
        "version: 1\nsource: {name: t, document: ['$.response', '$'], timestamp: {path: $.metaData.timeStamp,"
        " format: '%Y%m%d_%H%M%S'}}\ntargets:\n"
        "  - {table: plays, rows: '$.liveData.plays.allPlays[*]', primary_key: [ab],"
        " fields: [{name: ab, path: about.atBatIndex, type: int}]}\n"
        "  - table: pitches\n    parent: plays\n    rows: playEvents[*]\n    filter: isPitch == true\n"
        "    primary_key: [ab, ev]\n    fields:\n      - {name: ab, parent: ab, type: int}\n"
        "      - {name: ev, index: true, type: int}\n" + fields
    )
    plan = compile_mapping(parse_mapping(text))
    found = []
    for fast in (True, False):
        (batch,) = LocalEngine(plan, fast_decode=fast).extract(iter_documents([GAME_747175]))
        found.append(batch.tables["pitches"].to_pylist())
    assert found[0] == found[1]
    rows = {(r["ab"], r["ev"]): r for r in found[0]}
    assert (rows[(20, 8)]["on_2b"], rows[(65, 2)]["on_3b"], rows[(61, 3)]["fielder_3"]) == (CARROLL, PERDOMO, 687462)


def test_a_fold_is_named_from_a_closed_list() -> None:
    from tidemark.engines.derived import FOLDS, fold_definition
    from tidemark.errors import MappingError
    from tidemark.mapping.loader import parse_mapping
    from tidemark.mapping.models import FOLDS as FOLD_VALUES

    assert sorted(FOLDS) == sorted(FOLD_VALUES) and all(fold_definition(name).reads for name in FOLDS)
    head = "version: 1\nsource: {name: t, timestamp: {path: $.ts}}\ntargets:\n  - table: t\n    rows: $.a[*]\n"
    for fold, says in (
        ("{name: mlb_runners, read: 1B}", "unknown fold 'mlb_runners'; the folds are: mlb_bases, mlb_defence"),
        ("{name: mlb_bases, read: 4B}", "fold 'mlb_bases' has no value '4B'; it gives: 1B, 2B, 3B"),
    ):
        with pytest.raises(MappingError) as info:
            parse_mapping(head + f"    fields:\n      - {{name: x, fold: {fold}}}\n", "m.yaml")
        assert any(says in problem for problem in info.value.problems), info.value.problems


def test_values_of_an_unexpected_shape_do_not_stop_the_folds(tmp_path: Path) -> None:
    # a runner's end base, a runner id, a position code and a substitute's id that are arrays or objects instead of
    # text or numbers: the folds ignore those values (the state moves as if they were missing) and every pitch loads
    feed = copy.deepcopy(load_envelope(GAME_747175)["response"])
    plays = feed["liveData"]["plays"]["allPlays"]
    changed = 0
    for play in plays[:30]:
        for runner in play.get("runners", []):
            runner["movement"]["end"] = [runner["movement"].get("end")]
            runner["details"]["runner"]["id"] = {"id": runner["details"]["runner"]["id"]}
            changed += 1
        for event in play["playEvents"]:
            if event.get("isSubstitution"):
                event["position"] = {"code": [event.get("position", {}).get("code")]}
                event["player"] = {"id": [event["player"]["id"]]}
                changed += 1
    players = feed["liveData"]["boxscore"]["teams"]["home"]["players"]
    first = next(iter(players.values()))
    first["allPositions"] = [{"code": {"code": "2"}}]
    first["person"]["id"] = [first["person"]["id"]]
    assert changed > 10
    plan = compile_mapping(load_mapping("mlb:live_game")[0])
    (batch,) = LocalEngine(plan).extract(iter_documents(_write(tmp_path, feed)))
    assert batch.rejected == []  # the other tables report the bad values as row errors, of their own columns
    assert {e.table for e in batch.row_errors} <= {"game.live_game_runners", "game.live_game_pitch_events"}
    assert batch.tables["game.statcast_pitches"].num_rows == len(_pitches(iter_documents([GAME_747175])))


def test_a_fold_that_fails_rejects_only_that_document() -> None:
    from tidemark.engines.derived import FoldFailed, _guarded

    def broken(doc: Any) -> dict[int, dict[str, Any]]:
        return {hash(doc["plays"]): {}}  # a list cannot be hashed: a fold written for another shape

    assert _guarded("mlb_bases", broken)({"plays": (1, 2)}) != {}
    with pytest.raises(FoldFailed) as info:
        _guarded("mlb_bases", broken)({"plays": [1, 2]})
    assert str(info.value).startswith("fold mlb_bases failed on this document (TypeError: unhashable type: 'list')")
