"""Quality rules on the Spark engine: evaluated by Spark in Spark SQL (engines/spark_rules.py), with the local
engine's outcome row for row: the stored tables, the quarantine (rule, reason, row key, origin), the warn counts,
rejected documents, and a ``fail`` rule leaving the store as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pytest

import tidemark
from tests.conftest import GAME_747175, snapshot, write_docs
from tests.test_engine_spark import both, dump
from tests.test_quality_rules import game, plan
from tidemark.documents import RawDocument
from tidemark.engines.local import LocalEngine
from tidemark.engines.spark import SparkEngine, open_session
from tidemark.engines.spark_rules import spark_sql
from tidemark.quality import QualityError
from tidemark.quality.check import violations

pytestmark = pytest.mark.spark

#: one rule of each kind and each action, on the small mapping of tests/test_quality_rules.py
RULES = """
- {name: home_known, not_null: [home], action: quarantine}
- {name: one_home, unique: [home], action: quarantine}
- {name: home_in_league, range: {column: home, min: 1, max: 30}, action: warn}
- {name: state_known, accepted_values: {column: state, values: [F, L]}, action: quarantine}
- {name: code_form, regex: {column: code, pattern: '^\\d{4}/'}, action: warn}
- {name: teams_differ, check: home <> away, action: reject_document}
- {name: day_recent, range: {column: day, min: '2000-01-01'}, action: quarantine}
"""
PITCH_RULES = """
- {name: speed_physical, check: 'speed BETWEEN 30 AND 110', action: quarantine}
- {name: seq_known, not_null: [seq], action: warn}
"""


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    """The session of an earlier test module if one is running (one JVM for the whole suite), else a new one."""
    from pyspark.sql import SparkSession

    running = SparkSession.getActiveSession()
    session = open_session("local[2]", {"spark.ui.enabled": "false", "spark.sql.shuffle.partitions": "2"})
    yield session
    if running is None:
        session.stop()


def broken_games() -> list[dict[str, Any]]:
    """Games breaking every rule of :data:`RULES` and :data:`PITCH_RULES`, next to good ones."""
    return [
        game(1),
        game(2, home=None),  # home_known (quarantine)
        game(3, home=7, away=8),  # one_home: 3 and 4 share a snapshot time and a home team (both quarantined)
        game(4, home=7, away=9),
        game(5, home=31, away=2),  # home_in_league (warn: written)
        game(6, home=16, state="X"),  # state_known (quarantine)
        game(7, home=17, code="x2024"),  # code_form (warn)
        game(8, home=5, away=5),  # teams_differ: the whole document is rejected
        game(9, day="1999-12-31", pitches=[{"speed": 250.0, "seq": 1}, {"speed": 90.0}]),  # day_recent; a pitch
        game(10, home=7, away=2, ts="2024-07-13T00:00:00Z"),  # home 7 again, another snapshot: unique passes
        game(11, home=12, away=2, pitches=[{"speed": 10.0, "seq": 2}, {"speed": 95.0, "seq": 3}]),
        # rejected (teams_differ), and home 12 like 11: one_home holds for 11 once 12 is gone (counted after it is)
        game(12, home=12, away=12),
    ]


def quality(results: list[Any]) -> list[dict[str, dict[str, int]]]:
    return [r.quality for r in results]


def test_every_kind_and_action_gives_the_local_outcome(spark: Any, tmp_path: Path) -> None:
    """Batches of 3: one_home's two rows share a batch (3 and 4), and unique is counted per batch, as locally."""
    p = plan(RULES, PITCH_RULES)
    local, remote = both(tmp_path, [(p, broken_games())], batch_documents=4)
    assert quality(remote) == quality(local)
    [run] = local
    assert run.quality["g.games"] == {
        "home_known": 1,
        "one_home": 2,
        "home_in_league": 1,
        "state_known": 1,
        "code_form": 1,
        "day_recent": 1,
    }
    assert run.quality["g.pitches"] == {"speed_physical": 2, "seq_known": 1}
    assert [r.reason.split("'")[1] for r in run.rejected] == ["teams_differ", "teams_differ"]
    assert ["'game_pk': 8" in run.rejected[0].origin, "'game_pk': 12" in run.rejected[1].origin] == [True, True]
    with duckdb.connect(str(tmp_path / "spark.duckdb"), read_only=True) as con:
        games = con.sql("SELECT game_pk FROM g.games ORDER BY 1").fetchall()
        quarantined = con.sql(
            "SELECT table_name, row_key, reason, origin FROM _tidemark.quarantine ORDER BY table_name, row_key"
        ).fetchall()
    assert [g for (g,) in games] == [1, 5, 7, 10, 11]
    rows = [(t, json.loads(k), r.split("'")[1], o) for t, k, r, o in quarantined if t is not None]
    assert rows == [
        ("g.games", {"game_pk": 2}, "home_known", "document 1"),
        ("g.games", {"game_pk": 3}, "one_home", "document 2"),
        ("g.games", {"game_pk": 4}, "one_home", "document 3"),
        ("g.games", {"game_pk": 6}, "state_known", "document 5"),
        ("g.games", {"game_pk": 9}, "day_recent", "document 8"),
        ("g.pitches", {"game_pk": 11, "n": 0}, "speed_physical", "document 10"),
        ("g.pitches", {"game_pk": 9, "n": 0}, "speed_physical", "document 8"),
    ]
    documents = [(r, o) for t, _, r, o in quarantined if t is None]  # the rejected documents
    assert len(documents) == 2 and all("teams_differ" in r for r, _ in documents)


def test_the_live_game_rules_on_broken_copies_of_a_real_feed(
    spark: Any, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    def same_teams(doc: dict[str, Any]) -> None:
        doc["gameData"]["teams"]["home"]["id"] = doc["gameData"]["teams"]["away"]["id"]

    def impossible(doc: dict[str, Any]) -> None:
        play = doc["liveData"]["plays"]["allPlays"][0]
        pitch = next(e for e in play["playEvents"] if e.get("isPitch"))
        pitch["count"]["balls"] = 7  # count_before / count_after_pitch (quarantine)
        pitch["pitchData"]["startSpeed"] = 140.0  # pitch_speed_physical (warn)
        doc["liveData"]["plays"]["allPlays"][1]["about"]["inning"] = 0  # inning_positive of the plays
        doc["liveData"]["linescore"]["innings"][0]["home"]["runs"] = -1  # runs_not_negative

    docs = [
        snapshot(feed_747175, plays=20, game_pk=1, edit=same_teams),
        snapshot(feed_747175, plays=20, game_pk=2, edit=impossible),
    ]
    files = [*write_docs(tmp_path / "docs", docs), GAME_747175]
    local, remote = both(tmp_path, [("mlb:live_game", files)], batch_documents=2)
    assert quality(remote) == quality(local)
    [run] = local
    assert run.quality["game.live_game_pitch_events"] == {
        "count_after_pitch": 1,
        "count_before_pitch": 1,
        "pitch_speed_physical": 1,
    }
    assert run.quality["game.live_game_linescore_innings"] == {"runs_not_negative": 1}
    assert run.quality["game.live_game_plays"]["inning_positive"] == 1
    assert len(run.rejected) == 1 and "home_away_differ" in run.rejected[0].reason
    quarantine = dump(tmp_path / "spark.duckdb")["_tidemark.quarantine"]  # equal to local's (both() checked)
    ruled = sorted(row[2].split("'")[1] for row in quarantine if row[2].startswith("quality rule"))
    rules = ["count_after_pitch", "count_before_pitch", "home_away_differ", "inning_positive", "runs_not_negative"]
    assert ruled == rules
    assert all(row[4] for row in quarantine if row[2].startswith("quality rule"))  # each names its document


def test_a_fail_rule_writes_nothing_on_either_engine(spark: Any, tmp_path: Path) -> None:
    failing = plan(pitches="- {name: seq_positive, check: seq > 0, action: fail}")
    errors = {}
    for engine in ("local", "spark"):
        db = f"duckdb:{tmp_path / engine}.duckdb"
        tidemark.run(plan(), [game(1)], db, engine=engine)  # stored before: the failing run must leave it so
        with pytest.raises(QualityError) as info:
            tidemark.run(failing, [game(2), game(3, pitches=[{"seq": 0}])], db, engine=engine)
        errors[engine] = (info.value.table, info.value.rule, info.value.rows, info.value.key, str(info.value))
    assert errors["spark"] == errors["local"]
    assert errors["local"][:4] == ("g.pitches", "seq_positive", 1, {"game_pk": 3, "n": 0})
    assert dump(tmp_path / "spark.duckdb") == dump(tmp_path / "local.duckdb")
    with duckdb.connect(str(tmp_path / "spark.duckdb"), read_only=True) as con:
        assert con.sql("SELECT game_pk FROM g.games").fetchall() == [(1,)]


def test_spark_evaluates_the_rules_itself(spark: Any) -> None:
    """The batches Spark makes carry the rules' flags, computed by Spark SQL, equal to DuckDB's over the rows."""
    p = plan(RULES, PITCH_RULES)
    docs = [RawDocument(json.dumps(g).encode(), f"g{g['game_pk']}") for g in broken_games()]
    engine = SparkEngine(p, session=spark)
    batches = list(engine.extract(docs, batch_documents=4))
    local = list(LocalEngine(p).extract(docs, batch_documents=4))
    assert len(batches) == len(local) == 3
    flagged = 0
    for got, want in zip(batches, local, strict=True):
        assert got.origins == want.origins and got.tables == want.tables
        for t in p.targets:
            known = got.violations[t.name]
            assert set(known) == {r.name for r in t.rules}
            duck = violations(want.tables[t.name], t.rules, t.name)
            for rule, flags in zip(t.rules, duck, strict=True):
                assert known[rule.name].tolist() == flags.tolist(), (t.name, rule.name)
                flagged += int(np.sum(known[rule.name]))
    assert spark.sparkContext.statusTracker().getJobIdsForGroup(engine.rules_group)  # Spark jobs ran the rules
    # before any document is rejected: 7 rules of the games broken (one_home by 3 and 4, by 11 and 12), teams_differ
    # twice, 2 pitch speeds, 1 seq
    assert flagged == 14


def test_a_unique_rule_is_partitioned_by_the_batch_in_spark_sql() -> None:
    [rule] = plan("- {name: one_home, unique: [home]}").target("g.games").rules
    assert spark_sql(rule) == (
        "NOT COALESCE(COUNT(*) OVER (PARTITION BY `home`, `captured_at`, `target`, `item`, `part`) = 1 "
        "OR `home` IS NULL, TRUE)"
    )
    renamed = spark_sql(rule, {"home": "_tm_r0_1", "captured_at": "_tm_r0_6"})
    assert renamed.startswith("NOT COALESCE(COUNT(*) OVER (PARTITION BY `_tm_r0_1`, `_tm_r0_6`, `target`")
