"""Field transforms of the mapping language: ``convert`` (named conversions), ``map`` (a vocabulary) and
``only_on_last``, through the real engine (docs/mapping.md#transforms)."""

from __future__ import annotations

from typing import Any, get_args

import pytest
import yaml

from tidemark.compile.plan import compile_mapping
from tidemark.engines import transforms
from tidemark.engines.local import LocalEngine
from tidemark.mapping.loader import parse_mapping
from tidemark.mapping.models import CONVERSIONS, Conversion
from tidemark.sources.memory import as_document


def extract(fields: list[dict[str, Any]], docs: list[Any], **target: Any) -> tuple[list[dict[str, Any]], Any]:
    mapping = {
        "source": {"name": "t", "timestamp": {"path": "$.ts"}},
        "targets": [{"table": "t", "rows": "$.items[*]", "fields": fields, **target}],
    }
    plan = compile_mapping(parse_mapping(yaml.safe_dump(mapping, allow_unicode=True)))
    records = [as_document({"ts": "2024-07-13T00:00:00Z", "items": d}, i) for i, d in enumerate(docs)]
    (batch,) = LocalEngine(plan).extract(records)
    return batch.tables["t"].to_pylist(), batch


def test_the_models_list_of_conversions_is_the_engines() -> None:
    assert set(get_args(Conversion)) == set(CONVERSIONS) == set(transforms.CONVERSIONS)


@pytest.mark.parametrize(
    ("text", "outs", "thirds"),
    [("7.0", 21, 7.0), ("5.1", 16, 16 / 3), ("0.2", 2, 2 / 3), ("6", 18, 6.0), (4, 12, 4.0), ("12.2", 38, 38 / 3)],
)
def test_innings_as_outs_and_true_thirds(text: Any, outs: int, thirds: float) -> None:
    rows, _ = extract(
        [
            {"name": "outs", "path": "ip", "convert": "innings_to_outs", "type": "int"},
            {"name": "ip", "path": "ip", "convert": "innings_to_thirds", "type": "double"},
        ],
        [[{"ip": text}]],
    )
    assert rows == [{"outs": outs, "ip": pytest.approx(thirds), "captured_at": rows[0]["captured_at"]}]


def test_innings_that_are_not_innings_are_row_errors_not_guesses() -> None:
    rows, batch = extract(
        [
            {"name": "k", "path": "k", "type": "int"},
            {"name": "ip", "path": "ip", "convert": "innings_to_thirds", "type": "double"},
        ],
        [[{"k": 1, "ip": "6.3"}, {"k": 2, "ip": "6.1"}]],
    )
    assert [r["k"] for r in rows] == [2]  # the row with 6.3 is quarantined, not stored as 6.3 or 7.0
    (error,) = batch.row_errors
    assert "6.3" in str(error) and "not innings" in str(error)


@pytest.mark.parametrize(
    ("text", "value"),
    [(".263", 0.263), ("1.045", 1.045), ("4.50", 4.5), ("-.--", None), (".---", None), ("*.**", None), ("", None)],
)
def test_stats_parse_and_placeholders_are_null(text: str, value: float | None) -> None:
    rows, batch = extract([{"name": "avg", "path": "avg", "convert": "stat", "type": "double"}], [[{"avg": text}]])
    assert batch.row_errors == [] and rows[0]["avg"] == value


def test_inches_to_feet_and_one_based() -> None:
    rows, _ = extract(
        [
            {"name": "pfx_x", "path": "pfx", "convert": "inches_to_feet", "type": "double"},
            {"name": "n", "index": True, "type": "int"},
            {"name": "number", "path": "i", "convert": "one_based", "type": "int"},
        ],
        [[{"pfx": 6, "i": 0}, {"pfx": -1.5, "i": 1}]],
    )
    assert [(r["pfx_x"], r["number"]) for r in rows] == [(0.5, 1), (-0.125, 2)]


def test_a_map_translates_listed_values_and_nulls_the_rest() -> None:
    vocab = {"B": "ball", "*B": "blocked_ball", "true": "Top", "false": "Bot", "6": "six"}
    rows, _ = extract(
        [{"name": "v", "path": "v", "map": vocab}, {"name": "d", "path": "v", "map": vocab, "default": "none"}],
        [[{"v": "B"}, {"v": "*B"}, {"v": True}, {"v": False}, {"v": 6}, {"v": "Z"}, {}]],
    )
    assert [r["v"] for r in rows] == ["ball", "blocked_ball", "Top", "Bot", "six", None, None]
    assert [r["d"] for r in rows][-2:] == ["none", "none"]  # the default fills what the map leaves NULL


def test_only_on_last_keeps_the_value_on_the_last_kept_row_of_each_explode() -> None:
    fields = [
        {"name": "k", "path": "k", "type": "int"},
        {"name": "result", "path": "r", "only_on_last": True},
    ]
    docs = [[{"k": 1, "r": "a", "keep": True}, {"k": 2, "r": "b", "keep": True}, {"k": 3, "r": "c", "keep": False}]]
    rows, _ = extract(fields, docs, filter="keep == true")
    assert [(r["k"], r["result"]) for r in rows] == [(1, None), (2, "b")]  # the filtered-out row is not the last
