"""The replica of the staff that a service other than empleados keeps (role,
whether active, name, categories and since when their sessions count), from
``empleado.*`` events, and the rule that refuses a staff token once its
employee is deactivated or given another role, or when it was issued before
the employee's last password change. clientes and incidencias_resolucion
both keep one."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from common.messaging import Event, PermanentError
from common.storage import CollectionSpec, Index, Query, Store
from common.storage.retry import keep_newest
from common.tokens import Principal

from .cuenta import sesion_anterior
from .emisores import EMPLEADOS

EVENTOS_EMPLEADO = ("empleado.registrado", "empleado.actualizado", "empleado.baja")
PERSONAL = CollectionSpec("personal", (Index(("activo", "rol")),))


def optional_instant(datos: dict[str, Any], name: str) -> str | None:
    """``datos[name]`` as an RFC 3339 instant with its offset, or None when
    absent (events older than the field); anything else can never be applied."""
    value = datos.get(name)
    if value is None:
        return None
    try:
        if isinstance(value, str) and datetime.fromisoformat(value).utcoffset() is not None:
            return value
    except ValueError:
        pass
    raise PermanentError(f"datos.{name} must be an RFC 3339 instant or null")


def nombre_visible(empleado: dict[str, Any]) -> str | None:
    """How an employee is shown: name and surnames, or None when unknown."""
    return f"{empleado.get('nombre') or ''} {empleado.get('apellidos') or ''}".strip() or None


class PersonalReplica:
    """What this service knows of each employee, newest event first;
    ``extra`` names the further fields of the event's public data this
    service needs (incidencias_resolucion: ``email``, to tell an employee
    what was assigned to them), absent ones kept as None."""

    def __init__(self, store: Store, spec: CollectionSpec = PERSONAL, extra: tuple[str, ...] = ()):
        self.collection = store.collection(spec)
        self.extra = extra

    def apply(self, event: Event) -> bool:
        """Apply an ``empleado.*`` event unless a newer one was; True if it changed the replica."""
        datos = event.datos
        if not isinstance(datos.get("id"), str) or not isinstance(datos.get("rol"), str):
            raise PermanentError("datos.id and datos.rol are required")
        empleado = {
            "id": datos["id"], "nombre": datos.get("nombre"), "apellidos": datos.get("apellidos"),
            "rol": datos["rol"], "categorias": list(datos.get("categorias") or []),
            "activo": bool(datos.get("activo", True)) and event.tipo != "empleado.baja",
            "sesiones_desde": optional_instant(datos, "sesiones_desde"),
            **{name: datos.get(name) for name in self.extra},
        }
        # Newer events win, a deactivation winning a tie.
        return self.upsert(empleado, event.replica_order(wins_ties=event.tipo == "empleado.baja"))

    def upsert(self, empleado: dict[str, Any], order: str) -> bool:
        """Store the employee unless an event at least as recent (``order``) was applied."""
        return keep_newest(self.collection, empleado, order)

    def get(self, empleado_id: str) -> dict[str, Any] | None:
        return self.collection.get(empleado_id)

    def active(self) -> list[dict[str, Any]]:
        return self.collection.find(Query(equals={"activo": True}, sort=(("rol", 1),)))

    def inactive_ids(self) -> list[str]:
        return [d["id"] for d in self.collection.find(Query(equals={"activo": False}))]

    def revokes(self, principal: Principal) -> bool:
        """Whether a staff token must be refused: its employee is known here
        and is no longer active, now holds another role, or changed their
        password after the token was issued. An employee this service has not
        heard of yet is vouched for by empleados' signature."""
        if principal.issuer != EMPLEADOS:
            return False
        known = self.get(principal.id)
        return known is not None and (not known.get("activo") or known.get("rol") != principal.rol
                                      or sesion_anterior(known.get("sesiones_desde"), principal.claims.get("iat")))
