"""Value transforms of a field (``convert`` and ``map``), applied to the source value before the type conversion.

A transform turns one JSON value into another and never raises: a value it cannot convert comes out as an
:class:`Unconvertible`, which every type conversion refuses, so the row is reported (and quarantined) with the
reason, exactly like a value of the wrong type. ``None`` stays ``None`` (the field's ``default`` then applies).

The conversions (docs/mapping.md#transforms):

- ``inches_to_feet``: a number divided by 12 (the feed's ``pfxX`` in inches -> Statcast's ``pfx_x`` in feet).
- ``innings_to_outs``: innings as baseball writes them, ``6.2`` = 6 innings and 2 outs -> ``20`` outs.
- ``innings_to_thirds``: the same innings as a true decimal, ``6.2`` -> ``6.666...``.
- ``one_based``: a 0-based position + 1 (``atBatIndex`` 0 -> ``at_bat_number`` 1).
- ``stat``: a statistic as the API prints it: placeholders for "undefined" (``-.--``, ``.---``, ``*.**``, ``-``,
  ``∞``, empty) -> NULL; anything else is kept for the type to parse (``.258`` -> 0.258 as a double).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Transform = Callable[[Any], Any]
_PLACEHOLDER_CHARS = frozenset("-.*∞ ")


class Unconvertible:
    """A source value a transform could not convert; shown in the row error as the value and the reason."""

    __slots__ = ("reason", "value")

    def __init__(self, value: Any, reason: str) -> None:
        self.value = value
        self.reason = reason

    def __repr__(self) -> str:
        return f"{self.value!r} ({self.reason})"


def _number(v: Any) -> float | int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return v
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def inches_to_feet(v: Any) -> Any:
    n = _number(v)
    return Unconvertible(v, "not a number of inches") if n is None else n / 12


def _outs(v: Any) -> int | None:
    """Outs in innings written ``I.O`` (O in 0-2), as text or a number; None if it is not that."""
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        return None
    text = str(v).strip()
    whole, _, part = text.partition(".")
    if not whole.isdigit() or part not in ("", "0", "1", "2"):
        return None
    return int(whole) * 3 + int(part or 0)


def innings_to_outs(v: Any) -> Any:
    outs = _outs(v)
    return Unconvertible(v, "not innings written I.O, O in 0-2") if outs is None else outs


def innings_to_thirds(v: Any) -> Any:
    outs = _outs(v)
    return Unconvertible(v, "not innings written I.O, O in 0-2") if outs is None else outs / 3


def one_based(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, int):
        return Unconvertible(v, "not a 0-based position")
    return v + 1


def stat(v: Any) -> Any:
    if isinstance(v, str) and set(v) <= _PLACEHOLDER_CHARS and not any(c.isdigit() for c in v):
        return None  # the API's "undefined" (no at-bats, no innings): NULL, not a number
    return v


CONVERSIONS: dict[str, Transform] = {
    "inches_to_feet": inches_to_feet,
    "innings_to_outs": innings_to_outs,
    "innings_to_thirds": innings_to_thirds,
    "one_based": one_based,
    "stat": stat,
}


def _map_key(v: Any) -> str | None:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, int | float | str):
        return str(v)
    return None


class ValueMap:
    """A vocabulary: the source value as text (``true``/``false`` for booleans, ``6`` for 6 and 6.0) -> the value
    listed for it; a value not listed -> None. ``get``: the lookup of a string (its own key, the common case)."""

    __slots__ = ("get",)

    def __init__(self, pairs: Mapping[str, Any]) -> None:
        self.get = dict(pairs).get

    def __call__(self, v: Any) -> Any:
        get = self.get
        return get(v) if type(v) is str else (get(k) if (k := _map_key(v)) is not None else None)


def value_map(pairs: Mapping[str, Any]) -> Transform:
    return ValueMap(pairs)


#: expressions the row builder writes instead of calling a transform, for the common kinds of value: ``{x}`` is the
#: value, ``{t}`` the transform (called for every other value), ``{get}`` a value map's lookup of a string
INLINE: dict[Transform, str] = {
    inches_to_feet: "{x} / 12 if type({x}) is float or type({x}) is int else {t}({x})",
    one_based: "{x} + 1 if type({x}) is int else {t}({x})",
    stat: "{t}({x}) if type({x}) is str else {x}",
}
_MAP_INLINE = "{get}({x}) if type({x}) is str else {t}({x})"


def inline_form(transform: Transform) -> tuple[str, Callable[[Any], Any] | None] | None:
    """The expression template of ``transform`` (see :data:`INLINE`) and its ``{get}``, or None: call it."""
    if isinstance(transform, ValueMap):
        return _MAP_INLINE, transform.get
    template = INLINE.get(transform)
    return None if template is None else (template, None)


def build_transform(convert: str | None, pairs: Mapping[str, Any] | None) -> Transform | None:
    """The field's transform: ``convert`` then ``map``; None when it has neither."""
    steps = ([CONVERSIONS[convert]] if convert else []) + ([value_map(pairs)] if pairs is not None else [])
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]
    first, second = steps

    def both(v: Any) -> Any:
        out = first(v)
        return out if out is None or isinstance(out, Unconvertible) else second(out)

    return both
