"""Both incident services send their views as built, without a marshmallow
dump (it cost a fifth of a request): this checks that what each sends is
exactly what its documented response schema would produce, for every state.
Pure; no fakes: the domain builds the incidents, the real schemas dump them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from incidencias_apertura.api import public_view
from incidencias_apertura.repository import DatosApertura
from incidencias_apertura.schemas import IncidenciaSchema
from incidencias_resolucion.api import staff_view
from incidencias_resolucion.schemas import IncidenciaSchema as StaffIncidenciaSchema
from incidencias_dominio import APERTURA, RESOLUCION, EmpleadoRef, Incidencia

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
CLIENTE = {"id": "c-1", "nombre": "Ana Pérez", "rol": "cliente"}
AGENTE = {"id": "e-1", "rol": "agente", "nombre": "Eva"}
SISTEMA = {"id": "sistema", "rol": "sistema", "nombre": None}


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def journey() -> list[tuple[str, Incidencia, dict]]:
    """One incident through every state, with public and internal comments,
    a reopening, a cancellation request and an erased customer."""
    seen = []

    def keep(name, incidencia, extras):
        seen.append((name, Incidencia.from_snapshot(incidencia.to_snapshot(True)), extras))
    i = Incidencia.abrir("i-1", {"id": "c-1", "nombre": "Ana Pérez"},
                         {"referencia": "SKU-42", "nombre": "Tostadora", "pedido": "P-7"},
                         "No calienta", "Desde ayer", None, "media", at(0))
    keep("abierta", i, {})
    i.asignar(RESOLUCION, EmpleadoRef("e-1", "Eva"), SISTEMA, at(1))
    i.comentar("k1", CLIENTE, "¿Alguna novedad?", False, at(2))
    i.comentar("k2", AGENTE, "nota interna", True, at(3))
    keep("asignada", i, {"cancelacion_solicitada_en": "2026-11-01T09:04:00Z"})
    i.iniciar(RESOLUCION, AGENTE, at(5))
    i.cambiar_datos(RESOLUCION, "alta", "cocina", por=AGENTE, en=at(6))
    keep("en_curso", i, {})
    i.resolver(RESOLUCION, "Cambiada la resistencia", AGENTE, at(7))
    keep("resuelta", i, {})
    i.reabrir(APERTURA, "Sigue igual", CLIENTE, at(8))
    keep("reabierta", i, {})
    i.asignar(RESOLUCION, EmpleadoRef("e-1", "Eva"), SISTEMA, at(9))
    i.resolver(RESOLUCION, "Tostadora sustituida", AGENTE, at(10))
    i.cerrar(APERTURA, CLIENTE, at(11))
    keep("cerrada", i, {})
    i.anonimizar_cliente()
    keep("cerrada, customer erased", i, {})
    cancelled = Incidencia.abrir("i-2", {"id": "c-1", "nombre": "Ana Pérez"},
                                 {"referencia": "SKU-1", "nombre": "Radio"}, "Ruido", "Mucho", "audio", "baja", at(0))
    cancelled.cancelar(RESOLUCION, SISTEMA, at(1), "Ya no")
    keep("cancelada", cancelled, {})
    return seen


@pytest.mark.parametrize("name, incidencia, extras", journey(), ids=[j[0] for j in journey()])
def test_the_customer_view_sent_is_what_the_response_schema_documents(name, incidencia, extras):
    view = public_view(incidencia, DatosApertura(**extras))
    assert IncidenciaSchema().dump(view) == view
    assert set(view) == set(IncidenciaSchema().fields)
    assert all(not c.get("interna") for c in view["comentarios"])


@pytest.mark.parametrize("name, incidencia, _extras", journey(), ids=[j[0] for j in journey()])
def test_the_staff_view_sent_is_what_the_response_schema_documents(name, incidencia, _extras):
    view = staff_view(incidencia)
    assert StaffIncidenciaSchema().dump(view) == view
    assert set(view) == set(StaffIncidenciaSchema().fields)
    if name == "asignada":
        assert [c["interna"] for c in view["comentarios"]] == [False, True]  # internal notes shown
