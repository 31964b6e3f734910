"""The docs stay true: the JSON Schema, the quoted mapping excerpts, the illustrated mapping, the hash examples."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pyarrow as pa

from tests.conftest import GAME_747175, ROOT
from tidemark.compile.plan import compile_mapping
from tidemark.contract.prepare import row_hash
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import parse_mapping, resolve_mapping_path
from tidemark.mapping.schema import mapping_json_schema
from tidemark.sources.files import iter_documents

DOCS = ROOT / "docs"


def _yaml_blocks(path: Path) -> list[list[str]]:
    """The lines of every ```yaml block of a markdown file (blocks inside list items included)."""
    blocks = re.findall(r"```yaml\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.DOTALL)
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


def test_published_json_schema_is_generated_from_the_models() -> None:
    published = (DOCS / "mapping.schema.json").read_text(encoding="utf-8")
    assert published == mapping_json_schema(), (
        "docs/mapping.schema.json is stale: run tidemark schema -o docs/mapping.schema.json"
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
    """The worked examples of docs/write-contract.md ("The content hash", the tie-break) pin the canonical encoding."""
    text = (DOCS / "write-contract.md").read_text(encoding="utf-8")
    example = pa.table({"a": pa.array([747175], pa.int64()), "b": pa.array([None], pa.string()), "c": ["héllo"]})
    assert row_hash(example, ["a", "b", "c"]).to_pylist() == [6103219890964892841]
    assert "6103219890964892841" in text
    games = pa.table(
        {
            "game_pk": pa.array([1, 1], pa.int64()),
            "score": pa.array([3, 4], pa.int32()),
            "captured_at": pa.array([datetime(2024, 7, 13, 10, tzinfo=UTC)] * 2, pa.timestamp("us", "UTC")),
        }
    )
    hashes = row_hash(games, ["game_pk", "score", "captured_at"]).to_pylist()
    assert hashes == [4527196255417010504, 196123513927847037]
    assert all(f"`{h}`" in text for h in hashes)


def test_the_vectorized_hash_equals_the_plain_python_reference() -> None:
    from tidemark.contract.prepare import reference_hash

    blob = "6:747175" + "\x1e" + "\x00" + "\x1e" + "5:héllo"
    assert reference_hash(blob.encode()) == 6103219890964892841
