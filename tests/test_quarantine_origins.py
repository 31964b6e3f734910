"""The quarantine names the document of every refused row: rows refused by a quality rule and orphan rows (refused
after extraction, where the engine's tables carry no document) name their file or raw store record, and
``tidemark quarantine --replay`` reads exactly that document again (from a file, or from a raw store)."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

import tidemark
from tests.test_history import as_json, cli, mapping_file, written
from tests.test_quality_rules import game, plan

SPEED = "- {name: speed_physical, range: {column: speed, min: 30, max: 110}, action: quarantine}"
#: a game with home == away is quarantined; its pitches then have no parent row: orphans
HOME_AWAY = "- {name: teams_differ, check: home <> away, action: quarantine}"
FK = "    foreign_keys: [{columns: [game_pk], references: g.games}]\n"


def with_fk(path: str) -> str:
    text = Path(path).read_text()
    Path(path).write_text(text.replace("primary_key: [game_pk, n]\n", "primary_key: [game_pk, n]\n" + FK))
    return path


def origins(sink: str) -> dict[tuple[str, str], str]:
    """(table, key) -> origin of every open quarantine entry of a table."""
    groups = as_json("quarantine", "--sink", sink)
    return {(g["table"], json.dumps(json.loads(e["key"]))): e["origin"] for g in groups for e in g["entries"]}


def test_quality_and_orphan_rows_name_their_file(tmp_path: Path) -> None:
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    docs = {"g1.json": game(1, pitches=[{"speed": 95.0}, {"speed": 250.0}])}
    docs |= {"g2.json": game(2, home=3, away=3, pitches=[{"speed": 90.0}]), "g3.json": game(3)}
    files = written(tmp_path / "docs", docs)
    mapping = with_fk(mapping_file(tmp_path, SPEED))
    text = Path(mapping).read_text().replace("    rules:\n      []", "    rules:\n      " + HOME_AWAY, 1)
    Path(mapping).write_text(text)
    result = tidemark.run(mapping, [files], sink, batch_documents=2)  # g1 and g2 in one batch, g3 in the next
    assert result.tables["g.pitches"].error == 2 and result.tables["g.games"].error == 1
    assert origins(sink) == {
        ("g.games", json.dumps({"game_pk": 2})): str(files / "g2.json"),  # the quality rule's row
        ("g.pitches", json.dumps({"game_pk": 2, "n": 0})): str(files / "g2.json"),  # its orphan pitch
        ("g.pitches", json.dumps({"game_pk": 1, "n": 1})): str(files / "g1.json"),  # the 250 mph pitch
    }


def test_replay_reads_only_the_documents_the_rows_came_from(tmp_path: Path) -> None:
    sink = f"duckdb:{tmp_path / 'w.duckdb'}"
    docs = {"g1.json": game(1, pitches=[{"speed": 120.0}]), "g2.json": game(2)}
    files = written(tmp_path / "docs", docs)
    tidemark.run(plan(pitches=SPEED), [files], sink)
    fixed = mapping_file(tmp_path, SPEED.replace("110", "130"))
    replayed = cli("quarantine", "--sink", sink, "--replay", "--mapping", fixed, "--json")
    assert replayed.exit_code == 0, replayed.output
    report = json.loads(replayed.stdout)
    assert report["files"] == [str(files / "g1.json")]  # its own file, not every input of the run
    assert (report["written"], report["requarantined"]) == (1, 0)
    assert as_json("quarantine", "--sink", sink) == []


def test_replay_re_reads_the_records_of_a_raw_directory(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tests.test_quality_rules import MAPPING
    from tidemark.raw import open_raw
    from tidemark.raw.base import bare_record
    from tidemark.raw.source import RawSource

    def mapping(top: int) -> Path:  # the games mapping over a raw record's envelope (its response)
        text = MAPPING.replace("$.", "$.response.").replace("rows: $\n", "rows: $.response\n")
        path = tmp_path / f"raw_{top}.yaml"
        path.write_text(text.format(games="      []", pitches="      " + SPEED.replace("110", str(top))))
        return path

    raw, sink = tmp_path / "raw", f"duckdb:{tmp_path / 'w.duckdb'}"
    fetched = datetime(2024, 7, 12, tzinfo=UTC)
    docs = [json.dumps(game(n, pitches=[{"speed": s}])).encode() for n, s in ((1, 95.0), (2, 120.0), (3, 97.0))]
    with open_raw(str(raw), create=True) as store:
        store.append([bare_record(d, fetched, endpoint="game", method="feed") for d in docs])
    with RawSource(str(raw)) as source:
        tidemark.run(mapping(110), source, sink)
    [(key, origin)] = origins(sink).items()
    assert key == ("g.pitches", json.dumps({"game_pk": 2, "n": 0}))
    assert origin.startswith(str(raw)) and origin.endswith(":2")  # the store's second record
    replayed = cli("quarantine", "--sink", sink, "--replay", "--mapping", str(mapping(130)), "--json")
    assert replayed.exit_code == 0, replayed.output
    report = json.loads(replayed.stdout)
    assert report["files"] == [origin] and (report["written"], report["requarantined"]) == (1, 0)
    assert report["run"]["documents"] == 1  # that record only, re-read from the store
    assert as_json("quarantine", "--sink", sink) == []
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        assert con.sql("SELECT game_pk, speed FROM g.pitches ORDER BY 1").fetchall() == [
            (1, 95.0),
            (2, 120.0),
            (3, 97.0),
        ]
