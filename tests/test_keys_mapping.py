"""Deterministic keys in mappings: a target's ``key:`` computes its primary key from fields, in any run."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

import tidemark
from tidemark.contract.keys import KeyRecipe, reference_key
from tidemark.documents import RawDocument
from tidemark.errors import MappingError
from tidemark.mapping.loader import parse_mapping

MAPPING = """
version: 1
source:
  name: scoreboard
  timestamp: {path: $.scraped_at}
targets:
  - table: results.matches
    rows: $.matches[*]
    key: {name: match_id, from: [league, home, away, players], casefold: true, sort_lists: true}
    fields:
      - {name: league, path: $.league}
      - {name: home, path: home}
      - {name: away, path: away}
      - {name: players, path: players, type: json}
      - {name: home_goals, path: score.home, type: int}
"""


def doc(scraped_at: str, *matches: tuple[str, str | None, list[str], int]) -> RawDocument:
    body = {
        "league": "Sunday League",
        "scraped_at": scraped_at,
        "matches": [{"home": h, "away": a, "players": p, "score": {"home": g}} for h, a, p, g in matches],
    }
    return RawDocument(json.dumps(body).encode(), f"scrape {scraped_at}")


def test_a_mapping_key_keys_every_run_the_same(tmp_path: Path) -> None:
    plan = tidemark.compile_mapping(parse_mapping(MAPPING))
    assert plan.targets[0].spec.primary_key == ("match_id",)
    db = tmp_path / "m.duckdb"
    first = tidemark.run(
        plan, [doc("2024-05-04T10:00:00Z", ("Reds", "Blues", ["b", "a"], 1), ("Greens", None, [], 0))], f"duckdb:{db}"
    )
    assert first.tables["results.matches"].inserted == 1 and first.tables["results.matches"].error == 1
    report = first.keys["results.matches"]
    assert (report.rows, report.incomplete, report.coverage) == (2, 1, 50.0)
    assert "key input 'away' is NULL" in first.row_errors[0].reason
    nulls = tidemark.run(plan, [doc("2024-05-04T11:00:00Z", ("Reds", "Greys", ["a", None], 1))], f"duckdb:{db}")
    assert (
        nulls.row_errors[0].reason == "match_id: key input 'players' has a NULL element (a key is never made from NULL)"
    )
    second = tidemark.run(plan, [doc("2024-05-05T10:00:00Z", ("REDS", "blues", ["a", "b"], 3))], f"duckdb:{db}")
    assert (second.tables["results.matches"].inserted, second.tables["results.matches"].updated) == (0, 1)
    rows = duckdb.connect(str(db), read_only=True).sql("SELECT match_id, home_goals FROM results.matches").fetchall()
    recipe = KeyRecipe("match_id", ("league", "home", "away", "players"), casefold=True, sort_lists=True)
    # a json field is keyed by the values its JSON holds: players, sorted, like an Arrow list column
    assert rows == [(reference_key(("Sunday League", "reds", "blues", ["a", "b"]), recipe), 3)]
    assert second.as_dict()["keys"]["results.matches"]["coverage"] == 100.0


def test_a_key_from_an_unknown_field_is_a_mapping_error() -> None:
    bad = MAPPING.replace("from: [league, home, away, players]", "from: [league, hom, away]")
    with pytest.raises(MappingError, match=r"key input 'hom' is not a field \(did you mean 'home'\?\)"):
        parse_mapping(bad, "m.yaml")


def test_a_key_named_like_a_field_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match="key 'home_goals' has the name of a field"):
        parse_mapping(MAPPING.replace("name: match_id", "name: home_goals"), "m.yaml")
