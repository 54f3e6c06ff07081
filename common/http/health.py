"""``/salud`` (readiness of storage and RabbitMQ) and ``/salud/vivo`` (liveness)."""
from __future__ import annotations

import threading
import time
from typing import Callable

from flask import Flask, jsonify

Check = Callable[[], dict | None]


class CachedCheck:
    """Run an expensive check at most once per ``ttl`` seconds per process."""

    def __init__(self, check: Callable[[], None], ttl: float = 5.0):
        self.check = check
        self.ttl = ttl
        self._lock = threading.Lock()
        self._until = 0.0
        self._result: str | None = None

    def __call__(self) -> None:
        with self._lock:
            if time.monotonic() >= self._until:
                try:
                    self.check()
                    self._result = None
                except Exception as exc:  # noqa: BLE001 - reported, not raised
                    self._result = str(exc)
                self._until = time.monotonic() + self.ttl
            if self._result is not None:
                raise RuntimeError(self._result)


def init_health(app: Flask, service: str, checks: dict[str, Callable[[], dict | None]]) -> None:
    @app.get("/salud/vivo")
    def liveness():
        return jsonify({"servicio": service, "estado": "vivo"})

    @app.get("/salud")
    def readiness():
        results = {}
        ready = True
        for name, check in checks.items():
            try:
                extra = check() or {}
                results[name] = {"estado": "ok", **extra}
            except Exception as exc:  # noqa: BLE001
                ready = False
                results[name] = {"estado": "no disponible", "detalle": str(exc)[:300]}
        body = {"servicio": service, "estado": "listo" if ready else "no listo", "comprobaciones": results}
        return jsonify(body), 200 if ready else 503
