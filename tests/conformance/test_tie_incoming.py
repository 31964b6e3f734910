"""``tie: incoming`` on every store: at an equal timestamp the row that arrives later wins (docs/write-contract.md,
"Corrections that keep their timestamp"); the timestamp order itself is unchanged.
"""

from __future__ import annotations

import dataclasses

from tests.conformance.conftest import write
from tests.conformance.stores import Opener
from tests.conformance.tables import games_spec
from tests.conformance.test_contract_scenarios import counts_of, games, stored, ts
from tidemark.tables import TableSpec


def incoming(name: str) -> TableSpec:
    return dataclasses.replace(games_spec(name), tie="incoming")


def test_a_correction_with_the_same_timestamp_wins_in_either_order(store: Opener) -> None:
    live, final = games((1, "Live", ts(3))), games((1, "Final", ts(3)))
    ab, ba = incoming("games_ab"), incoming("games_ba")
    write(store, ab, live)
    assert counts_of(write(store, ab, final)) == (0, 1, 0, 0, 0, 0)
    write(store, ba, final)
    assert counts_of(write(store, ba, live)) == (0, 1, 0, 0, 0, 0)
    # the later write wins whatever the hashes: not order-independent across writes, by design
    assert stored(store, ab) == [(1, "Final", ts(3))]
    assert stored(store, ba) == [(1, "Live", ts(3))]


def test_the_same_row_again_is_unchanged_and_an_older_one_skipped(store: Opener) -> None:
    spec = incoming("games")
    write(store, spec, games((1, "Final", ts(3))))
    assert counts_of(write(store, spec, games((1, "Final", ts(3))))) == (0, 0, 1, 0, 0, 0)
    assert counts_of(write(store, spec, games((1, "Live", ts(2))))) == (0, 0, 0, 1, 0, 0)
    assert counts_of(write(store, spec, games((1, "Suspended", ts(4))))) == (0, 1, 0, 0, 0, 0)
    assert stored(store, spec) == [(1, "Suspended", ts(4))]


def test_inside_one_batch_the_later_row_of_the_newest_wins(store: Opener) -> None:
    spec = incoming("games")
    batch = games(
        (1, "Final", ts(3)),
        (1, "Final (corrected)", ts(3)),  # later than the first, same timestamp
        (1, "Live", ts(2)),  # older: loses wherever it stands
        (1, "Final", ts(3)),  # the last of the newest: wins, even over the correction before it
        (2, "Live", ts(2)),
        (2, "Final", ts(3)),
        (2, "Delayed", ts(1)),
    )
    counts = write(store, spec, batch)
    # the input order decides among the rows of the newest timestamp, never against the timestamp
    assert stored(store, spec) == [(1, "Final", ts(3)), (2, "Final", ts(3))]
    # losers: key 1 "Final" at position 0 is identical to the winner (unchanged); the rest skipped
    assert counts_of(counts) == (2, 0, 1, 4, 0, 0)
