"""The plan-compiled decoder and the orjson fallback extract the same tables from generated documents (hypothesis).

Documents have random keys (any Unicode, characters JSON must escape, the empty key), strings with escapes, numbers
in every JSON spelling (exponents, ``E``, ``-0``, overflowing ones), nulls and nested arrays and objects, written
with or without ``\\u`` escapes. The mapping is generated to read some of their paths (whole, typed, exploded).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tidemark.compile.plan import compile_mapping
from tidemark.documents import RawDocument
from tidemark.engines.decoder import build_decoder
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import parse_mapping

Path = tuple[str | int, ...]
TYPES = ["json", "string", "double", "bigint", "bool"]


@dataclass(frozen=True)
class Number:
    """A number as it is spelled in the JSON text."""

    text: str


def extract(mapping: dict[str, Any], docs: list[bytes], fast: bool) -> dict[str, list[dict[str, object]]]:
    plan = compile_mapping(parse_mapping(yaml.safe_dump(mapping, allow_unicode=True)))
    engine = LocalEngine(plan, fast_decode=fast)
    assert (engine.decoder is not None) == fast  # the typed decoder really is the one under test
    raws = [RawDocument(data, f"doc{i}.json") for i, data in enumerate(docs)]
    out: dict[str, list[dict[str, object]]] = {}
    for batch in engine.extract(raws, batch_documents=2):
        for name, table in batch.tables.items():
            out.setdefault(name, []).extend(table.to_pylist())
        out.setdefault("_rejected", []).extend({"origin": r.origin, "reason": r.reason} for r in batch.rejected)
        out.setdefault("_errors", []).extend({"table": e.table, "reason": e.reason} for e in batch.row_errors)
    return out


def path_text(segments: Path, anchor: str = "$") -> str:
    """A mapping path: every key in brackets, its quote and backslash escaped with a backslash."""
    escaped = (s.replace("\\", "\\\\").replace('"', '\\"') if isinstance(s, str) else s for s in segments)
    return anchor + "".join(f'["{s}"]' if isinstance(s, str) else f"[{s}]" for s in escaped)


# -- documents ------------------------------------------------------------------------------------------------------

keys = st.text(st.characters(codec="utf-8"), max_size=4) | st.sampled_from(
    ["名前", "é", "😀", 'a"b', "back\\slash", "new\nline", "tab\t", "\x00", "/", " ", "", "id", "ts"]
)
numbers = st.one_of(
    st.integers(-(2**63), 2**64 - 1).map(str),  # beyond 64 bits orjson gives a float, msgspec an int: not generated
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(
        "{}{}{}".format,
        st.sampled_from(["1", "-1", "0", "-0", "2.5", "-0.0", "123456", "9.87654321"]),
        st.sampled_from(["e", "E", "e+", "E-", "e-"]),
        st.integers(0, 300).map(str),  # beyond a double (1e309) unread, only orjson refuses it (decoder.py)
    ),
).map(Number)
scalars = st.none() | st.booleans() | numbers | st.text(st.characters(codec="utf-8"), max_size=6)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=3), max_leaves=10
)
bodies = st.dictionaries(keys, values, max_size=5)


def render(value: Any, ascii: bool) -> str:
    """JSON text of ``value``, numbers spelled as generated; ``ascii``: every non-ASCII character as a \\u escape."""
    if isinstance(value, Number):
        return value.text
    if isinstance(value, dict):
        items = (f"{json.dumps(k, ensure_ascii=ascii)}:{render(v, ascii)}" for k, v in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(render(v, ascii) for v in value) + "]"
    return json.dumps(value, ensure_ascii=ascii)


def paths(value: Any, prefix: Path = ()) -> list[tuple[Path, Any]]:
    """Every path in ``value`` and the value there, the root excluded."""
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    out = []
    for key, child in children:
        out += [((*prefix, key), child), *paths(child, (*prefix, key))]
    return out


# -- mappings -------------------------------------------------------------------------------------------------------


def fields(draw: st.DrawFn, candidates: list[Path], anchor: str) -> list[dict[str, Any]]:
    chosen = draw(st.lists(st.sampled_from(candidates), max_size=4, unique=True)) if candidates else []
    return [
        {"name": f"f{i}", "path": path_text(p, anchor), "type": draw(st.sampled_from(TYPES))}
        for i, p in enumerate(chosen)
    ]


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, Any], list[bytes]]:
    """Documents and a mapping reading some of their paths: one row per document, and rows exploded from a part."""
    docs = [{**body, "ts": "2024-07-13T04:19:09Z"} for body in draw(st.lists(bodies, min_size=1, max_size=3))]
    found = [p for doc in docs for p in paths(doc)]
    missing: Path = ("not", "there")
    root = fields(draw, [p for p, _ in found] + [missing], "$")
    targets = [{"table": "g.docs", "rows": "$", "fields": [{"name": "n", "path": "$.ts", "type": "string"}, *root]}]
    parts = [(p, v) for p, v in found if isinstance(v, (list, dict)) and v]
    if parts:
        part, value = draw(st.sampled_from(parts))
        explode, own = ("[*]", {"index": True}) if isinstance(value, list) else (".*", {"key": True})
        inner = sorted(
            {q[len(part) + 1 :] for q, _ in found if q[: len(part)] == part and len(q) > len(part) + 1}, key=repr
        )
        element = fields(draw, inner, "") or [{"name": "f0", "value": True, "type": "json"}]
        table = {"table": "g.parts", "rows": path_text(part) + explode, "fields": [{"name": "p", **own}, *element]}
        targets.append(table)
    mapping = {"version": 1, "source": {"name": "gen", "timestamp": {"path": "$.ts"}}, "targets": targets}
    ascii = draw(st.booleans())
    return mapping, [render(doc, ascii).encode() for doc in docs]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_the_typed_decoder_and_orjson_extract_the_same_tables(case: tuple[dict[str, Any], list[bytes]]) -> None:
    mapping, docs = case
    fast = extract(mapping, docs, fast=True)
    # every document is accounted for: a row, a row refused by its type, or the document refused (an overflow)
    refused = [e for e in fast["_errors"] if e["table"] == "g.docs"]
    assert len(fast.get("g.docs", [])) + len(refused) + len(fast["_rejected"]) == len(docs)
    assert fast == extract(mapping, docs, fast=False)


def test_a_key_that_is_not_ascii_is_read_by_the_typed_decoder() -> None:
    """msgspec misses TypedDict keys that are not ASCII until their UTF-8 form is cached: read as NULL before."""
    mapping = {
        "version": 1,
        "source": {"name": "gen", "timestamp": {"path": "$.ts"}},
        "targets": [
            {
                "table": "g.docs",
                "rows": "$",
                "fields": [
                    {"name": "name", "path": '$["名前"]', "type": "string"},
                    {"name": "city", "path": '$.team["Zürich 😀"].city', "type": "string"},
                ],
            }
        ],
    }
    doc = '{"ts": "2024-07-13T04:19:09Z", "名前": "大谷", "team": {"Z\\u00fcrich \\ud83d\\ude00": {"city": "Z"}}}'
    plan = compile_mapping(parse_mapping(yaml.safe_dump(mapping, allow_unicode=True)))
    assert build_decoder(plan) is not None
    fast = extract(mapping, [doc.encode()], fast=True)
    assert [(r["name"], r["city"]) for r in fast["g.docs"]] == [("大谷", "Z")]
    assert fast == extract(mapping, [doc.encode()], fast=False)


def test_bytes_that_are_not_utf8_refuse_the_document_with_or_without_the_typed_decoder() -> None:
    mapping = {
        "version": 1,
        "source": {"name": "gen", "timestamp": {"path": "$.ts"}},
        "targets": [{"table": "g.docs", "rows": "$", "fields": [{"name": "n", "path": "$.ts", "type": "string"}]}],
    }
    doc = b'{"ts": "2024-07-13T04:19:09Z", "never read": "caf\xe9"}'  # latin-1, in a part msgspec skips
    fast = extract(mapping, [doc], fast=True)
    assert [r["origin"] for r in fast["_rejected"]] == ["doc0.json"]
    assert fast == extract(mapping, [doc], fast=False)
