"""`tidemark grants`: the SQL it prints gives a role read access to tidemark's tables and nothing else."""

from __future__ import annotations

import uuid

import psycopg
import pyarrow as pa
import pytest
from typer.testing import CliRunner

import tidemark
from tests.conftest import GAME_747175
from tests.pgserver import PgServer
from tidemark.cli.main import app
from tidemark.errors import ConfigError, SinkTerminalError
from tidemark.sinks.pg_grants import read_only_grants

pytestmark = pytest.mark.postgres


def test_the_printed_grants_let_the_role_read_and_not_write(pg_server: PgServer, pg_dsn: str) -> None:
    assert tidemark.run("mlb:live_game", [GAME_747175], pg_dsn).ok
    role, login = f"reader_{uuid.uuid4().hex[:6]}", f"alice_{uuid.uuid4().hex[:6]}"
    printed = CliRunner().invoke(app, ["grants", "--schema", "game", "--role", role])
    assert printed.exit_code == 0, printed.output
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute(printed.stdout.encode())
        admin.execute(f"CREATE ROLE {login} LOGIN IN ROLE {role}")
    reader = pg_server.dsn(pg_dsn.rsplit("/", 1)[1], user=login)
    with psycopg.connect(reader, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM game.live_game_plays").fetchone() == (75,)
        denied = [
            "INSERT INTO game.live_game_metadata (game_pk, captured_at, _tidemark_hash) VALUES (1, now(), 0)",
            "UPDATE game.live_game_plays SET event = 'x'",
            "DELETE FROM game.live_game_plays",
            "TRUNCATE game.live_game_plays",
            "CREATE TABLE game.mine (a int)",
            "SELECT count(*) FROM _tidemark.quarantine",  # tidemark's bookkeeping is not the readers' business
        ]
        for sql in denied:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql)
    with pytest.raises(SinkTerminalError, match=f"permission denied on .* for user {login}"):
        tidemark.run("mlb:live_game", [GAME_747175], reader)


def test_tables_created_later_are_readable_too(pg_server: PgServer, pg_dsn: str) -> None:
    role, login = f"reader_{uuid.uuid4().hex[:6]}", f"bob_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(pg_dsn, autocommit=True) as admin:
        admin.execute("CREATE SCHEMA game")
        admin.execute(read_only_grants(["game"], role).encode())
        admin.execute(f"CREATE ROLE {login} LOGIN IN ROLE {role}")
    tidemark.write(pa.table({"id": [1, 2]}), pg_dsn, "game.later", mode="upsert", keys=["id"])  # made after the grants
    with psycopg.connect(pg_server.dsn(pg_dsn.rsplit("/", 1)[1], user=login)) as conn:
        assert conn.execute("SELECT count(*) FROM game.later").fetchone() == (2,)


def test_names_are_quoted_and_checked() -> None:
    sql = read_only_grants(["game", 'we"ird'], "read only", owner="tidemark", database="mlb")
    assert 'GRANT USAGE ON SCHEMA "we""ird" TO "read only";' in sql
    assert 'ALTER DEFAULT PRIVILEGES FOR ROLE "tidemark" IN SCHEMA "game" GRANT SELECT ON TABLES TO "read only";' in sql
    assert 'GRANT CONNECT ON DATABASE "mlb" TO "read only";' in sql
    with pytest.raises(ConfigError, match="no control characters"):
        read_only_grants(["game"], "x\nDROP TABLE y")
    with pytest.raises(ConfigError, match="at least one schema"):
        read_only_grants([], "reader")
