"""Schema compatibility, checked once for every store: a stored table may only gain nullable columns.

A store describes its table in its own words (``stored``: column -> type as the store spells it, and its partition
columns when it has any) and says when a spelling is a logical type (``same``). :func:`columns_to_add` returns the
columns the table must gain, or raises one :class:`~tidemark.errors.SinkTerminalError` listing every problem.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from tidemark.errors import SinkTerminalError
from tidemark.tables import HASH_COLUMN, Column, TableSpec
from tidemark.types import LogicalType

HASH = Column(HASH_COLUMN, LogicalType("bigint"), nullable=False)


def columns_to_add(
    spec: TableSpec,
    stored: Mapping[str, str],
    same: Callable[[str, LogicalType], bool],
    *,
    where: str,
    partitions: Sequence[str] | None = None,
    check_hash: bool = False,
) -> list[Column]:
    """The columns of ``spec`` missing from ``stored`` (all nullable), after checking that the rest agree.

    ``where`` names the store in the message; ``partitions`` (None: the store does not partition) must equal the
    spec's; ``check_hash`` also requires the content hash column (stores that declare it as a column).
    """
    wanted = [*spec.columns, *([HASH] if check_hash and spec.hashed else [])]
    problems = []
    added = []
    for c in wanted:
        have = stored.get(c.name)
        if have is None:
            if c.nullable:
                added.append(c)
            else:
                problems.append(f"new column {c.name!r} is NOT NULL: make it nullable or give it a default")
        elif not same(have, c.type):
            problems.append(f"column {c.name!r} is {have} in the store but {c.type} in the mapping")
    if partitions is not None and list(partitions) != list(spec.partition_by):
        now, asked = list(partitions) or "nothing", list(spec.partition_by) or "nothing"
        problems.append(f"it is partitioned by {now}, the mapping says {asked}")
    if problems:
        raise SinkTerminalError(
            f"table {spec.qualified} in {where} exists with an incompatible schema: "
            + "; ".join(problems)
            + ". Migrate the table (or write to a new one); tidemark only adds nullable columns."
        )
    return added
