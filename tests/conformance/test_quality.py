"""Quality rules on every store of the conformance list: a quarantine rule keeps the broken rows out of the table and
puts them in the store's quarantine with the rule's name; a fail rule leaves the store as it was."""

from __future__ import annotations

from typing import Any

import pytest

import tidemark
from tests.conformance.stores import Opener
from tests.test_quality_rules import game, plan
from tidemark.quality import QualityError
from tidemark.sinks.bookkeeping import quarantine_spec

RULES = "- {name: speed_physical, range: {column: speed, min: 30, max: 110}}"


def rows(opener: Opener, table: str) -> list[dict[str, Any]]:
    p = plan(pitches=RULES)
    with opener() as sink:
        spec = quarantine_spec() if table == "quarantine" else p.target(table).spec
        return sink.read_table(spec).to_pylist()


def test_quarantine_rule_on_every_store(store: Opener) -> None:
    docs = [game(1, pitches=[{"speed": 95.0}, {"speed": 250.0}]), game(2)]
    with store() as sink:
        result = tidemark.run(plan(pitches=RULES), docs, sink)
    assert result.tables["g.pitches"].inserted == 2 and result.tables["g.pitches"].error == 1
    assert sorted((r["game_pk"], r["n"]) for r in rows(store, "g.pitches")) == [(1, 0), (2, 0)]
    [entry] = rows(store, "quarantine")
    assert entry["table_name"] == "g.pitches" and "speed_physical" in entry["reason"]


def test_fail_rule_leaves_every_store_untouched(store: Opener) -> None:
    with store() as sink:
        tidemark.run(plan(), [game(1)], sink)
    failing = plan(pitches=RULES.replace("}}", "}, action: fail}"))
    with store() as sink, pytest.raises(QualityError, match="speed_physical"):
        tidemark.run(failing, [game(2), game(3, pitches=[{"speed": 5.0}])], sink)
    assert [r["game_pk"] for r in rows(store, "g.games")] == [1]
    assert [r["game_pk"] for r in rows(store, "g.pitches")] == [1]
