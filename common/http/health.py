"""``/salud`` (readiness: the storage takes a write now, ``Store.ping``, and
RabbitMQ answers) and ``/salud/vivo`` (liveness)."""
from __future__ import annotations

import threading
import time
from typing import Callable

import marshmallow as ma
from flask_smorest import Blueprint

from .schemas import AnswerSchema, one_of

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


CHECK_OK, CHECK_DOWN = "ok", "no disponible"
"""What each readiness check reports."""
ALIVE, READY, NOT_READY = "vivo", "listo", "no listo"
"""What liveness and readiness answer as a whole."""


class CheckSchema(AnswerSchema):
    estado = one_of([CHECK_OK, CHECK_DOWN])
    detalle = ma.fields.String(metadata={"sometimes": True, "description": "Why it is not available"})
    tipo = ma.fields.String(metadata={"sometimes": True, "description": "storage kind: sqlite or mongodb"})
    eventos_pendientes = ma.fields.Integer(metadata={"sometimes": True,
                                                     "description": "events not yet published (up to 1000)"})


class HealthSchema(AnswerSchema):
    servicio = ma.fields.String()
    estado = one_of([ALIVE, READY, NOT_READY])
    comprobaciones = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(CheckSchema),
                                    metadata={"sometimes": True, "description": "Readiness only: each check"})


def health_blueprint(service: str, checks: dict[str, Callable[[], dict | None]]) -> Blueprint:
    blp = Blueprint("salud", __name__, description="Liveness and readiness")

    @blp.get("/salud/vivo")
    @blp.doc(operationId="comprobarVida")
    @blp.response(200, HealthSchema)
    def liveness():
        """Liveness: 200 while the process answers"""
        return {"servicio": service, "estado": ALIVE}

    @blp.get("/salud")
    @blp.doc(operationId="comprobarDisponibilidad")
    @blp.response(200, HealthSchema)
    @blp.alt_response(503, schema=HealthSchema, description="Storage or RabbitMQ not ready")
    def readiness():
        """Readiness of the storage and of RabbitMQ (503 when either is not ready)"""
        results = {}
        ready = True
        for name, check in checks.items():
            try:
                extra = check() or {}
                results[name] = {"estado": CHECK_OK, **extra}
            except Exception as exc:  # noqa: BLE001
                ready = False
                results[name] = {"estado": CHECK_DOWN, "detalle": str(exc)[:300]}
        body = {"servicio": service, "estado": READY if ready else NOT_READY, "comprobaciones": results}
        return body, 200 if ready else 503

    return blp
