"""The docs stay true: the JSON Schema, the quoted mapping excerpts, the illustrated mapping, the hash examples."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa

from tests.conftest import GAME_747175, ROOT
from tidemark.compile.plan import compile_mapping
from tidemark.contract.prepare import reference_row_hash, reference_row_words, row_hash
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import parse_mapping, resolve_mapping_path
from tidemark.mapping.schema import mapping_json_schema
from tidemark.sources.files import iter_documents

DOCS = ROOT / "docs"
TS = pa.timestamp("us", "UTC")


def _yaml_blocks(path: Path) -> list[list[str]]:
    """The lines of every ```yaml block of a markdown file (blocks inside list items included)."""
    blocks = re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


def test_published_json_schema_is_generated_from_the_models() -> None:
    published = (DOCS / "mapping.schema.json").read_text(encoding="utf-8")
    assert published == mapping_json_schema(), (
        "docs/mapping.schema.json is stale: run tidemark schema mapping -o docs/mapping.schema.json"
    )


def test_excerpts_quoted_in_the_mapping_docs_are_in_the_bundled_mappings() -> None:
    quoted = [b for b in _yaml_blocks(DOCS / "mapping.md") if b[0].strip().startswith("# mlb:")]
    assert len(quoted) >= 5
    for block in quoted:
        name = block[0].strip().removeprefix("# ")
        bundled = {line.strip() for line in resolve_mapping_path(name).read_text(encoding="utf-8").splitlines()}
        for line in block[1:]:
            if line.strip() != "...":
                assert line.strip() in bundled, f"docs/mapping.md quotes a line that is not in {name}: {line.strip()}"


def test_the_illustrated_mapping_runs_on_the_bundled_feed_as_documented() -> None:
    blocks = _yaml_blocks(DOCS / "mapping.md")
    source = next(b for b in blocks if b[0] == "# mlb:live_game" and b[1] == "source:")
    target = next(b for b in blocks if b[0] == "# illustration" and "table: game.snapshots" in b[1])
    text = "\n".join(["version: 1", *source[1:], "targets:", *target[1:]]) + "\n"
    plan = compile_mapping(parse_mapping(text, "docs/mapping.md"))
    (batch,) = LocalEngine(plan).extract(iter_documents([GAME_747175]))
    assert not batch.rejected and not batch.row_errors
    (row,) = batch.tables["game.snapshots"].to_pylist()
    assert row["game_pk"] == row["requested_game_pk"] == 747175
    assert row["snapshot_time"] == datetime(2024, 7, 13, 4, 19, 9, tzinfo=UTC)
    assert orjson.loads(row["weather"]) == {"condition": "Roof Closed", "temp": "78", "wind": "0 mph, None"}
    assert (row["precipitation"], row["last_event"]) == ("none", "Sac Fly")


def test_the_content_hash_examples_of_the_contract_doc() -> None:
    """The worked examples of docs/write-contract.md ("The content hash", the tie-break) pin the hash's definition."""
    text = (DOCS / "write-contract.md").read_text(encoding="utf-8")
    example = pa.table({"a": pa.array([747175], pa.int64()), "b": pa.array([None], pa.string()), "c": ["héllo"]})
    assert row_hash(example, ["a", "b", "c"]).to_pylist() == [-396022938259413292]
    assert "-396022938259413292" in text
    rows = [(1, 3, 10), (1, 4, 10), (2, 5, 10), (2, 6, 10)]
    games = pa.table(
        {
            "game_pk": pa.array([g for g, _, _ in rows], pa.int64()),
            "score": pa.array([s for _, s, _ in rows], pa.int32()),
            "captured_at": pa.array([datetime(2024, 7, 13, h, tzinfo=UTC) for _, _, h in rows], TS),
        }
    )
    h13, h14, h25, h26 = row_hash(games, ["game_pk", "score", "captured_at"]).to_pylist()
    assert (h13, h14) == (7557634845616915119, -7200197943894445306)
    assert f"`(1, 3, 10:00)` has hash `{h13}`, `(1, 4, 10:00)` has hash\n`{h14}`" in text
    # the outcomes the examples state: (1, 3) wins the tie-break, (2, 5) loses it ("same time, smaller hash")
    assert h13 > h14 and "| `(1, 4, 10:00)` | `(1, 3, 10:00)` | updated 1 | `(1, 3, 10:00)` |" in text
    assert h25 < h26 and "| `(2, 5, 10:00)` | no: same time, smaller hash | `skipped` |" in text


def test_the_worked_example_of_the_content_hash_runs_as_written() -> None:
    """The doc's Python block computes, with hashlib alone, the words and the hash row_hash and the reference give."""
    text = (DOCS / "write-contract.md").read_text(encoding="utf-8")
    section = text[text.index("## The content hash") : text.index("## Duplicate keys inside one batch")]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    scope: dict[str, object] = {"hashlib": hashlib}
    exec(code, scope)  # the block asserts its own result
    row, kinds = [747175, None, "héllo"], ["bigint", "string", "string"]
    assert scope["words"] == reference_row_words(row, kinds)
    assert scope["hash"] == reference_row_hash(row, kinds) == -396022938259413292
