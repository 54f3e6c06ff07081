"""A small HTTP/1.1 load generator on asyncio streams (standard library only).

Why not wrk, locust or httpx: the machine has two cores shared by the system
under test and the load generator, so the generator must cost as little CPU
per request as possible and be installable by pip alone. wrk is cheaper but
is a Debian package and cannot follow an incident from one request to the
next (open, then poll until assigned); locust and httpx spend several times
more CPU per request than these hand-built requests. Here a request is one
pre-encoded bytes object and a response is parsed just enough to read the
status, the Content-Length and the connection header.

Keep-alive is used when the server keeps the connection (gunicorn's gthread
workers); gunicorn's sync workers close it after every answer, and the
client then reconnects, as any real client of a sync worker does.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterator

HOST = "127.0.0.1"


class HttpError(RuntimeError):
    pass


@dataclass
class Response:
    status: int
    body: bytes

    def json(self):
        return json.loads(self.body)


class Connection:
    """One HTTP/1.1 connection, reopened when the server closed it."""

    def __init__(self, port: int, host: str = HOST, timeout: float = 30.0):
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connects = 0
        self.head_at = 0.0  # perf_counter() when the last response's head had arrived

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.connects += 1

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> Response:
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                await self._open()
            try:
                self.writer.write(raw)
                return await asyncio.wait_for(self._read(), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                self.close()
                # A kept-alive connection the server dropped meanwhile: retry once, fresh.
                if fresh or attempt:
                    raise HttpError(f"connection failed: {exc!r}") from exc
            except asyncio.TimeoutError as exc:
                self.close()
                raise HttpError("timed out") from exc
        raise HttpError("unreachable")

    async def _read(self) -> Response:
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.head_at = time.perf_counter()
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        length, close, chunked = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"connection":
                close = value.strip().lower() == b"close"
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                parts.append(await self.reader.readexactly(size + 2))
            body = b"".join(p[:-2] for p in parts)
        else:
            body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return Response(status, body)


def build_request(method: str, path: str, port: int, token: str | None = None,
                  body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: keep-alive",
             "Accept: application/json"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


class Pool:
    """Connections to one port, handed out one request at a time."""

    def __init__(self, port: int, size: int):
        self.port = port
        self.size = size
        self.idle: list[Connection] = []
        self.created = 0
        self.available = asyncio.Semaphore(size)

    async def request(self, raw: bytes) -> Response:
        async with self.available:
            conn = self.idle.pop() if self.idle else Connection(self.port)
            try:
                return await conn.request(raw)
            finally:
                self.idle.append(conn)

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()

    @property
    def connects(self) -> int:
        return sum(c.connects for c in self.idle)


@dataclass
class Sample:
    """Latencies (seconds) of the answered requests, and what went wrong."""

    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    window: float = 0.0

    def add(self, status: int, latency: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        self.latencies.append(latency)

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def rate(self) -> float:
        return self.ok / self.window if self.window else 0.0


RequestFactory = Callable[[int], bytes]


async def closed_loop(port: int, factory: RequestFactory, concurrency: int, duration: float,
                      warmup: float = 2.0, max_requests: int = 1_000_000,
                      expect: int | None = None) -> Sample:
    """``concurrency`` users, each sending its next request as soon as the
    previous one is answered, for ``warmup + duration`` seconds; only the
    requests started and finished inside the measured window count."""
    sample = Sample()
    counter = itertools.count()
    start = time.perf_counter()
    measure_from, until = start + warmup, start + warmup + duration

    async def user() -> None:
        conn = Connection(port)
        try:
            while True:
                n = next(counter)
                sent = time.perf_counter()
                if sent >= until or n >= max_requests:
                    return
                try:
                    response = await conn.request(factory(n))
                except HttpError:
                    sample.errors += 1
                    continue
                done = time.perf_counter()
                if sent >= measure_from and done <= until:
                    sample.add(response.status, done - sent)
                    if expect is not None and response.status != expect and sample.errors < 3:
                        print(f"    unexpected {response.status}: {response.body[:300]!r}")
        finally:
            conn.close()

    await asyncio.gather(*(user() for _ in range(concurrency)))
    sample.window = until - measure_from
    return sample


async def open_loop(rate: float, duration: float, job: Callable[[int, float], Awaitable[None]],
                    max_in_flight: int = 256) -> tuple[int, int]:
    """Start ``job(n, scheduled_at)`` at a constant ``rate`` per second for
    ``duration`` seconds, whatever the previous jobs' progress (so a slow
    system is not given a slower arrival rate). Returns (started, skipped):
    a job is skipped when ``max_in_flight`` are already running."""
    interval = 1.0 / rate
    total = int(rate * duration)
    start = time.perf_counter()
    tasks: set[asyncio.Task] = set()
    skipped = 0
    for n in range(total):
        at = start + n * interval
        delay = at - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= max_in_flight:
            skipped += 1
            continue
        task = asyncio.create_task(job(n, at))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
    return total - skipped, skipped


def round_robin(items: list) -> Iterator:
    return itertools.cycle(items)
