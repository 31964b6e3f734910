"""The PostgreSQL sink on a real server: DDL from the mapping, the bundled game as on DuckDB, schema evolution,
foreign keys, DSN forms and the errors a user meets (unreachable server, wrong password, missing privileges)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pytest

import tidemark
from tests.conformance.conftest import read, write
from tests.conformance.tables import GAME_SCORES, PLAYS
from tests.conftest import GAME_747175, snapshot, write_docs
from tests.pgserver import PASSWORD_GROUP, PgServer, free_port
from tidemark.compile.plan import Plan, compile_mapping
from tidemark.contract.prepare import prepare
from tidemark.errors import ConfigError, SinkTerminalError, SinkTransientError
from tidemark.mapping.loader import load_mapping
from tidemark.sinks import open_sink, parse_sink_url, pg_copy, pg_errors
from tidemark.sinks.postgres import PostgresConfig, PostgresSink
from tidemark.tables import Column, ForeignKey, TableSpec
from tidemark.types import LogicalType

pytestmark = pytest.mark.postgres


def live_game() -> Plan:
    return compile_mapping(load_mapping("mlb:live_game")[0])


def query(dsn: str, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return list(conn.execute(sql, params).fetchall())


@pytest.fixture
def loaded(pg_dsn: str) -> Iterator[str]:
    result = tidemark.run("mlb:live_game", [GAME_747175], pg_dsn)
    assert result.ok
    yield pg_dsn


def test_a_second_run_of_the_same_game_is_all_unchanged(loaded: str) -> None:
    skipped = tidemark.run("mlb:live_game", [GAME_747175], loaded)  # applied before: not parsed again
    assert (skipped.documents, skipped.unchanged_documents, skipped.counts.rows_seen) == (0, 1, 0)
    result = tidemark.run("mlb:live_game", [GAME_747175], loaded, reprocess=True)
    assert list(result.tables) == [t.name for t in live_game().targets]  # every table of the mapping is reported
    for name, counts in result.tables.items():
        assert counts.inserted == counts.updated == counts.skipped == counts.deleted == 0, name
        assert counts.unchanged > 0, name


def test_ddl_from_the_mapping(loaded: str) -> None:
    plan = live_game()
    columns = dict(
        query(
            loaded,
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
            "WHERE a.attrelid = 'game.live_game_pitch_events'::regclass AND a.attnum > 0",
        )
    )
    assert columns["game_pk"] == "bigint"
    assert columns["at_bat_index"] == "integer"
    assert columns["start_speed"] == "double precision"
    assert columns["is_strike"] == "boolean"
    assert columns["start_time"] == "timestamp with time zone"
    assert columns["call_code"] == "text"
    pk = query(
        loaded,
        "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'game.live_game_plays'::regclass "
        "AND contype = 'p'",
    )
    assert pk == [("PRIMARY KEY (game_pk, at_bat_index)",)]
    fks = query(
        loaded,
        "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'f' ORDER BY 1",
    )
    assert set(fks) >= {
        (
            "game.live_game_pitch_events",
            "FOREIGN KEY (game_pk, at_bat_index) REFERENCES game.live_game_plays(game_pk, at_bat_index) "
            "DEFERRABLE INITIALLY DEFERRED",
        ),
        (
            "game.live_game_plays",
            "FOREIGN KEY (game_pk) REFERENCES game.live_game_metadata(game_pk) DEFERRABLE INITIALLY DEFERRED",
        ),
    }
    assert len(fks) == sum(len(t.spec.foreign_keys) for t in plan.targets)  # every one, once the parents exist
    indexes = {r[0] for r in query(loaded, "SELECT indexdef FROM pg_indexes WHERE tablename = 'live_game_plays'")}
    assert any("(batter_id)" in i for i in indexes) and any("(pitcher_id)" in i for i in indexes)
    comments = query(
        loaded,
        "SELECT obj_description('game.live_game_plays'::regclass, 'pg_class'), "
        "col_description('game.live_game_pitch_events'::regclass, "
        "(SELECT attnum FROM pg_attribute WHERE attrelid = 'game.live_game_pitch_events'::regclass "
        "AND attname = 'balls_after'))",
    )
    plays = next(t.spec for t in plan.targets if t.name == "game.live_game_plays")
    pitches = next(t.spec for t in plan.targets if t.name == "game.live_game_pitch_events")
    assert comments == [(plays.description, pitches.column("balls_after").description)]
    assert plays.description and pitches.column("balls_after").description


def write_rows(dsn: str, spec: TableSpec, data: dict[str, list[Any]]) -> None:
    sink = open_sink(dsn)
    try:
        sink.begin()
        sink.ensure_table(spec)
        table = pa.table({c.name: pa.array(data[c.name], c.type.arrow) for c in spec.columns})
        sink.write(spec, prepare(table, spec, "upsert").rows, None, "upsert")
        sink.commit()
    except BaseException:
        sink.rollback()
        raise
    finally:
        sink.close()


T1 = datetime(2024, 7, 13, 1, tzinfo=UTC)


def test_a_new_nullable_column_is_added_and_old_rows_keep_null(pg_dsn: str) -> None:
    write_rows(pg_dsn, GAME_SCORES, {"game_pk": [1], "score": [3], "captured_at": [T1]})
    wider = dataclasses.replace(GAME_SCORES, columns=(*GAME_SCORES.columns, Column("venue", LogicalType("string"))))
    write_rows(pg_dsn, wider, {"game_pk": [2], "score": [1], "captured_at": [T1], "venue": ["Fenway"]})
    assert query(pg_dsn, "SELECT game_pk, venue FROM t.games ORDER BY 1") == [(1, None), (2, "Fenway")]


def test_an_incompatible_column_is_a_clear_error(pg_dsn: str) -> None:
    write_rows(pg_dsn, GAME_SCORES, {"game_pk": [1], "score": [3], "captured_at": [T1]})
    game_pk, _, captured_at = GAME_SCORES.columns
    changed = dataclasses.replace(GAME_SCORES, columns=(game_pk, Column("score", LogicalType("string")), captured_at))
    with pytest.raises(SinkTerminalError, match=r"t\.games .*'score' is integer in the store but string"):
        write_rows(pg_dsn, changed, {"game_pk": [1], "score": ["3"], "captured_at": [T1]})


CHILD = TableSpec(
    schema="t",
    name="plays",
    columns=(
        Column("game_pk", LogicalType("bigint"), nullable=False),
        Column("at_bat_index", LogicalType("int"), nullable=False),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("game_pk", "at_bat_index"),
    timestamp="captured_at",
    foreign_keys=(ForeignKey(("game_pk",), "t", "games", ("game_pk",)),),
)


def test_a_child_row_without_its_parent_fails_at_commit_and_writes_nothing(pg_dsn: str) -> None:
    """The constraint is the safety net behind the contract's check (contract/orphans.py, which consults the parent
    tables of the same transaction): here the parent table is not in the run, so the constraint catches it."""
    write_rows(pg_dsn, GAME_SCORES, {"game_pk": [1], "score": [3], "captured_at": [T1]})
    write_rows(pg_dsn, CHILD, {"game_pk": [1], "at_bat_index": [0], "captured_at": [T1]})
    with pytest.raises(SinkTerminalError, match=r"foreign key check failed at commit.*\(game_pk\)=\(2\)"):
        write_rows(pg_dsn, CHILD, {"game_pk": [1, 2], "at_bat_index": [1, 0], "captured_at": [T1, T1]})
    assert query(pg_dsn, "SELECT game_pk, at_bat_index FROM t.plays") == [(1, 0)]


def test_a_first_load_checks_the_foreign_keys_of_the_tables_it_created(pg_dsn: str) -> None:
    """Tables created by a run get their keys at commit, checked over all rows at once: an orphan the contract's
    check cannot see (its parent deleted after the child was written) still fails."""
    sink = open_sink(pg_dsn)
    try:
        sink.begin()
        for spec in (GAME_SCORES, CHILD):
            sink.ensure_table(spec)
        games = pa.table({"game_pk": pa.array([1], pa.int64()), "score": [3], "captured_at": [T1]})
        plays = pa.table(
            {
                "game_pk": pa.array([1, 7], pa.int64()),
                "at_bat_index": pa.array([0, 0], pa.int32()),
                "captured_at": [T1] * 2,
            }
        )
        sink.write(GAME_SCORES, prepare(games, GAME_SCORES, "upsert").rows, None, "upsert")
        counts = sink.write(CHILD, prepare(plays, CHILD, "upsert").rows, None, "upsert")
        assert (counts.inserted, counts.error) == (1, 1)  # game 7 has no parent row: refused by the contract
        sink.driver.exec("DELETE FROM t.games")  # behind the contract's back
        with pytest.raises(SinkTerminalError, match=r"foreign key check failed at commit.*\(game_pk\)=\(1\)"):
            sink.commit()
        sink.rollback()
    finally:
        sink.close()
    assert query(pg_dsn, "SELECT to_regclass('t.games'), to_regclass('t.plays')") == [(None, None)]
    write_rows(pg_dsn, GAME_SCORES, {"game_pk": [1], "score": [3], "captured_at": [T1]})
    write_rows(pg_dsn, CHILD, {"game_pk": [1], "at_bat_index": [0], "captured_at": [T1]})
    defs = query(pg_dsn, "SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint WHERE contype = 'f'")
    assert defs == [("FOREIGN KEY (game_pk) REFERENCES t.games(game_pk) DEFERRABLE INITIALLY DEFERRED", True)]


def test_foreign_keys_can_be_left_out(pg_dsn: str) -> None:
    config = PostgresConfig(dsn=pg_dsn, foreign_keys=False)
    for spec in (GAME_SCORES, CHILD):
        sink = open_sink(config)
        sink.begin()
        sink.ensure_table(spec)
        sink.commit()
        sink.close()
    assert query(pg_dsn, "SELECT count(*) FROM pg_constraint WHERE contype = 'f'") == [(0,)]


# -- DSN forms and errors ----------------------------------------------------------------------------------------
def test_sink_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    for url in ("postgresql://u@h:5432/db", "postgres://u@h:5432/db"):
        config = parse_sink_url(url)
        assert isinstance(config, PostgresConfig) and config.dsn == url
    config = parse_sink_url("postgresql://u@h/db?sslmode=disable&foreign_keys=off")
    assert config == PostgresConfig(dsn="postgresql://u@h/db?sslmode=disable", foreign_keys=False)
    with pytest.raises(ConfigError, match="foreign_keys=maybe in the sink URL: use on or off"):
        parse_sink_url("postgresql://u@h/db?foreign_keys=maybe")
    config = parse_sink_url("postgresql://u@h/db?fillfactor=50&sslmode=disable")
    assert config == PostgresConfig(dsn="postgresql://u@h/db?sslmode=disable", fillfactor=50)
    for bad in ("5", "101", "half"):
        with pytest.raises(ConfigError, match=f"fillfactor={bad} in the sink URL: use a whole number from 10 to 100"):
            parse_sink_url(f"postgresql://u@h/db?fillfactor={bad}")
    monkeypatch.setenv("TIDEMARK_PG_DSN", "postgresql://env@h/db")
    assert parse_sink_url("postgres:").dsn == "postgresql://env@h/db"  # type: ignore[union-attr]
    assert parse_sink_url("postgresql:host=h dbname=x").dsn == "host=h dbname=x"  # type: ignore[union-attr]
    monkeypatch.delenv("TIDEMARK_PG_DSN")
    with pytest.raises(ConfigError, match="TIDEMARK_PG_DSN is not set"):
        parse_sink_url("postgres:")


def test_the_password_is_never_shown(pg_server: PgServer, pg_dsn: str) -> None:
    secret = "s3cret-Pa55"
    dsn = pg_dsn.replace("postgres@", f"postgres:{secret}@", 1)  # trust auth: the password is not checked
    assert secret in dsn
    result = tidemark.run("mlb:live_game", [GAME_747175], dsn)
    assert result.ok
    sink = open_sink(dsn)
    try:
        shown = [result.sink, json.dumps(result.as_dict()), sink.display, repr(parse_sink_url(dsn))]
    finally:
        sink.close()
    assert result.sink.startswith("postgresql://postgres@127.0.0.1:")
    assert all(secret not in text for text in shown)


def test_an_unreachable_server_says_where(pg_server: PgServer) -> None:
    port = free_port()
    with pytest.raises(SinkTransientError, match=rf"not reachable at 127\.0\.0\.1:{port}") as info:
        open_sink(f"postgresql://someone:hunter2@127.0.0.1:{port}/db")
    assert "hunter2" not in str(info.value)
    assert isinstance(info.value.__cause__, psycopg.OperationalError)
    assert str(info.value).count("Is the server running") == 1  # libpq's own hint is not repeated


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://someone:hun@ter2@127.0.0.1:5432/db",
        "postgresql://someone:hun/ter2@127.0.0.1:5432/db",
        "postgres://someone:a@b/c@127.0.0.1/db",
    ],
)
def test_a_password_with_an_unencoded_at_or_slash_is_a_malformed_url_never_echoed(url: str) -> None:
    with pytest.raises(ConfigError) as info:
        open_sink(url)
    message = str(info.value)
    assert message.startswith("malformed PostgreSQL URL: a character of the user or password must be percent-encoded")
    for piece in ("hun", "ter2", "someone", "127.0.0.1"):
        assert piece not in message
    assert "\n" not in message


def test_a_percent_encoded_password_is_not_malformed() -> None:
    assert not pg_errors.malformed_url("postgresql://someone:hun%40ter2@127.0.0.1:5432/db?sslmode=disable")
    assert not pg_errors.malformed_url("host=h dbname=d password=a@b/c")


@pytest.fixture
def password_role(pg_server: PgServer, pg_dsn: str) -> Iterator[tuple[str, str]]:
    if pg_server.datadir is None:
        pytest.skip("needs password authentication on the test server (set up when the tests start it)")
    name = f"u_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(
            f"DO $$BEGIN CREATE ROLE {PASSWORD_GROUP} NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END$$"
        )
        conn.execute(f"CREATE ROLE {name} LOGIN PASSWORD 'right-one' IN ROLE {PASSWORD_GROUP}")
    yield name, pg_dsn


def test_a_wrong_password_says_which_user(password_role: tuple[str, str], pg_server: PgServer) -> None:
    user, dsn = password_role
    dbname = dsn.rsplit("/", 1)[1]
    good = pg_server.dsn(dbname, user=user, password="right-one")
    open_sink(good).close()
    with pytest.raises(SinkTerminalError, match=f"authentication failed for user {user} at 127.0.0.1") as info:
        open_sink(good.replace("right-one", "wrong-one"))
    assert "wrong-one" not in str(info.value) and "right-one" not in str(info.value)


def test_no_create_privilege_on_the_schema_says_which_schema(pg_server: PgServer, pg_dsn: str) -> None:
    user = f"w_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA game")
        conn.execute(f"CREATE ROLE {user} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA game TO {user}")
    dsn = pg_server.dsn(pg_dsn.rsplit("/", 1)[1], user=user)
    with pytest.raises(SinkTerminalError, match=f"permission denied on schema game for user {user}") as info:
        tidemark.run("mlb:live_game", [GAME_747175], dsn)
    assert isinstance(info.value.__cause__, psycopg.errors.InsufficientPrivilege)
    assert query(pg_dsn, "SELECT count(*) FROM pg_tables WHERE schemaname = 'game'") == [(0,)]


def test_capabilities_are_declared() -> None:
    caps = PostgresSink.capabilities
    assert caps.transactional and caps.concurrent_writers and caps.enforces_foreign_keys
    assert caps.max_identifier_bytes == 63


@pytest.mark.parametrize("kind", ["duckdb", "postgres"])
def test_a_game_first_seen_without_its_scope_then_complete(kind: str, pg_dsn: str, tmp_path: Path) -> None:
    """Rows stored by a batch that did not reconcile their game (no watermark), then the game's first complete
    snapshot: the first-load path must not apply (the COPY meets stored keys), the contract path does."""
    url = pg_dsn if kind == "postgres" else f"duckdb:{tmp_path / 'x.duckdb'}"
    opener = partial(open_sink, url)
    at = [datetime(2024, 7, 13, h, tzinfo=UTC) for h in (1, 2)]

    def plays(hour: int, n: int) -> pa.Table:
        return pa.Table.from_pylist(
            [{"game_pk": 1, "at_bat_index": i, "event": f"e{hour}", "captured_at": at[hour - 1]} for i in range(n)],
            schema=pa.schema([(c.name, c.type.arrow) for c in PLAYS.columns]),
        )

    no_scope = pa.table({"game_pk": pa.array([], pa.int64()), "captured_at": pa.array([], pa.timestamp("us", "UTC"))})
    assert write(opener, PLAYS, plays(1, 3), scopes=no_scope).inserted == 3
    complete = pa.table({"game_pk": [1], "captured_at": pa.array([at[1]], pa.timestamp("us", "UTC"))})
    counts = write(opener, PLAYS, plays(2, 2), scopes=complete)
    assert (counts.inserted, counts.updated, counts.unchanged, counts.skipped, counts.deleted) == (0, 2, 0, 0, 1)
    assert [(r["at_bat_index"], r["event"]) for r in read(opener, PLAYS)] == [(0, "e2"), (1, "e2")]


# -- binary COPY ---------------------------------------------------------------------------------------------------
EDGES = TableSpec(
    schema="t",
    name="edges",
    columns=(
        Column("id", LogicalType("bigint"), nullable=False),
        Column("small", LogicalType("int")),
        Column("ratio", LogicalType("double")),
        Column("day", LogicalType("date")),
        Column("at", LogicalType("timestamp")),
        Column("doc", LogicalType("json")),
        Column("captured_at", LogicalType("timestamp"), nullable=False),
    ),
    primary_key=("id",),
    timestamp="captured_at",
)


def test_binary_copy_stores_the_values_postgresql_would_parse_from_text(pg_dsn: str) -> None:
    """Edge values through the binary COPY path (epoch 2000 vs 1970, negative times, IEEE specials), compared with
    PostgreSQL's own text rendering of the literal values."""
    # the table's columns + the content hash, as PostgreSQL names them: all have a binary encoder (no CSV fallback)
    types = ["bigint", "integer", "double precision", "date", "timestamp with time zone", "jsonb"]
    types += ["timestamp with time zone", "bigint"]
    assert pg_copy.encoder(pa.table({str(i): [None] for i in range(len(types))}), types, 10) is not None
    before_epoch = datetime(1900, 1, 1, 0, 0, 0, 1, tzinfo=UTC)
    data = {
        "id": [-(2**63), 2**63 - 1, 0, 1],
        "small": [-(2**31), 2**31 - 1, None, 0],
        "ratio": [float("inf"), float("-inf"), -0.0, None],
        "day": [date(1, 1, 1), date(1999, 12, 31), date(2000, 1, 1), None],
        "at": [before_epoch, datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), T1, None],
        "doc": ['{"b": [1, {"c": null}], "a": "中"}', "[]", None, '"x"'],
        "captured_at": [T1] * 4,
    }
    write_rows(pg_dsn, EDGES, data)
    stored = query(pg_dsn, "SELECT id, small, ratio::text, day::text, at, doc::text FROM t.edges ORDER BY id")
    assert stored == [
        (-(2**63), -(2**31), "Infinity", "0001-01-01", before_epoch, '{"a": "中", "b": [1, {"c": null}]}'),
        (0, None, "-0", "2000-01-01", T1, None),
        (1, 0, None, None, None, '"x"'),
        (2**63 - 1, 2**31 - 1, "-Infinity", "1999-12-31", datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "[]"),
    ]
    nan = {**{k: v[:1] for k, v in data.items()}, "id": [9], "ratio": [float("nan")]}
    write_rows(pg_dsn, EDGES, nan)
    assert query(pg_dsn, "SELECT ratio::text FROM t.edges WHERE id = 9") == [("NaN",)]


# -- fill factor -------------------------------------------------------------------------------------------------
def test_a_fill_factor_leaves_room_for_newer_snapshots_on_the_page(
    pg_dsn: str, tmp_path: Path, feed_747175: dict[str, Any]
) -> None:
    """``?fillfactor=50``: the tables tidemark creates get it; a newer snapshot of the game then updates every row,
    and PostgreSQL keeps the new versions on their pages (HOT updates: no new index entries)."""
    later = datetime.strptime(feed_747175["metaData"]["timeStamp"], "%Y%m%d_%H%M%S") + timedelta(hours=1)
    first = write_docs(tmp_path / "a", [feed_747175])
    second = write_docs(tmp_path / "b", [snapshot(feed_747175, timestamp=f"{later:%Y%m%d_%H%M%S}")])
    dsn = f"{pg_dsn}?fillfactor=50"
    assert tidemark.run("mlb:live_game", first, dsn).ok
    options = query(pg_dsn, "SELECT reloptions FROM pg_class WHERE oid = 'game.live_game_pitch_events'::regclass")
    assert options == [(["fillfactor=50"],)]
    result = tidemark.run("mlb:live_game", second, dsn)
    pitches = result.tables["game.live_game_pitch_events"]
    assert pitches.updated > 0 and pitches.inserted == pitches.deleted == 0
    stats = "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables WHERE relid = %s::regclass"
    for _ in range(100):  # the writer's statistics reach the server's shared view as its connection ends
        hot = query(pg_dsn, stats, ["game.live_game_pitch_events"])
        if hot[0][0] >= pitches.updated:
            break
        time.sleep(0.1)
    assert hot[0][0] == pitches.updated
    assert hot[0][1] > pitches.updated // 2  # most of them on their own page
