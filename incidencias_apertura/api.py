"""incidencias_apertura's HTTP API: customers open and follow their incidents.
Each view authenticates, parses, calls one use case (``services``) and shapes
the answer; refusals are answered by the HTTP plumbing."""
from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint

from common.http.app import components
from common.http.auth import current_principal
from common.http.operations import LOCATION, created, operation, same_resource
from common.http.pagination import page_schema, paginate
from common.http.schemas import NoBodySchema, as_documented
from common.http.search import BAD_SEARCH
from cuentas.roles import ROLES_CLIENTE, ROLES_PERSONAL
from incidencias_dominio import Incidencia
from incidencias_replica.schemas import ComentarioCreateSchema
from incidencias_replica.http import current_actor
from incidencias_replica.views import incident_view

from . import services
from .repository import DatosApertura
from .schemas import (
    CancelacionSchema, IncidenciaCreateSchema, IncidenciaSchema, IncidenciasQuerySchema,
    LecturaSchema, NotificacionesQuerySchema, NotificacionSchema, ReaperturaSchema, ValoracionInSchema
)

blp = Blueprint("incidencias", __name__, description="The customer's incidents")
telefono = Blueprint("telefono", __name__, description="Incidents staff open for a customer who calls")
notificaciones = Blueprint("notificaciones", __name__, description="What happened to the customer's incidents")
NOT_RESUELTA = {409: "Not in resuelta"}
_ACTIONS = ("comentarIncidencia", "cerrarIncidencia", "reabrirIncidencia", "cancelarIncidencia")


def public_view(incidencia: Incidencia, side: DatosApertura | None = None) -> dict:
    """The incident as ``IncidenciaSchema`` documents it (no internal notes)."""
    return incident_view(incidencia, incluir_internas=False,
                         cancelacion_solicitada_en=side.cancelacion_solicitada_en if side else None)



def _answer(registro: tuple[Incidencia, DatosApertura], status: int = 200, headers: dict | None = None):
    return as_documented(public_view(*registro), status, headers)


@operation(blp, "POST", "/incidencias", ROLES_CLIENTE, IncidenciaSchema,
           name="abrirIncidencia", status=201, body=IncidenciaCreateSchema, idempotent=True,
           headers=LOCATION, links=created("incidencia_id", "verIncidencia", *_ACTIONS))
def open_incidencia(data, idempotency):
    """Open an incident about a product the customer bought"""
    principal, c = current_principal(), components()
    registro = services.abrir_incidencia(c.incidencias, {"id": principal.id, "nombre": principal.nombre or ""},
                                         data, idempotency, politica=c.politicas.politica())
    return _answer(registro, 201, {"Location": url_for("incidencias.get_incidencia", incidencia_id=registro[0].id)})


@operation(telefono, "POST", "/clientes/<cliente_id>/incidencias", ROLES_PERSONAL, IncidenciaSchema,
           name="abrirIncidenciaPorTelefono", status=201, body=IncidenciaCreateSchema, idempotent=True,
           refusals={404: "No such customer (or erased)"})
def open_for_cliente(data, cliente_id: str, idempotency):
    """Open an incident for a customer who called (canal telefono). The
    customer sees it and is notified as if they had opened it; its history
    names the employee. Staff follow it on incidencias_resolucion, under the
    same id. The Idempotency-Key is looked up among that customer's incidents."""
    c = components()
    registro = services.abrir_por_telefono(c.incidencias, c.clientes, current_actor(), cliente_id, data, idempotency,
                                           c.politicas.politica())
    return _answer(registro, 201)


@operation(blp, "GET", "/incidencias", ROLES_CLIENTE, page_schema(IncidenciaSchema, "IncidenciasPage"),
           name="listarIncidencias", query=IncidenciasQuerySchema, refusals={400: BAD_SEARCH})
def list_incidencias(args):
    """The caller's incidents, newest first; with `q`, those holding every word, best matches first"""
    page = paginate(args, services.incidencias_del_cliente(components().incidencias, current_principal().id,
                                                           args.get("estado"), args.get("q") or ()))
    page["elementos"] = [public_view(i) for i in page["elementos"]]
    return as_documented(page)


@operation(blp, "GET", "/incidencias/<incidencia_id>", ROLES_CLIENTE, IncidenciaSchema, name="verIncidencia",
           links=same_resource("incidencia_id", *_ACTIONS))
def get_incidencia(incidencia_id: str):
    """One of the caller's incidents, with its history and public comments"""
    return _answer(services.incidencia_del_cliente(components().incidencias, current_principal().id, incidencia_id))


@operation(blp, "POST", "/incidencias/<incidencia_id>/comentarios", ROLES_CLIENTE, IncidenciaSchema,
           name="comentarIncidencia", status=201,
           body=ComentarioCreateSchema, idempotent=True)
def comment(data, incidencia_id: str, idempotency):
    """Add a comment for the employee handling the incident"""
    return _answer(services.comentar(components().incidencias, current_actor(), incidencia_id, data["texto"],
                                     idempotency), 201)


@operation(blp, "POST", "/incidencias/<incidencia_id>/cierre", ROLES_CLIENTE, IncidenciaSchema,
           name="cerrarIncidencia", body=NoBodySchema,
           refusals=NOT_RESUELTA, idempotent=True)
def close(_body, incidencia_id: str, idempotency):
    """Accept the proposed solution: the incident is closed"""
    return _answer(services.cerrar(components().incidencias, current_actor(), incidencia_id, idempotency))


@operation(blp, "POST", "/incidencias/<incidencia_id>/reapertura", ROLES_CLIENTE, IncidenciaSchema,
           name="reabrirIncidencia", body=ReaperturaSchema, refusals=NOT_RESUELTA, idempotent=True)
def reopen(data, incidencia_id: str, idempotency):
    """Reject the proposed solution, saying why: it goes back to the employee"""
    return _answer(services.reabrir(components().incidencias, current_actor(), incidencia_id, data["motivo"],
                                    idempotency))


@operation(blp, "POST", "/incidencias/<incidencia_id>/cancelacion", ROLES_CLIENTE, IncidenciaSchema,
           name="cancelarIncidencia", status=202,
           body=CancelacionSchema, refusals={409: "Not cancellable in its current state"}, idempotent=True)
def cancel(data, incidencia_id: str, idempotency):
    """Ask to withdraw the incident; it becomes cancelada once incidencias_resolucion applies it"""
    return _answer(services.solicitar_cancelacion(components().incidencias, current_actor(), incidencia_id,
                                                  data.get("motivo"), idempotency), 202)


@operation(blp, "POST", "/incidencias/<incidencia_id>/valoracion", ROLES_CLIENTE, IncidenciaSchema,
           name="valorarIncidencia", status=201, body=ValoracionInSchema, idempotent=True,
           refusals={409: "Not cerrada, or rated already"})
def rate(data, incidencia_id: str, idempotency):
    """Rate how the closed incident was handled, once: 1 to 5, with an optional comment"""
    return _answer(services.valorar(components().incidencias, current_actor(), incidencia_id, data["puntuacion"],
                                    data.get("comentario"), idempotency), 201)


@operation(notificaciones, "GET", "/notificaciones", ROLES_CLIENTE,
           page_schema(NotificacionSchema, "NotificacionesPage"), name="listarNotificaciones",
           query=NotificacionesQuerySchema)
def list_notificaciones(args):
    """What happened to the caller's incidents, newest first"""
    return paginate(args, services.notificaciones_del_cliente(components().notificaciones, current_principal().id,
                                                              args["no_leidas"]))


@operation(notificaciones, "POST", "/notificaciones/<notificacion_id>/lectura", ROLES_CLIENTE, NotificacionSchema,
           name="marcarNotificacionLeida", body=NoBodySchema, idempotent=True)
def mark_read(_body, notificacion_id: str, idempotency):
    """Mark one notification as read"""
    return services.marcar_leida(components().notificaciones, current_principal().id, notificacion_id,
                                 idempotency)


@operation(notificaciones, "POST", "/notificaciones/lectura", ROLES_CLIENTE, LecturaSchema,
           name="marcarNotificacionesLeidas", body=NoBodySchema,
           idempotent=True)
def mark_all_read(_body, idempotency):
    """Mark every notification of the caller as read (`marcadas`: how many were unread)"""
    c = components()
    return {"marcadas": services.marcar_todas_leidas(c.notificaciones, c.clientes, current_principal().id,
                                                     idempotency)}
