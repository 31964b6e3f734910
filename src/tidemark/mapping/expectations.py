"""Table expectations of a mapping (the top-level ``expectations:`` block): what the stored tables as a whole must
look like after a run, where a quality rule (mapping/rules.py) looks at one row::

    expectations:
      - {name: some_games, row_count: {table: game.live_game_metadata, min: 1}}
      - {name: pitches_have_plays, parents: {table: game.live_game_pitch_events}}
      - {name: every_game_has_plays, coverage: {table: game.live_game_metadata, columns: [game_pk],
                                                within: game.live_game_plays}, action: warn}

The kinds: ``row_count`` (min / max rows), ``parents`` (every row of a table has its parent row, through its
foreign keys, or only those to ``references``), ``coverage`` (every value of ``columns`` in ``table`` has a row in
``within``, matched on ``within_columns``, default the same names). ``action``: ``fail`` (the command fails and says
so) or ``warn`` (reported only). quality/expectations.py evaluates them; docs/history.md tells when.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tidemark.errors import did_you_mean

if TYPE_CHECKING:
    from tidemark.mapping.models import Mapping

ExpectationKind = Literal["row_count", "parents", "coverage"]
EXPECTATION_KINDS: tuple[ExpectationKind, ...] = ("row_count", "parents", "coverage")
_TABLE = r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RowCountSpec(_Strict):
    table: str = Field(pattern=_TABLE, description="the table, as named in this mapping (schema.table)")
    min: int | None = Field(None, ge=0, description="at least this many rows")
    max: int | None = Field(None, ge=0, description="at most this many rows")

    @model_validator(mode="after")
    def _bounds(self) -> RowCountSpec:
        if self.min is None and self.max is None:
            raise ValueError("set 'min', 'max' or both")
        return self


class ParentsSpec(_Strict):
    table: str = Field(pattern=_TABLE, description="the child table")
    references: str | None = Field(None, pattern=_TABLE, description="only its foreign keys to this table")


class CoverageSpec(_Strict):
    table: str = Field(pattern=_TABLE, description="the table whose values must be covered")
    columns: list[str] = Field(min_length=1, description="its columns (e.g. the key)")
    within: str = Field(pattern=_TABLE, description="the table that must hold a row for each value")
    within_columns: list[str] | None = Field(None, description="the matching columns there (default: the same names)")


class ExpectationSpec(_Strict):
    """One table expectation: exactly one kind, a name, and what a broken one does."""

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="the expectation's name, in reports")
    description: str | None = None
    action: Literal["fail", "warn"] = Field("fail", description="fail: the command fails; warn: reported only")
    row_count: RowCountSpec | None = None
    parents: ParentsSpec | None = None
    coverage: CoverageSpec | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ExpectationSpec:
        if sum(getattr(self, k) is not None for k in EXPECTATION_KINDS) != 1:
            raise ValueError(f"set exactly one of {', '.join(EXPECTATION_KINDS)}")
        within = self.coverage.within_columns if self.coverage is not None else None
        if self.coverage is not None and within is not None and len(within) != len(self.coverage.columns):
            raise ValueError("coverage: within_columns needs as many columns as columns")
        return self

    @cached_property
    def kind(self) -> ExpectationKind:
        return next(k for k in EXPECTATION_KINDS if getattr(self, k) is not None)

    @property
    def table(self) -> str:
        spec = self.row_count or self.parents or self.coverage
        assert spec is not None
        return spec.table


def check_expectations(mapping: Mapping) -> list[tuple[tuple[str | int, ...], str]]:
    """Every table and column an expectation names exists in the mapping (problems with their YAML path)."""
    columns: dict[str, set[str]] = {}
    for t in mapping.targets:
        known = {f.name for f in t.fields} | {t.timestamp} | ({t.key.name} if t.key is not None else set())
        columns[t.table] = known
    out: list[tuple[tuple[str | int, ...], str]] = []
    for i, e in enumerate(mapping.expectations):
        here: tuple[str | int, ...] = ("expectations", i, e.kind)
        spec = e.row_count or e.parents or e.coverage
        tables = [("table", spec.table)] if spec is not None else []
        if e.parents is not None and e.parents.references is not None:
            tables.append(("references", e.parents.references))
        if e.coverage is not None:
            tables.append(("within", e.coverage.within))
        for field, table in tables:
            if table not in columns:
                out.append(((*here, field), f"no target writes table {table!r}{did_you_mean(table, columns)}"))
        if e.coverage is not None:
            c = e.coverage
            pairs = [(c.table, "columns", c.columns), (c.within, "within_columns", c.within_columns or c.columns)]
            for table, field, names in pairs:
                for name in names if table in columns else []:
                    if name not in columns[table]:
                        hint = did_you_mean(name, columns[table])
                        out.append(((*here, field), f"{table} has no column {name!r}{hint}"))
    return out


__all__ = ["EXPECTATION_KINDS", "CoverageSpec", "ExpectationSpec", "ParentsSpec", "RowCountSpec", "check_expectations"]
