"""Customers opening incidents at a steady rate while a fault goes on."""
from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx

from harness import Account, Driver, incidencia_body


@dataclass
class Attempt:
    started: float
    latency: float
    status: int | None
    error: str | None = None


@dataclass
class Request:
    """One incident a customer wants opened: one Idempotency-Key, one or more attempts."""

    n: int
    key: str
    cliente: Account
    scheduled: float
    attempts: list[Attempt] = field(default_factory=list)
    incidencia_id: str | None = None

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def answered(self) -> bool:
        return self.status == 201


def load_body(categoria: str, n: int) -> dict:
    """The body of the ``n``-th incident of a load (numbered, to tell them apart in a log)."""
    return incidencia_body(categoria, titulo=f"Fallo {n}: llegó roto", descripcion="Prueba bajo fallos",
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
        self.requests: list[Request] = []
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
            request = Request(n, f"faults-{uuid.uuid4().hex}", self.clientes[n % len(self.clientes)], due)
            with self._lock:
                self.requests.append(request)
            self._pool.submit(self._send, request)

    def _send(self, request: Request) -> None:
        deadline = time.monotonic() + self.retry_for
        body = load_body(self.categoria, request.n)
        while True:
            started = time.monotonic()
            try:
                response = self._http.post(self.url, json=body, headers={
                    "Authorization": f"Bearer {request.cliente.token}", "Idempotency-Key": request.key})
                attempt = Attempt(started, time.monotonic() - started, response.status_code)
                if response.status_code == 201:
                    request.incidencia_id = response.json()["id"]
            except httpx.HTTPError as exc:
                attempt = Attempt(started, time.monotonic() - started, None, f"{type(exc).__name__}: {exc}")
            request.attempts.append(attempt)
            retryable = attempt.status is None or attempt.status >= 500
            if attempt.status == 201 or not retryable or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def join(self, timeout: float = 120.0) -> list[Request]:
        if self._scheduler is not None:
            self._scheduler.join(timeout)
        self._pool.shutdown(wait=True)
        self._http.close()
        return list(self.requests)

    def stop(self) -> None:
        self._stopping.set()

    def run(self, timeout: float = 120.0) -> list[Request]:
        return self.start().join(timeout)
