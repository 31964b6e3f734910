"""Row builders generated from the plan: one Python function per target instead of a closure per field.

For a target whose fields read ``about.inning``, ``about.halfInning`` and ``matchup.batter.id``, the generated
function looks up ``about`` once and each leaf with one inline ``dict.get``, with no call per field. Field kinds the
generator does not inline are called through their closure, so any field source the engine supports works here.

Only literal keys and indexes (as ``repr`` literals) reach the generated source; nothing from a document does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tidemark.compile.plan import FieldPlan

RowBuilder = Callable[[Any, Any, tuple[Any, ...], list[Any] | None, Any, list[Any]], list[Any]]
FieldFn = Callable[[Any, Any, tuple[Any, ...], list[Any] | None, Any], Any]


class _Source:
    """Accumulates statements, caching every path prefix in a local variable."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.cache: dict[tuple[str, tuple[str | int, ...]], str] = {}

    def value(self, base: str, segments: tuple[str | int, ...]) -> str:
        var = base
        for i in range(len(segments)):
            key = (base, segments[: i + 1])
            cached = self.cache.get(key)
            if cached is None:
                cached = f"v{len(self.cache)}"
                s = segments[i]
                if isinstance(s, str):
                    expr = f"{var}.get({s!r}) if type({var}) is dict else None"
                else:
                    expr = f"{var}[{s!r}] if type({var}) is list and {-s if s < 0 else s + 1} <= len({var}) else None"
                self.lines.append(f"    {cached} = {expr}")
                self.cache[key] = cached
            var = cached
        return var


def build_row_function(
    fields: Sequence[FieldPlan],
    inline: set[int],
    parent_slots: dict[int, int],
    positions: set[int],
    fallbacks: dict[int, FieldFn],
) -> RowBuilder:
    """A function ``(doc, elem, anc, pv, pos, base) -> row``.

    ``inline``: indexes of path fields read per row (row or parent anchored); ``parent_slots``: field index -> slot
    of the parent's row; ``positions``: fields holding the array index / object key; ``fallbacks``: field index ->
    closure for anything else computed per row.
    """
    src = _Source()
    assigns: list[str] = []
    for j, f in enumerate(fields):
        if j in inline and f.path is not None:
            if f.path.anchor == "row":
                base = "elem"
            elif f.path.anchor == "doc":
                base = "doc"
            else:
                base = f"anc[{f.path.depth - 1}]"
            assigns.append(f"    row[{j}] = {src.value(base, f.path.segments)}")
        elif j in parent_slots:
            assigns.append(f"    row[{j}] = pv[{parent_slots[j]}] if pv else None")
        elif j in positions:
            assigns.append(f"    row[{j}] = pos")
        elif j in fallbacks:
            assigns.append(f"    row[{j}] = _f{j}(doc, elem, anc, pv, pos)")
    body = "\n".join(
        ["def build(doc, elem, anc, pv, pos, base):", "    row = base.copy()", *src.lines, *assigns, "    return row"]
    )
    namespace: dict[str, Any] = {f"_f{j}": fn for j, fn in fallbacks.items()}
    exec(compile(body, "<tidemark row builder>", "exec"), namespace)  # source built from the plan only
    return namespace["build"]  # type: ignore[no-any-return]
