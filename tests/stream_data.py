"""Raw records for the stream tests: several snapshots per game made from the bundled live feed of game 747175.

A *wave* is what arrives at the raw store at once; per game it holds in-progress snapshots (the feed's plays
truncated, earlier ``metaData.timeStamp``), a same-time twin (equal timeStamp, other content: the tie-break decides),
a correction (a later snapshot changing an earlier play), all shuffled (arriving out of order). Records are small
(few plays) so that many micro-batches fit a test's time.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa

from tests.conftest import GAME_747175, load_envelope, snapshot
from tidemark.compile.plan import Plan, compile_mapping
from tidemark.mapping.loader import load_mapping
from tidemark.raw.base import RawRecord, record_from_response
from tidemark.sinks.base import Sink

MAPPING = "mlb:live_game"
T0 = datetime(2024, 7, 13, 3, 0, tzinfo=UTC)


def feed() -> dict[str, Any]:
    doc: dict[str, Any] = load_envelope(GAME_747175)["response"]
    doc["liveData"]["plays"]["allPlays"] = doc["liveData"]["plays"]["allPlays"][:14]
    return doc


def _record(doc: dict[str, Any], when: datetime) -> RawRecord:
    game = str(doc["gamePk"])
    url = f"https://statsapi.mlb.com/api/v1.1/game/{game}/feed/live"
    body = orjson.dumps(doc)
    return record_from_response("game", "liveGameV1", body, when, path_params={"game_pk": game}, url=url)


def _described(text: str, play: int) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        doc["liveData"]["plays"]["allPlays"][play]["result"]["description"] = text

    return edit


def _snap(base: dict[str, Any], plays: int, when: datetime, game_pk: int, edit: Any = None) -> RawRecord:
    """A snapshot of ``plays`` plays at ``when``; its scoring plays only those among them (foreign keys hold)."""
    doc = snapshot(base, plays=plays, timestamp=when.strftime("%Y%m%d_%H%M%S"), game_pk=game_pk, edit=edit)
    scoring = doc["liveData"]["plays"].get("scoringPlays", [])
    doc["liveData"]["plays"]["scoringPlays"] = [i for i in scoring if i < plays]
    return _record(doc, when)


def game_records(base: dict[str, Any], game_pk: int, start: datetime, *, plays: tuple[int, ...]) -> list[RawRecord]:
    """One game's snapshots: one per count of ``plays`` (a minute apart), a twin of the second, a correction."""
    out = [_snap(base, n, start + timedelta(minutes=i), game_pk) for i, n in enumerate(plays)]
    twin_at = start + timedelta(minutes=1)
    out.append(_snap(base, plays[1], twin_at, game_pk, _described("same time, other content", 0)))
    fixed_at = start + timedelta(minutes=len(plays))
    out.append(_snap(base, plays[-1], fixed_at, game_pk, _described("corrected later", 1)))
    return out


def wave(number: int, *, seed: int, games: int = 2, plays: tuple[int, ...] = (3, 6, 9, 12)) -> list[RawRecord]:
    """The records of wave ``number`` (new games each wave), shuffled: they arrive out of order."""
    base = feed()
    records: list[RawRecord] = []
    for g in range(games):
        start = T0 + timedelta(hours=number)
        records += game_records(base, 900_000 + number * 100 + g, start, plays=plays)
    random.Random(seed * 1000 + number).shuffle(records)
    return records


def corrupt_line(raw: Path) -> None:
    """A segment holding a line that is not a record (between two good ones) in a raw directory."""
    import gzip
    import time

    good = wave(7, seed=1, games=1, plays=(2, 3))[:2]
    lines = [_line(good[0]), b'{"fetched_at": "not a time", "content_hash": "x", "document": {}}\n', _line(good[1])]
    name = f"{time.time_ns() + 10**12:020d}-corrupt.ndjson.gz"
    (raw / "_segments").mkdir(parents=True, exist_ok=True)
    with gzip.open(raw / "_segments" / name, "wb") as fh:
        fh.writelines(lines)


def _line(record: RawRecord) -> bytes:
    head = orjson.dumps({"fetched_at": record.fetched_at.isoformat(), "content_hash": record.content_hash})
    return head[:-1] + b',"document":' + record.data + b"}\n"


def plan() -> Plan:
    return compile_mapping(load_mapping(MAPPING)[0])


def tables(sink: Sink, the_plan: Plan) -> dict[str, list[dict[str, Any]]]:
    """Every table of the plan as sorted rows (comparable between two stores of one kind)."""
    out = {}
    for t in the_plan.targets:
        rows: pa.Table = sink.read_table(t.spec)
        out[t.name] = sorted(rows.to_pylist(), key=lambda r: orjson.dumps(r, default=str, option=orjson.OPT_SORT_KEYS))
    return out
