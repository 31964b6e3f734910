"""No credential leaves tidemark: a PostgreSQL DSN's password and an S3 secret key never appear in the JSON output,
the structured logs, the metrics, the OpenLineage events, the run ledger (its ``inputs`` and ``error``) or an error
line, whatever command ran (run, stream, write over a raw store and a sink behind the same password)."""

from __future__ import annotations

import io
import json
import logging
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

import tidemark
from tests.conftest import GAME_747175
from tests.observe_helpers import events, samples
from tests.pgserver import PgServer
from tests.s3server import S3Server, s3_server_fixture  # noqa: F401  (the session's server)
from tidemark.artifacts import plan_for
from tidemark.cli.main import app, main
from tidemark.history.ledger import read_runs
from tidemark.observe import Observers
from tidemark.observe.lineage import LineageEmitter, mapping_outputs
from tidemark.observe.logs import LogReporter, configure, reset
from tidemark.observe.metrics import MetricsReporter
from tidemark.observe.redact import MASK, redact, redact_data
from tidemark.sinks import open_sink, sink_config

runner = CliRunner()
MAPPING = "mlb:live_game"
SECRET = "Pa55-w0rd-xyz"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("postgresql://ann:s3cret@db:5432/mlb", "postgresql://ann:***@db:5432/mlb"),
        ("postgresql://ann:p@ss@db/mlb", "postgresql://ann:***@db/mlb"),  # an unencoded @: up to the last one
        ("redis://:s3cret@cache:6379", "redis://:***@cache:6379"),
        ("delta:s3://AKIAXYZ:wJal%2FK7MDENG@bucket/lake", "delta:s3://AKIAXYZ:***@bucket/lake"),
        ("host=db user=ann password=s3cret dbname=mlb", "host=db user=ann password=*** dbname=mlb"),
        ("host=db password='two words' dbname=mlb", "host=db password='***' dbname=mlb"),
        ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG region=eu", "aws_secret_access_key=*** region=eu"),
        (
            "{'AWS_SECRET_ACCESS_KEY': 'wJal/K7', 'AWS_REGION': 'eu'}",
            "{'AWS_SECRET_ACCESS_KEY': '***', 'AWS_REGION': 'eu'}",
        ),
        ('{"password": "hunter2", "user": "ann"}', '{"password": "***", "user": "ann"}'),
        ("client_secret: abc123", "client_secret: ***"),
        ("https://x/?token=abc&x=1", "https://x/?token=***&x=1"),
        (
            "https://a.blob.core.windows.net/c?sv=2022&sig=AbC%2Fd&se=1",
            "https://a.blob.core.windows.net/c?sv=2022&sig=***&se=1",
        ),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=f00d&X-Amz-Expires=60",
            "https://b.s3.amazonaws.com/k?X-Amz-Signature=***&X-Amz-Expires=60",
        ),
        ("Authorization: Bearer eyJhbGciOi.x-y", "Authorization: Bearer ***"),
    ],
)
def test_redact_masks_every_credential_form(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "duckdb:/data/mlb.duckdb",
        "http://marquez:5000/api/v1/lineage",
        "mlb:live_game <- raw/ [game/liveGameV1]",
        "run_id=abc rows_seen=5 keys=3 documents=1",
        "token_count=5 AWS_ACCESS_KEY_ID=AKIAXYZ password_file=/etc/pw",
        "game.live_game_plays: 75 inserted",
    ],
)
def test_redact_leaves_what_is_not_a_credential(text: str) -> None:
    assert redact(text) == text


def test_redact_data_masks_the_values_of_credential_keys() -> None:
    config = {
        "type": "delta",
        "path": "s3://bucket/lake",
        "storage_options": {"AWS_ACCESS_KEY_ID": "AKIAXYZ", "AWS_SECRET_ACCESS_KEY": "wJal/K7", "AWS_REGION": "eu"},
        "tables": {"keys": 3},
        "quality": {"g.tokens": {"token_positive": 2}, "secrets": {"rule": 1}},
        "dsn": "postgresql://u:pw@h/d",
    }
    assert redact_data(config) == {
        "type": "delta",
        "path": "s3://bucket/lake",
        "storage_options": {"AWS_ACCESS_KEY_ID": "AKIAXYZ", "AWS_SECRET_ACCESS_KEY": MASK, "AWS_REGION": "eu"},
        "tables": {"keys": 3},
        "quality": {"g.tokens": {"token_positive": 2}, "secrets": {"rule": 1}},  # names of tables and rules: kept
        "dsn": "postgresql://u:***@h/d",
    }


def test_log_records_are_redacted_for_an_applications_own_handler() -> None:
    """An application embedding tidemark logs through its own handlers (no RedactFilter): still no credential."""
    got: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            got.append(record)

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("tidemark")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        reporter = LogReporter("run", {"sink": f"postgresql://ann:{SECRET}@db/mlb"})
        reporter.start(0, 0)
        reporter.failed(RuntimeError(f"could not connect: host=db password={SECRET}"))
    finally:
        logger.removeHandler(handler)
        reset()
    assert [r.levelname for r in got] == ["INFO", "ERROR"]
    for record in got:
        text = record.getMessage() + json.dumps(record.fields)  # type: ignore[attr-defined]
        assert SECRET not in text and "***" in text


# -- PostgreSQL: a password in the DSN of the sink and of the raw store ----------------------------------------------
def _secret_dsn(pg_dsn: str) -> str:
    dsn = pg_dsn.replace("postgres@", f"postgres:{SECRET}@", 1)  # trust auth: the password is not checked
    assert SECRET in dsn
    return dsn


def _invoke(*args: str) -> Any:
    result = runner.invoke(app, ["--log-format", "json", "--log-level", "debug", *args])
    assert result.exit_code == 0, result.output
    return result


def _ledger_text(dsn: str) -> str:
    with psycopg.connect(dsn) as con:
        rows = con.execute('SELECT * FROM "_tidemark"."runs"').fetchall()
    assert rows
    return json.dumps(rows, default=str)


@pytest.mark.postgres
def test_no_password_in_anything_a_postgres_run_stream_and_write_leave(
    pg_server: PgServer, pg_dsn: str, tmp_path: Path
) -> None:
    dsn = _secret_dsn(pg_dsn)
    prom, lineage = tmp_path / "m.prom", tmp_path / "l.jsonl"
    observed = ["--json", "--metrics", str(prom), "--lineage", str(lineage)]
    seen = [_invoke("raw", "import", dsn, str(GAME_747175))]
    seen.append(_invoke("run", "-m", MAPPING, "--raw", dsn, "-s", dsn, *observed))
    assert json.loads(seen[-1].stdout)["documents"] == 1
    seen.append(_invoke("stream", "-m", MAPPING, "--raw", dsn, "-s", dsn, "--once", "--name", "live", *observed))
    csv = tmp_path / "scores.csv"
    csv.write_text("id,score\n1,10\n2,20\n", encoding="utf-8")
    seen.append(_invoke("write", str(csv), "-s", dsn, "-t", "main.scores", "--keys", "id", *observed))
    assert json.loads(seen[-1].stdout)["counts"]["inserted"] == 2
    for command in ("runs", "status", "quarantine"):
        seen.append(_invoke(command, "--sink", dsn, "--json"))
    runs = json.loads(seen[-3].stdout)
    assert [r["command"] for r in runs] == ["write", "stream", "run"]
    assert runs[2]["inputs"]["raw"].startswith("postgresql://postgres@127.0.0.1:")  # the raw store, shown safely
    sent = events(lineage)
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE"] * 3
    assert sent[1]["inputs"][0]["namespace"] == "tidemark-raw"
    assert samples(prom.read_text(encoding="utf-8"))[("tidemark_last_success", ())] == 1
    logged = "".join(r.stderr for r in seen)
    assert '"level": "info"' in logged and "run committed" in logged and "write committed" in logged
    everything = "".join(r.stdout for r in seen) + logged + prom.read_text() + lineage.read_text()
    everything += _ledger_text(dsn)
    assert SECRET not in everything


@pytest.mark.postgres
def test_no_password_in_the_ledger_logs_or_lineage_of_a_failed_run(
    pg_server: PgServer, pg_dsn: str, tmp_path: Path
) -> None:
    dsn = _secret_dsn(pg_dsn)
    with psycopg.connect(dsn, autocommit=True) as con:  # a table of the mapping with an incompatible column
        con.execute("CREATE SCHEMA game; CREATE TABLE game.live_game_metadata (game_pk DATE PRIMARY KEY)")
    lineage = tmp_path / "l.jsonl"
    args = ["--log-format", "json", "run", "-m", MAPPING, "-i", str(GAME_747175), "-s", dsn, "--lineage", str(lineage)]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    [failed] = read_runs(open_sink(dsn))
    assert failed["status"] == "failed" and "game_pk" in failed["error"]
    assert [e["eventType"] for e in events(lineage)] == ["START", "FAIL"]
    everything = result.stdout + result.stderr + str(result.exception) + lineage.read_text() + _ledger_text(dsn)
    assert SECRET not in everything


# -- S3: the secret key in the store's storage_options ---------------------------------------------------------------
def test_no_s3_secret_in_the_ledger_logs_metrics_or_lineage(s3_server: S3Server, tmp_path: Path) -> None:
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzEXAMPLEKEY"
    config = sink_config(
        {
            "type": "delta",
            "path": s3_server.url("lake"),
            "storage_options": {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": secret},
        }
    )
    logs, lineage, prom = io.StringIO(), tmp_path / "l.jsonl", tmp_path / "m.prom"
    configure("debug", "json", logs)
    sink = open_sink(config)
    try:
        outputs = mapping_outputs(plan_for(MAPPING))
        watch = Observers(
            LogReporter("run", {"sink": sink.display, "config": config.model_dump()}),  # the options as a field
            MetricsReporter(MAPPING, path=prom),
            LineageEmitter(str(lineage), job=f"run {MAPPING}", outputs=outputs, inputs=[], sink=sink.display),
        )
        with watch.watching():
            result = tidemark.run(MAPPING, [GAME_747175], sink, reporter=watch)
        ledger = json.dumps(read_runs(sink), default=str)
    finally:
        sink.close()
        reset()
    assert result.ok and result.tables["game.live_game_plays"].inserted > 0
    assert "run committed" in logs.getvalue()
    assert [e["eventType"] for e in events(lineage)] == ["START", "COMPLETE"]
    assert secret in json.dumps(config.model_dump())  # the config itself holds it...
    assert '"AWS_SECRET_ACCESS_KEY": "***"' in logs.getvalue()
    shown = json.dumps(redact_data(result.to_dict())) + logs.getvalue() + lineage.read_text() + prom.read_text()
    assert secret not in shown + ledger  # ...nothing tidemark emits does


def test_an_error_line_quoting_the_sink_shows_no_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sink = f"mysql://ann:{SECRET}@db/x"  # not a store tidemark knows: the error quotes what was given
    monkeypatch.setattr(sys, "argv", ["tidemark", "run", "-m", MAPPING, "-i", str(GAME_747175), "-s", sink])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 1
    printed = capsys.readouterr().err
    assert "unknown sink 'mysql://ann:***@db/x'" in printed and SECRET not in printed


def test_runs_shows_no_credential_of_a_row_stored_before_redaction(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "old.duckdb"
    assert runner.invoke(app, ["run", "-m", MAPPING, "-i", str(GAME_747175), "-s", f"duckdb:{db}"]).exit_code == 0
    with duckdb.connect(str(db)) as con:  # a row as an older tidemark wrote it: the error quoting a DSN
        con.execute("UPDATE _tidemark.runs SET status = 'failed', error = ?", [f"at postgresql://ann:{SECRET}@db/x"])
    listed = runner.invoke(app, ["runs", "--sink", f"duckdb:{db}", "--json"])
    assert listed.exit_code == 0, listed.output
    [run] = json.loads(listed.stdout)
    assert run["error"] == "at postgresql://ann:***@db/x"
    shown = runner.invoke(app, ["runs", "--sink", f"duckdb:{db}"])
    assert shown.exit_code == 0 and "failed: at postgresql://ann:***@db" in shown.stdout
    assert SECRET not in listed.stdout + shown.stdout
