"""The MLB loads (``tidemark backfill`` / ``live`` with --mapping and --sink) have the observers of ``tidemark run``:
Prometheus metrics (documents, rows by table and outcome, micro-batches, stream lag) and OpenLineage events whose
inputs are the raw store and the Stats API endpoint; replayed from recorded responses, no network."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import duckdb
import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from tests.conftest import DATA, GAME_747175
from tests.mlb_replay import add_schedule, add_sequence, feed, listed, live_snapshot, replay_root
from tests.observe_helpers import check_facets, events, free_port, samples, validator
from tidemark.cli import mlb_render
from tidemark.cli.main import app
from tidemark.cli.observing import settings
from tidemark.observe import Observers
from tidemark.observe.metrics import MetricsReporter

runner = CliRunner()
DAY = "2024-07-12"
API = ("https://statsapi.mlb.com", "/api/v1.1/game/{gamePk}/feed/live")


def _count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        found = con.execute(sql).fetchone()
    assert found is not None
    return int(found[0])


def test_backfill_load_writes_metrics_and_lineage(tmp_path: Path) -> None:
    db, raw, prom, lineage = tmp_path / "mlb.duckdb", tmp_path / "raw", tmp_path / "m.prom", tmp_path / "l.jsonl"
    args = ["backfill", "--start", DAY, "--end", DAY, "--raw", str(raw), "--replay", str(DATA)]
    args += ["--mapping", "mlb:live_game", "--sink", f"duckdb:{db}", "--metrics", str(prom), "--lineage", str(lineage)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "1 final games, 1 fetched" in result.stdout
    found = samples(prom.read_text(encoding="utf-8"))
    assert found[("tidemark_documents_total", (("outcome", "accepted"),))] == 1
    plays = _count(db, "SELECT count(*) FROM game.live_game_plays")
    assert plays > 50
    assert found[("tidemark_rows_total", (("outcome", "inserted"), ("table", "game.live_game_plays")))] == plays
    assert found[("tidemark_stream_lag_records", (("stream", f"mlb:live_game <- {raw} [game/liveGameV1]"),))] == 0
    assert found[("tidemark_last_success", ())] == 1
    sent = events(lineage)
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE"]
    check = validator()
    for event in sent:
        check.validate(event)
        assert check_facets(event, check) > 2 * 21
    complete = sent[1]
    assert complete["job"]["name"] == f"backfill mlb:live_game -> duckdb:{db}"
    inputs = [(i["namespace"], i["name"]) for i in complete["inputs"]]
    assert inputs == [("tidemark-raw", f"{raw}/game/liveGameV1"), API]
    table = next(o for o in complete["outputs"] if o["name"] == "game.live_game_plays")
    inning = table["facets"]["columnLineage"]["fields"]["inning"]["inputFields"]
    assert [(f["namespace"], f["field"]) for f in inning] == [
        ("tidemark-raw", "$.liveData.plays.allPlays[*].about.inning"),
        (API[0], "$.liveData.plays.allPlays[*].about.inning"),
    ]
    assert table["outputFacets"]["outputStatistics"]["rowCount"] == plays


@pytest.fixture
def live_day(tmp_path: Path) -> Path:
    """The schedule of 2024-07-12 (747175 about to start, 718096 final) and 747175's feed snapshot by snapshot."""
    root = replay_root(tmp_path)
    games = [listed(747175, DAY, "Preview", "Scheduled", "2024-07-13T01:40:00Z"), listed(718096, DAY, "Final", "Final")]
    add_schedule(root, {"sportId": 1, "date": DAY}, {DAY: games})
    snapshots = [
        live_snapshot(0, "20240713_012000", "Preview", "Pre-Game"),
        live_snapshot(30, "20240713_021500"),
        live_snapshot(55, "20240713_031500"),
        feed(747175),
    ]
    add_sequence(root, 747175, [(200, doc) for doc in snapshots])
    return root


def test_live_loads_sum_into_the_metrics_and_each_is_a_lineage_run(live_day: Path, tmp_path: Path) -> None:
    db, prom, lineage = tmp_path / "live.duckdb", tmp_path / "m.prom", tmp_path / "l.jsonl"
    args = ["live", "--date", DAY, "--raw", str(tmp_path / "raw"), "--replay", str(live_day)]
    args += ["-m", "mlb:live_game", "-s", f"duckdb:{db}", "--replay-clock", "2024-07-13T01:20:00Z"]
    port = free_port()
    result = runner.invoke(app, [*args, "--metrics", str(prom), "--metrics-port", str(port), "--lineage", str(lineage)])
    assert result.exit_code == 0, result.output
    assert "5 polls, 5 new snapshots, 0 unchanged, 4 loads, 0 errors" in result.stdout
    with pytest.raises(httpx.ConnectError):  # served while following, closed when the day ended
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    found = samples(prom.read_text(encoding="utf-8"))
    # the counters sum the four loads: every snapshot is one document and one row of the game's metadata
    assert found[("tidemark_documents_total", (("outcome", "accepted"),))] == 5
    metadata = {
        outcome: found[("tidemark_rows_total", (("outcome", outcome), ("table", "game.live_game_metadata")))]
        for outcome in ("inserted", "updated", "unchanged", "skipped")
    }
    assert metadata["inserted"] == _count(db, "SELECT count(*) FROM game.live_game_metadata") == 2
    assert sum(metadata.values()) == 5
    batches = _count(db, "SELECT batch FROM _tidemark.checkpoints")
    stream = f"mlb:live_game <- {tmp_path / 'raw'} [game/liveGameV1]"
    assert found[("tidemark_stream_micro_batches_total", (("stream", stream),))] == batches >= 4
    sent = events(lineage)
    assert [e["eventType"] for e in sent] == ["START", "COMPLETE"] * 4  # one OpenLineage run per load
    assert len({e["run"]["runId"] for e in sent}) == 4
    check = validator()
    for event in sent:
        check.validate(event)
    final = next(o for o in sent[-1]["outputs"] if o["name"] == "game.live_game_plays")
    assert final["outputFacets"]["outputStatistics"]["rowCount"] > 0


def test_run_of_every_mlb_mapping_is_observed_per_mapping(tmp_path: Path) -> None:
    """``run --mapping mlb:*``: each mapping's run is a lineage run with its own tables; one metrics file sums all."""
    folder = tmp_path / "in"
    folder.mkdir()
    boxscore = sorted((DATA / "game" / "boxscore").iterdir())[0]
    shutil.copy(GAME_747175, folder / GAME_747175.name)
    shutil.copy(boxscore, folder / boxscore.name)
    db, prom, lineage = tmp_path / "all.duckdb", tmp_path / "m.prom", tmp_path / "l.jsonl"
    args = ["run", "-m", "mlb:*", "-i", str(folder), "-s", f"duckdb:{db}", "--json"]
    result = runner.invoke(app, [*args, "--metrics", str(prom), "--lineage", str(lineage)])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["mappings"]
    assert sorted(report) == ["mlb:boxscore", "mlb:live_game"]
    found = samples(prom.read_text(encoding="utf-8"))
    assert found[("tidemark_documents_total", (("outcome", "accepted"),))] == 2  # both runs, summed
    plays = report["mlb:live_game"]["tables"]["game.live_game_plays"]["inserted"]
    assert found[("tidemark_rows_total", (("outcome", "inserted"), ("table", "game.live_game_plays")))] == plays
    sent = events(lineage)
    assert [(e["eventType"], e["job"]["name"].split(" -> ")[0]) for e in sent] == [
        ("START", "run mlb:boxscore"),
        ("COMPLETE", "run mlb:boxscore"),
        ("START", "run mlb:live_game"),
        ("COMPLETE", "run mlb:live_game"),
    ]
    check = validator()
    for event in sent:
        check.validate(event)
    live_tables = {o["name"] for o in sent[3]["outputs"]}
    assert "game.live_game_plays" in live_tables and not live_tables & {o["name"] for o in sent[1]["outputs"]}


def test_quiet_silences_the_backfill_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlb_render, "err", Console(file=io.StringIO(), force_terminal=True))
    with mlb_render.progress() as bar:
        assert bar.progress is not None  # a terminal: a bar
    monkeypatch.setattr(settings, "quiet", True)
    with mlb_render.progress() as bar:
        assert bar.progress is None  # tidemark --quiet backfill ...: none


def test_metrics_are_served_from_the_start_of_a_watch() -> None:
    """``--metrics-port`` answers before the first load of a live day (a scrape target is up from the start)."""
    port = free_port()
    watch = Observers(MetricsReporter("mlb:live_game", port=port))
    with watch.watching():
        served = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10)
    assert served.status_code == 200
    assert samples(served.text)[("tidemark_documents_total", (("outcome", "accepted"),))] == 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
