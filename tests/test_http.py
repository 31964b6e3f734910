"""The HTTP layer against an httpx MockTransport "server" and a manual clock: which failures are retried and how
long is waited (never for real), the rate limit, and recording then replaying."""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from tidemark.domains.mlb.client import StatsApiClient
from tidemark.http import (
    HttpStatusError,
    InvalidResponseError,
    ManualClock,
    NoRecordingError,
    RateLimiter,
    RetriesExhaustedError,
    RetryPolicy,
    parse_retry_after,
)

Handler = Callable[[httpx.Request], httpx.Response]


def server(responses: list[httpx.Response | Exception]) -> tuple[httpx.MockTransport, list[httpx.Request]]:
    """A mock server answering the given responses in order (the last one repeating), logging every request."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = responses[min(len(seen), len(responses)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.MockTransport(handle), seen


def client(transport: httpx.BaseTransport, clock: ManualClock, **options: object) -> StatsApiClient:
    options.setdefault("rate", 1000.0)
    options.setdefault("retry", RetryPolicy(attempts=4, rng=random.Random(7)))
    return StatsApiClient(transport=transport, clock=clock, **options)  # type: ignore[arg-type]


def test_404_is_not_retried_and_names_the_url() -> None:
    transport, seen = server([httpx.Response(404, json={"message": "Object not found"})])
    clock = ManualClock()
    with client(transport, clock) as api, pytest.raises(HttpStatusError) as caught:
        api.fetch("live_game", {"gamePk": 1})
    assert len(seen) == 1
    assert clock.sleeps == []
    assert caught.value.status == 404
    assert "https://statsapi.mlb.com/api/v1.1/game/1/feed/live" in str(caught.value)
    assert "404" in str(caught.value) and "not retried" in str(caught.value)
    assert api.stats.failures == 1 and api.stats.retries == 0


def test_503_is_retried_with_backoff_then_given_up() -> None:
    transport, seen = server([httpx.Response(503, text="Service Unavailable")])
    clock = ManualClock()
    policy = RetryPolicy(attempts=4, base_delay=1.0, max_delay=30.0, rng=random.Random(3))
    with client(transport, clock, retry=policy) as api, pytest.raises(RetriesExhaustedError) as caught:
        api.fetch("schedule", {"date": "2024-10-27"})
    assert len(seen) == 4
    assert caught.value.attempts == 4
    assert "failed 4 times" in str(caught.value) and "HTTP 503" in str(caught.value)
    assert "https://statsapi.mlb.com/api/v1/schedule?sportId=1&date=2024-10-27" in str(caught.value)
    # three waits, each in [d/2, d] for d = 1, 2, 4 (exponential backoff with jitter)
    assert len(clock.sleeps) == 3
    for wait, full in zip(clock.sleeps, [1.0, 2.0, 4.0], strict=True):
        assert full / 2 <= wait <= full
    assert api.stats.retries == 3 and api.stats.requests == 4


def test_a_5xx_then_success_returns_the_success() -> None:
    transport, seen = server([httpx.Response(502), httpx.Response(200, json={"dates": []})])
    clock = ManualClock()
    with client(transport, clock) as api:
        response = api.fetch("schedule", {"date": "2024-10-27"})
    assert len(seen) == 2 and response.status_code == 200 and response.attempts == 2
    assert response.json() == {"dates": []}


def test_timeouts_and_connection_errors_are_retried() -> None:
    transport, seen = server(
        [httpx.ConnectTimeout("slow"), httpx.ConnectError("refused"), httpx.Response(200, json={"ok": 1})]
    )
    with client(transport, ManualClock()) as api:
        assert api.fetch("teams", {"teamId": 147}).json() == {"ok": 1}
    assert len(seen) == 3


def test_429_honours_retry_after_seconds_and_http_dates() -> None:
    clock = ManualClock()
    later = clock.now() + timedelta(seconds=42)
    transport, seen = server(
        [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(429, headers={"Retry-After": format_datetime(later, usegmt=True)}),
            httpx.Response(200, json={"ok": True}),
        ]
    )
    with client(transport, clock) as api:
        assert api.fetch("teams", {"teamId": 147}).status_code == 200
    assert len(seen) == 3
    assert clock.sleeps == [7.0, pytest.approx(42.0 - 7.0)]


def test_retry_after_parsing() -> None:
    now = datetime(2024, 10, 27, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Sun, 27 Oct 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Sun, 27 Oct 2024 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_rate_limit_spaces_requests_on_the_clock() -> None:
    transport, seen = server([httpx.Response(200, json={})])
    clock = ManualClock()
    requests = 11
    with client(transport, clock, rate=2.0) as api:
        for pk in range(requests):
            api.fetch("live_game", {"gamePk": pk})
    assert len(seen) == requests
    assert clock.monotonic() >= (requests - 1) / 2.0


def test_rate_limit_holds_across_threads() -> None:
    transport, seen = server([httpx.Response(200, json={})])
    clock = ManualClock()
    requests = 12
    with client(transport, clock, rate=4.0, concurrency=4) as api:
        outcomes = list(api.fetch_many(api.prepare("boxscore", {"gamePk": pk}) for pk in range(requests)))
    assert len(outcomes) == len(seen) == requests
    assert all(outcome.error is None for outcome in outcomes)
    assert clock.monotonic() >= (requests - 1) / 4.0


def test_rate_limiter_burst() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1.0, clock, burst=3)
    waits = [limiter.acquire() for _ in range(5)]
    assert waits == [0.0, 0.0, 0.0, 1.0, 1.0]


def test_fetch_many_reports_failures_per_request_and_goes_on() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404) if request.url.path.endswith("/2/boxscore") else httpx.Response(200, json={})

    with client(httpx.MockTransport(handle), ManualClock()) as api:
        outcomes = list(api.fetch_many(api.prepare("boxscore", {"gamePk": pk}) for pk in range(1, 6)))
    failed = [o.item.key.describe() for o in outcomes if o.error is not None]
    assert len(outcomes) == 5 and failed == ["game/boxscore (game_pk=2)"]


def test_a_body_that_is_not_json_is_a_clear_error() -> None:
    transport, _ = server([httpx.Response(200, text="<html>maintenance</html>")])
    with client(transport, ManualClock()) as api, pytest.raises(InvalidResponseError, match="not JSON"):
        api.fetch("teams", {"teamId": 147})


def test_user_agent_names_tidemark_and_its_version() -> None:
    transport, seen = server([httpx.Response(200, json={})])
    with client(transport, ManualClock()) as api:
        api.fetch("teams", {"teamId": 147})
    import tidemark

    assert seen[0].headers["User-Agent"].startswith(f"tidemark/{tidemark.__version__} ")


def test_fetched_at_is_when_the_response_arrived_on_the_clock() -> None:
    clock = ManualClock(datetime(2024, 7, 13, 4, 19, tzinfo=UTC))
    transport, _ = server([httpx.Response(503), httpx.Response(200, json={})])
    policy = RetryPolicy(attempts=2, base_delay=4.0, rng=random.Random(1))
    with client(transport, clock, retry=policy) as api:
        response = api.fetch("teams", {"teamId": 147})
    assert response.fetched_at == datetime(2024, 7, 13, 4, 19, tzinfo=UTC) + timedelta(seconds=clock.sleeps[0])
    assert json.loads(response.envelope)["fetched_at"] == response.fetched_at.isoformat()


def test_record_then_replay_gives_the_same_documents(tmp_path: Path) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/missing/boxscore"):
            return httpx.Response(404, json={"message": "no"})
        return httpx.Response(200, json={"path": request.url.path, "query": str(request.url.query, "ascii")})

    record = tmp_path / "rec"
    requests = [
        ("live_game", {"gamePk": 747175}),
        ("live_game", {"gamePk": 747175, "timecode": "20241027_000000"}),
        ("schedule", {"startDate": "2024-07-01", "endDate": "2024-07-07"}),
        ("roster", {"teamId": 147, "season": 2024}),
        ("game_changes", {"updatedSince": "2024-10-27T12:00:00+00:00"}),
    ]
    with client(httpx.MockTransport(handle), ManualClock(), record=record) as api:
        recorded = [api.fetch(name, params) for name, params in requests]
    files = sorted(p.relative_to(record).as_posix() for p in record.rglob("*.json.gz"))
    assert len(files) == len(requests)
    assert "game/liveGameV1/liveGameV1_game_pk=747175_" in files[1]
    envelope = json.loads(gzip.decompress((record / files[1]).read_bytes()))
    assert envelope["path_params"] == {"game_pk": "747175"} and envelope["status_code"] == 200
    with StatsApiClient(replay=record, clock=ManualClock()) as replay:
        replayed = [replay.fetch(name, params) for name, params in requests]
        with pytest.raises(NoRecordingError, match=r"--record .*rec"):
            replay.fetch("live_game", {"gamePk": 1})
    assert [r.json() for r in replayed] == [r.json() for r in recorded]
    assert [r.url for r in replayed] == [r.url for r in recorded]


def test_recording_a_request_twice_makes_a_sequence_that_replays_in_order(tmp_path: Path) -> None:
    transport, _ = server([httpx.Response(200, json={"n": n}) for n in range(3)])
    with client(transport, ManualClock(), record=tmp_path) as api:
        for _ in range(3):
            api.fetch("live_game", {"gamePk": 5})
    folder = tmp_path / "game" / "liveGameV1"
    [sequence] = [p for p in folder.iterdir() if p.is_dir()]
    assert sorted(p.name for p in sequence.iterdir()) == ["000001.json.gz", "000002.json.gz", "000003.json.gz"]
    assert [p for p in folder.iterdir() if p.is_file()] == []
    with StatsApiClient(replay=tmp_path) as replay:
        assert [replay.fetch("live_game", {"gamePk": 5}).json() for _ in range(4)] == [
            {"n": 0},
            {"n": 1},
            {"n": 2},
            {"n": 2},
        ]


def test_recorded_errors_replay_as_errors(tmp_path: Path) -> None:
    transport, _ = server([httpx.Response(404, text="Not Found")])
    with client(transport, ManualClock(), record=tmp_path) as api, pytest.raises(HttpStatusError):
        api.fetch("person", {"personId": 1})
    with StatsApiClient(replay=tmp_path) as replay, pytest.raises(HttpStatusError, match="404"):
        replay.fetch("person", {"personId": 1})
