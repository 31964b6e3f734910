"""One HTTP client for fetching JSON documents politely: shared connections, a rate limit, retries, timeouts.

:class:`Fetcher` wraps one ``httpx.Client`` (a connection pool reused by every request; safe to share between
threads) and adds, per request: a slot from the global :class:`~tidemark.http.ratelimit.RateLimiter` before every
attempt (retries included), the :class:`~tidemark.http.retry.RetryPolicy` (backoff and jitter on timeouts,
connection errors, 429 and 5xx; any other 4xx raises :class:`~tidemark.http.errors.HttpStatusError` at once,
naming the URL), and ``fetched_at``: the clock's UTC time when the response arrived. Time comes from a
:class:`~tidemark.http.clock.Clock`, so tests run with a manual clock and never sleep.

Concurrency is the caller's: :meth:`Fetcher.get` is thread-safe, and :func:`fetch_concurrently` runs requests on a
bounded thread pool. (Threads rather than asyncio: the rest of tidemark is synchronous, the work is waiting on
sockets, and a pool of a few threads keeps every caller a plain function.)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

import httpx
import orjson

from tidemark.http.clock import Clock, SystemClock
from tidemark.http.errors import FetchError, HttpStatusError, InvalidResponseError, RetriesExhaustedError
from tidemark.http.ratelimit import RateLimiter
from tidemark.http.recording import RequestKey, envelope_bytes, key_extensions
from tidemark.http.retry import RetryPolicy, is_retryable_status


def user_agent() -> str:
    from tidemark import __version__

    return f"tidemark/{__version__} (+https://pypi.org/project/tidemark-etl/) httpx/{httpx.__version__}"


@dataclass(frozen=True)
class FetchedResponse:
    """One response: what was asked (``key``, ``url``), what came back, when, and after how many attempts."""

    key: RequestKey
    url: str
    status_code: int
    fetched_at: datetime
    body: bytes
    attempts: int = 1

    def json(self) -> object:
        return orjson.loads(self.body)

    @property
    def envelope(self) -> bytes:
        """The envelope's JSON bytes (the format of ``data/statsapi/``, with ``fetched_at``)."""
        return envelope_bytes(self.key, self.url, self.status_code, self.fetched_at.isoformat(), self.body)


@dataclass
class FetchStats:
    """Counters of a fetcher (thread-safe through :meth:`add`): what a summary shows."""

    requests: int = 0
    responses: int = 0
    retries: int = 0
    failures: int = 0
    bytes: int = 0

    def add(self, lock: threading.Lock, **counts: int) -> None:
        with lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)


class Fetcher:
    """GET JSON documents through ``transport`` (default: the network) with rate limit and retries."""

    def __init__(
        self,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Clock | None = None,
        rate: float | None = 5.0,
        burst: int = 1,
        retry: RetryPolicy | None = None,
        timeout: float = 30.0,
        connections: int = 8,
    ) -> None:
        self.clock = clock or SystemClock()
        self.limiter = RateLimiter(rate, self.clock, burst=burst) if rate is not None else None
        self.retry = retry or RetryPolicy()
        self.stats = FetchStats()
        self._lock = threading.Lock()
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        self.client = httpx.Client(
            transport=transport or httpx.HTTPTransport(limits=limits),
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            headers={"User-Agent": user_agent(), "Accept": "application/json"},
            follow_redirects=True,
        )

    def get(self, url: str, params: list[tuple[str, str]], key: RequestKey) -> FetchedResponse:
        """One document, retried as the policy says; raises a :class:`FetchError` naming the URL."""
        request = self.client.build_request("GET", url, params=tuple(params), extensions=key_extensions(key))
        shown = str(request.url)
        attempt = 0
        while True:
            attempt += 1
            response, problem = self._attempt(request)
            if response is not None and problem is None:
                return self._success(key, shown, response, attempt)
            if attempt >= self.retry.attempts:
                self.stats.add(self._lock, failures=1)
                raise RetriesExhaustedError(
                    f"GET {shown} failed {attempt} times, giving up: {problem}",
                    url=shown,
                    status=response.status_code if response is not None else None,
                    attempts=attempt,
                )
            retry_after = response.headers.get("Retry-After") if response is not None else None
            self.stats.add(self._lock, retries=1)
            self.clock.sleep(self.retry.delay(attempt, retry_after, self.clock.now()))

    def _attempt(self, request: httpx.Request) -> tuple[httpx.Response | None, str | None]:
        """Send once: (response, None) on success; (response or None, why) when worth retrying; raises else."""
        if self.limiter is not None:
            self.limiter.acquire()
        self.stats.add(self._lock, requests=1)
        try:
            response = self.client.send(request)
        except httpx.TimeoutException as exc:
            return None, f"timed out ({type(exc).__name__})"
        except httpx.TransportError as exc:
            return None, f"connection error ({type(exc).__name__}: {exc})"
        response.read()
        if response.is_success:
            return response, None
        if is_retryable_status(response.status_code):
            return response, f"HTTP {response.status_code} {response.reason_phrase}"
        self.stats.add(self._lock, failures=1)
        raise HttpStatusError(
            f"GET {request.url} answered HTTP {response.status_code} {response.reason_phrase} (not retried: "
            f"check the endpoint and its parameters): {_snippet(response.content)}",
            url=str(request.url),
            status=response.status_code,
        )

    def _success(self, key: RequestKey, url: str, response: httpx.Response, attempts: int) -> FetchedResponse:
        fetched_at = self.clock.now()
        body = response.content
        try:
            orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            self.stats.add(self._lock, failures=1)
            raise InvalidResponseError(
                f"GET {url} answered HTTP {response.status_code} with a body that is not JSON: {_snippet(body)}",
                url=url,
                status=response.status_code,
            ) from exc
        self.stats.add(self._lock, responses=1, bytes=len(body))
        return FetchedResponse(key, url, response.status_code, fetched_at, body, attempts)

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _snippet(body: bytes, limit: int = 200) -> str:
    text = body.decode("utf-8", "replace").strip().replace("\n", " ")
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"


T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Outcome(Generic[T, R]):
    """One request of a concurrent batch: the item asked for, and its result or the error it raised."""

    item: T
    result: R | None = None
    error: FetchError | None = None


def fetch_concurrently(items: Iterable[T], fetch: Callable[[T], R], *, concurrency: int = 4) -> Iterator[Outcome[T, R]]:
    """``fetch(item)`` for every item on at most ``concurrency`` threads, yielded as they complete.

    At most ``2 * concurrency`` requests are in flight or waiting to be consumed, so memory stays bounded however
    many items there are. A :class:`FetchError` is yielded as the item's ``error`` (the others go on); any other
    exception is a bug and propagates.
    """
    pending: set[Future[R]] = set()
    owners: dict[Future[R], T] = {}
    source = iter(items)
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="tidemark-fetch") as pool:
        while True:
            for item in source:
                future = pool.submit(fetch, item)
                pending.add(future)
                owners[future] = item
                if len(pending) >= 2 * concurrency:
                    break
            if not pending:
                return
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                item = owners.pop(future)
                error = future.exception()
                if isinstance(error, FetchError):
                    yield Outcome(item, error=error)
                elif error is not None:
                    raise error
                else:
                    yield Outcome(item, result=future.result())
