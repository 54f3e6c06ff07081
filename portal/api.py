"""HTTP to the four services: one pooled ``httpx.Client`` per process.

The application factory builds an ``ApiClient`` (gunicorn forks its workers
before it runs, so each worker gets its own pool of keep-alive connections).
Every call of a signed-in person carries that person's own bearer token, the
request's correlation id, and, for logins, the browser's address (the
services throttle failed logins per client address).

What a call can end in:

- an ``Answer``: the service answered (2xx, or a problem+json the page shows);
- ``ServiceUnavailable``: the service did not answer in time, refused the
  connection, or answered with a 5xx (503 while it cannot check tokens, say).
  The portal shows a 503 page naming it;
- ``SessionEnded``: a call made with a token got 401. The token expired, the
  account was deleted or deactivated, or its role changed: the session ends.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

import httpx

from common.http.problems import TYPE_BASE
from common.idempotency import KeyReused

log = logging.getLogger(__name__)


class ServiceUnavailable(Exception):
    """``service`` did not answer usably."""

    def __init__(self, service: str, reason: str):
        super().__init__(f"{service}: {reason}")
        self.service = service
        self.reason = reason


class SessionEnded(Exception):
    """A service refused the session's token (401)."""


@dataclass
class Problem:
    """A problem+json answer (RFC 9457) as the pages need it."""

    status: int
    title: str = ""
    detail: str = ""
    errores: list[dict[str, str]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None
    type: str = ""

    @property
    def key_reused(self) -> bool:
        """The services' 409 for an ``Idempotency-Key`` used already with
        another request (nothing was written), told by its problem type."""
        return self.status == 409 and self.type == f"{TYPE_BASE}{KeyReused.slug}"

    @classmethod
    def from_response(cls, status: int, body: Any, headers: Mapping[str, str]) -> "Problem":
        body = body if isinstance(body, dict) else {}
        errores = [e for e in body.get("errores") or [] if isinstance(e, dict)]
        known = {"type", "title", "status", "detail", "errores"}
        retry_after = headers.get("Retry-After")
        return cls(
            status=status, title=str(body.get("title") or ""), detail=str(body.get("detail") or ""),
            errores=errores, extra={k: v for k, v in body.items() if k not in known},
            retry_after=int(retry_after) if retry_after and retry_after.isdigit() else None,
            type=str(body.get("type") or ""),
        )


@dataclass
class Answer:
    """``data``: the JSON body (None when there is none, or it is not JSON);
    ``content``: the body as it came (a CSV export, say)."""

    status: int
    data: Any
    headers: Mapping[str, str]
    content: bytes = b""

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def problem(self) -> Problem:
        return Problem.from_response(self.status, self.data, self.headers)


class ApiClient:
    """The four services behind one connection pool (``urls``: name -> base URL)."""

    def __init__(self, urls: Mapping[str, str], timeout: float, transport: httpx.BaseTransport | None = None):
        self.urls = dict(urls)
        self.http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10, keepalive_expiry=30),
            transport=transport, follow_redirects=False,
        )

    def close(self) -> None:
        self.http.close()

    def call(self, service: str, method: str, path: str, *, token: str | None = None,
             json: Any = None, params: Mapping[str, Any] | None = None,
             headers: Mapping[str, str] | None = None) -> Answer:
        """One request to ``service``; see the module's docstring for what it ends in."""
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        query = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        try:
            response = self.http.request(method, f"{self.urls[service]}{path}", json=json, params=query,
                                         headers=sent)
        except httpx.TimeoutException as exc:
            log.warning("%s %s %s timed out: %s", service, method, path, exc)
            raise ServiceUnavailable(service, "timeout") from exc
        except httpx.TransportError as exc:
            log.warning("%s %s %s failed: %s", service, method, path, exc)
            raise ServiceUnavailable(service, type(exc).__name__) from exc
        if response.status_code >= 500:
            log.warning("%s %s %s answered %s", service, method, path, response.status_code)
            raise ServiceUnavailable(service, f"HTTP {response.status_code}")
        if response.status_code == 401 and token:
            raise SessionEnded()
        try:
            data = response.json() if response.content else None
        except ValueError:
            data = None
        return Answer(response.status_code, data, response.headers, response.content)

    def alive(self, service: str) -> bool:
        """Whether ``service`` answers its liveness check."""
        try:
            return self.http.get(f"{self.urls[service]}/salud/vivo").status_code == 200
        except httpx.HTTPError:
            return False
