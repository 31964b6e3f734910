"""The mapping language as pydantic models (the JSON Schema for editors is generated from these).

A mapping describes one kind of source document and the tables it becomes. See ``docs/mapping.md``.

The models keep each path, type and filter as the text the user wrote (the JSON Schema, the docs and the error
messages show that text); a field validator checks it where it stands (so an error names its YAML path), and a
cached property holds its typed value (:class:`JsonPath`, :class:`LogicalType`, :class:`Condition`), which the
semantic checks (checks.py) and the compiler read: nothing parses a mapping string again.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tidemark.keyspec import KeySpec  # the key block, shared with write blocks
from tidemark.mapping.expectations import ExpectationSpec
from tidemark.mapping.filters import Condition, parse_filter
from tidemark.mapping.paths import JsonPath, parse_path
from tidemark.mapping.rules import RuleSpec
from tidemark.types import LogicalType, parse_type

IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
Conversion = Literal["inches_to_feet", "innings_to_outs", "innings_to_thirds", "one_based", "stat"]
CONVERSIONS: tuple[str, ...] = ("inches_to_feet", "innings_to_outs", "innings_to_thirds", "one_based", "stat")
#: the named folds (engines/derived.py) and the values each gives an element
FOLDS: dict[str, tuple[str, ...]] = {
    "mlb_bases": ("1B", "2B", "3B"),
    "mlb_defence": ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10"),
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TimestampSpec(_Strict):
    """Where a document's snapshot time comes from: a JSON path (with a strptime format), or ``captured_at``."""

    path: str | None = Field(None, description="JSON path inside the document, e.g. $.metaData.timeStamp")
    format: str | None = Field(
        None, description="strptime format of the value at `path`, e.g. %Y%m%d_%H%M%S; ISO 8601 when omitted"
    )
    timezone: Literal["UTC"] = Field("UTC", description="time zone of values that carry none")
    from_: Literal["captured_at"] | None = Field(
        None,
        alias="from",
        description="'captured_at': the raw record's capture time (the envelope's captured_at key)",
    )
    fallback: Literal["file_modified"] | None = Field(
        None,
        description="when the document has no time at `path` (or no captured_at): 'file_modified', the modification "
        "time of the input file it was read from (when a recorder wrote it). Documents that have neither are "
        "rejected, never written without a time",
    )

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None and parse_path(v).anchor not in ("doc", "record"):
            raise ValueError(f"{v!r} must start at the document root ('$.') or the record root ('$$.')")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> TimestampSpec:
        if (self.path is None) == (self.from_ is None):
            raise ValueError("set exactly one of 'path' (a JSON path) or 'from: captured_at'")
        return self

    @cached_property
    def json_path(self) -> JsonPath | None:
        return None if self.path is None else parse_path(self.path)


class SourceSpec(_Strict):
    """The kind of document this mapping reads."""

    name: str = Field(description="a name for the document kind, e.g. liveGameV1")
    endpoint: str | None = Field(None, description="API endpoint group, e.g. game")
    method: str | None = Field(None, description="API method, e.g. liveGameV1")
    description: str | None = None
    document: str | list[str] = Field(
        "$",
        description="where the document sits in each input record; a list tries each path in order "
        "(e.g. ['$.response', '$'] for enveloped and bare documents)",
    )
    timestamp: TimestampSpec = Field(description="where each document's snapshot time comes from")

    @field_validator("document")
    @classmethod
    def _document(cls, v: str | list[str]) -> str | list[str]:
        for p in [v] if isinstance(v, str) else v:
            if parse_path(p).anchor != "doc":
                raise ValueError(f"{p!r} must start at the record root ('$')")
        return v

    @cached_property
    def document_paths(self) -> tuple[JsonPath, ...]:
        """Where the document may sit, in the order tried."""
        return tuple(parse_path(p) for p in ([self.document] if isinstance(self.document, str) else self.document))


class PreviousSpec(_Strict):
    """A value read from the element before this one in the exploded array or object (like SQL ``LAG``)."""

    path: str = Field(description="path inside the previous element, e.g. count.balls")
    within: list[str] = Field(
        default_factory=list,
        description="paths inside each element: only the nearest earlier element with the same values there counts "
        "(like LAG(...) OVER (PARTITION BY ...)), e.g. [about.inning, about.isTopInning]",
    )

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _element_path(v)

    @field_validator("within")
    @classmethod
    def _within(cls, v: list[str]) -> list[str]:
        return [_element_path(p) for p in v]

    @cached_property
    def json_path(self) -> JsonPath:
        return parse_path(self.path)

    @cached_property
    def within_paths(self) -> tuple[JsonPath, ...]:
        return tuple(parse_path(p) for p in self.within)


class LookupSpec(_Strict):
    """A value read from another element of the document, found by a value of this row (a join by key)."""

    from_: str = Field(
        alias="from",
        description="the candidates, written like rows: 'a[*]' an array's items, 'a.*' an object's values; "
        "'$.a' in the document, '$$.a' the record, 'a' the row element, '^.a' the parent element",
    )
    where: str | None = Field(
        None,
        description="path inside each candidate compared with `equals` (numbers and numeric strings match); "
        "omitted: the candidate's array position or object key",
    )
    equals: str = Field(description="the field of this row whose value selects the candidate")
    path: str | None = Field(None, description="what to read from the candidate found; omitted: the candidate itself")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("from_")
    @classmethod
    def _from(cls, v: str) -> str:
        if parse_path(v, allow_explode=True).explode == "none":
            raise ValueError(f"{v!r}: end it with '[*]' (an array's items) or '.*' (an object's values)")
        return v

    @field_validator("where", "path")
    @classmethod
    def _inner(cls, v: str | None) -> str | None:
        return None if v is None else _element_path(v)

    @cached_property
    def source(self) -> JsonPath:
        """The candidates (``from``): an exploding path."""
        return parse_path(self.from_, allow_explode=True)

    @cached_property
    def where_path(self) -> JsonPath | None:
        return None if self.where is None else parse_path(self.where)

    @cached_property
    def read_path(self) -> JsonPath | None:
        return None if self.path is None else parse_path(self.path)


class FoldSpec(_Strict):
    """A value of a named fold: a state carried through the document's events in order (the runners on base, the
    defence on the field...), read as it stood just before this row's element (docs/mapping.md#folds)."""

    name: str = Field(description="the fold: " + ", ".join(FOLDS))
    read: str = Field(description="which value of the state, e.g. 1B (mlb_bases) or 2 (mlb_defence: the catcher)")

    @model_validator(mode="after")
    def _known(self) -> FoldSpec:
        if self.name not in FOLDS:
            raise ValueError(f"unknown fold {self.name!r}; the folds are: {', '.join(FOLDS)}")
        if self.read not in FOLDS[self.name]:
            raise ValueError(f"fold {self.name!r} has no value {self.read!r}; it gives: {', '.join(FOLDS[self.name])}")
        return self


def _element_path(v: str) -> str:
    if parse_path(v).anchor != "row":
        raise ValueError(f"{v!r} is read inside an element: write it relative, without '$' or '^'")
    return v


class FieldSpec(_Strict):
    """One column: where its value comes from, its type, and what to do when it is missing."""

    name: str = Field(pattern=IDENT, description="column name")
    path: str | None = Field(
        None, description="JSON path: '$.x' document, 'x' row element, '^.x' parent element, '$$.x' raw record"
    )
    parent: str | None = Field(None, description="copy this field of the parent target's row")
    index: bool = Field(False, description="the row's position in the exploded array (0-based)")
    key: bool = Field(False, description="the row's key in the exploded object")
    value: bool = Field(False, description="the exploded element itself (arrays of plain values, e.g. a list of ids)")
    index_base: int = Field(0, description="with 'index: true': the number of the first row (e.g. 1 for slots 1-9)")
    previous: PreviousSpec | None = Field(
        None, description="read a path of the element before this one in the exploded array (before the filter)"
    )
    lookup: LookupSpec | None = Field(None, description="read a value from another element found by this row's value")
    fold: FoldSpec | None = Field(
        None, description="read a named fold's state (e.g. the runners on base) as it stood before this row's element"
    )
    type: str = Field(
        "string", description="int, bigint, float, double, decimal(p,s), bool, string, date, timestamp, json"
    )
    nullable: bool = Field(True, description="false: a row without a value (and no default) is an error row")
    default: Any = Field(None, description="value used when the path is missing or null")
    format: str | None = Field(None, description="strptime format for date/timestamp strings that are not ISO 8601")
    description: str | None = None
    unit: str | None = Field(None, description="the value's unit, for the docs (e.g. mph, ft, in, deg, rpm, s)")
    # value transforms, applied to the source value before its type (docs/mapping.md#transforms)
    convert: Conversion | None = Field(None, description="a named conversion: " + ", ".join(CONVERSIONS))
    map: dict[str, Any] | None = Field(
        None, description="a vocabulary: source value (as text) -> stored value; values not listed become NULL"
    )
    only_on_last: bool = Field(
        False, description="keep the value only on the last row of each explode (after the filter); NULL elsewhere"
    )

    @field_validator("type")
    @classmethod
    def _type(cls, v: str) -> str:
        parse_type(v)
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str | None) -> str | None:
        if v is not None:
            parse_path(v)
        return v

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        sources = [self.path is not None, self.parent is not None, self.index, self.key, self.value]
        sources += [self.previous is not None, self.lookup is not None, self.fold is not None]
        if sum(sources) != 1:
            raise ValueError(
                "set exactly one of 'path', 'parent', 'index: true' or 'key: true' "
                "(or 'value: true', 'previous', 'lookup', 'fold')"
            )
        return self

    @cached_property
    def logical_type(self) -> LogicalType:
        return parse_type(self.type)

    @cached_property
    def json_path(self) -> JsonPath | None:
        return None if self.path is None else parse_path(self.path)


class IndexSpec(_Strict):
    columns: list[str] = Field(min_length=1)
    name: str | None = Field(None, pattern=IDENT)
    unique: bool = False


class ForeignKeySpec(_Strict):
    columns: list[str] = Field(min_length=1, description="columns of this table")
    references: str = Field(description="the referenced table, as named in this mapping (schema.table)")
    ref_columns: list[str] | None = Field(None, description="referenced columns; default: its primary key")


class TargetSpec(_Strict):
    """One output table."""

    table: str = Field(pattern=r"^([A-Za-z_][A-Za-z0-9_]*\.)?[A-Za-z_][A-Za-z0-9_]*$", description="[schema.]table")
    description: str | None = None
    parent: str | None = Field(None, description="the target whose rows this one explodes from (rows is relative)")
    rows: str = Field(
        "$", description="'$' one row per document; '$.a[*]' / 'a[*]' explode an array; '$.a.*' explode an object"
    )
    required: bool = Field(False, description="true: a document where `rows` is missing is rejected")
    filter: str | None = Field(None, description='keep rows matching e.g. "isPitch == true and hitData exists"')
    fields: list[FieldSpec] = Field(min_length=1)
    primary_key: list[str] = Field(default_factory=list)
    key: KeySpec | None = Field(
        None,
        description="compute a deterministic key column from fields (for sources without an id); "
        "the primary key defaults to it",
    )
    timestamp: str = Field(
        "captured_at",
        pattern=IDENT,
        description="the row timestamp column (the document's snapshot time unless a field of that name exists)",
    )
    scope: list[str] | None = Field(
        None,
        description="reconcile per these columns: the table holds, per scope value, only the newest snapshot's "
        "rows. Default for exploded targets: the primary key of the root target ('$' rows), when present here",
    )
    indexes: list[IndexSpec] = Field(default_factory=list)
    foreign_keys: list[ForeignKeySpec] = Field(default_factory=list)
    partition_by: list[str] = Field(
        default_factory=list,
        description="columns that split the table into partitions in Delta / Parquet / CSV stores (e.g. [season]); "
        "an upsert rewrites only the partitions it touches. SQL stores ignore it",
    )
    rules: list[RuleSpec] = Field(
        default_factory=list,
        description="data quality rules checked on every row before it is written (docs/mapping.md, 'Quality rules')",
    )
    tie: Literal["hash", "incoming"] = Field(
        "hash",
        description="two different rows of one key with an equal timestamp: the greater content hash wins ('hash', "
        "order-independent), or the later arrival ('incoming': corrections that keep their timestamp); "
        "docs/write-contract.md",
    )

    @field_validator("rows")
    @classmethod
    def _rows(cls, v: str) -> str:
        parse_path(v, allow_explode=True)
        return v

    @field_validator("filter")
    @classmethod
    def _filter(cls, v: str | None) -> str | None:
        if v is not None:
            parse_filter(v)
        return v

    @cached_property
    def rows_path(self) -> JsonPath:
        return parse_path(self.rows, allow_explode=True)

    @cached_property
    def conditions(self) -> tuple[Condition, ...]:
        """The filter's conditions (all must hold); none without a filter."""
        return parse_filter(self.filter) if self.filter else ()


class Mapping(_Strict):
    """A tidemark mapping: one source document kind -> tables."""

    version: Literal[1] = 1
    source: SourceSpec
    targets: list[TargetSpec] = Field(min_length=1)
    expectations: list[ExpectationSpec] = Field(
        default_factory=list,
        description="table expectations checked after a run (docs/history.md, 'Table expectations')",
    )
