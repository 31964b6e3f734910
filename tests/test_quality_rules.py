"""Quality rules of the mapping: every kind with rows that pass and rows that break it, each action through a real run
into DuckDB (fail leaves the tables untouched, quarantine content, warn counts, reject_document), and the SQL each
rule compiles to in other dialects."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest
from rich.console import Console

import tidemark
from tidemark.compile.plan import Plan, TargetPlan, compile_mapping
from tidemark.mapping.loader import parse_mapping
from tidemark.quality import QualityError, check_rows
from tidemark.quality.check import violations

MAPPING = """\
version: 1
source:
  name: games
  timestamp: {{path: $.ts}}
targets:
  - table: g.games
    rows: $
    primary_key: [game_pk]
    fields:
      - {{name: game_pk, path: $.game_pk, type: bigint}}
      - {{name: home, path: $.home, type: int}}
      - {{name: away, path: $.away, type: int}}
      - {{name: state, path: $.state}}
      - {{name: code, path: $.code}}
      - {{name: day, path: $.day, type: date}}
    rules:
{games}
  - table: g.pitches
    parent: g.games
    rows: pitches[*]
    primary_key: [game_pk, n]
    fields:
      - {{name: game_pk, parent: game_pk, type: bigint}}
      - {{name: n, index: true, type: int}}
      - {{name: speed, path: speed, type: double}}
      - {{name: seq, path: seq, type: int}}
    rules:
{pitches}
"""
TS = "2024-07-12T00:00:00Z"


def plan(games: str = "[]", pitches: str = "[]") -> Plan:
    def block(text: str) -> str:
        return "\n".join("      " + line for line in text.strip().splitlines())

    return compile_mapping(parse_mapping(MAPPING.format(games=block(games), pitches=block(pitches))))


def rows(target: TargetPlan, records: list[dict[str, Any]]) -> pa.Table:
    full = [{c: r.get(c) for c in target.spec.column_names} for r in records]
    return pa.Table.from_pylist(full, schema=target.spec.arrow_schema)


def game(game_pk: int, **values: Any) -> dict[str, Any]:
    doc = {"ts": TS, "game_pk": game_pk, "home": 1, "away": 2, "state": "F", "code": "2024/07/12/a-b-1"}
    doc |= {"day": "2024-07-12", "pitches": [{"speed": 95.0, "seq": 1}]}
    return doc | values


# (rule, rows that pass, rows that break it); rows of g.games
KINDS = {
    "not_null": ("{name: r, not_null: [home, away]}", [{"home": 1, "away": 2}], [{"home": None, "away": 2}]),
    "unique": ("{name: r, unique: [home]}", [{"game_pk": 1, "home": 1}, {"game_pk": 2, "home": 2}], None),
    "range": ("{name: r, range: {column: home, min: 1, max: 30}}", [{"home": 1}, {"home": 30}, {}], [{"home": 31}]),
    "range_date": (
        "{name: r, range: {column: day, min: '2000-01-01'}}",
        [{"day": date(2024, 1, 1)}],
        [{"day": date(1999, 1, 1)}],
    ),
    "accepted_values": (
        "{name: r, accepted_values: {column: state, values: [F, L]}}",
        [{"state": "L"}, {}],
        [{"state": "X"}],
    ),
    "regex": ("{name: r, regex: {column: code, pattern: '^\\d{4}/'}}", [{"code": "2024/x"}], [{"code": "x2024/"}]),
    "check": (
        "{name: r, check: home <> away}",
        [{"home": 1, "away": 2}, {"home": None, "away": 2}],
        [{"home": 3, "away": 3}],
    ),
    "between": (
        "{name: r, check: 'home BETWEEN 1 AND 30 AND game_pk > 0'}",
        [{"game_pk": 1, "home": 5}],
        [{"game_pk": 0, "home": 5}],
    ),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_passes_good_rows_and_flags_bad_ones(kind: str) -> None:
    rule, good, bad = KINDS[kind]
    target = plan(f"- {rule}").target("g.games")
    if bad is None:  # unique: the same home twice in one snapshot breaks it (both rows)
        bad = [{"game_pk": 3, "home": 7}, {"game_pk": 4, "home": 7}]
    table = rows(
        target,
        [{"game_pk": i + 1, **r} for i, r in enumerate(good)] + [{"game_pk": 90 + i, **r} for i, r in enumerate(bad)],
    )
    [flags] = violations(table, target.rules)
    assert flags.tolist() == [False] * len(good) + [True] * len(bad)


def test_unique_counts_rows_of_one_snapshot_only() -> None:
    target = plan("- {name: r, unique: [home]}").target("g.games")
    first, second = datetime(2024, 7, 12, tzinfo=UTC), datetime(2024, 7, 13, tzinfo=UTC)
    snapshots = [{"game_pk": 1, "home": 7, "captured_at": first}, {"game_pk": 1, "home": 7, "captured_at": second}]
    assert violations(rows(target, snapshots), target.rules)[0].tolist() == [False, False]
    same = [dict(r, captured_at=first) for r in snapshots]
    assert violations(rows(target, same), target.rules)[0].tolist() == [True, True]


def test_check_rows_splits_by_action() -> None:
    target = plan(
        """
- {name: teams_differ, check: home <> away, action: quarantine}
- {name: home_known, not_null: [home], action: warn}
- {name: pk_positive, check: game_pk > 0, action: fail}
"""
    ).target("g.games")
    table = rows(target, [{"game_pk": 1, "home": 1, "away": 2}, {"game_pk": 2, "home": 3, "away": 3}, {"game_pk": 3}])
    checked = check_rows(target, table)
    assert checked.failure is None
    assert checked.rows.column("game_pk").to_pylist() == [1, 3]
    [err] = checked.errors
    assert (err.table, err.key, err.row["home"]) == ("g.games", {"game_pk": 2}, 3)
    assert err.reason == "quality rule 'teams_differ' (error): home <> away"
    assert checked.warnings == {"home_known": 1}
    assert checked.broken == {"teams_differ": 1, "home_known": 1}
    failing = check_rows(target, rows(target, [{"game_pk": -5, "home": 1, "away": 2}]))
    assert isinstance(failing.failure, QualityError)
    assert failing.failure.rule == "pk_positive" and failing.failure.key == {"game_pk": -5}


def test_rules_compile_to_each_dialect() -> None:
    target = plan(
        """
- {name: code_form, regex: {column: code, pattern: '^\\d+'}}
- {name: one_home, unique: [home]}
- {name: speed, check: 'home BETWEEN 1 AND 30'}
"""
    ).target("g.games")
    regex, unique, between = target.rules
    assert regex.sql("duckdb") == "REGEXP_MATCHES(\"code\", '^\\d+')"
    assert regex.sql("spark") == r"`code` RLIKE '^\\d+'"  # Spark string literals escape a backslash
    assert regex.sql("postgres") == "\"code\" ~ '^\\d+'"
    assert unique.sql("spark").startswith("COUNT(*) OVER (PARTITION BY `home`, `captured_at`) = 1")
    assert between.sql("spark") == "`home` BETWEEN 1 AND 30"
    assert between.violation_sql("duckdb") == 'NOT COALESCE("home" BETWEEN 1 AND 30, TRUE)'


def read(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(db))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_quarantine_writes_the_rest_and_names_the_rule(tmp_path: Path) -> None:
    db = tmp_path / "q.duckdb"
    p = plan(pitches="- {name: speed_physical, range: {column: speed, min: 30, max: 110}}")
    docs = [game(1, pitches=[{"speed": 95.0}, {"speed": 250.0}, {"speed": None}])]
    result = tidemark.run(p, docs, f"duckdb:{db}")
    assert result.tables["g.pitches"].inserted == 2 and result.tables["g.pitches"].error == 1
    assert result.quality == {"g.games": {}, "g.pitches": {"speed_physical": 1}}
    assert not result.ok and result.as_dict()["quality"] == {"g.pitches": {"speed_physical": 1}}
    assert read(db, "SELECT n FROM g.pitches ORDER BY n") == [(0,), (2,)]
    [(table, key, reason)] = read(db, "SELECT table_name, row_key, reason FROM _tidemark.quarantine")
    assert table == "g.pitches" and '"n": 1' in key.replace(":1", ": 1")
    assert "speed_physical" in reason and "250" not in reason


def test_fail_rolls_the_run_back(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    tidemark.run(plan(), [game(1)], f"duckdb:{db}")  # stored before: the failing run must leave it as it was
    p = plan(pitches="- {name: seq_positive, check: seq > 0, action: fail}")
    with pytest.raises(QualityError, match=r"quality rule .seq_positive. of g\.pitches failed") as info:
        tidemark.run(p, [game(2), game(3, pitches=[{"seq": 0}])], f"duckdb:{db}")
    assert info.value.rows == 1 and info.value.key == {"game_pk": 3, "n": 0}
    assert read(db, "SELECT game_pk FROM g.games") == [(1,)]
    assert read(db, "SELECT DISTINCT game_pk FROM g.pitches") == [(1,)]
    tables = read(db, "SELECT table_schema || '.' || table_name FROM information_schema.tables")
    assert "_tidemark.quarantine" not in {t for (t,) in tables}  # nothing quarantined either


def test_warn_counts_and_writes_everything(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    p = plan("- {name: state_known, accepted_values: {column: state, values: [F]}, action: warn}")
    result = tidemark.run(p, [game(1), game(2, state="X"), game(3, state="Y")], f"duckdb:{db}", batch_documents=2)
    assert result.ok and result.quality["g.games"] == {"state_known": 2}
    assert result.tables["g.games"].inserted == 3 and result.tables["g.games"].error == 0


def test_reject_document_drops_every_row_of_the_document(tmp_path: Path) -> None:
    db = tmp_path / "d.duckdb"
    p = plan("- {name: teams_differ, check: home <> away, action: reject_document}")
    result = tidemark.run(p, [game(1), game(2, home=5, away=5)], f"duckdb:{db}")
    [rejected] = result.rejected
    assert "teams_differ" in rejected.reason and "'game_pk': 2" in rejected.origin
    assert result.documents == 1
    assert read(db, "SELECT game_pk FROM g.games") == [(1,)]
    assert read(db, "SELECT DISTINCT game_pk FROM g.pitches") == [(1,)]
    assert read(db, "SELECT count(*) FROM _tidemark.quarantine WHERE reason LIKE '%teams_differ%'") == [(1,)]


def test_a_rejected_snapshot_does_not_reconcile_its_scope(tmp_path: Path) -> None:
    """A newer snapshot of a game that is rejected must not delete the game's stored child rows."""
    db = tmp_path / "s.duckdb"
    tidemark.run(plan(), [game(1, pitches=[{"seq": 1}, {"seq": 2}])], f"duckdb:{db}")
    p = plan("- {name: teams_differ, check: home <> away, action: reject_document}")
    newer = game(1, ts="2024-07-13T00:00:00Z", home=4, away=4, pitches=[])
    result = tidemark.run(p, [newer], f"duckdb:{db}")
    assert len(result.rejected) == 1 and result.deleted == 0
    assert read(db, "SELECT count(*) FROM g.pitches") == [(2,)]


def test_the_cli_lists_the_rules_broken(tmp_path: Path) -> None:
    from tidemark.cli.render import render_result

    db = tmp_path / "c.duckdb"
    p = plan("- {name: state_known, accepted_values: {column: state, values: [F]}, action: warn}")
    result = tidemark.run(p, [game(1), game(2, state="X")], f"duckdb:{db}")
    console = Console(record=True, width=200, markup=False, highlight=False)
    render_result(console, result)
    text = console.export_text()
    assert "quality rules broken" in text
    assert "  g.games state_known: 1" in text.splitlines()
