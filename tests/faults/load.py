"""Writes a fault run attempts, and customers opening incidents at a steady
rate while a fault goes on.

Every write carries a marker of its own (for an incident: in its
``descripcion``, and as its Idempotency-Key; for a comment: in its text), so
the checker can find afterwards whether a write that was refused or never
answered happened after all."""
from __future__ import annotations

import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from harness import Account, Driver, incidencia_body

OPEN, COMMENT, TRANSITION = "abrir", "comentar", "transicion"


def new_marker() -> str:
    """A marker no other write of any run carries (valid as an Idempotency-Key)."""
    return f"faults-{uuid.uuid4().hex}"


def marked(text: str, marker: str) -> str:
    """``text`` carrying ``marker``, where the checker looks for it."""
    return f"{text} [{marker}]"


_MARKED = re.compile(r"\[([^\[\]]+)\]$")


def marker_of(text: str) -> str | None:
    """The marker ``marked`` put in ``text``, if any."""
    found = _MARKED.search(text or "")
    return found.group(1) if found else None


@dataclass
class Attempt:
    started: float
    latency: float
    status: int | None  # None: no answer (timed out, connection cut)
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Write:
    """One write a client wants made (one marker, one Idempotency-Key if any)
    and every attempt at it: a retry is another attempt of the same write.

    ``kind`` is OPEN (POST /incidencias: ``incidencia_id`` is the answer's
    id), COMMENT (on ``incidencia_id``) or TRANSITION (of ``incidencia_id``
    to ``estado``)."""

    kind: str
    marker: str
    key: str | None = None
    cliente: Account | None = None
    incidencia_id: str | None = None
    estado: str | None = None
    scheduled: float = 0.0
    n: int = 0
    attempts: list[Attempt] = field(default_factory=list)
    answered_ids: list[str] = field(default_factory=list)  # ids in the 2xx answers of an OPEN

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def acknowledged(self) -> bool:
        """Some attempt was answered with success: the client was told it happened."""
        return any(a.acknowledged for a in self.attempts)

    def record(self, started: float, response: httpx.Response | None = None,
               error: BaseException | None = None) -> Attempt:
        if response is None:
            attempt = Attempt(started, time.monotonic() - started, None, f"{type(error).__name__}: {error}")
        else:
            attempt = Attempt(started, time.monotonic() - started, response.status_code)
            if self.kind == OPEN and attempt.acknowledged:
                incidencia_id = response.json()["id"]
                self.answered_ids.append(incidencia_id)
                self.incidencia_id = self.incidencia_id or incidencia_id
        self.attempts.append(attempt)
        return attempt


def load_body(categoria: str, n: int, marker: str) -> dict:
    """The body of the ``n``-th incident of a load (numbered, to tell them apart in a log)."""
    return incidencia_body(categoria, titulo=f"Fallo {n}: llegó roto",
                           descripcion=marked("Prueba bajo fallos", marker),
                           producto={"referencia": f"SKU-{n}", "nombre": "Lámpara"}, prioridad="media")


class Load:
    """Customers opening incidents at a steady rate: bounded in count and in
    time, only against 127.0.0.1. With ``retry_for`` a request that got no
    answer (or a 5xx) is retried with the same Idempotency-Key."""

    def __init__(self, api: Driver, clientes: list[Account], categoria: str, *, rate: float, duration: float,
                 max_requests: int, timeout: float = 10.0, retry_for: float = 0.0, concurrency: int = 8):
        assert api.urls["apertura"].startswith("http://127.0.0.1:")
        self.url = api.url("apertura", "/incidencias")
        self.clientes = clientes
        self.categoria = categoria
        self.rate = rate
        self.duration = duration
        self.max_requests = max_requests
        self.timeout = timeout
        self.retry_for = retry_for
        self.requests: list[Write] = []
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load")
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=concurrency))
        self._stopping = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "Load":
        self._scheduler = threading.Thread(target=self._schedule, name="load-scheduler", daemon=True)
        self._scheduler.start()
        return self

    def _schedule(self) -> None:
        start = time.monotonic()
        for n in range(self.max_requests):
            due = start + n / self.rate
            if due - start > self.duration or self._stopping.is_set():
                break
            delay = due - time.monotonic()
            if delay > 0 and self._stopping.wait(delay):  # pacing the steady rate
                break
            marker = new_marker()
            request = Write(OPEN, marker, key=marker, cliente=self.clientes[n % len(self.clientes)], scheduled=due,
                            n=n)
            with self._lock:
                self.requests.append(request)
            self._pool.submit(self._send, request)

    def _send(self, request: Write) -> None:
        deadline = time.monotonic() + self.retry_for
        body = load_body(self.categoria, request.n, request.marker)
        while True:
            started = time.monotonic()
            try:
                response = self._http.post(self.url, json=body, headers={
                    "Authorization": f"Bearer {request.cliente.token}", "Idempotency-Key": request.key})
                attempt = request.record(started, response)
            except httpx.HTTPError as exc:
                attempt = request.record(started, error=exc)
            retryable = attempt.status is None or attempt.status >= 500
            if attempt.acknowledged or not retryable or time.monotonic() >= deadline:
                return
            time.sleep(0.05)  # pacing the retries of one request

    def join(self, timeout: float = 120.0) -> list[Write]:
        if self._scheduler is not None:
            self._scheduler.join(timeout)
        self._pool.shutdown(wait=True)
        self._http.close()
        return list(self.requests)

    def stop(self) -> None:
        self._stopping.set()

    def run(self, timeout: float = 120.0) -> list[Write]:
        return self.start().join(timeout)
