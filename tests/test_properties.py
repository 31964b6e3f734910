"""Promises of the write contract as properties (hypothesis), on snapshots of the real 747175 feed.

Any permutation, duplication and batching of a set of snapshots (split over several runs, any ``batch_documents``)
yields identical final tables, and the rows that survive are what the contract says (per game, the union of the rows
of its newest snapshot(s)).

The same promise for the contract alone, on every conformance store, is tests/conformance/test_contract_properties.py.
"""

from __future__ import annotations

import copy
import itertools
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tidemark
from tests.conftest import GAME_747175, load_envelope, snapshot, write_docs
from tidemark import compile_mapping, load_mapping, open_sink
from tidemark.compile.plan import Plan
from tidemark.sinks.duckdb import DuckDBSink

META = "game.live_game_metadata"
PLAYS = "game.live_game_plays"
PITCHES = "game.live_game_pitch_events"
KEYS = {META: "game_pk", PLAYS: "game_pk, at_bat_index", PITCHES: "game_pk, at_bat_index, event_index"}
MAX_PLAYS = 6
TIMES = ("20240713_020000", "20240713_030000", "20240713_040000")

FAST = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@cache
def small_feed() -> dict[str, Any]:
    """The real feed without parts the three tables do not read, and only its first plays (fast examples)."""
    doc = copy.deepcopy(load_envelope(GAME_747175)["response"])
    del doc["gameData"]["players"], doc["liveData"]["boxscore"]
    del doc["liveData"]["plays"]["currentPlay"], doc["liveData"]["plays"]["playsByInning"]
    doc["liveData"]["plays"]["allPlays"] = doc["liveData"]["plays"]["allPlays"][:MAX_PLAYS]
    return doc


@dataclass(frozen=True)
class Snap:
    """One snapshot: a truncation of the feed, its time, and a small edit."""

    game_pk: int
    plays: int
    timestamp: str
    edit: str  # none | description | speed | status | drop_first

    def document(self) -> dict[str, Any]:
        return snapshot(small_feed(), plays=self.plays, timestamp=self.timestamp, game_pk=self.game_pk, edit=self._edit)

    def _edit(self, doc: dict[str, Any]) -> None:
        plays = doc["liveData"]["plays"]["allPlays"]
        if self.edit == "status":
            doc["gameData"]["status"]["detailedState"] = "Delayed"
        elif self.edit == "description" and plays:
            plays[-1]["result"]["description"] = "corrected by the scorer"
        elif self.edit == "speed" and plays:
            pitch = next(e for e in plays[0]["playEvents"] if e.get("isPitch"))
            pitch["pitchData"]["startSpeed"] = 99  # an int where the feed writes floats
        elif self.edit == "drop_first" and plays:
            del plays[0]

    def play_indexes(self) -> set[int]:
        return {p["about"]["atBatIndex"] for p in self.document()["liveData"]["plays"]["allPlays"]}


snaps = st.builds(
    Snap,
    game_pk=st.sampled_from([747175, 1]),
    plays=st.integers(0, MAX_PLAYS),
    timestamp=st.sampled_from(TIMES),
    edit=st.sampled_from(["none", "description", "speed", "status", "drop_first"]),
)


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Snap], list[list[int]], list[int]]:
    """A set of snapshots and one way to deliver them: an order with repeats, cut into runs, a batch size per run."""
    items = draw(st.lists(snaps, min_size=1, max_size=3, unique=True))
    order = draw(st.permutations(range(len(items))))
    repeats = draw(st.lists(st.sampled_from(range(len(items))), max_size=2))
    sequence = list(order)
    for r in repeats:
        sequence.insert(draw(st.integers(0, len(sequence))), r)
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(sequence) - 1)), max_size=2)))
    runs = [sequence[a:b] for a, b in itertools.pairwise([0, *cuts, len(sequence)]) if sequence[a:b]]
    sizes = [draw(st.sampled_from([1, 2, 64])) for _ in runs]
    return items, runs, sizes


@cache
def live_game() -> Plan:
    """The built-in live game mapping, cut down to the three tables checked here (the others cost time, not cover)."""
    mapping = load_mapping("mlb:live_game")[0]
    targets = [
        t.model_copy(update={"foreign_keys": [fk for fk in t.foreign_keys if fk.references in KEYS]})
        for t in mapping.targets
        if t.table in KEYS
    ]
    # its table expectations name tables cut here (they are checked in tests/test_history.py)
    return compile_mapping(mapping.model_copy(update={"targets": targets, "expectations": []}))


def dump(sink: DuckDBSink) -> dict[str, list[dict[str, Any]]]:
    """Every stored row (hash included) of the three tables, in key order."""
    con = sink.conn
    return {t: con.sql(f"SELECT * FROM {t} ORDER BY {k}").to_arrow_table().to_pylist() for t, k in KEYS.items()}


def surviving_plays(items: list[Snap]) -> set[tuple[int, int]]:
    """The contract's answer: per game, the union of the plays of its newest snapshot(s)."""
    out = set()
    for game in {s.game_pk for s in items}:
        newest = max(s.timestamp for s in items if s.game_pk == game)
        for s in items:
            if s.game_pk == game and s.timestamp == newest:
                out |= {(game, i) for i in s.play_indexes()}
    return out


@pytest.mark.slow  # ~25 examples of up to four runs each
@FAST
@given(deliveries())
def test_any_delivery_of_snapshots_gives_the_same_tables(case: tuple[list[Snap], list[list[int]], list[int]]) -> None:
    items, runs, sizes = case
    # one in-memory database per delivery, kept open across its runs (each run is still its own transaction)
    with (
        tempfile.TemporaryDirectory() as tmp,
        open_sink("duckdb::memory:") as reference,
        open_sink("duckdb::memory:") as delivered,
    ):
        assert isinstance(reference, DuckDBSink) and isinstance(delivered, DuckDBSink)
        paths = write_docs(Path(tmp), [s.document() for s in items])
        assert tidemark.run(live_game(), paths, reference).ok  # reference: each snapshot once, in list order
        survived = {t: 0 for t in KEYS}
        for run_items, size in zip(runs, sizes, strict=True):
            result = tidemark.run(live_game(), [paths[i] for i in run_items], delivered, batch_documents=size)
            assert result.ok
            assert result.documents + result.unchanged_documents == len(run_items)  # applied before: skipped
            for t in KEYS:
                survived[t] += result.tables[t].inserted - result.tables[t].deleted
        expected, got = dump(reference), dump(delivered)
        assert got == expected
        assert {(r["game_pk"], r["at_bat_index"]) for r in got[PLAYS]} == surviving_plays(items)
        assert {r["game_pk"] for r in got[META]} == {s.game_pk for s in items}
        # the counts tell how many rows survive: inserted - deleted over all runs
        assert survived == {t: len(rows) for t, rows in got.items()}
