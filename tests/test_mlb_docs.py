"""The committed MLB table reference (docs/mlb/) is what `tidemark docs` generates from the mappings today.

Regenerate it with: ``tidemark docs 'mlb:*' -o docs/mlb --title "MLB table reference"``.
"""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import ROOT
from tidemark import compile_mapping, load_mapping
from tidemark.cli.main import app
from tidemark.docs_gen import expand_refs, render

DOCS = ROOT / "docs" / "mlb"
TITLE = "MLB table reference"
REGENERATE = f"tidemark docs 'mlb:*' -o docs/mlb --title \"{TITLE}\""


def test_the_committed_table_reference_is_up_to_date() -> None:
    pages = render(["mlb:*"], TITLE)
    committed = {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}
    assert sorted(committed) == sorted(pages), f"pages differ; run: {REGENERATE}"
    stale = [name for name, text in pages.items() if committed[name] != text]
    assert stale == [], f"stale pages {stale}; run: {REGENERATE}"


def test_every_table_and_column_is_documented() -> None:
    refs = expand_refs(["mlb:*"])
    bundled = ROOT / "src" / "tidemark" / "domains" / "mlb" / "mappings"
    assert len(refs) == len(list(bundled.glob("*.yaml"))) > 0  # every bundled mapping
    tables = columns = 0
    for ref in refs:
        page = (DOCS / f"{ref.split(':')[1]}.md").read_text(encoding="utf-8")
        for target in compile_mapping(load_mapping(ref)[0]).targets:
            assert f"## {target.name}\n" in page, target.name
            tables += 1
            for column in target.spec.columns:
                assert f"| `{column.name}`" in page, (target.name, column.name)
                columns += 1
    assert tables >= len(refs) and columns > tables  # each mapping has a table, each table columns


def test_the_pages_say_where_values_come_from() -> None:
    live = (DOCS / "live_game.md").read_text(encoding="utf-8")
    assert "| `balls_before` | int | yes | previous element's `count.balls` (default `0`) |" in live
    assert "| `game_pk` (key) | bigint | no | `$.gamePk` | The game's id (gamePk). |" in live
    assert "- Primary key: `game_pk`, `at_bat_index`, `event_index`" in live
    assert "Snapshot time: `$.metaData.timeStamp` (format `%Y%m%d_%H%M%S`)" in live
    coaches = (DOCS / "coaches.md").read_text(encoding="utf-8")
    assert "Snapshot time: the record's captured_at, else the input file's modification time" in coaches


def test_cli_writes_the_pages(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["docs", "mlb:schedule", "mlb:teams", "-o", str(tmp_path), "--title", "T"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["README.md", "schedule.md", "teams.md"]
    index = (tmp_path / "README.md").read_text(encoding="utf-8")
    assert index.startswith("# T\n") and "[`schedule.schedule_games`](schedule.md#scheduleschedule_games)" in index


def test_cli_reports_an_unknown_mapping(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["docs", "mlb:nope", "-o", str(tmp_path)])
    assert result.exit_code != 0
    assert "no built-in mapping 'nope'" in str(result.exception)
    assert list(tmp_path.iterdir()) == []
