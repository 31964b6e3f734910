"""Scopes reconcile whole snapshots, so a scoped table's row time must be the document's snapshot time."""

from __future__ import annotations

import pytest

from tidemark.compile.plan import compile_mapping
from tidemark.errors import MappingError
from tidemark.mapping.loader import parse_mapping

BASE = """\
version: 1
source:
  name: feed
  timestamp: {path: $.ts}
targets:
  - table: g.games
    primary_key: [game_pk]
    fields:
      - {name: game_pk, path: $.id, type: bigint, nullable: false}
  - table: g.plays
    rows: $.plays[*]
    primary_key: [game_pk, n]
    fields:
      - {name: game_pk, path: $.id, type: bigint, nullable: false}
      - {name: n, index: true, type: int}
"""


def test_an_exploded_table_is_scoped_by_the_document_key_by_default() -> None:
    plan = compile_mapping(parse_mapping(BASE, "m.yaml"))
    assert plan.target("g.plays").spec.scope == ("game_pk",)


def test_a_row_level_timestamp_field_turns_the_default_scope_off() -> None:
    text = BASE + "      - {name: captured_at, path: at, type: timestamp}\n"
    plan = compile_mapping(parse_mapping(text, "m.yaml"))
    assert plan.target("g.plays").spec.scope == ()


def test_an_explicit_scope_with_a_timestamp_field_is_refused_with_its_place() -> None:
    text = BASE + "      - {name: captured_at, path: at, type: timestamp}\n    scope: [game_pk]\n"
    with pytest.raises(MappingError) as err:
        parse_mapping(text, "m.yaml")
    message = str(err.value)
    assert "m.yaml:" in message and "targets[1].scope" in message
    assert "'captured_at' is a field" in message and "scope: []" in message
