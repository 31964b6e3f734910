"""JSON paths of the mapping language.

A path is a dotted list of object keys and array indexes, anchored in one of four places:

- ``$.a.b``      the document root,
- ``a.b``        the current row's element (the array item or object value being exploded),
- ``^.a.b``      the parent row's element (``^^.a`` the grandparent's, and so on),
- ``$$.a.b``     the raw input record around the document (the envelope, e.g. ``$$.path_params.game_pk``: what the
  request asked for when the document itself does not say); for a bare document it is the document.

Keys that are not plain identifiers are written in brackets: ``$.players["ID 1"]``; ``[3]`` is an array index.
A ``rows`` path may end in ``[*]`` (explode an array) or ``.*`` (explode an object's values; its keys become
available to ``key: true`` fields).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Anchor = Literal["doc", "row", "parent", "record"]
Explode = Literal["none", "array", "object"]

_TOKEN = re.compile(
    r"""
      \.(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)
    | \[(?P<index>-?\d+)\]
    | \[(?P<quoted>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')\]
    | (?P<star_array>\[\*\])
    | (?P<star_object>\.\*)
    """,
    re.VERBOSE,
)


class PathSyntaxError(ValueError):
    """Raised with a message that points at the offending character."""


@dataclass(frozen=True)
class JsonPath:
    """A parsed path: where it starts, the keys/indexes to follow, and whether it explodes at the end."""

    text: str
    anchor: Anchor
    depth: int  # for anchor == "parent": 1 = parent, 2 = grandparent, ...
    segments: tuple[str | int, ...]
    explode: Explode = "none"

    @property
    def is_root(self) -> bool:
        return self.anchor == "doc" and not self.segments and self.explode == "none"


def parse_path(text: str, *, allow_explode: bool = False) -> JsonPath:
    """Parse ``text``; raise :class:`PathSyntaxError` explaining what is wrong and where."""
    if not isinstance(text, str) or not text.strip():
        raise PathSyntaxError("a path must be a non-empty string such as '$.gamePk' or 'about.inning'")
    src = text.strip()
    anchor: Anchor
    depth = 0
    if src.startswith("$$"):
        anchor, rest = "record", src[2:]
    elif src.startswith("$"):
        anchor, rest = "doc", src[1:]
    elif src.startswith("^"):
        depth = len(src) - len(src.lstrip("^"))
        anchor, rest = "parent", src[depth:]
    else:
        anchor, rest = "row", src if src.startswith("[") else "." + src
    segments: list[str | int] = []
    explode: Explode = "none"
    pos = 0
    while pos < len(rest):
        m = _TOKEN.match(rest, pos)
        if m is None:
            raise PathSyntaxError(f"cannot parse {src!r} at {rest[pos:]!r}: expected '.key', '[index]' or '[\"key\"]'")
        if explode != "none":
            raise PathSyntaxError(f"{src!r}: '[*]' / '.*' may only end a rows path")
        if m.group("name") is not None:
            segments.append(m.group("name"))
        elif m.group("index") is not None:
            segments.append(int(m.group("index")))
        elif m.group("quoted") is not None:
            segments.append(_unquote(m.group("quoted")))
        elif m.group("star_array"):
            explode = "array"
        else:
            explode = "object"
        pos = m.end()
    if explode != "none" and not allow_explode:
        raise PathSyntaxError(f"{src!r}: '[*]' / '.*' explode rows and belong in 'rows', not in a field path")
    return JsonPath(text=src, anchor=anchor, depth=depth, segments=tuple(segments), explode=explode)


def _unquote(quoted: str) -> str:
    body = quoted[1:-1]
    return re.sub(r"\\(.)", r"\1", body)
