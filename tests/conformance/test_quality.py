"""Quality rules on every store of the conformance list: a quarantine rule keeps the broken rows out of the table and
puts them in the store's quarantine with the rule's name; a fail rule leaves the store as it was."""

from __future__ import annotations

from typing import Any

import pytest

import tidemark
from tests.conformance.stores import Opener
from tests.test_quality_rules import game, plan
from tidemark.history.ledger import read_if_exists
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


def test_warn_rule_writes_every_row_on_every_store(store: Opener) -> None:
    warned = plan(pitches=RULES.replace("}}", "}, action: warn}"))
    with store() as sink:
        result = tidemark.run(warned, [game(1, pitches=[{"speed": 95.0}, {"speed": 250.0}])], sink)
    assert result.ok and result.quality["g.pitches"] == {"speed_physical": 1}
    assert sorted(r["speed"] for r in rows(store, "g.pitches")) == [95.0, 250.0]
    with store() as sink:
        assert read_if_exists(sink, quarantine_spec()) == []  # nothing quarantined (the table may not even exist)


def test_reject_document_rule_on_every_store(store: Opener) -> None:
    """A document-level rule keeps every row of the document out, quarantines the document, and its newer snapshot
    does not reconcile (delete) the rows a good snapshot stored."""
    rejecting = plan("- {name: teams_differ, check: home <> away, action: reject_document}")
    with store() as sink:
        tidemark.run(plan(), [game(1, pitches=[{"seq": 1}, {"seq": 2}])], sink)
    newer = game(1, ts="2024-07-13T00:00:00Z", home=4, away=4, pitches=[])
    with store() as sink:
        result = tidemark.run(rejecting, [newer, game(2, home=5, away=5), game(3)], sink)
    assert len(result.rejected) == 2 and result.deleted == 0 and result.documents == 1
    assert sorted(r["game_pk"] for r in rows(store, "g.games")) == [1, 3]
    assert sorted(r["game_pk"] for r in rows(store, "g.pitches")) == [1, 1, 3]
    reasons = [r["reason"] for r in rows(store, "quarantine")]
    assert len(reasons) == 2 and all("teams_differ" in r for r in reasons)
