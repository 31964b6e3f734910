"""The state of a live game before each of its play events, folded through the feed in order (field source
``fold``, engines/derived.py): the runners on base (``mlb_bases``) and each team's defence (``mlb_defence``).

**Bases.** A plate appearance starts from the feed's own bases after the previous play of the same half-inning
(``matchup.postOnFirst/Second/Third``; empty for a half-inning's first play). Then, event by event, what happened at
an event index changes the bases for the events after it: the play's runner movements (``runners[]``, at their
``details.playIndex``: a steal, a wild pitch, a pickoff), a pinch runner (a substitution whose replaced player is
on a base) and the extra-inning automatic runner (an event ``runner_placed`` with its ``base``). The movements of one
event are applied together: every moving runner leaves his base first, then each reaches the furthest base his
movements of that event give (none when one of them is an out, or when he scores).

**Defence.** Each team's starters at their first position (the boxscore: batting order ``n00``, ``allPositions[0]``;
the pitcher: ``pitchers[0]``), then every substitution event in order (``isSubstitution``: the player takes his
``position.code``, leaving any other; the replaced player leaves the field; whoever held that position before
leaves it). An element's state is the defence of the team in the field (the home team in the top of an inning).
Slots are position codes: 1 the pitcher ... 9 the right fielder, 10 the designated hitter.
"""

from __future__ import annotations

from typing import Any

from tidemark.engines.derived import FoldDefinition

BASE_NAMES = ("1B", "2B", "3B")
_POSTS = {"1B": "postOnFirst", "2B": "postOnSecond", "3B": "postOnThird"}
_REACH = {"1B": 1, "2B": 2, "3B": 3, "4B": 4, "score": 4}
_PLAYS = ("liveData", "plays", "allPlays", "[*]")
_EVENTS = (*_PLAYS, "playEvents", "[*]")
_SLOTS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10")


def _get(obj: Any, *keys: str) -> Any:
    for key in keys:
        obj = obj.get(key) if type(obj) is dict else None
    return obj


def _list(value: Any) -> list[Any]:
    return value if type(value) is list else []


def _plays(doc: Any) -> list[Any]:
    return [p for p in _list(_get(doc, "liveData", "plays", "allPlays")) if type(p) is dict]


# -- bases ----------------------------------------------------------------------------------------------------------
# The folds are read, never written, by the row builders: an element's state is a snapshot shared by every element
# before which nothing changed (copied again only after a change), not a copy per element.
_BASE_OF = {n: base for base, n in _REACH.items() if n < 4}


def _moves(runners: Any) -> dict[int, dict[Any, str | None]]:
    """event index -> runner -> the base he reaches in that event (None: out, or scored)."""
    reach: dict[int, dict[Any, int]] = {}
    for r in runners if type(runners) is list else ():
        details = r.get("details") if type(r) is dict else None
        if type(details) is not dict:
            continue
        index, runner = details.get("playIndex"), details.get("runner")
        runner = runner.get("id") if type(runner) is dict else None
        if type(index) is not int or type(runner) not in (int, str):
            continue
        movement = r.get("movement")
        if type(movement) is dict:
            end = movement.get("end")
            furthest = 0 if movement.get("isOut") else _REACH.get(end, 0) if type(end) is str else 0
        else:
            furthest = 0
        seen = reach.get(index)
        if seen is None:
            seen = reach[index] = {}
        before = seen.get(runner)
        seen[runner] = furthest if before is None else 0 if before == 0 else max(before, furthest)
    return {i: {runner: _BASE_OF.get(n) for runner, n in by.items()} for i, by in reach.items()}


def _leave(state: dict[str, Any], player: Any) -> None:
    for slot, who in state.items():
        if who == player:
            state[slot] = None


def _event_on_bases(bases: dict[str, Any], event: dict[str, Any]) -> bool:
    """A pinch runner replaces the runner; the automatic runner is placed. Whether it may have changed the bases."""
    details, substitution = event.get("details"), event.get("isSubstitution")
    placed = type(details) is dict and details.get("eventType") == "runner_placed"
    if not placed and not substitution:
        return False
    player = _get(event, "player", "id")
    if placed and player is not None:
        _leave(bases, player)
        base = f"{str(event.get('base'))[:1]}B"  # the feed's base number (2); the rule's base when it lacks one
        bases[base if base in BASE_NAMES else "2B"] = player
    replaced = _get(event, "replacedPlayer", "id")
    if substitution and replaced is not None and player is not None:
        for base, who in bases.items():
            if who == replaced:
                bases[base] = player
    return True


def play_bases(play: dict[str, Any], start: dict[str, Any], out: dict[int, dict[str, Any]]) -> dict[str, Any]:
    """Fold one play from the bases ``start``: the bases before each of its events go to ``out`` (shared between
    events while they do not change: read them, do not write them); returns the bases after its last event (the
    feed's ``postOn*`` except after a third out, when the feed clears them)."""
    bases = dict(start)
    moves = _moves(play.get("runners"))
    snapshot = None
    for index, event in enumerate(_list(play.get("playEvents"))):
        if snapshot is None:
            snapshot = dict(bases)
        out[id(event)] = snapshot
        if type(event) is dict and _event_on_bases(bases, event):
            snapshot = None
        moved = moves.get(index)
        if moved:
            for runner in moved:
                _leave(bases, runner)
            for runner, base in moved.items():
                if base is not None:
                    bases[base] = runner
            snapshot = None
    return bases


def bases_before(doc: Any) -> dict[int, dict[str, Any]]:
    """Each play event (by identity) -> the runner ids on 1B, 2B, 3B just before it (None: empty; shared between
    events while they do not change: read them, do not write them)."""
    out: dict[int, dict[str, Any]] = {}
    half: tuple[Any, Any] | None = None
    after: dict[str, Any] = dict.fromkeys(BASE_NAMES)
    for play in _plays(doc):
        this = (_get(play, "about", "inning"), _get(play, "about", "isTopInning"))
        start = after if this == half else dict.fromkeys(BASE_NAMES)
        play_bases(play, start, out)
        after = {base: _get(play, "matchup", post, "id") for base, post in _POSTS.items()}
        half = this
    return out


BASES = FoldDefinition(
    bases_before,
    reads=(
        (*_PLAYS, "about", "inning"),
        (*_PLAYS, "about", "isTopInning"),
        *((*_PLAYS, "matchup", post, "id") for post in _POSTS.values()),
        (*_PLAYS, "runners", "[*]", "details", "playIndex"),
        (*_PLAYS, "runners", "[*]", "details", "runner", "id"),
        (*_PLAYS, "runners", "[*]", "movement", "end"),
        (*_PLAYS, "runners", "[*]", "movement", "isOut"),
        (*_EVENTS, "details", "eventType"),
        (*_EVENTS, "player", "id"),
        (*_EVENTS, "replacedPlayer", "id"),
        (*_EVENTS, "isSubstitution"),
        (*_EVENTS, "base"),
    ),
)


# -- defence --------------------------------------------------------------------------------------------------------
def _starters(team: Any) -> dict[str, Any]:
    slots: dict[str, Any] = dict.fromkeys(_SLOTS)
    players = _get(team, "players")
    for player in players.values() if type(players) is dict else ():
        order, positions = str(_get(player, "battingOrder") or ""), _list(_get(player, "allPositions"))
        code = _get(positions[0], "code") if positions else None
        if order.endswith("00") and type(code) is str and code in slots:
            slots[code] = _get(player, "person", "id")
    pitchers = _list(_get(team, "pitchers"))
    if pitchers:
        slots["1"] = pitchers[0]
    return slots


def _team_of(teams: Any) -> dict[Any, str]:
    out: dict[Any, str] = {}
    for side in ("away", "home"):
        players = _get(teams, side, "players")
        for player in players.values() if type(players) is dict else ():
            person = _get(player, "person", "id")
            if type(person) in (int, str):
                out.setdefault(person, side)
    return out


def _substitute(defence: dict[str, dict[str, Any]], team_of: dict[Any, str], event: dict[str, Any]) -> None:
    player, code = _get(event, "player", "id"), _get(event, "position", "code")
    side = team_of.get(player) if type(player) in (int, str) else None
    if side is None:
        return
    slots = defence[side]
    _leave(slots, player)
    replaced = _get(event, "replacedPlayer", "id")
    if replaced is not None:
        _leave(slots, replaced)
    if type(code) is str and code in slots:
        slots[code] = player


def defence_before(doc: Any) -> dict[int, dict[str, Any]]:
    """Each play event (by identity) -> the fielding team's player id at each position code just before it (shared
    between events while it does not change: read it, do not write it)."""
    teams = _get(doc, "liveData", "boxscore", "teams")
    defence = {side: _starters(_get(teams, side)) for side in ("away", "home")}
    team_of = _team_of(teams)
    out: dict[int, dict[str, Any]] = {}
    snapshots: dict[str, dict[str, Any]] = {}
    for play in _plays(doc):
        fielding = "home" if _get(play, "about", "isTopInning") else "away"
        for event in _list(play.get("playEvents")):
            snapshot = snapshots.get(fielding)
            if snapshot is None:
                snapshot = snapshots[fielding] = dict(defence[fielding])
            out[id(event)] = snapshot
            if type(event) is dict and event.get("isSubstitution"):
                _substitute(defence, team_of, event)
                snapshots.clear()  # either team's defence may have changed
    return out


_TEAM_READS = tuple(
    (*prefix, *path)
    for side in ("away", "home")
    for prefix, path in (
        (("liveData", "boxscore", "teams", side, "players", ".*"), ("person", "id")),
        (("liveData", "boxscore", "teams", side, "players", ".*"), ("battingOrder",)),
        (("liveData", "boxscore", "teams", side, "players", ".*"), ("allPositions",)),
        (("liveData", "boxscore", "teams", side), ("pitchers",)),
    )
)

DEFENCE = FoldDefinition(
    defence_before,
    reads=(
        *_TEAM_READS,
        (*_PLAYS, "about", "isTopInning"),
        (*_EVENTS, "isSubstitution"),
        (*_EVENTS, "player", "id"),
        (*_EVENTS, "position", "code"),
        (*_EVENTS, "replacedPlayer", "id"),
    ),
)

__all__ = ["BASES", "BASE_NAMES", "DEFENCE", "bases_before", "defence_before", "play_bases"]
