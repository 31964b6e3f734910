"""Observability: --json documents, progress bars off a terminal, Prometheus metrics, OpenLineage events validated
against the OpenLineage JSON schema, structured logs, and no credential in any of them."""

from __future__ import annotations

import gzip
import io
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

import tidemark
from tests.conftest import GAME_747175
from tests.observe_helpers import check_facets as _check_facets
from tests.observe_helpers import events as _events
from tests.observe_helpers import free_port as _free_port
from tests.observe_helpers import samples as _samples
from tests.observe_helpers import validator as _validator
from tidemark.cli.main import app
from tidemark.cli.observing import settings, show_progress
from tidemark.observe.logs import LogReporter, configure
from tidemark.observe.metrics import MetricsReporter
from tidemark.observe.redact import redact

MAPPING = "mlb:live_game"
runner = CliRunner()


def _run(tmp_path: Path, *extra: str, sink: str | None = None) -> Any:
    sink = sink or f"duckdb:{tmp_path / 't.duckdb'}"
    return runner.invoke(app, [*extra[:0], "run", "-m", MAPPING, "-i", str(GAME_747175), "-s", sink, *extra])


# -- --json ----------------------------------------------------------------------------------------------------------
def test_run_json_is_one_document_on_stdout(tmp_path: Path) -> None:
    result = _run(tmp_path, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # the whole of stdout is one JSON document
    assert data["documents"] == 1 and data["counts"]["inserted"] > 1000
    assert data["tables"]["game.live_game_plays"]["inserted"] == sum(
        1 for _ in tidemark.read(f"duckdb:{tmp_path / 't.duckdb'}", "game.live_game_plays", engine="arrow").to_pylist()
    )


def test_write_json_raw_ls_json_and_validate_json(tmp_path: Path) -> None:
    csv = tmp_path / "scores.csv"
    csv.write_text("id,score,at\n1,10,2024-01-01T00:00:00Z\n2,20,2024-01-01T00:00:00Z\n", encoding="utf-8")
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    wrote = runner.invoke(app, ["write", str(csv), "-s", sink, "-t", "scores", "--keys", "id", "--json"])
    assert wrote.exit_code == 0, wrote.output
    assert json.loads(wrote.stdout)["counts"]["inserted"] == 2
    raw = tmp_path / "raw"
    assert runner.invoke(app, ["raw", "import", str(raw), str(GAME_747175)]).exit_code == 0
    listed = runner.invoke(app, ["raw", "ls", str(raw), "--json"])
    assert listed.exit_code == 0, listed.output
    listing = json.loads(listed.stdout)
    assert listing["records"] == 1
    assert [(e["endpoint"], e["method"], e["records"]) for e in listing["endpoints"]] == [("game", "liveGameV1", 1)]
    bad = tmp_path / "bad.yaml"
    bad.write_text("source: {name: x}\ntargets: []\nnonsense: 1\n", encoding="utf-8")
    checked = runner.invoke(app, ["validate", MAPPING, str(bad), "--json"])
    assert checked.exit_code == 1
    found = json.loads(checked.stdout)
    assert found["ok"] is False
    good, broken = found["mappings"]
    assert good["ok"] and good["tables"] > 10
    assert not broken["ok"] and broken["problems"] and str(bad) in " ".join(broken["problems"])


def test_progress_bars_only_on_a_terminal_and_not_when_quiet() -> None:
    pipe = Console(file=io.StringIO())
    terminal = Console(file=io.StringIO(), force_terminal=True)
    assert not show_progress(pipe)
    assert show_progress(terminal)
    assert not show_progress(terminal, as_json=True)
    assert not show_progress(terminal, quiet=True)
    settings.quiet = True
    try:
        assert not show_progress(terminal)
    finally:
        settings.quiet = False


def test_quiet_is_a_global_and_a_command_option(tmp_path: Path) -> None:
    assert _run(tmp_path, "--quiet").exit_code == 0
    result = runner.invoke(
        app, ["--quiet", "run", "-m", MAPPING, "-i", str(GAME_747175), "-s", f"duckdb:{tmp_path / 'q.duckdb'}"]
    )
    assert result.exit_code == 0, result.output


# -- metrics ---------------------------------------------------------------------------------------------------------


def test_run_metrics_file_holds_the_counts(tmp_path: Path) -> None:
    prom = tmp_path / "tidemark.prom"
    result = _run(tmp_path, "--json", "--metrics", str(prom))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    samples = _samples(prom.read_text(encoding="utf-8"))
    assert samples[("tidemark_documents_total", (("outcome", "accepted"),))] == data["documents"] == 1
    assert samples[("tidemark_documents_total", (("outcome", "rejected"),))] == 0
    checked = 0
    for table, counts in data["tables"].items():
        for outcome, n in counts.items():
            if outcome != "rows_seen":
                assert samples[("tidemark_rows_total", (("outcome", outcome), ("table", table)))] == n
                checked += 1
    assert checked == len(data["tables"]) * 6
    assert samples[("tidemark_input_bytes_total", ())] == len(gzip.decompress(GAME_747175.read_bytes()))
    assert samples[("tidemark_stage_seconds_total", (("stage", "write"),))] > 0
    assert samples[("tidemark_errors_total", (("kind", "failed"),))] == 0
    assert samples[("tidemark_last_success", ())] == 1


def test_write_metrics_file_holds_the_writes_counts(tmp_path: Path) -> None:
    csv = tmp_path / "scores.csv"
    csv.write_text("id,score\n1,10\n2,20\n,30\n", encoding="utf-8")
    prom, sink = tmp_path / "write.prom", f"duckdb:{tmp_path / 'w.duckdb'}"
    args = ["write", str(csv), "-s", sink, "-t", "main.scores", "--keys", "id", "--json", "--metrics", str(prom)]
    wrote = runner.invoke(app, args)
    assert wrote.exit_code == 1, wrote.output  # the row without an id is refused
    counts = json.loads(wrote.stdout)["counts"]
    samples = _samples(prom.read_text(encoding="utf-8"))
    assert samples[("tidemark_rows_total", (("outcome", "inserted"), ("table", "main.scores")))] == 2
    assert samples[("tidemark_rows_total", (("outcome", "error"), ("table", "main.scores")))] == counts["error"] == 1
    assert samples[("tidemark_last_success", ())] == 1
    assert 'mapping="table main.scores"' in prom.read_text(encoding="utf-8")


def test_stream_metrics_after_each_micro_batch_with_the_lag(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    assert runner.invoke(app, ["raw", "import", str(raw), str(GAME_747175)]).exit_code == 0
    prom = tmp_path / "stream.prom"
    sink = f"duckdb:{tmp_path / 's.duckdb'}"
    args = ["stream", "-m", MAPPING, "--raw", str(raw), "-s", sink, "--once", "--name", "live", "--metrics", str(prom)]
    events_file = tmp_path / "stream.jsonl"
    result = runner.invoke(app, [*args, "--json", "--lineage", str(events_file)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # --json: one document on stdout
    assert (summary["stream"], summary["batches"], summary["result"]["documents"]) == ("live", 1, 1)
    events = _events(events_file)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[1]["inputs"][0]["namespace"] == "tidemark-raw" and str(raw) in events[1]["inputs"][0]["name"]
    _validator().validate(events[1])
    samples = _samples(prom.read_text(encoding="utf-8"))
    assert samples[("tidemark_stream_micro_batches_total", (("stream", "live"),))] == 1
    assert samples[("tidemark_stream_lag_records", (("stream", "live"),))] == 0
    assert samples[("tidemark_documents_total", (("outcome", "accepted"),))] == 1


def test_metrics_served_on_a_port(tmp_path: Path) -> None:
    port = _free_port()
    reporter = MetricsReporter(MAPPING, port=port)
    reporter.start(0, 0)
    try:
        result = tidemark.run(MAPPING, [GAME_747175], f"duckdb:{tmp_path / 'p.duckdb'}", reporter=reporter)
        served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        reporter.close()
    samples = _samples(served)
    assert samples[("tidemark_documents_total", (("outcome", "accepted"),))] == result.documents == 1
    assert samples[("tidemark_rows_total", (("outcome", "inserted"), ("table", "game.live_game_plays")))] == (
        result.tables["game.live_game_plays"].inserted
    )


# -- lineage ---------------------------------------------------------------------------------------------------------


def test_lineage_events_of_a_run_are_valid_openlineage(tmp_path: Path) -> None:
    events_file = tmp_path / "lineage.jsonl"
    result = _run(tmp_path, "--lineage", str(events_file))
    assert result.exit_code == 0, result.output
    events = _events(events_file)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    assert events[0]["run"]["runId"] == events[1]["run"]["runId"]
    validator = _validator()
    for event in events:
        validator.validate(event)
        assert _check_facets(event, validator) > 2 * 21  # schema + columnLineage of every table, and more
    complete = events[1]
    assert complete["inputs"] == [
        {"namespace": "file", "name": str(GAME_747175.resolve()), "facets": {}, "inputFacets": {}}
    ]
    plays = next(o for o in complete["outputs"] if o["name"] == "game.live_game_plays")
    assert {"name": "inning", "type": "int", "fields": []} in plays["facets"]["schema"]["fields"]
    inning = plays["facets"]["columnLineage"]["fields"]["inning"]["inputFields"]
    assert inning == [
        {
            "namespace": "file",
            "name": str(GAME_747175.resolve()),
            "field": "$.liveData.plays.allPlays[*].about.inning",
            "transformations": [
                {
                    "type": "DIRECT",
                    "subtype": "IDENTITY",
                    "description": "$.liveData.plays.allPlays[*].about.inning as int",
                }
            ],
        }
    ]
    assert plays["outputFacets"]["outputStatistics"]["rowCount"] > 0
    broken = {**complete, "run": {"runId": "not-a-uuid"}}  # the schema does reject a wrong event
    del broken["eventTime"]
    assert len(list(validator.iter_errors(broken))) >= 1
    bad_facet = {**plays["facets"]["columnLineage"], "fields": {"inning": {"inputFields": [{"name": "x"}]}}}
    assert list(validator.evolve(schema={"$ref": bad_facet["_schemaURL"]}).iter_errors(bad_facet))


def test_a_failed_run_sends_fail(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "clash.duckdb"
    with duckdb.connect(str(db)) as conn:  # a table of the mapping with an incompatible column: the run fails
        conn.execute("CREATE SCHEMA game; CREATE TABLE game.live_game_metadata (game_pk DATE PRIMARY KEY)")
    events_file = tmp_path / "lineage.jsonl"
    result = _run(tmp_path, "--lineage", str(events_file), sink=f"duckdb:{db}")
    assert result.exit_code == 1
    events = _events(events_file)
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    validator = _validator()
    validator.validate(events[1])
    assert _check_facets(events[1], validator) > 0
    assert "game_pk" in events[1]["run"]["facets"]["errorMessage"]["message"]


def test_lineage_posted_to_a_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("TIDEMARK_OPENLINEAGE_URL", f"http://127.0.0.1:{server.server_port}/api/v1/lineage")
        result = _run(tmp_path)
    finally:
        server.shutdown()
        server.server_close()
    assert result.exit_code == 0, result.output
    assert [e["eventType"] for e in received] == ["START", "COMPLETE"]
    _validator().validate(received[1])


# -- logs and credentials --------------------------------------------------------------------------------------------
def test_redact_masks_passwords_of_urls_and_settings() -> None:
    assert redact("postgresql://ann:s3cret@db:5432/mlb") == "postgresql://ann:***@db:5432/mlb"
    assert redact("host=db user=ann password=s3cret dbname=mlb") == "host=db user=ann password=*** dbname=mlb"
    assert redact("https://x/?token=abc&x=1") == "https://x/?token=***&x=1"
    assert redact("duckdb:/data/mlb.duckdb") == "duckdb:/data/mlb.duckdb"


def test_json_logs_of_a_run(tmp_path: Path) -> None:
    stream = io.StringIO()
    configure("info", "json", stream)
    try:
        tidemark.run(MAPPING, [GAME_747175], f"duckdb:{tmp_path / 'l.duckdb'}", reporter=LogReporter("run"))
    finally:
        logging.getLogger("tidemark").handlers[-1].close()
        configure("warning", "text", io.StringIO())
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [r["message"] for r in records] == ["run started", "run committed"]
    assert records[1]["level"] == "info" and records[1]["documents"] == 1 and records[1]["counts"]["inserted"] > 1000


def test_a_password_never_reaches_logs_json_metrics_or_lineage(tmp_path: Path) -> None:
    secret = "Pa55-w0rd-xyz"
    sink = f"postgresql://tidemark:{secret}@127.0.0.1:{_free_port()}/nowhere"  # nothing listens: the run fails
    prom, events_file = tmp_path / "m.prom", tmp_path / "l.jsonl"
    result = runner.invoke(
        app,
        [
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "run",
            "-m",
            MAPPING,
            "-i",
            str(GAME_747175),
            "-s",
            sink,
            "--json",
            "--metrics",
            str(prom),
            "--lineage",
            str(events_file),
        ],
    )
    assert result.exit_code == 1
    logged = result.stderr
    assert '"level": "error"' in logged and "run failed" in logged  # the failure was logged...
    assert "tidemark:***@127.0.0.1" in events_file.read_text(encoding="utf-8")  # ...and sent, redacted
    failed = _samples(prom.read_text(encoding="utf-8"))
    assert failed[("tidemark_errors_total", (("kind", "failed"),))] == 1
    assert failed[("tidemark_last_success", ())] == 0
    everything = result.stdout + logged + str(result.exception) + prom.read_text() + events_file.read_text()
    assert secret not in everything


def test_a_run_over_a_raw_store_names_it_in_its_lineage(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    assert runner.invoke(app, ["raw", "import", str(raw), str(GAME_747175)]).exit_code == 0
    events_file = tmp_path / "run.jsonl"
    sink = f"duckdb:{tmp_path / 'r.duckdb'}"
    args = ["run", "-m", MAPPING, "--raw", str(raw), "--select", "game/liveGameV1", "-s", sink, "--json"]
    result = runner.invoke(app, [*args, "--lineage", str(events_file)])
    assert result.exit_code == 0, result.output
    events = _events(events_file)
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    [given] = events[1]["inputs"]
    assert given["namespace"] == "tidemark-raw" and given["name"].endswith("/game/liveGameV1")
    assert str(raw) in given["name"]
    _validator().validate(events[1])
