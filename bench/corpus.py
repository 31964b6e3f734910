"""The benchmark corpus: copies of the real game 747175 live feed, each with its own gamePk.

Every copy is the recorded envelope (``{"endpoint": ..., "response": {...}}``) with ``response.gamePk`` (and
``gameData.game.pk``) changed, written as a plain ``.json`` file, so each benchmark reads exactly the bytes a
``tidemark run`` over that directory would read.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
FEED = ROOT / "data" / "statsapi" / "game" / "liveGameV1" / "liveGameV1_game_pk=747175_4240fc08a038.json.gz"
FIRST_GAME_PK = 900_000


def load_feed() -> dict[str, Any]:
    with gzip.open(FEED, "rb") as fh:
        envelope: dict[str, Any] = orjson.loads(fh.read())
    return envelope


def write_corpus(directory: Path, count: int, *, timestamp: str | None = None) -> list[Path]:
    """Write ``count`` copies of the feed with distinct gamePks (and optionally another snapshot time)."""
    envelope = load_feed()
    doc = envelope["response"]
    if timestamp is not None:
        doc["metaData"]["timeStamp"] = timestamp
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        game_pk = FIRST_GAME_PK + i
        doc["gamePk"] = game_pk
        doc["gameData"]["game"]["pk"] = game_pk
        path = directory / f"liveGameV1_game_pk={game_pk}.json"
        path.write_bytes(orjson.dumps(envelope))
        paths.append(path)
    return paths


def parse_count(argv: list[str], default: int) -> int:
    """The corpus size from the command line (first argument), ``default`` when none is given."""
    if len(argv) > 1:
        return int(argv[1])
    return default
