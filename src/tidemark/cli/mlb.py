"""``tidemark ingest`` / ``backfill`` / ``live``: MLB Stats API documents into a raw store, then into a sink.

The work is in :mod:`tidemark.domains.mlb.client` (fetching, what is stored, polling); the tables are written by
a stream over the raw store's records of the mapping's endpoint (:mod:`tidemark.domains.mlb.load`: checkpointed,
so a killed backfill resumes where its load stopped).
This module parses flags, draws progress (a Rich bar with ETA on a terminal, nothing otherwise) and prints
summaries.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tidemark.cli.mlb_render import (
    err,
    log,
    out,
    print_backfill,
    print_live,
    print_load,
    print_routed_streams,
    progress,
)
from tidemark.cli.observing import LineageOpt, MetricsOpt, MetricsPortOpt, load_observers
from tidemark.domains.mlb.load import loader, stream_loader
from tidemark.errors import ConfigError

if TYPE_CHECKING:
    from tidemark.domains.mlb.client import StatsApiClient
    from tidemark.http.clock import Clock


RawOpt = Annotated[str, typer.Option("--raw", help="The raw store: a directory, duckdb:FILE or postgresql://...")]
ReplayOpt = Annotated[
    Path | None, typer.Option("--replay", help="Answer requests from recorded responses (no network).")
]
RecordOpt = Annotated[Path | None, typer.Option("--record", help="Save every response into this directory.")]
RateOpt = Annotated[float | None, typer.Option("--rate", help="Requests per second (default 5; replay: no limit).")]
ConcurrencyOpt = Annotated[int, typer.Option("--concurrency", help="Requests in flight at most.")]
MappingOpt = Annotated[
    str | None,
    typer.Option("--mapping", "-m", help="Load into the sink with this mapping (mlb:* for every endpoint fetched)."),
]
SinkOpt = Annotated[str | None, typer.Option("--sink", "-s", help="Where the tables go, e.g. duckdb:mlb.duckdb.")]
EngineOpt = Annotated[str, typer.Option("--engine", "-e", help="The engine that runs the mapping.")]
BatchOpt = Annotated[int, typer.Option("--batch-documents", help="Records per micro-batch of the load.")]


def register(app: typer.Typer) -> None:
    """Add the commands to the ``tidemark`` app (one line in cli/main.py)."""
    app.command("ingest")(ingest_cmd)
    app.command("backfill")(backfill_cmd)
    app.command("live")(live_cmd)
    app.command("mappings")(mappings_cmd)


def mappings_cmd(
    as_json: Annotated[bool, typer.Option("--json", help="Print the list as JSON.")] = False,
) -> None:
    """List the built-in mappings: name, the documents each reads (envelope endpoint/method) and its tables.
    ``--mapping mlb:*`` in ``tidemark run`` sends every document to the one that reads it."""
    import json

    from rich.table import Table

    from tidemark.cli.render import print_whole
    from tidemark.domains.mlb.routing import builtin_mappings

    found = builtin_mappings()
    if as_json:
        data = [{"mapping": name, "reads": reads, "tables": tables} for name, reads, tables in found]
        out.print_json(json.dumps(data))
        return
    grid = Table(title=f"{len(found)} built-in mappings (tidemark run --mapping NAME, or mlb:* for all)")
    for column in ("mapping", "reads (endpoint/method)", "tables"):
        grid.add_column(column)
    for name, reads, tables in found:
        grid.add_row(name, "\n".join(reads), "\n".join(tables))
    print_whole(out, grid)


def run_routed(source: Any, sink: str, *, as_json: bool, strict: bool, **options: Any) -> bool:
    """``tidemark run --mapping mlb:*``: every document to the mapping its envelope names; results per mapping,
    then the documents no mapping reads (on standard error). True when the runs went well (and, with
    ``strict``, every document was read by a mapping)."""
    import json

    from tidemark.cli.render import render_result
    from tidemark.domains.mlb.routing import run_all
    from tidemark.observe.redact import redact_data

    routed = run_all(source, sink, **options)
    if as_json:
        data = {
            "mappings": {name: result.as_dict() for name, result in routed.results.items()},
            "unrouted": {kind: {"documents": u.documents, "first": u.first} for kind, u in routed.unrouted.items()},
        }
        out.print_json(json.dumps(redact_data(json.loads(json.dumps(data, default=str)))))
    else:
        for name, result in routed.results.items():
            out.print(f"{name}:")
            render_result(out, result)
        if not routed.results:
            out.print("no document of a known endpoint: nothing loaded")
    for kind, unrouted in routed.unrouted.items():
        err.print(
            f"not loaded: {unrouted.documents:,} documents of {kind} (no built-in mapping reads them; "
            f"the first: {unrouted.first}); see `tidemark mappings`"
        )
    return routed.ok and not (strict and routed.unrouted)


def ingest_cmd(
    endpoint: Annotated[str, typer.Argument(help="The endpoint, e.g. mlb:schedule or mlb:live_game.")],
    raw: RawOpt,
    params: Annotated[list[str] | None, typer.Argument(help="PARAM=VALUE ..., e.g. gamePk=747175.")] = None,
    replay: ReplayOpt = None,
    record: RecordOpt = None,
    rate: RateOpt = None,
) -> None:
    """Fetch one MLB Stats API document and append it to the raw store (an identical one counts as duplicate)."""
    from tidemark.domains.mlb.client import ingest
    from tidemark.raw import open_raw

    name = _endpoint_name(endpoint)
    values = _params(params or [])
    with _client(replay, record, rate, 1) as api, open_raw(raw, create=True) as store:
        request = api.prepare(name, values)
        summary = ingest(api, [request], store)
        display = store.display
    for failure in summary.failures:
        err.print(f"error: {failure}")
    out.print(
        f"{display}: {summary.appended} appended, {summary.duplicates} duplicates "
        f"(GET {request.full_url}, {summary.bytes:,} bytes)"
    )
    if summary.failures:
        raise typer.Exit(1)


def backfill_cmd(
    raw: RawOpt,
    season: Annotated[
        int | None, typer.Option("--season", help="The season, e.g. 2024 (its dates: one request).")
    ] = None,
    game_types: Annotated[
        str | None, typer.Option("--game-types", help="Comma list: R regular season, F,D,L,W postseason, S spring.")
    ] = None,
    start: Annotated[str | None, typer.Option("--start", help="First date (YYYY-MM-DD).")] = None,
    end: Annotated[str | None, typer.Option("--end", help="Last date (YYYY-MM-DD).")] = None,
    mapping: MappingOpt = None,
    sink: SinkOpt = None,
    with_: Annotated[
        str | None, typer.Option("--with", help="Also fetch: boxscore,people,teams (each person / team once).")
    ] = None,
    replay: ReplayOpt = None,
    record: RecordOpt = None,
    rate: RateOpt = None,
    concurrency: ConcurrencyOpt = 4,
    people_batch: Annotated[int, typer.Option(help="People asked for in one request.")] = 50,
    engine: EngineOpt = "local",
    batch_documents: BatchOpt = 64,
    metrics: MetricsOpt = None,
    lineage: LineageOpt = None,
) -> None:
    """Fetch the final feed of every game of a season or date range into the raw store (resumable), then load it
    into the sink when --mapping and --sink are given."""
    from tidemark.domains.mlb.client.backfill import Backfill, backfill
    from tidemark.raw import open_raw

    _mapping_and_sink(mapping, sink)
    settings = Backfill(
        season=season,
        start=_date(start, "--start"),
        end=_date(end, "--end"),
        game_types=_list(game_types),
        related=_list(with_),
        people_batch=people_batch,
    )
    with _client(replay, record, rate, concurrency) as api, open_raw(raw, create=True) as store:
        with progress() as reporter:
            summary = backfill(api, store, settings, reporter)
        print_backfill(summary, api.stats, store.display)
        if mapping is not None and sink is not None:
            watch = load_observers("backfill", mapping, store, sink, metrics=metrics, lineage=lineage)
            with watch.watching():
                load = loader(mapping, store, sink, engine=engine, batch_documents=batch_documents, reporter=watch)
                result = load()
            print_load(result)
    if not summary.ok:
        raise typer.Exit(1)


def live_cmd(
    raw: RawOpt,
    mapping: Annotated[
        str, typer.Option("--mapping", "-m", help="The mapping, e.g. mlb:live_game (mlb:* for every endpoint).")
    ],
    sink: Annotated[str, typer.Option("--sink", "-s", help="Where the tables go, e.g. duckdb:mlb.duckdb.")],
    day: Annotated[str | None, typer.Option("--date", help="The day (YYYY-MM-DD; default: today in New York).")] = None,
    min_interval: Annotated[float, typer.Option(help="Seconds between polls of a game, at least.")] = 5.0,
    max_interval: Annotated[float, typer.Option(help="Seconds between polls of a game, at most.")] = 60.0,
    replay: ReplayOpt = None,
    record: RecordOpt = None,
    rate: RateOpt = None,
    concurrency: ConcurrencyOpt = 4,
    engine: EngineOpt = "local",
    batch_documents: BatchOpt = 64,
    max_polls: Annotated[
        int | None, typer.Option("--max-polls", help="Stop after this many feed polls (default: when games end).")
    ] = None,
    replay_clock: Annotated[
        str | None,
        typer.Option(
            "--replay-clock",
            help="With --replay: a simulated clock starting at this UTC time (e.g. 2024-07-13T01:20:00Z); "
            "intervals pass without waiting.",
        ),
    ] = None,
    metrics: MetricsOpt = None,
    metrics_port: MetricsPortOpt = None,
    lineage: LineageOpt = None,
) -> None:
    """Follow the games of a day: poll each game in progress at the interval its feed asks, append each new
    snapshot to the raw store and load it into the sink at once; exit when every game is over (SIGTERM stops
    cleanly)."""
    from tidemark.domains.mlb.client.live import LiveOptions, live
    from tidemark.raw import open_raw

    options = LiveOptions(min_interval=min_interval, max_interval=max_interval, max_polls=max_polls)
    when = _date(day, "--date") or today_in_new_york()
    stop = threading.Event()
    clock = _replay_clock(replay_clock, replay)
    with (
        _client(replay, record, rate, concurrency, clock) as api,
        open_raw(raw, create=True) as store,
        _on_sigterm(stop),
    ):
        watch = load_observers("live", mapping, store, sink, metrics=metrics, port=metrics_port, lineage=lineage)
        load = loader(mapping, store, sink, engine=engine, batch_documents=batch_documents, reporter=watch)
        with watch.watching():
            summary = live(api, store, when, load=load, options=options, stop=stop, log=log)
        print_live(summary, api.stats, store.display)


def _client(
    replay: Path | None, record: Path | None, rate: float | None, concurrency: int, clock: Clock | None = None
) -> StatsApiClient:
    from tidemark.domains.mlb.client import StatsApiClient

    return StatsApiClient(replay=replay, record=record, rate=rate, concurrency=concurrency, clock=clock)


def _replay_clock(start: str | None, replay: Path | None) -> Clock | None:
    """``--replay-clock``: a manual clock (time moves only by the waits the poller asks for) for a replayed day."""
    if start is None:
        return None
    if replay is None:
        raise ConfigError("--replay-clock simulates time for a replayed day: give --replay DIR too")
    try:
        when = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"--replay-clock {start!r}: give a UTC time, e.g. 2024-07-13T01:20:00Z") from None
    from tidemark.http import ManualClock

    return ManualClock(when if when.tzinfo else when.replace(tzinfo=UTC))


def _endpoint_name(endpoint: str) -> str:
    scheme, sep, name = endpoint.partition(":")
    if sep and scheme != "mlb":
        raise ConfigError(f"unknown API {scheme!r} in {endpoint!r}: endpoints are mlb:NAME, e.g. mlb:schedule")
    return name if sep else endpoint


def _params(items: list[str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{item!r}: give parameters as NAME=VALUE, e.g. gamePk=747175")
        values[key] = value
    return values


def _list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _date(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: give a date as YYYY-MM-DD") from None


def _mapping_and_sink(mapping: str | None, sink: str | None) -> None:
    if (mapping is None) != (sink is None):
        raise ConfigError("give --mapping and --sink together (e.g. -m mlb:live_game -s duckdb:mlb.duckdb), or neither")


def today_in_new_york() -> date:
    """The baseball day: the date in New York (a game at 10 pm in California is still that day)."""
    try:
        from zoneinfo import ZoneInfo

        return datetime.now(ZoneInfo("America/New_York")).date()
    except Exception:  # no time zone database: UTC minus 4 hours is New York in season
        from datetime import timedelta

        return (datetime.now(UTC) - timedelta(hours=4)).date()


@contextmanager
def _on_sigterm(stop: threading.Event) -> Iterator[None]:
    """SIGTERM sets ``stop``: the round in progress (and its load) finishes, then the command ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    before = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


__all__ = ["print_routed_streams", "register", "stream_loader", "today_in_new_york"]
