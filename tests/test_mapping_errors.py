"""Every rejection of the mapping loader names the place: file:line:col, the YAML path, and a did-you-mean."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tidemark.cli.main import app
from tidemark.errors import MappingError
from tidemark.mapping.loader import load_mapping, parse_mapping

FILE = "games.yaml"

# A small valid mapping; each test breaks one thing in it. Line numbers in assertions are computed from the text
# (``where``) so the tests check the position of the offending token, not a number copied from a run.
BASE = """\
version: 1
source:
  name: liveGameV1
  document: $.response
  timestamp:
    path: $.metaData.timeStamp
    format: "%Y%m%d_%H%M%S"
targets:
  - table: game.games
    rows: $
    primary_key: [game_pk]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint, nullable: false}
      - {name: venue, path: $.gameData.venue.name}
  - table: game.plays
    rows: $.liveData.plays.allPlays[*]
    primary_key: [game_pk, at_bat_index]
    foreign_keys:
      - {columns: [game_pk], references: game.games}
    fields:
      - name: game_pk
        path: $.gamePk
        type: bigint
      - name: at_bat_index
        path: about.atBatIndex
        type: int
      - name: description
        path: result.description
        type: string
  - table: game.pitches
    parent: game.plays
    rows: playEvents[*]
    primary_key: [game_pk, at_bat_index, event_index]
    fields:
      - {name: game_pk, parent: game_pk, type: bigint}
      - {name: at_bat_index, parent: at_bat_index, type: int}
      - {name: event_index, index: true, type: int}
      - {name: batter_id, path: ^.matchup.batter.id, type: bigint}
"""


def where(text: str, needle: str, occurrence: int = 1) -> str:
    """``line:col`` (1-based) of the ``occurrence``-th ``needle`` in ``text``."""
    start = -1
    for _ in range(occurrence):
        start = text.index(needle, start + 1)
    line = text.count("\n", 0, start) + 1
    col = start - (text.rfind("\n", 0, start) + 1) + 1
    return f"{line}:{col}"


def problems(text: str) -> list[str]:
    with pytest.raises(MappingError) as info:
        parse_mapping(text, FILE)
    assert str(info.value).startswith("invalid mapping")
    return info.value.problems


def only_problem(text: str) -> str:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def edit(old: str, new: str, text: str = BASE) -> str:
    assert text.count(old) == 1, f"{old!r} must occur once in the mapping"
    return text.replace(old, new)


def test_base_mapping_is_valid() -> None:
    mapping = parse_mapping(BASE, FILE)
    assert [t.table for t in mapping.targets] == ["game.games", "game.plays", "game.pitches"]


def test_unknown_key_in_a_field_suggests_the_known_one() -> None:
    text = edit("        type: string\n", "        tpye: string\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'tpye')}: targets[1].fields[2].tpye: unknown key")
    assert "did you mean 'type'?" in msg
    assert "allowed:" in msg and "nullable" in msg


def test_unknown_key_at_target_level() -> None:
    text = edit("    primary_key: [game_pk, at_bat_index]\n", "    primary_keys: [game_pk, at_bat_index]\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'primary_keys')}: targets[1].primary_keys: unknown key")
    assert "did you mean 'primary_key'?" in msg


def test_unknown_key_in_source() -> None:
    text = edit("  document: $.response\n", "  documnet: $.response\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'documnet')}: source.documnet: unknown key")
    assert "did you mean 'document'?" in msg


def test_unknown_type_suggests_the_closest() -> None:
    text = edit("        type: string\n", "        type: strnig\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'type: strnig')}: targets[1].fields[2].type: unknown type 'strnig'")
    assert "did you mean 'string'?" in msg
    assert "valid types:" in msg


def test_unknown_type_in_flow_mapping_points_at_its_key() -> None:
    text = edit("type: int}\n      - {name: event_index", "type: integr}\n      - {name: event_index")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'type: integr')}: targets[2].fields[1].type: unknown type 'integr'")
    assert "did you mean" in msg


def test_bad_path_syntax() -> None:
    text = edit("        path: result.description\n", "        path: result..description\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'path: result..')}: targets[1].fields[2].path: cannot parse")
    assert "'..description'" in msg


def test_explode_in_a_field_path_is_refused() -> None:
    text = edit("        path: about.atBatIndex\n", "        path: about[*]\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'path: about[*]')}: targets[1].fields[1].path:")
    assert "belong in 'rows'" in msg


def test_relative_rows_without_parent() -> None:
    text = edit("    rows: $.liveData.plays.allPlays[*]\n", "    rows: liveData.plays.allPlays[*]\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'rows: liveData')}: targets[1].rows:")
    assert "relative" in msg and "'parent'" in msg


def test_unknown_parent_target_suggests_the_closest() -> None:
    text = edit("    parent: game.plays\n", "    parent: game.ploys\n")
    found = problems(text)
    msg = found[0]
    assert msg.startswith(f"{FILE}:{where(text, 'parent: game.ploys')}: targets[2].parent: unknown parent target")
    assert "did you mean 'game.plays'?" in msg


def test_caret_deeper_than_the_parents() -> None:
    text = edit("path: ^.matchup.batter.id", "path: ^^.matchup.batter.id")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'path: ^^')}: targets[2].fields[3].path:")
    assert "'^^.matchup.batter.id' reaches 2 level(s) up" in msg
    assert "'game.pitches' has 1 parent(s)" in msg


def test_caret_in_a_root_target() -> None:
    text = edit("        path: result.description\n", "        path: ^.result.description\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'path: ^.result')}: targets[1].fields[2].path:")
    assert "has 0 parent(s)" in msg


def test_parent_field_unknown_in_the_parent_target() -> None:
    text = edit("{name: at_bat_index, parent: at_bat_index,", "{name: at_bat_index, parent: at_bat_idx,")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'parent: at_bat_idx')}: targets[2].fields[1].parent:")
    assert "parent target 'game.plays' has no field 'at_bat_idx'" in msg
    assert "did you mean 'at_bat_index'?" in msg


def test_parent_field_in_a_target_without_parent() -> None:
    text = edit("        path: result.description\n", "        parent: description\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'parent: description')}: targets[1].fields[2].parent:")
    assert "needs the target to have a 'parent'" in msg


def test_index_without_an_array_explosion() -> None:
    text = edit("    rows: playEvents[*]\n", "    rows: playEvents.*\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'index: true')}: targets[2].fields[2].index:")
    assert "'index: true' needs rows that explode an array" in msg


def test_primary_key_column_that_is_not_a_field() -> None:
    text = edit("    primary_key: [game_pk, at_bat_index]\n", "    primary_key: [game_pk, at_bat_indx]\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'at_bat_indx')}: targets[1].primary_key[1]:")
    assert "primary key column 'at_bat_indx' is not a field" in msg
    assert "did you mean 'at_bat_index'?" in msg


def test_foreign_key_to_a_missing_table() -> None:
    text = edit("references: game.games}", "references: game.gmaes}")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'references: game.gmaes')}: targets[1].foreign_keys[0].references:")
    assert "foreign key to unknown table 'game.gmaes'" in msg
    assert "did you mean 'game.games'?" in msg


def test_foreign_key_column_that_is_not_a_field() -> None:
    text = edit("{columns: [game_pk], references", "{columns: [gamepk], references")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'gamepk')}: targets[1].foreign_keys[0].columns[0]:")
    assert "did you mean 'game_pk'?" in msg


def test_scope_column_not_from_the_document() -> None:
    text = edit(
        "    primary_key: [game_pk, at_bat_index]\n",
        "    primary_key: [game_pk, at_bat_index]\n    scope: [description]\n",
    )
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'description]')}: targets[1].scope[0]:")
    assert "scope column 'description' must come from the document" in msg


def test_scope_column_that_is_not_a_field() -> None:
    text = edit(
        "    primary_key: [game_pk, at_bat_index]\n",
        "    primary_key: [game_pk, at_bat_index]\n    scope: [gamepk]\n",
    )
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:{where(text, 'gamepk]')}: targets[1].scope[0]:")
    assert "did you mean 'game_pk'?" in msg


def test_invalid_yaml_names_line_and_column() -> None:
    text = edit("    primary_key: [game_pk, at_bat_index]\n", "    primary_key: [game_pk, at_bat_index\n")
    msg = only_problem(text)
    assert msg.startswith(f"{FILE}:")
    assert "not valid YAML" in msg
    line = int(msg.split(":")[1])
    assert line >= int(where(text, "primary_key: [game_pk, at_bat_index").split(":")[0])


def test_invalid_yaml_tab_indentation() -> None:
    text = edit("    rows: $\n", "\trows: $\n")
    msg = only_problem(text)
    line = where(text, "\trows").split(":")[0]
    assert msg.startswith(f"{FILE}:{line}:")
    assert "not valid YAML" in msg


def test_a_mapping_that_is_not_an_object() -> None:
    assert only_problem("- just\n- a list\n").startswith(f"{FILE}:1:1:")


def test_several_problems_are_all_reported() -> None:
    text = edit("        type: string\n", "        tpye: string\n")
    text = edit("    rows: $\n", "    rows: $\n    requird: true\n", text)
    found = problems(text)
    assert len(found) == 2
    assert any("targets[1].fields[2].tpye" in p for p in found)
    assert any("targets[0].requird" in p and "did you mean 'required'?" in p for p in found)


def test_load_mapping_reports_the_file_path(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = edit("        type: string\n", "        type: strnig\n")
    path.write_text(text, encoding="utf-8")
    with pytest.raises(MappingError) as info:
        load_mapping(path)
    assert info.value.problems[0].startswith(f"{path}:{where(text, 'type: strnig')}: targets[1].fields[2].type:")


def test_unknown_builtin_mapping_suggests_the_closest() -> None:
    with pytest.raises(MappingError) as info:
        load_mapping("mlb:live_gam")
    assert "did you mean 'live_game'?" in str(info.value)


def test_builtin_live_game_validates() -> None:
    mapping, path = load_mapping("mlb:live_game")
    assert path.name == "live_game.yaml"
    assert {"game.live_game_metadata", "game.live_game_plays", "game.live_game_pitch_events"} <= {
        t.table for t in mapping.targets
    }
    assert len(mapping.targets) == 21  # the liveGameV1 tables of the MLB domain pack (docs/mlb/)


runner = CliRunner()


def test_cli_validate_ok_for_the_builtin() -> None:
    result = runner.invoke(app, ["validate", "mlb:live_game"])
    assert result.exit_code == 0, result.output
    assert "live_game.yaml: 21 tables" in result.output


def test_cli_validate_reports_the_place_and_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    text = edit("        type: string\n", "        tpye: string\n")
    path.write_text(text, encoding="utf-8")
    good = tmp_path / "good.yaml"
    good.write_text(BASE, encoding="utf-8")
    result = runner.invoke(app, ["validate", str(good), str(path)])
    assert result.exit_code == 1
    output = result.output.replace("\n", "")  # Rich may wrap long paths
    assert f"{path}:{where(text, 'tpye')}: targets[1].fields[2].tpye: unknown key" in output
    assert "did you mean 'type'?" in output
    assert "good.yaml: 3 tables" in output
    assert "Traceback" not in result.output
