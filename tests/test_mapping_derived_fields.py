"""The mapping language's derived sources on their own, on small made-up documents (the MLB pack uses them on real
feeds): ``value``, ``index_base``, ``previous`` (LAG), ``lookup`` (a join by key), ``$$`` record paths and the
``file_modified`` snapshot-time fallback. Each is checked with the pruned decoder and with plain orjson.
"""

from __future__ import annotations

import gzip
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tidemark import compile_mapping
from tidemark.documents import RawDocument
from tidemark.engines.base import ExtractBatch
from tidemark.engines.local import LocalEngine
from tidemark.errors import MappingError
from tidemark.mapping.loader import parse_mapping
from tidemark.sources.files import expand_inputs, iter_documents

HEAD = """\
version: 1
source:
  name: t
  document: ["$.response", "$"]
  timestamp: {path: $.ts}
targets:
"""
TS = "2024-07-13T04:19:09Z"


def run(targets: str, docs: list[Any], head: str = HEAD) -> dict[str, list[dict[str, Any]]]:
    """Extract ``docs`` with a mapping made of ``head`` + ``targets``; both decoders must agree; returns rows."""
    plan = compile_mapping(parse_mapping(head + targets))
    raws = [RawDocument(json.dumps(d).encode(), f"doc{i}") for i, d in enumerate(docs)]
    results = []
    for fast in (True, False):
        batches = list(LocalEngine(plan, fast_decode=fast).extract(raws))
        results.append(_rows(batches))
    assert results[0] == results[1], "the pruned decoder changed what was extracted"
    return results[0]


def _rows(batches: list[ExtractBatch]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for b in batches:
        assert b.rejected == [] and b.row_errors == [], (b.rejected, b.row_errors)
        for name, table in b.tables.items():
            out.setdefault(name, []).extend(table.drop(["captured_at"]).to_pylist())
    return out


def problems(targets: str, head: str = HEAD) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(head + targets, "m.yaml")
    return info.value.problems


# -- value and index_base ---------------------------------------------------------------------------------------------
LINEUP = """\
  - table: lineup
    rows: $.battingOrder[*]
    primary_key: [slot]
    fields:
      - {name: slot, index: true, index_base: 1, type: int}
      - {name: player_id, value: true, type: bigint}
"""


def test_value_reads_the_element_of_an_array_of_ids_and_index_base_numbers_from_one() -> None:
    rows = run(LINEUP, [{"ts": TS, "battingOrder": [682998, 672515, 606466]}])["lineup"]
    assert rows == [
        {"slot": 1, "player_id": 682998},
        {"slot": 2, "player_id": 672515},
        {"slot": 3, "player_id": 606466},
    ]


def test_value_of_an_object_explode_is_the_object_value() -> None:
    targets = """\
  - table: t
    rows: $.m.*
    fields:
      - {name: k, key: true}
      - {name: v, value: true, type: int}
"""
    assert run(targets, [{"ts": TS, "m": {"a": 1, "b": 2}}])["t"] == [{"k": "a", "v": 1}, {"k": "b", "v": 2}]


def test_value_and_index_base_are_refused_where_they_mean_nothing() -> None:
    targets = """\
  - table: t
    rows: $
    fields:
      - {name: v, value: true}
      - {name: n, path: $.n, index_base: 1}
"""
    found = problems(targets)
    assert any("targets[0].fields[0].value: 'value: true' needs rows that explode" in p for p in found), found
    assert any("targets[0].fields[1].index_base: 'index_base' applies to 'index: true'" in p for p in found), found


# -- previous ----------------------------------------------------------------------------------------------------------
EVENTS = """\
  - table: pitches
    rows: $.events[*]
    filter: isPitch == true
    primary_key: [i]
    fields:
      - {name: i, index: true, type: int}
      - {name: balls, path: count.balls, type: int}
      - {name: balls_before, previous: {path: count.balls}, type: int, default: 0}
"""


def test_previous_reads_the_element_before_even_when_the_filter_drops_it() -> None:
    doc = {
        "ts": TS,
        "events": [
            {"isPitch": True, "count": {"balls": 1}},
            {"isPitch": False, "count": {"balls": 2}},  # a pitch-clock violation: not a pitch, but the count moves
            {"isPitch": True, "count": {"balls": 3}},
        ],
    }
    rows = run(EVENTS, [doc])["pitches"]
    assert rows == [{"i": 0, "balls": 1, "balls_before": 0}, {"i": 2, "balls": 3, "balls_before": 2}]


def test_previous_starts_again_for_every_parent_row() -> None:
    targets = """\
  - table: plays
    rows: $.plays[*]
    primary_key: [p]
    fields:
      - {name: p, index: true, type: int}
  - table: events
    parent: plays
    rows: events[*]
    primary_key: [p, e]
    fields:
      - {name: p, parent: p, type: int}
      - {name: e, index: true, type: int}
      - {name: before, previous: {path: n}, type: int}
"""
    doc = {"ts": TS, "plays": [{"events": [{"n": 1}, {"n": 2}]}, {"events": [{"n": 3}]}]}
    rows = run(targets, [doc])["events"]
    assert [r["before"] for r in rows] == [None, 1, None]


def test_previous_within_takes_the_nearest_earlier_element_of_the_same_partition() -> None:
    targets = """\
  - table: plays
    rows: $.plays[*]
    primary_key: [i]
    fields:
      - {name: i, index: true, type: int}
      - {name: outs_before, previous: {path: outs, within: [inning, top]}, type: int, default: 0}
"""
    plays = [
        {"inning": 1, "top": True, "outs": 1},
        {"inning": 1, "top": True, "outs": 3},
        {"inning": 1, "top": False, "outs": 1},  # new half-inning: nothing before it
        {"inning": 1, "top": True, "outs": 2},  # not contiguous: the nearest earlier top-1st play counts
    ]
    rows = run(targets, [{"ts": TS, "plays": plays}])["plays"]
    assert [r["outs_before"] for r in rows] == [0, 1, 0, 3]


def test_previous_needs_exploded_rows_and_a_relative_path() -> None:
    root = "  - table: t\n    rows: $\n    fields:\n      - {name: a, previous: {path: x}}\n"
    (found,) = problems(root)
    assert "targets[0].fields[0].previous: 'previous' needs rows that explode" in found
    absolute = "  - table: t\n    rows: $.a[*]\n    fields:\n      - {name: b, previous: {path: $.x}}\n"
    (found,) = problems(absolute)
    assert "m.yaml:10:30: targets[0].fields[0].previous.path: '$.x' is read inside an element" in found


# -- lookup ------------------------------------------------------------------------------------------------------------
PLAYERS_DOC = {
    "ts": TS,
    "battingOrder": [682998, 672515, 999],
    "players": {
        "ID682998": {"person": {"id": 682998, "fullName": "Corbin Carroll"}, "pos": "RF"},
        "ID672515": {"person": {"id": "672515", "fullName": "Geraldo Perdomo"}, "pos": "SS"},
    },
}


def test_lookup_joins_an_object_of_players_by_a_path_and_matches_numbers_with_numeric_strings() -> None:
    targets = (
        LINEUP
        + """\
      - {name: name, lookup: {from: $.players.*, where: person.id, equals: player_id, path: person.fullName}}
      - {name: pos, lookup: {from: $.players.*, where: person.id, equals: player_id, path: pos}, default: "?"}
"""
    )
    rows = run(targets, [PLAYERS_DOC])["lineup"]
    assert [(r["name"], r["pos"]) for r in rows] == [("Corbin Carroll", "RF"), ("Geraldo Perdomo", "SS"), (None, "?")]


def test_lookup_by_array_position_and_by_object_key() -> None:
    targets = """\
  - table: scoring
    rows: $.scoring[*]
    primary_key: [ab]
    fields:
      - {name: ab, value: true, type: int}
      - {name: event, lookup: {from: "$.plays[*]", equals: ab, path: event}}
      - {name: code, value: true}
      - {name: team, lookup: {from: $.teams.*, equals: code, path: name}}
"""
    doc = {"ts": TS, "scoring": [1, 0], "plays": [{"event": "Out"}, {"event": "Single"}], "teams": {"1": {"name": "x"}}}
    rows = run(targets, [doc])["scoring"]
    assert rows == [
        {"ab": 1, "event": "Single", "code": "1", "team": "x"},
        {"ab": 0, "event": "Out", "code": "0", "team": None},
    ]


def test_lookup_from_a_parent_element_and_whole_candidates_as_json() -> None:
    targets = """\
  - table: plays
    rows: $.plays[*]
    primary_key: [p]
    fields:
      - {name: p, index: true, type: int}
  - table: credits
    parent: plays
    rows: credits[*]
    primary_key: [p, c]
    fields:
      - {name: p, parent: p, type: int}
      - {name: c, index: true, type: int}
      - {name: fielder, path: fielder, type: int}
      - {name: runner, type: json, lookup: {from: "^.runners[*]", where: id, equals: fielder}}
"""
    doc = {"ts": TS, "plays": [{"runners": [{"id": 7, "base": "2B"}], "credits": [{"fielder": 7}, {"fielder": 8}]}]}
    rows = run(targets, [doc])["credits"]
    assert [json.loads(r["runner"]) if r["runner"] else None for r in rows] == [{"id": 7, "base": "2B"}, None]


def test_lookup_mistakes_name_the_place() -> None:
    (found,) = problems(
        "  - table: t\n    rows: $.a[*]\n    fields:\n      - {name: x, lookup: {from: $.p, equals: k}}\n"
    )
    assert "targets[0].fields[0].lookup.from: '$.p': end it with '[*]' (an array's items) or '.*'" in found
    targets = """\
  - table: t
    rows: $.a[*]
    fields:
      - {name: k, value: true}
      - {name: y, lookup: {from: "$.p[*]", equals: kk}}
      - {name: z, lookup: {from: "$.p[*]", equals: w}}
      - {name: w, lookup: {from: "$.p[*]", equals: k}}
      - {name: v, lookup: {from: "^.p[*]", equals: k}}
"""
    found = problems(targets)
    assert len(found) == 3, found
    assert "targets[0].fields[1].lookup.equals: 'kk' is not a field of 't' (did you mean 'k'?)" in found[0]
    assert "fields[2].lookup.equals: a lookup can use fields and earlier lookups, not lookup field 'w'" in found[1]
    assert "fields[4].lookup.from: '^.p[*]' reaches 1 level(s) up but 't' has 0 parent(s)" in found[2]


# -- $$ record paths ---------------------------------------------------------------------------------------------------
def test_record_paths_read_the_envelope_in_fields_scope_and_timestamp() -> None:
    head = HEAD.replace("{path: $.ts}", "{path: $$.query_params.timecode, format: '%Y%m%d_%H%M%S'}")
    targets = """\
  - table: plays
    rows: $[*]
    primary_key: [game_pk, i]
    scope: [game_pk]
    fields:
      - {name: game_pk, path: $$.path_params.game_pk, type: bigint, nullable: false}
      - {name: i, index: true, type: int}
"""
    record = {
        "path_params": {"game_pk": "747175"},
        "query_params": {"timecode": "20241027_120000"},
        "response": [{}, {}],
    }
    plan = compile_mapping(parse_mapping(head + targets))
    assert plan.target("plays").spec.scope == ("game_pk",)
    for fast in (True, False):
        (batch,) = LocalEngine(plan, fast_decode=fast).extract([RawDocument(json.dumps(record).encode(), "r")])
        assert batch.rejected == [] and batch.row_errors == []
        assert batch.tables["plays"].to_pylist() == [
            {"game_pk": 747175, "i": i, "captured_at": datetime(2024, 10, 27, 12, tzinfo=UTC)} for i in (0, 1)
        ]
        assert batch.scopes["plays"].column("game_pk").to_pylist() == [747175]


def test_record_paths_are_not_rows() -> None:
    found = problems("  - table: t\n    rows: $$.a[*]\n    fields:\n      - {name: x, path: b}\n")
    assert any("rows come from the document ('$.'), not the record ('$$')" in p for p in found), found


# -- the file_modified fallback ----------------------------------------------------------------------------------------
CAPTURED = HEAD.replace("{path: $.ts}", "{from: captured_at, fallback: file_modified}")
SIMPLE = "  - table: t\n    rows: $.a[*]\n    fields:\n      - {name: x, value: true, type: int}\n"


def _write(path: Path, record: dict[str, Any], mtime: datetime) -> Path:
    with gzip.open(path, "wb") as fh:
        fh.write(json.dumps(record).encode())
    os.utime(path, (mtime.timestamp(), mtime.timestamp()))
    return path


def test_captured_at_wins_and_the_file_time_is_the_fallback(tmp_path: Path) -> None:
    mtime = datetime(2024, 10, 27, 9, 30, tzinfo=UTC)
    _write(tmp_path / "a.json.gz", {"response": {"a": [1]}}, mtime)
    _write(tmp_path / "b.json.gz", {"captured_at": "2024-10-28T00:00:00Z", "response": {"a": [2]}}, mtime)
    plan = compile_mapping(parse_mapping(CAPTURED + SIMPLE))
    (batch,) = LocalEngine(plan).extract(iter_documents(expand_inputs([tmp_path])))
    assert batch.rejected == []
    rows = batch.tables["t"].to_pylist()
    assert rows == [
        {"x": 1, "captured_at": mtime},
        {"x": 2, "captured_at": datetime(2024, 10, 28, tzinfo=UTC)},
    ]


def test_without_a_file_there_is_no_fallback_and_the_document_is_rejected() -> None:
    plan = compile_mapping(parse_mapping(CAPTURED + SIMPLE))
    (batch,) = LocalEngine(plan).extract([RawDocument(b'{"a": [1]}', "stdin:1")])
    assert batch.tables["t"].num_rows == 0
    (rejected,) = batch.rejected
    assert "no snapshot time" in rejected.reason and "not a file" in rejected.reason


def test_a_mapping_without_the_fallback_still_rejects_documents_without_captured_at(tmp_path: Path) -> None:
    _write(tmp_path / "a.json.gz", {"response": {"a": [1]}}, datetime(2024, 1, 1, tzinfo=UTC))
    head = HEAD.replace("{path: $.ts}", "{from: captured_at}")
    plan = compile_mapping(parse_mapping(head + SIMPLE))
    (batch,) = LocalEngine(plan).extract(iter_documents(expand_inputs([tmp_path])))
    assert batch.tables["t"].num_rows == 0 and "no snapshot time at captured_at" in batch.rejected[0].reason


def test_derived_columns_are_typed_like_any_other() -> None:
    plan = compile_mapping(parse_mapping(HEAD + LINEUP))
    (batch,) = LocalEngine(plan).extract([RawDocument(b'{"ts": "2024-01-01", "battingOrder": ["12", 13]}', "d")])
    assert batch.tables["lineup"].schema.field("player_id").type == pa.int64()
    assert batch.tables["lineup"].column("player_id").to_pylist() == [12, 13]


def test_a_lookup_can_use_an_earlier_lookup_and_its_default() -> None:
    targets = """\
  - table: t
    rows: $.a[*]
    fields:
      - {name: k, value: true, type: int}
      - {name: team, lookup: {from: $.players.*, where: id, equals: k, path: team}, default: T0}
      - {name: team_name, lookup: {from: "$.teams[*]", where: code, equals: team, path: name}}
"""
    doc = {
        "ts": TS,
        "a": [1, 2],
        "players": {"x": {"id": 1, "team": "T1"}},
        "teams": [{"code": "T1", "name": "One"}, {"code": "T0", "name": "Unknown"}],
    }
    assert run(targets, [doc])["t"] == [
        {"k": 1, "team": "T1", "team_name": "One"},
        {"k": 2, "team": "T0", "team_name": "Unknown"},
    ]
