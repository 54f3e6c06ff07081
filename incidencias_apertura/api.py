"""incidencias_apertura's HTTP API: customers open and follow their incidents."""
from __future__ import annotations

import hashlib
import json
import re

from flask import current_app, request, url_for
from flask_smorest import Blueprint

from common.http.auth import current_principal, requires
from common.http.pagination import page_schema, paginate
from common.http.problems import Problem
from common.http.schemas import NoBodySchema, as_documented
from common.messaging import new_id, utc_now
from common.storage import DuplicateKeyError
from common.storage.retry import NotFound, TooMuchContention
from incidencias_dominio import (
    APERTURA,
    CANCELLABLE_STATES,
    RESOLUCION,
    Actor,
    Incidencia,
    IncidentConflict,
    NotOwner,
    format_instant,
    owner_of,
)

from . import events
from .schemas import (
    CancelacionSchema,
    ComentarioCreateSchema,
    IncidenciaCreateSchema,
    IncidenciaSchema,
    IncidenciasQuerySchema,
    LecturaSchema,
    NotificacionesQuerySchema,
    NotificacionSchema,
    ReaperturaSchema,
)

blp = Blueprint("incidencias", __name__, description="The customer's incidents")
notificaciones = Blueprint("notificaciones", __name__, description="What happened to the customer's incidents")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")


def _extra(name: str):
    return current_app.extensions["incidencias"].extra[name]


def _not_found() -> Problem:
    return Problem(404, "No encontrada", "La incidencia no existe", slug="no-encontrada")


def _conflict(exc: IncidentConflict) -> Problem:
    return Problem(409, "Conflicto de estado", str(exc), slug="conflicto-estado",
                   estado=exc.estado_actual.value, **exc.as_dict())


def _actor() -> Actor:
    principal = current_principal()
    return Actor(principal.id, principal.rol, principal.nombre)


def public_view(incidencia: Incidencia, extras: dict | None = None) -> dict:
    """The incident as ``IncidenciaSchema`` documents it, built directly: the
    answers skip the schema's dump (a fifth of a request's time), and a unit
    test holds the two equal for every state."""
    view = incidencia.to_snapshot(incluir_internas=False)
    view["cliente"] = {"id": view["cliente"]["id"], "nombre": view["cliente"]["nombre"]}
    view["comentarios"] = [{k: v for k, v in c.items() if k != "interna"} for c in view["comentarios"]]
    view["cancelacion_solicitada_en"] = (extras or {}).get("cancelacion_solicitada_en")
    return view


def _own(incidencia_id: str) -> tuple[Incidencia, dict]:
    found = _extra("incidencias").get(incidencia_id)
    if found is None or found[0].cliente.id != current_principal().id:
        raise _not_found()
    return found


def _change(incidencia_id: str, change) -> dict:
    """Run a state change on one of the caller's incidents; 404/409 as due."""
    _own(incidencia_id)
    try:
        incidencia = _extra("incidencias").update(incidencia_id, change)
    except IncidentConflict as exc:
        raise _conflict(exc) from exc
    except NotFound as exc:
        raise _not_found() from exc
    except TooMuchContention as exc:
        raise Problem(409, "Conflicto", "La incidencia cambió mientras tanto; reintente",
                      slug="conflicto-concurrente") from exc
    return public_view(incidencia, _extra("incidencias").get(incidencia_id)[1])


def _fingerprint(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


@blp.post("/incidencias")
@requires("cliente")
@blp.arguments(IncidenciaCreateSchema)
@blp.response(201, IncidenciaSchema)
@blp.alt_response(409, description="Idempotency-Key reused with another request")
@blp.doc(parameters=[{"in": "header", "name": "Idempotency-Key", "required": False,
                      "schema": {"type": "string", "maxLength": 200},
                      "description": "Retrying with the same key returns the first incident"}])
def open_incidencia(data):
    """Open an incident about a product the customer bought"""
    principal = current_principal()
    key = request.headers.get("Idempotency-Key")
    if key is not None and not IDEMPOTENCY_KEY.match(key):
        raise Problem(400, "Cabecera no válida", "Idempotency-Key: 1 a 200 caracteres ASCII visibles",
                      slug="validacion", errores=[{"campo": "Idempotency-Key", "mensaje": "No válida",
                                                   "ubicacion": "cabeceras"}])
    repository = _extra("incidencias")
    fingerprint = _fingerprint(data)
    producto = {**data["producto"]}
    if data.get("pedido") and not producto.get("pedido"):
        producto["pedido"] = data["pedido"]
    incidencia = Incidencia.abrir(
        new_id(), {"id": principal.id, "nombre": principal.nombre or ""}, producto,
        data["titulo"].strip(), data["descripcion"].strip(), data.get("categoria"), data["prioridad"],
        utc_now(),
    )
    extras = {"idempotency_key": key, "idempotency_hash": fingerprint if key else None}
    try:
        repository.add(incidencia, extras, events.snapshot("incidencia.abierta", incidencia))
    except DuplicateKeyError:
        previous = repository.by_idempotency_key(principal.id, key) if key else None
        if previous is None:
            raise
        if previous[1]["idempotency_hash"] != fingerprint:
            raise Problem(409, "Clave de idempotencia reutilizada",
                          "Esa Idempotency-Key ya se usó con otra petición", slug="idempotencia") from None
        incidencia, extras = previous
    location = url_for("incidencias.get_incidencia", incidencia_id=incidencia.id)
    return as_documented(public_view(incidencia, extras), 201, {"Location": location})


@blp.get("/incidencias")
@requires("cliente")
@blp.arguments(IncidenciasQuerySchema, location="query")
@blp.response(200, page_schema(IncidenciaSchema, "IncidenciasPage"))
def list_incidencias(args):
    """The caller's incidents, newest first"""
    repository, cliente_id, estado = _extra("incidencias"), current_principal().id, args.get("estado")
    return as_documented(paginate(
        args, lambda: repository.count_for_customer(cliente_id, estado),
        lambda skip, limit: [public_view(i) for i in repository.list_for_customer(cliente_id, estado, skip, limit)],
    ))


@blp.get("/incidencias/<incidencia_id>")
@requires("cliente")
@blp.response(200, IncidenciaSchema)
def get_incidencia(incidencia_id: str):
    """One of the caller's incidents, with its history and public comments"""
    return as_documented(public_view(*_own(incidencia_id)))


@blp.post("/incidencias/<incidencia_id>/comentarios")
@requires("cliente")
@blp.arguments(ComentarioCreateSchema)
@blp.response(201, IncidenciaSchema)
def comment(data, incidencia_id: str):
    """Add a comment for the employee handling the incident"""
    comentario_id, at, actor = new_id(), utc_now(), _actor()

    def change(incidencia, _extras):
        incidencia.comentar(comentario_id, actor, data["texto"].strip(), False, at)
        added = next(c for c in incidencia.comentarios if c.id == comentario_id)
        return [events.comentada(incidencia.id, added.to_dict())]

    return as_documented(_change(incidencia_id, change), 201)


@blp.post("/incidencias/<incidencia_id>/cierre")
@requires("cliente")
@blp.response(200, IncidenciaSchema)
@blp.arguments(NoBodySchema)
@blp.alt_response(409, description="Not in resuelta")
def close(_body, incidencia_id: str):
    """Accept the proposed solution: the incident is closed"""
    actor = _actor()
    return as_documented(
        _change(incidencia_id, lambda i, _e: [events.snapshot(i.cerrar(APERTURA, actor, utc_now()), i)]))


@blp.post("/incidencias/<incidencia_id>/reapertura")
@requires("cliente")
@blp.arguments(ReaperturaSchema)
@blp.response(200, IncidenciaSchema)
@blp.alt_response(409, description="Not in resuelta")
def reopen(data, incidencia_id: str):
    """Reject the proposed solution, saying why: it goes back to the employee"""
    actor, motivo = _actor(), data["motivo"].strip()
    return as_documented(_change(
        incidencia_id, lambda i, _e: [events.snapshot(i.reabrir(APERTURA, motivo, actor, utc_now()), i)]))


@blp.post("/incidencias/<incidencia_id>/cancelacion")
@requires("cliente")
@blp.arguments(CancelacionSchema)
@blp.response(202, IncidenciaSchema)
@blp.alt_response(409, description="Not cancellable in its current state")
def cancel(data, incidencia_id: str):
    """Ask to withdraw the incident; it becomes cancelada once incidencias_resolucion applies it"""
    motivo = (data.get("motivo") or "").strip() or None

    def change(incidencia, extras):
        if incidencia.estado not in CANCELLABLE_STATES or owner_of(incidencia.estado) != RESOLUCION:
            raise NotOwner(incidencia.estado, owner_of(incidencia.estado))
        at = utc_now()
        extras["cancelacion_solicitada_en"] = format_instant(at)
        return [events.cancelacion_solicitada(incidencia, motivo, at)]

    return as_documented(_change(incidencia_id, change), 202)


@notificaciones.get("/notificaciones")
@requires("cliente")
@notificaciones.arguments(NotificacionesQuerySchema, location="query")
@notificaciones.response(200, page_schema(NotificacionSchema, "NotificacionesPage"))
def list_notificaciones(args):
    """What happened to the caller's incidents, newest first"""
    repository, cliente_id, unread = _extra("notificaciones"), current_principal().id, args["no_leidas"]
    return paginate(args, lambda: repository.count(cliente_id, unread),
                    lambda skip, limit: repository.list(cliente_id, unread, skip, limit))


@notificaciones.post("/notificaciones/<notificacion_id>/lectura")
@requires("cliente")
@notificaciones.arguments(NoBodySchema)
@notificaciones.response(200, NotificacionSchema)
def mark_read(_body, notificacion_id: str):
    """Mark one notification as read"""
    try:
        return _extra("notificaciones").mark_read(current_principal().id, notificacion_id)
    except NotFound as exc:
        raise Problem(404, "No encontrada", "La notificación no existe", slug="no-encontrada") from exc


@notificaciones.post("/notificaciones/lectura")
@requires("cliente")
@notificaciones.arguments(NoBodySchema)
@notificaciones.response(200, LecturaSchema)
def mark_all_read(_body):
    """Mark every notification of the caller as read"""
    return {"marcadas": _extra("notificaciones").mark_all_read(current_principal().id)}
