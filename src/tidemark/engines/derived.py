"""Derived field sources of the local engine: ``previous`` (a value of the element before, like SQL ``LAG``),
``lookup`` (a value of another element of the document, found by a value of the row: a join by key) and ``fold``
(a state carried through the document's events in order, read as it stood before the row's element).

All are computed once a row's plain fields are known; the local engine calls them from its walk.

A fold is a named function of the whole document (a domain pack's code, imported when first used; :data:`FOLDS`)
returning, for each element it walks, the state before it: ``{id(element): {value name: value}}``. Elements are
known by identity, which is safe while the document is alive: the cache holds the document and drops it with the
candidate indexes at the end of the document. A fold also names the document paths it reads (``reads``, with
``[*]`` / ``.*`` where it walks an array / object's values), so a decoder that builds only what a mapping reads
builds them.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

Getter = Callable[[Any], Any]
Anchored = Callable[[Any, Any, tuple[Any, ...]], Any]
_MISSING = object()


def match_key(value: Any) -> Any:
    """The form in which two JSON values are compared as keys: a number and its decimal string are equal
    (``747175`` and ``"747175"``), booleans never equal numbers, objects and arrays compare by content."""
    kind = type(value)
    if kind is bool:
        return ("bool", value)
    if kind is float and value.is_integer():
        return int(value)
    if kind is str:
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        return value
    if kind is dict or kind is list:
        return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    return value


class Previous:
    """The ``previous`` fields of one target. ``state()`` starts an exploded array; ``step()`` is called for every
    element in document order, kept by the filter or not, and returns the element before it in each group's
    partition (None for a partition's first); the row builder reads the fields' paths from those elements.

    ``fields`` are ``(slot, within_key, within)``; fields with the same ``within`` paths share one partition state
    (one group): :attr:`group_of` gives a field's group.
    """

    def __init__(self, fields: list[tuple[int, tuple[str, ...], list[Getter]]]) -> None:
        groups: dict[tuple[str, ...], list[Getter]] = {}
        self.group_of: dict[int, int] = {}
        for slot, within_key, within in fields:
            groups.setdefault(within_key, within)
            self.group_of[slot] = list(groups).index(within_key)
        self.groups = list(groups.values())
        self.simple = len(self.groups) == 1 and not self.groups[0]  # simply the element before

    def state(self) -> list[dict[tuple[Any, ...], Any]]:
        return [{} for _ in self.groups]

    def step(self, elem: Any, state: list[dict[tuple[Any, ...], Any]]) -> list[Any]:
        if self.simple:
            seen = state[0]
            before = seen.get(())
            seen[()] = elem
            return [before]
        out = []
        for within, seen in zip(self.groups, state, strict=True):
            partition = tuple(match_key(get(elem)) for get in within) if within else ()
            out.append(seen.get(partition))
            seen[partition] = elem
        return out


class IndexCache:
    """Candidate indexes shared by the lookups of one engine: lookups that search the same candidates by the same
    path (a batting order's name, position, hits... all from one team's players) build the index once; a fold's
    states are kept here too, per document.

    An index is kept while the same container object is searched again; holding the reference makes that identity
    check safe. ``clear()`` drops them (at the end of a batch, so a decoded document is not kept alive).
    """

    def __init__(self) -> None:
        self._entries: dict[tuple[str, ...], tuple[Any, dict[Any, Any]]] = {}
        self.fixed: dict[tuple[str, ...], dict[Any, Any]] = {}  # indexes of sources that are one per document

    def index(self, key: tuple[str, ...], container: Any, explode: str, where: Getter | None) -> dict[Any, Any]:
        entry = self._entries.get(key)
        if entry is not None and entry[0] is container:
            return entry[1]
        built = self._entries[key] = (container, _build_index(container, explode, where))
        return built[1]

    def memo(self, key: tuple[str, ...], doc: Any, build: Callable[[Any], dict[Any, Any]]) -> dict[Any, Any]:
        """``build(doc)``, kept while the same ``doc`` object is asked for again under ``key``."""
        entry = self._entries.get(key)
        if entry is not None and entry[0] is doc:
            return entry[1]
        built = build(doc)
        self._entries[key] = (doc, built)
        return built

    def clear(self) -> None:
        self._entries.clear()
        self.fixed.clear()


def _build_index(container: Any, explode: str, where: Getter | None) -> dict[Any, Any]:
    items: Iterable[tuple[Any, Any]]
    if explode == "array" and type(container) is list:
        items = enumerate(container)
    elif explode == "object" and type(container) is dict:
        items = container.items()
    else:  # missing, or not the kind of container the mapping names: nothing matches
        return {}
    index: dict[Any, Any] = {}
    for position, candidate in items:
        value = position if where is None else where(candidate)
        if value is not None:
            index.setdefault(match_key(value), candidate)  # the first candidate with a value wins
    return index


class Lookup:
    """One ``lookup`` field: finds the candidate of ``source`` whose ``where`` value (or array position / object key)
    equals the row's ``key_slot`` value; the row builder reads ``path`` from it. ``cache_key`` names (source,
    where)."""

    def __init__(
        self,
        slot: int,
        key_slot: int,
        source: Anchored,
        cache_key: tuple[str, ...],
        explode: str,
        where: Getter | None,
        path: tuple[str | int, ...],
        cache: IndexCache,
        per_document: bool = False,
    ) -> None:
        self.slot = slot
        self.key_slot = key_slot
        self.source = source
        self.cache_key = cache_key
        self.explode = explode
        self.where = where
        self.path = path  # read from the candidate found
        self.cache = cache
        self.per_document = per_document  # the source is read from the document or its record: one per document

    def find(self, doc: Any, elem: Any, anc: tuple[Any, ...], key: Any) -> Any:
        """The candidate matching ``key`` (the row's ``key_slot`` value), or None."""
        if key is None:
            return None
        if self.per_document:
            index = self.table(doc, elem, anc)
        else:
            index = self.cache.index(self.cache_key, self.source(doc, elem, anc), self.explode, self.where)
        return index.get(key if type(key) is int else match_key(key))  # an int is its own match key

    def table(self, doc: Any, elem: Any, anc: tuple[Any, ...]) -> dict[Any, Any]:
        """A lookup over a document-anchored source (``per_document``): its index, match key -> candidate, the same
        for every row of the document (the row builder asks once per explode, when a row first has a key)."""
        cache = self.cache
        index = cache.fixed.get(self.cache_key)
        if index is None:
            index = cache.fixed[self.cache_key] = cache.index(
                self.cache_key, self.source(doc, elem, anc), self.explode, self.where
            )
        return index


@dataclass(frozen=True)
class FoldDefinition:
    """A named fold: ``function(document) -> {id(element): {value name: value}}`` and the paths it reads."""

    function: Callable[[Any], dict[int, dict[str, Any]]]
    reads: tuple[tuple[str, ...], ...]


#: fold name -> "module:attribute" of its FoldDefinition (mapping/models.py FOLDS lists the names and their values)
FOLDS: dict[str, str] = {
    "mlb_bases": "tidemark.domains.mlb.folds:BASES",
    "mlb_defence": "tidemark.domains.mlb.folds:DEFENCE",
}


@cache
def fold_definition(name: str) -> FoldDefinition:
    module, _, attribute = FOLDS[name].partition(":")
    found: FoldDefinition = getattr(importlib.import_module(module), attribute)
    return found


class FoldFailed(Exception):
    """A fold function failed on a document (a shape its code did not expect): the document is rejected with this
    message, the run goes on."""


def _guarded(name: str, function: Callable[[Any], dict[int, dict[str, Any]]]) -> Callable[[Any], dict[Any, Any]]:
    def run(doc: Any) -> dict[Any, Any]:
        try:
            return function(doc)
        except (TypeError, ValueError, KeyError, IndexError, AttributeError) as exc:
            raise FoldFailed(
                f"fold {name} failed on this document ({type(exc).__name__}: {exc}): a value has a shape the fold "
                "does not expect; check the document, or report it with the document attached"
            ) from exc

    return run


class Fold:
    """One ``fold`` field, shaped like a :class:`Lookup` for the row builder: ``find`` gives the state before the
    row's element (computed once per document), from which the builder reads ``path``: the value named ``key``."""

    def __init__(self, slot: int, name: str, key: str, cache: IndexCache) -> None:
        self.slot = slot
        self.key_slot = -1  # no row value selects it: the element does
        self.cache_key = ("fold", name)
        self.function = _guarded(name, fold_definition(name).function)
        self.key = key
        self.path = (key,)
        self.cache = cache

    def find(self, doc: Any, elem: Any, anc: tuple[Any, ...], key: Any = None) -> Any:
        """The state before ``elem`` (no key selects it: the element does)."""
        return self.table(doc, elem, anc).get(id(elem))

    def table(self, doc: Any, elem: Any = None, anc: tuple[Any, ...] = ()) -> dict[int, Any]:
        """The document's states, ``id(element)`` -> state: the same for every row of the document (the row
        builder asks once per explode, when a row first needs it)."""
        return self.cache.memo(self.cache_key, doc, self.function)
