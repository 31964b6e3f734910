"""Shared fixtures: the bundled real MLB documents and helpers to make snapshot variants of them."""

from __future__ import annotations

import copy
import gzip
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pgserver import ENV_DSN, PgServer

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "statsapi"
LIVE = DATA / "game" / "liveGameV1"
GAME_747175 = LIVE / "liveGameV1_game_pk=747175_4240fc08a038.json.gz"


def load_envelope(path: Path) -> dict[str, Any]:
    with gzip.open(path, "rb") as fh:
        return json.loads(fh.read())  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def feed_747175() -> dict[str, Any]:
    """The recorded live feed of game 747175 (the document, without its envelope)."""
    return load_envelope(GAME_747175)["response"]  # type: ignore[no-any-return]


def snapshot(
    feed: dict[str, Any],
    *,
    plays: int | None = None,
    timestamp: str | None = None,
    game_pk: int | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """A copy of a real feed: truncated to ``plays`` plays, with another snapshot time or gamePk, or edited."""
    doc = copy.deepcopy(feed)
    if plays is not None:  # as an earlier snapshot looks: its scoring plays are among its plays
        doc["liveData"]["plays"]["allPlays"] = doc["liveData"]["plays"]["allPlays"][:plays]
        doc["liveData"]["plays"]["scoringPlays"] = [i for i in doc["liveData"]["plays"]["scoringPlays"] if i < plays]
    if timestamp is not None:
        doc["metaData"]["timeStamp"] = timestamp
    if game_pk is not None:
        doc["gamePk"] = game_pk
    if edit is not None:
        edit(doc)
    return doc


def write_docs(directory: Path, docs: list[dict[str, Any]], prefix: str = "doc") -> list[Path]:
    """Write documents as enveloped .json.gz files (the recorded layout); returns the paths in order."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, doc in enumerate(docs):
        path = directory / f"{prefix}_{i:04d}.json.gz"
        with gzip.open(path, "wb") as fh:
            fh.write(json.dumps({"endpoint": "game", "method": "liveGameV1", "response": doc}).encode())
        paths.append(path)
    return paths


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server per test run: started from the machine's binaries, or the one in TIDEMARK_PG_DSN."""
    dsn = os.environ.get(ENV_DSN)
    server = PgServer.external(dsn) if dsn else PgServer.start()
    yield server
    server.stop()


@pytest.fixture
def pg_dsn(pg_server: PgServer) -> Iterator[str]:
    """The DSN of a fresh, empty database on the test server (dropped after the test)."""
    name = pg_server.create_database()
    yield pg_server.dsn(name)
    pg_server.drop_database(name)
