"""``tidemark validate --sample``: a mapping tried on real documents, nothing written (issue 18 #7).

Paths that never resolve in the sample and tables that make no row are reported with the mapping's file:line:col
and YAML path; the command exits 0 with warnings, 1 with ``--strict``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.conftest import GAME_747175
from tidemark.cli import main as cli
from tidemark.runtime.sample import check_sample

MAPPING = """\
version: 1
source:
  name: feed
  document: ["$.response", "$"]
  timestamp: {path: $.metaData.timeStamp, format: "%Y%m%d_%H%M%S"}
targets:
  - table: g.games
    rows: $
    primary_key: [game_pk]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint, nullable: false}
      - {name: venue, path: $.gameData.venue.name}
      - {name: weather, path: $.gameData.wether.condition}
  - table: g.plays
    rows: $.liveData.plays.allPlays[*]
    primary_key: [game_pk, at_bat_index]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint, nullable: false}
      - {name: at_bat_index, path: about.atBatIndex, type: int, nullable: false}
      - {name: event, path: result.event}
  - table: g.challenges
    rows: $.liveData.challenges[*]
    primary_key: [game_pk, n]
    fields:
      - {name: game_pk, path: $.gamePk, type: bigint, nullable: false}
      - {name: n, index: true, type: int}
"""


def call_main(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["tidemark", *args])
    with pytest.raises(SystemExit) as info:
        cli.main()
    return int(info.value.code or 0)


@pytest.fixture
def mapping(tmp_path: Path) -> Path:
    path = tmp_path / "feed.yaml"
    path.write_text(MAPPING)
    return path


def test_the_report_places_each_path_that_never_resolves(mapping: Path) -> None:
    report = check_sample(mapping, [GAME_747175])
    assert report.documents == 1 and report.rejected == []
    assert report.rows == {"g.games": 1, "g.plays": 75, "g.challenges": 0}
    assert [(f.table, f.column) for f in report.findings] == [("g.games", "weather"), ("g.challenges", None)]
    weather, challenges = (str(f) for f in report.findings)
    assert weather == (
        f"{mapping}:13:25: targets[0].fields[2].path: g.games.weather: "
        "path '$.gameData.wether.condition' never resolves to a value in 1 row(s)"
    )
    assert challenges == (
        f"{mapping}:22:5: targets[2].rows: g.challenges: rows '$.liveData.challenges[*]' made no row from 1 document(s)"
    )


def test_validate_with_a_sample_warns_and_exits_0_or_1_with_strict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mapping: Path
) -> None:
    assert call_main(monkeypatch, "validate", str(mapping), "--sample", str(GAME_747175)) == 0
    captured = capsys.readouterr()
    assert "sample: 1 document(s), 76 row(s)" in captured.out
    warnings = captured.err.splitlines()
    assert len(warnings) == 2 and all(w.startswith(f"warning: {mapping}:") for w in warnings)
    assert "targets[0].fields[2].path" in warnings[0] and "wether" in warnings[0]
    assert call_main(monkeypatch, "validate", str(mapping), "--sample", str(GAME_747175), "--strict") == 1


def test_a_clean_mapping_on_its_documents_has_no_warning(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mapping: Path
) -> None:
    mapping.write_text(MAPPING.replace("wether", "weather").split("  - table: g.challenges")[0])
    assert call_main(monkeypatch, "validate", str(mapping), "--sample", str(GAME_747175.parent), "--strict") == 0
    captured = capsys.readouterr()
    assert captured.err == "" and "sample: 7 document(s)" in captured.out


def test_the_wrong_mapping_for_the_sample_reports_every_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert call_main(monkeypatch, "validate", "mlb:boxscore", "--sample", str(GAME_747175), "--strict") == 1
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 4 and all("made no row from 1 document(s)" in w for w in warnings)
    assert all("boxscore.yaml:" in w and ": targets[" in w for w in warnings)


def test_rejected_sample_documents_are_listed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], mapping: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert call_main(monkeypatch, "validate", str(mapping), "--sample", str(bad)) == 0
    err = capsys.readouterr().err
    assert f"warning: {bad}: document rejected: not valid JSON" in err
    assert "the sample holds no document the mapping accepts" in err
