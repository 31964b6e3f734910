"""Row filters: ``<path> <op> <literal>`` or ``<path> exists`` / ``<path> missing``, joined with ``and``.

Examples: ``isPitch == true``, ``hitData exists``, ``details.call.code != 'X' and pitchNumber >= 1``.
Literals are JSON (``true``, ``null``, ``3.5``, ``"text"``) or single-quoted strings.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal, cast

from tidemark.mapping.paths import JsonPath, parse_path

Op = Literal["==", "!=", "<", "<=", ">", ">=", "exists", "missing"]
_COND = re.compile(r"^\s*(?P<path>\S+)\s+(?:(?P<op>==|!=|<=|>=|<|>)\s+(?P<lit>.+?)|(?P<word>exists|missing))\s*$")


@dataclass(frozen=True)
class Condition:
    path: JsonPath
    op: Op
    value: Any = None


def parse_filter(text: str) -> tuple[Condition, ...]:
    """Parse a filter; raise ``ValueError`` saying which part is wrong."""
    conditions = []
    for part in re.split(r"\s+and\s+", text.strip()):
        m = _COND.match(part)
        if m is None:
            raise ValueError(
                f"cannot parse filter condition {part!r}: expected '<path> <op> <value>' "
                "(op one of == != < <= > >=) or '<path> exists' / '<path> missing'"
            )
        path = parse_path(m.group("path"))
        if m.group("word"):
            conditions.append(Condition(path, cast(Op, m.group("word"))))
            continue
        conditions.append(Condition(path, cast(Op, m.group("op")), _literal(m.group("lit"))))
    return tuple(conditions)


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        msg = f"filter value {text!r} is not a literal: quote strings ('X'), or use true/false/null/numbers"
        raise ValueError(msg) from None
