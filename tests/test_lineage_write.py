"""``tidemark write`` has the observers of ``tidemark run``: OpenLineage events (START / COMPLETE / FAIL, the files as
inputs, the table as output with its schema and column lineage) validated against the vendored OpenLineage schema,
Prometheus metrics, --json and --quiet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
from typer.testing import CliRunner

from tests.observe_helpers import check_facets, events, samples, validator
from tidemark.cli.main import app
from tidemark.observe.columns import ColumnSource, write_output
from tidemark.write.plan import build_plan

runner = CliRunner()
CSV = "id,score,at\n1,10,2024-01-01T00:00:00Z\n2,20,2024-01-02T00:00:00Z\n2,25,2024-01-03T00:00:00Z\n"


def _csv(tmp_path: Path, text: str = CSV, name: str = "scores.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _write(tmp_path: Path, *args: str) -> Any:
    return runner.invoke(app, ["write", *args, "-s", f"duckdb:{tmp_path / 'w.duckdb'}", "--json"])


def test_write_lineage_events_are_valid_openlineage(tmp_path: Path) -> None:
    csv, lineage, prom = _csv(tmp_path), tmp_path / "lineage.jsonl", tmp_path / "w.prom"
    args = [str(csv), "-t", "main.scores", "--keys", "id", "--timestamp", "at"]
    result = _write(tmp_path, *args, "--lineage", str(lineage), "--metrics", str(prom), "--quiet")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)  # --json: stdout is the summary only
    assert (summary["counts"]["inserted"], summary["counts"]["skipped"]) == (2, 1)  # id 2: the newer row wins
    sent = events(lineage)
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE"]
    assert sent[0]["run"]["runId"] == sent[1]["run"]["runId"]
    check = validator()
    for event in sent:
        check.validate(event)
        # jobType, schema, columnLineage; COMPLETE: outputStatistics too
        assert check_facets(event, check) == (3 if event["eventType"] == "START" else 4)
        assert event["job"]["name"].startswith("write table main.scores -> duckdb:")
        assert event["inputs"] == [{"namespace": "file", "name": str(csv.resolve()), "facets": {}, "inputFacets": {}}]
    [output] = sent[1]["outputs"]
    assert output["namespace"] == f"duckdb:{tmp_path / 'w.duckdb'}" and output["name"] == "main.scores"
    columns = {f["name"]: f["type"] for f in output["facets"]["schema"]["fields"]}
    assert columns == {"id": "bigint", "score": "bigint", "at": "timestamp"}
    lineage_of = output["facets"]["columnLineage"]["fields"]
    assert set(lineage_of) == {"id", "score", "at"}
    [score] = lineage_of["score"]["inputFields"]
    assert (score["namespace"], score["name"], score["field"]) == ("file", str(csv.resolve()), "score")
    assert score["transformations"][0]["subtype"] == "IDENTITY"
    [at] = lineage_of["at"]["inputFields"]  # the CSV reader made timestamps of the ISO 8601 text already
    assert at["transformations"][0] == {"type": "DIRECT", "subtype": "IDENTITY", "description": "at as timestamp"}
    assert output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    metrics = samples(prom.read_text(encoding="utf-8"))
    assert metrics[("tidemark_rows_total", (("outcome", "inserted"), ("table", "main.scores")))] == 2
    assert metrics[("tidemark_input_bytes_total", ())] == csv.stat().st_size
    assert metrics[("tidemark_last_success", ())] == 1


def test_a_computed_key_names_the_columns_it_is_made_from(tmp_path: Path) -> None:
    csv = _csv(tmp_path, "league,day,home,goals\nA,2024-05-01,X,3\nA,2024-05-01,Y,1\n")
    lineage = tmp_path / "lineage.jsonl"
    result = _write(tmp_path, str(csv), "-t", "matches", "--key", "match_id=league,day,home", "--lineage", str(lineage))
    assert result.exit_code == 0, result.output
    complete = events(lineage)[-1]
    validator().validate(complete)
    key = complete["outputs"][0]["facets"]["columnLineage"]["fields"]["match_id"]["inputFields"]
    assert [f["field"] for f in key] == ["league", "day", "home"]
    assert {f["transformations"][0]["description"] for f in key} == {"key computed from league, day, home"}
    assert complete["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 2


def test_a_failed_write_sends_fail_and_counts_the_failure(tmp_path: Path) -> None:
    csv = _csv(tmp_path, "id,score,at\n1,10,2024-01-01T00:00:00Z\n1,11,2024-01-01T00:00:00Z\n")
    lineage, prom = tmp_path / "lineage.jsonl", tmp_path / "w.prom"
    args = [str(csv), "-t", "scores", "--keys", "id", "--dedup", "error"]  # a duplicate key: the write fails
    result = _write(tmp_path, *args, "--lineage", str(lineage), "--metrics", str(prom))
    assert result.exit_code == 1
    assert "duplicate key" in str(result.exception)
    sent = events(lineage)
    assert [e["eventType"] for e in sent] == ["START", "FAIL"]
    check = validator()
    check.validate(sent[1])
    assert check_facets(sent[1], check) == 4  # errorMessage, jobType, schema, columnLineage
    assert "duplicate key" in sent[1]["run"]["facets"]["errorMessage"]["message"]
    assert [o["name"] for o in sent[1]["outputs"]] == ["scores"]
    metrics = samples(prom.read_text(encoding="utf-8"))
    assert metrics[("tidemark_errors_total", (("kind", "failed"),))] == 1
    assert metrics[("tidemark_last_success", ())] == 0


def test_a_write_refused_before_it_starts_still_sends_fail(tmp_path: Path) -> None:
    csv, lineage = _csv(tmp_path), tmp_path / "lineage.jsonl"
    result = _write(tmp_path, str(csv), "-t", "scores", "--keys", "nope", "--lineage", str(lineage))
    assert result.exit_code == 1
    [fail] = events(lineage)
    assert fail["eventType"] == "FAIL" and fail["outputs"] == []
    validator().validate(fail)
    assert "'nope' is not in the data" in fail["run"]["facets"]["errorMessage"]["message"]


def test_write_lineage_posted_from_the_environment_variable(tmp_path: Path, monkeypatch: Any) -> None:
    lineage = tmp_path / "env.jsonl"
    monkeypatch.setenv("TIDEMARK_OPENLINEAGE_URL", str(lineage))  # a path works as well as a URL
    result = _write(tmp_path, str(_csv(tmp_path)), "-t", "scores", "--keys", "id")
    assert result.exit_code == 0, result.output
    assert [e["eventType"] for e in events(lineage)] == ["START", "COMPLETE"]


def test_a_timestamp_given_as_text_is_a_transformation() -> None:
    data = pa.table({"id": [1], "at": ["2024-01-01T00:00:00Z"], "tags": [["a"]]})
    plan = build_plan(data.schema, "s.t", "upsert", ("id",), "at", None)
    columns = write_output(plan).columns
    assert columns["at"] == ColumnSource(("at",), "TRANSFORMATION", "at (ISO 8601 text parsed) as timestamp")
    assert columns["id"] == ColumnSource(("id",), "IDENTITY", "id as bigint")
    assert columns["tags"].fields == ("tags",) and list(columns) == ["id", "at", "tags"]


def test_a_write_block_names_its_table_and_store_in_the_lineage(tmp_path: Path) -> None:
    block = tmp_path / "write.yaml"
    block.write_text(
        "write:\n  connection: lake\n  format: delta\n  path: silver/scores\n  mode: upsert\n  keys: [id]\n",
        encoding="utf-8",
    )
    lineage, lake = tmp_path / "lineage.jsonl", tmp_path / "lake"
    args = ["write", str(_csv(tmp_path)), "--config", str(block), "--connection", f"lake={lake}"]
    result = runner.invoke(app, [*args, "--lineage", str(lineage), "--json"])
    assert result.exit_code == 0, result.output
    sent = events(lineage)
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE"]
    for event in sent:
        validator().validate(event)
        assert event["job"]["name"] == f"write block {block}"  # no --table, no --sink: the block decides both
        [output] = event["outputs"]
        assert (output["namespace"], output["name"]) == (f"delta:{lake}", "silver.scores")
    assert sent[1]["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] == 2
