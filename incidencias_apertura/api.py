"""incidencias_apertura's HTTP API: customers open and follow their incidents.
Each view authenticates, parses, calls one use case (``services``) and shapes
the answer; refusals are answered by the HTTP plumbing."""
from __future__ import annotations

import re

from flask import request, url_for
from flask_smorest import Blueprint

from common.http.app import components
from common.http.auth import current_principal
from common.http.operations import operation
from common.http.pagination import page_schema, paginate
from common.http.problems import Problem
from common.http.schemas import NoBodySchema, as_documented
from cuentas.roles import ROLES_CLIENTE
from incidencias_dominio import Incidencia
from incidencias_replica.schemas import ComentarioCreateSchema
from incidencias_replica.http import current_actor
from incidencias_replica.views import incident_view

from . import services
from .repository import DatosApertura
from .schemas import (
    CancelacionSchema, IncidenciaCreateSchema, IncidenciaSchema, IncidenciasQuerySchema,
    LecturaSchema, NotificacionesQuerySchema, NotificacionSchema, ReaperturaSchema
)

blp = Blueprint("incidencias", __name__, description="The customer's incidents")
notificaciones = Blueprint("notificaciones", __name__, description="What happened to the customer's incidents")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")
IDEMPOTENCY_HEADER = {"in": "header", "name": "Idempotency-Key", "required": False,
                      "schema": {"type": "string", "maxLength": 200},
                      "description": "Retrying with the same key returns the first incident"}
NOT_RESUELTA = {409: "Not in resuelta"}


def public_view(incidencia: Incidencia, side: DatosApertura | None = None) -> dict:
    """The incident as ``IncidenciaSchema`` documents it (no internal notes)."""
    return incident_view(incidencia, incluir_internas=False,
                         cancelacion_solicitada_en=side.cancelacion_solicitada_en if side else None)



def _answer(registro: tuple[Incidencia, DatosApertura], status: int = 200, headers: dict | None = None):
    return as_documented(public_view(*registro), status, headers)


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise Problem(400, "Cabecera no válida", "Idempotency-Key: 1 a 200 caracteres ASCII visibles",
                      slug="validacion", errores=[{"campo": "Idempotency-Key", "mensaje": "No válida",
                                                   "ubicacion": "cabeceras"}])
    return key


@operation(blp, "POST", "/incidencias", ROLES_CLIENTE, IncidenciaSchema, status=201, body=IncidenciaCreateSchema,
           refusals={409: "Idempotency-Key reused with another request"}, doc={"parameters": [IDEMPOTENCY_HEADER]})
def open_incidencia(data):
    """Open an incident about a product the customer bought"""
    principal = current_principal()
    registro = services.abrir_incidencia(components().incidencias,
                                         {"id": principal.id, "nombre": principal.nombre or ""},
                                         data, _idempotency_key())
    return _answer(registro, 201, {"Location": url_for("incidencias.get_incidencia", incidencia_id=registro[0].id)})


@operation(blp, "GET", "/incidencias", ROLES_CLIENTE, page_schema(IncidenciaSchema, "IncidenciasPage"),
           query=IncidenciasQuerySchema)
def list_incidencias(args):
    """The caller's incidents, newest first"""
    page = paginate(args, services.incidencias_del_cliente(components().incidencias, current_principal().id,
                                                           args.get("estado")))
    page["elementos"] = [public_view(i) for i in page["elementos"]]
    return as_documented(page)


@operation(blp, "GET", "/incidencias/<incidencia_id>", ROLES_CLIENTE, IncidenciaSchema)
def get_incidencia(incidencia_id: str):
    """One of the caller's incidents, with its history and public comments"""
    return _answer(services.incidencia_del_cliente(components().incidencias, current_principal().id, incidencia_id))


@operation(blp, "POST", "/incidencias/<incidencia_id>/comentarios", ROLES_CLIENTE, IncidenciaSchema, status=201,
           body=ComentarioCreateSchema)
def comment(data, incidencia_id: str):
    """Add a comment for the employee handling the incident"""
    return _answer(services.comentar(components().incidencias, current_actor(), incidencia_id, data["texto"]), 201)


@operation(blp, "POST", "/incidencias/<incidencia_id>/cierre", ROLES_CLIENTE, IncidenciaSchema, body=NoBodySchema,
           refusals=NOT_RESUELTA)
def close(_body, incidencia_id: str):
    """Accept the proposed solution: the incident is closed"""
    return _answer(services.cerrar(components().incidencias, current_actor(), incidencia_id))


@operation(blp, "POST", "/incidencias/<incidencia_id>/reapertura", ROLES_CLIENTE, IncidenciaSchema,
           body=ReaperturaSchema, refusals=NOT_RESUELTA)
def reopen(data, incidencia_id: str):
    """Reject the proposed solution, saying why: it goes back to the employee"""
    return _answer(services.reabrir(components().incidencias, current_actor(), incidencia_id, data["motivo"]))


@operation(blp, "POST", "/incidencias/<incidencia_id>/cancelacion", ROLES_CLIENTE, IncidenciaSchema, status=202,
           body=CancelacionSchema, refusals={409: "Not cancellable in its current state"})
def cancel(data, incidencia_id: str):
    """Ask to withdraw the incident; it becomes cancelada once incidencias_resolucion applies it"""
    return _answer(services.solicitar_cancelacion(components().incidencias, current_actor(), incidencia_id,
                                                  data.get("motivo")), 202)


@operation(notificaciones, "GET", "/notificaciones", ROLES_CLIENTE,
           page_schema(NotificacionSchema, "NotificacionesPage"), query=NotificacionesQuerySchema)
def list_notificaciones(args):
    """What happened to the caller's incidents, newest first"""
    return paginate(args, services.notificaciones_del_cliente(components().notificaciones, current_principal().id,
                                                              args["no_leidas"]))


@operation(notificaciones, "POST", "/notificaciones/<notificacion_id>/lectura", ROLES_CLIENTE, NotificacionSchema,
           body=NoBodySchema)
def mark_read(_body, notificacion_id: str):
    """Mark one notification as read"""
    return services.marcar_leida(components().notificaciones, current_principal().id, notificacion_id)


@operation(notificaciones, "POST", "/notificaciones/lectura", ROLES_CLIENTE, LecturaSchema, body=NoBodySchema)
def mark_all_read(_body):
    """Mark every notification of the caller as read"""
    return {"marcadas": services.marcar_todas_leidas(components().notificaciones, current_principal().id)}
