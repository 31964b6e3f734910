"""Fixtures of the write-contract conformance suite: ``store`` opens connections to each sink in STORES."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tests.conformance.stores import OBJECT_STORES, STORES, Opener, Store
from tests.s3server import s3_server_fixture  # noqa: F401  (the S3 stores' server, started on first use)
from tidemark.contract.counts import Mode, WriteCounts
from tidemark.contract.prepare import prepare
from tidemark.runtime.transaction import Transaction
from tidemark.sinks.base import Sink
from tidemark.tables import TableSpec


@pytest.fixture(params=[pytest.param(s, id=s.name, marks=s.marks) for s in [*STORES, *OBJECT_STORES]])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """A function that opens a new connection to a fresh, empty store of one kind."""
    entry: Store = request.param
    needs = request.node.get_closest_marker("needs")
    opener = entry.make(request, tmp_path)
    if needs is not None:
        probe = opener()
        try:
            missing = [cap for cap in needs.args if not getattr(probe.capabilities, cap)]
        finally:
            probe.close()
        if missing:
            pytest.skip(f"{entry.name} does not declare {', '.join(missing)}")
    yield opener


def write(
    opener: Opener, spec: TableSpec, rows: pa.Table, mode: Mode = "upsert", scopes: pa.Table | None = None
) -> WriteCounts:
    """One transactional write through the contract: prepare, then the run's Transaction (ensure, write, commit;
    rollback on any error)."""
    sink: Sink = opener()
    try:
        with Transaction(sink, [spec], run_id="conformance") as tx:
            prepared = prepare(rows, spec, mode)
            counts = tx.write(spec, prepared.rows, scopes, mode)
            counts += prepared.counts
        return counts
    finally:
        sink.close()


def read(opener: Opener, spec: TableSpec) -> list[dict[str, object]]:
    """The stored rows, sorted by key."""
    sink = opener()
    try:
        rows = sink.read_table(spec).to_pylist()
    finally:
        sink.close()
    key = spec.primary_key or spec.column_names
    return sorted(rows, key=lambda r: tuple(str(r[k]) for k in key))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs(*capabilities): skip stores whose sink lacks a capability")
