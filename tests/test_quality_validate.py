"""``tidemark validate`` checks quality rules like the rest of the mapping: file:line:col, the YAML path, what is
wrong (unknown column with a did-you-mean, an expression that is not a row test, a bad regex, a misplaced action)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.test_mapping_errors import BASE, FILE, only_problem, where
from tidemark.cli.main import app
from tidemark.mapping.loader import parse_mapping

ANCHOR = "      - {name: venue, path: $.gameData.venue.name}\n"  # the last field of game.games
CHILD_ANCHOR = "      - {name: batter_id, path: ^.matchup.batter.id, type: bigint}\n"  # the last line: game.pitches


def with_rules(*rules: str, child: bool = False) -> str:
    block = "    rules:\n" + "".join(f"      - {r}\n" for r in rules)
    anchor = CHILD_ANCHOR if child else ANCHOR
    return BASE.replace(anchor, anchor + block)


def test_rules_of_every_kind_are_valid() -> None:
    text = with_rules(
        "{name: pk, not_null: [game_pk]}",
        "{name: one_venue, unique: [venue], action: warn}",
        "{name: pk_range, range: {column: game_pk, min: 1}}",
        "{name: venues, accepted_values: {column: venue, values: [a, b]}}",
        "{name: venue_form, regex: {column: venue, pattern: '^[A-Z]'}}",
        "{name: pk_positive, check: 'game_pk > 0 AND venue IS NOT NULL', action: fail}",
        "{name: one_doc, check: game_pk <> 0, action: reject_document}",
    )
    [games, _, _] = parse_mapping(text, FILE).targets
    assert [r.kind for r in games.rules] == [
        "not_null", "unique", "range", "accepted_values", "regex", "check", "check"
    ]  # fmt: skip


def test_unknown_column_in_a_check_names_the_rule_and_suggests() -> None:
    text = with_rules("{name: r, check: game_pkk > 0}")
    assert only_problem(text) == (
        f"{FILE}:{where(text, 'check: game_pkk')}: targets[0].rules[0].check: unknown column 'game_pkk' "
        "(did you mean 'game_pk'?)"
    )


def test_unknown_column_of_each_kind() -> None:
    text = with_rules("{name: r, range: {column: venu, max: 3}}")
    assert f"{where(text, 'column: venu')}: targets[0].rules[0].range.column: unknown column 'venu'" in (
        only_problem(text)
    )
    text = with_rules("{name: r, not_null: [game_pk, nope]}")
    assert "targets[0].rules[0].not_null: unknown column 'nope'" in only_problem(text)


def test_bad_expressions_are_refused_where_they_stand() -> None:
    for check, says in [
        ("'game_pk >'", "not a SQL expression"),
        ("'game_pk + 1'", "is not a condition"),
        ("'count(*) > 1'", "a check tests one row; count is not allowed here"),
        ("'game_pk IN (SELECT 1)'", "not allowed here"),
        ("'g.game_pk > 0'", "name columns without a table"),
    ]:
        text = with_rules(f"{{name: r, check: {check}}}")
        problem = only_problem(text)
        assert problem.startswith(f"{FILE}:{where(text, 'check: ')}: targets[0].rules[0].check: "), problem
        assert says in problem, problem


def test_bad_regex_and_kinds_that_do_not_fit_the_column() -> None:
    text = with_rules("{name: r, regex: {column: venue, pattern: '(['}}")
    assert "targets[0].rules[0].regex.pattern: bad regular expression '(['" in only_problem(text)
    text = with_rules("{name: r, regex: {column: game_pk, pattern: x}}")
    assert "targets[0].rules[0].regex.column: regex needs a string column, not bigint" in only_problem(text)
    text = with_rules("{name: r, range: {column: venue, min: 1}}")
    assert "rules[0].range.column: range needs a number, date or timestamp column, not string" in only_problem(text)
    text = with_rules("{name: r, range: {column: game_pk, min: low}}")
    assert "rules[0].range.min: min of a bigint column must be a number" in only_problem(text)


def test_rule_shape_problems() -> None:
    text = with_rules("{name: r, not_null: [game_pk], unique: [game_pk]}")
    assert "targets[0].rules[0]: set exactly one of not_null, unique" in only_problem(text)
    text = with_rules("{name: r, not_null: [game_pk]}", "{name: r, unique: [game_pk]}")
    assert f"{where(text, 'name: r', 2)}: targets[0].rules[1].name: rule 'r' is declared twice" in only_problem(text)
    text = with_rules("{name: r, not_null: [game_pk], action: drop}")
    assert "targets[0].rules[0].action: Input should be 'fail', 'quarantine', 'warn' or 'reject_document'" in (
        only_problem(text)
    )
    text = with_rules("{name: r, check: batter_id > 0, action: reject_document}", child=True)
    assert "targets[2].rules[0].action: reject_document needs a target with one row per document" in (
        only_problem(text)
    )


def test_cli_validate_reports_a_rule_problem(tmp_path: Path) -> None:
    path = tmp_path / FILE
    path.write_text(with_rules("{name: r, check: venue_name IS NULL}"), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 1
    assert "targets[0].rules[0].check: unknown column 'venue_name'" in result.output
