"""Builders both incident services' tests use: an incident as a customer
opens it, and the steps the other service takes on its own copy (what its
events then carry)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from common.messaging import new_id
from incidencias_dominio import APERTURA, RESOLUCION, SISTEMA, Actor, EmpleadoRef, Incidencia

NOMBRES = {"c1": "Ana Pérez", "c2": "Bruno Díaz"}
PRODUCTO = {"referencia": "RAD-100", "nombre": "Radio portátil"}
EVA = EmpleadoRef("e1", "Eva Soporte")
EVA_ACTOR = Actor("e1", "agente", "Eva Soporte")
SOLUCION = "Cambie las pilas"
MOTIVO_REAPERTURA = "Sigue sin encender"


def nueva_incidencia(en: datetime, cliente_id: str = "c1", categoria: str | None = None,
                     prioridad: str = "media", titulo: str = "La radio no enciende", canal: str = "web") -> Incidencia:
    """An incident as apertura opens it (abierta, version 1)."""
    return Incidencia.abrir(new_id(), {"id": cliente_id, "nombre": NOMBRES.get(cliente_id, "Cliente")}, PRODUCTO,
                            titulo, "Desde ayer no da señal de vida.", categoria, prioridad, en, canal=canal)


def avanzar(incidencia: Incidencia, paso: str, en: datetime, empleado: EmpleadoRef = EVA,
            agente: Actor = EVA_ACTOR) -> str:
    """Take one step on ``incidencia`` the way the service owning it does;
    the event's tipo. resolucion: asignada, en_curso, resuelta, cancelada,
    actualizada (prioridad alta); apertura: reabierta, cerrada (by the customer)."""
    cliente = Actor(incidencia.cliente.id, "cliente")
    if paso == "asignada":
        return incidencia.asignar(RESOLUCION, empleado, SISTEMA, en)
    if paso == "en_curso":
        return incidencia.iniciar(RESOLUCION, agente, en)
    if paso == "resuelta":
        return incidencia.resolver(RESOLUCION, SOLUCION, agente, en)
    if paso == "cancelada":
        return incidencia.cancelar(RESOLUCION, cliente, en)
    if paso == "actualizada":
        return incidencia.cambiar_datos(RESOLUCION, "alta", por=agente, en=en)
    if paso == "reabierta":
        return incidencia.reabrir(APERTURA, MOTIVO_REAPERTURA, cliente, en)
    if paso == "cerrada":
        return incidencia.cerrar(APERTURA, cliente, en)
    raise ValueError(paso)


def sin_rev(doc: dict[str, Any]) -> dict[str, Any]:
    """A stored document without the store's revision counter."""
    return {k: v for k, v in doc.items() if k != "_rev"}
