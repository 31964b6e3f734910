"""Computed keys as declared: the ``key:`` block of a mapping target and of a ``write:`` block (:class:`KeySpec`),
and the plain recipe the contract computes keys from (:class:`KeyRecipe`).

Both the mapping language and ``tidemark.write`` accept the same block, and the compiler, the write planner and
``contract/keys.py`` (which computes the keys, docs/write.md "Deterministic keys") share the same recipe; this
module sits below all of them so that none imports another for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"


@dataclass(frozen=True)
class KeyRecipe:
    """How to compute a key column: its name, the columns it is made from, and the string options."""

    name: str
    columns: tuple[str, ...]
    normalize: bool = True
    trim: bool = False
    casefold: bool = False
    sort_lists: bool = False


class KeySpec(BaseModel):
    """A deterministic key column computed from other columns (docs/write.md, "Deterministic keys")."""

    name: str = Field(pattern=IDENT, description="the key column, e.g. match_id")
    from_: list[str] = Field(
        alias="from", min_length=1, description="the columns the key is made from, in order (a list column counts)"
    )
    normalize: bool = Field(True, description="Unicode NFC normalization of strings before hashing")
    trim: bool = Field(False, description="strip white space (and no-break spaces) around strings")
    casefold: bool = Field(False, description="Unicode case folding of strings ('Straße' keys like 'STRASSE')")
    sort_lists: bool = Field(False, description="sort the elements of list columns (order does not matter)")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _distinct(self) -> KeySpec:
        twice = sorted({c for c in self.from_ if self.from_.count(c) > 1})
        if twice:
            raise ValueError(f"'from' lists {', '.join(twice)} more than once")
        if self.name in self.from_:
            raise ValueError(f"the key {self.name!r} cannot be made from itself")
        return self

    def recipe(self) -> KeyRecipe:
        return KeyRecipe(self.name, tuple(self.from_), self.normalize, self.trim, self.casefold, self.sort_lists)
