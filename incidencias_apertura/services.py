"""incidencias_apertura's use cases: what a customer, or an event, can make
happen here. Each takes plain values and the repositories, calls the
domain, writes through the repository and returns the result; a refusal is
an exception the HTTP layer answers (``common.errors``, ``ConflictoDeEstado``).
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from common.errors import NotFound
from common.idempotency import IdempotentRequest, create_once
from common.listing import Listing
from common.messaging import Event, PermanentError, new_id, utc_now
from cuentas.personal import nombre_visible
from cuentas.roles import CLIENTE
from incidencias_dominio import (
    APERTURA,
    ESTADOS_CANCELABLES,
    RESOLUCION,
    SISTEMA,
    Actor,
    Canal,
    Comentario,
    Estado,
    Incidencia,
    NoEsPropietario,
    PoliticaSla,
    format_instant,
    fusionar_comentarios,
    parse_instant,
    propietario_de,
)
from incidencias_replica.correos import direccion
# The notifications' use cases, the same in both services (re-exported for the API):
from incidencias_replica.notificaciones import marcar_leida as marcar_leida
from incidencias_replica.notificaciones import notificaciones_de as notificaciones_de
from incidencias_replica.repository import IncidenciaNoEncontrada

from . import correos, events
from .notificaciones import RECORDATORIO_CONSULTA, direccion_de_avisos, texto_notificacion
from .repository import ClienteReplica, DatosApertura, IncidenciaRepository, NotificacionRepository

log = logging.getLogger(__name__)
Registro = tuple[Incidencia, DatosApertura]


# -- the customer's incidents ------------------------------------------------
def abrir_incidencia(incidencias: IncidenciaRepository, cliente: dict[str, str], datos: dict[str, Any],
                     idempotency: IdempotentRequest | None = None, *, canal: Canal = Canal.WEB,
                     por: Actor | None = None, politica: PoliticaSla | None = None) -> Registro:
    """Open an incident and its ``incidencia.abierta`` in one write. A retry
    with the same ``idempotency`` key returns the first incident as it is
    now; the same key for another request is refused (KeyReused). The key
    is the customer's: keys are looked up among their incidents, whoever
    opened them (``por``, when not the customer). ``politica``: the
    service levels (resolucion's, as replicated here) whose targets for its
    priority and category it carries."""
    producto = {**datos["producto"]}
    if datos.get("pedido") and not producto.get("pedido"):
        producto["pedido"] = datos["pedido"]
    incidencia = Incidencia.abrir(
        new_id(), cliente, producto, datos["titulo"].strip(), datos["descripcion"].strip(),
        datos.get("categoria"), datos["prioridad"], utc_now(), canal=canal, por=por,
        plazos=None if politica is None else politica.plazos_para(datos["prioridad"], datos.get("categoria")),
    )
    side = DatosApertura(idempotency.key, idempotency.fingerprint) if idempotency else DatosApertura()

    def insert() -> Registro:
        incidencias.add(incidencia, side, events.snapshot("incidencia.abierta", incidencia))
        return incidencia, side

    def first(request: IdempotentRequest) -> tuple[Registro, str | None] | None:
        found = incidencias.by_idempotency_key(cliente["id"], request.key)
        return (found, found[1].idempotency_hash) if found else None

    return create_once(idempotency, insert, first)


def abrir_por_telefono(incidencias: IncidenciaRepository, clientes: ClienteReplica, empleado: Actor,
                       cliente_id: str, datos: dict[str, Any],
                       idempotency: IdempotentRequest | None = None,
                       politica: PoliticaSla | None = None) -> Registro:
    """An employee taking a customer's call opens the incident for them
    (``canal`` telefono): the same incident, event and notifications as if
    the customer had opened it, its history naming the employee. Only a
    customer this service knows (from ``cliente.*`` events) and not erased:
    any other is "not found", as in clientes."""
    cliente = clientes.get(cliente_id)
    if cliente is None or cliente.get("eliminado"):
        raise NotFound("El cliente no existe", slug="cliente-no-encontrado", title="Cliente no encontrado")
    return abrir_incidencia(incidencias, {"id": cliente_id, "nombre": nombre_visible(cliente) or ""}, datos,
                            idempotency, canal=Canal.TELEFONO, por=empleado, politica=politica)


def _del_cliente(incidencia: Incidencia, cliente_id: str) -> None:
    """Another customer's incident does not exist for them (the same 404 as a missing one)."""
    if incidencia.cliente.id != cliente_id:
        raise IncidenciaNoEncontrada(incidencia.id)


def incidencia_del_cliente(incidencias: IncidenciaRepository, cliente_id: str, incidencia_id: str) -> Registro:
    """One of the customer's incidents; another customer's does not exist for them."""
    found = incidencias.get(incidencia_id)
    if found is None:
        raise IncidenciaNoEncontrada(incidencia_id)
    _del_cliente(found[0], cliente_id)
    return found


def incidencias_del_cliente(incidencias: IncidenciaRepository, cliente_id: str, estado: str | None,
                            palabras: tuple[str, ...] = ()) -> Listing[Incidencia]:
    """The customer's incidents, newest first; with ``palabras`` (a search),
    those holding every word in their title, description, comments or
    resolution (never an internal note: apertura keeps none), best first."""
    return Listing(lambda: incidencias.count_of_cliente(cliente_id, estado, palabras),
                   lambda skip, limit: incidencias.list_of_cliente(cliente_id, estado, skip, limit, palabras))


def _cambiar(incidencias: IncidenciaRepository, cliente_id: str, incidencia_id: str, change,
             idempotency: IdempotentRequest | None) -> Registro:
    """Apply ``change`` to one of the customer's incidents; a retry of a keyed
    request changes nothing and returns the incident as it is, once the same
    ownership check let it through (the repository's ``guard``, which runs
    before the replay decision, in the write that makes it)."""
    return incidencias.update(incidencia_id, change, idempotency,
                              guard=lambda incidencia, _side: _del_cliente(incidencia, cliente_id))


def comentar(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, texto: str,
             idempotency: IdempotentRequest | None = None) -> Registro:
    """The customer writes to the employee handling the incident. Asked
    something (``esperando_cliente``), this is their answer: the incident
    goes back to work (``en_curso``) in the same write."""
    comentario_id, en = new_id(), utc_now()

    def change(incidencia: Incidencia, _side: DatosApertura):
        incidencia.comentar(comentario_id, actor, texto.strip(), False, en)
        added = next(c for c in incidencia.comentarios if c.id == comentario_id)
        published = [events.comentada(incidencia.id, added.to_dict())]
        if incidencia.estado is Estado.ESPERANDO_CLIENTE:
            published.append(events.snapshot(incidencia.iniciar(APERTURA, actor, en), incidencia))
        return published

    return _cambiar(incidencias, actor.id, incidencia_id, change, idempotency)


def cerrar(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str,
           idempotency: IdempotentRequest | None = None) -> Registro:
    """The customer accepts the proposed solution."""
    return _cambiar(incidencias, actor.id, incidencia_id,
                    lambda i, _s: [events.snapshot(i.cerrar(APERTURA, actor, utc_now()), i)], idempotency)


def reabrir(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, motivo: str,
            idempotency: IdempotentRequest | None = None) -> Registro:
    """The customer rejects the proposed solution, saying why: it goes back to resolucion."""
    motivo = motivo.strip()
    return _cambiar(incidencias, actor.id, incidencia_id,
                    lambda i, _s: [events.snapshot(i.reabrir(APERTURA, motivo, actor, utc_now()), i)], idempotency)


def valorar(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, puntuacion: int,
            comentario: str | None, idempotency: IdempotentRequest | None = None) -> Registro:
    """The customer rates their closed incident, once; resolucion hears of it
    (``incidencia.valorada``) for the team's figures."""
    en = utc_now()

    def change(incidencia: Incidencia, _side: DatosApertura):
        incidencia.valorar(APERTURA, puntuacion, comentario, actor, en)
        return [events.valorada(incidencia)]

    return _cambiar(incidencias, actor.id, incidencia_id, change, idempotency)


def solicitar_cancelacion(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str,
                          motivo: str | None, idempotency: IdempotentRequest | None = None) -> Registro:
    """Ask resolucion, which owns the other cancellable states, to cancel the
    incident; refused here at once when it could not be cancelled now. One
    waiting on the customer is this side's: cancelled here, at once."""
    motivo = (motivo or "").strip() or None

    def change(incidencia: Incidencia, side: DatosApertura):
        if incidencia.estado is Estado.ESPERANDO_CLIENTE:
            return [events.snapshot(incidencia.cancelar(APERTURA, actor, utc_now(), motivo), incidencia)]
        if incidencia.estado not in ESTADOS_CANCELABLES or propietario_de(incidencia.estado) != RESOLUCION:
            raise NoEsPropietario(incidencia.estado, propietario_de(incidencia.estado))
        en = utc_now()
        side.cancelacion_solicitada_en = format_instant(en)
        return [events.cancelacion_solicitada(incidencia, motivo, en)]

    return _cambiar(incidencias, actor.id, incidencia_id, change, idempotency)


# -- notifications -------------------------------------------------------------
notificaciones_del_cliente = notificaciones_de
"""What happened to the customer's incidents, newest first."""


def marcar_todas_leidas(notificaciones: NotificacionRepository, clientes: ClienteReplica, cliente_id: str,
                        idempotency: IdempotentRequest | None = None) -> int:
    """Mark every notification of the customer read; how many were unread.

    With a key, a retry answers the first count. That count is recorded in
    the customer's document after the marks, not in one write with them
    (they are many documents): safe, because marking read is absolute, so a
    retry after a crash between the two marks nothing twice (it answers 0).
    The same request sent twice at once marks once, and both answer the
    first count recorded (``ClienteReplica.remember`` keeps it)."""
    if clientes.replayed(cliente_id, idempotency):
        return int((idempotency.replayed_answer or {}).get("marcadas", 0))
    marcadas = notificaciones.mark_all_read(cliente_id)
    clientes.remember(cliente_id, idempotency, {"marcadas": marcadas})
    if idempotency is not None and idempotency.replayed:
        return int((idempotency.replayed_answer or {}).get("marcadas", 0))
    return marcadas


def _notificar(notificaciones: NotificacionRepository, clientes: ClienteReplica, portal_url: str, event: Event,
               incidencia: Incidencia, clave: str, comentario: Comentario | None = None,
               autocierre_dias: float | None = None) -> None:
    """The customer's notification of an event (``_avisar``), under the event's id and time."""
    _avisar(notificaciones, clientes, portal_url, event.tipo, incidencia, clave, event.id, event.ocurrido_en,
            comentario, autocierre_dias)


def _avisar(notificaciones: NotificacionRepository, clientes: ClienteReplica, portal_url: str, tipo: str,
            incidencia: Incidencia, clave: str, notificacion_id: str, creada_en: str,
            comentario: Comentario | None = None, dias: float | None = None) -> bool:
    """One notification per piece of news (``clave``): a redelivered event,
    or the same snapshot or comment replayed under a new event id, adds none.
    It is stored with its e-mail to the customer (same write, the
    notification's id as the mail's), unless the customer gets none
    (``direccion_de_avisos``); the notification is kept regardless. True
    when it was added now."""
    texto = texto_notificacion(tipo, incidencia, dias)
    if texto is None or incidencia.cliente.anonimizado:
        return False
    email = direccion(direccion_de_avisos(clientes.get(incidencia.cliente.id)))
    mail = None if email is None else correos.correo_de_notificacion(
        tipo, incidencia, texto, email, portal_url, comentario)
    return notificaciones.add({
        "id": notificacion_id, "cliente_id": incidencia.cliente.id, "incidencia_id": incidencia.id,
        "tipo": tipo, "mensaje": texto, "creada_en": creada_en, "leida": False, "clave": clave,
    }, mail)


# -- what resolucion did, and what this side did itself --------------------------
def replicar_cambio(incidencias: IncidenciaRepository, notificaciones: NotificacionRepository,
                    clientes: ClienteReplica, portal_url: str, event: Event, snapshot: dict[str, Any],
                    autocierre_dias: float | None = None) -> None:
    """A state change: into the replica, and the customer told (with the
    links of ``portal_url``). Made by resolucion, or by this side (a close
    by the customer or by ``cerrar_vencidas``, a reopening), whose own
    snapshot is already here (same version: applying it changes nothing):
    the customer hears of those from the consumer too, the same way and
    as idempotently. ``autocierre_dias`` is what an automatic close says it
    waited."""
    def cancel_if_asked(merged: Incidencia, side: DatosApertura) -> list[Any] | None:
        """A cancellation the customer asked for while resolucion held it,
        which resolucion could no longer apply because it asked them
        something first: this side owns it now, and cancels it."""
        if merged.estado is not Estado.ESPERANDO_CLIENTE or not _cancelacion_pendiente(merged, side):
            return None
        por = Actor(merged.cliente.id, CLIENTE)
        return [events.snapshot(merged.cancelar(APERTURA, por, utc_now()), merged)]

    try:
        incidencia, _changed = incidencias.apply_snapshot(snapshot, then=cancel_if_asked)
    except ValueError as exc:
        raise PermanentError(f"invalid snapshot: {exc}") from exc
    _notificar(notificaciones, clientes, portal_url, event, incidencia,
               f"{incidencia.id}:{event.tipo}:v{snapshot.get('version')}", autocierre_dias=autocierre_dias)


def _cancelacion_pendiente(incidencia: Incidencia, side: DatosApertura) -> bool:
    """Whether the customer's request to cancel still stands: made, and the
    incident never left the states it could be cancelled in since (a
    solution proposed meanwhile, say, answers it otherwise)."""
    if side.cancelacion_solicitada_en is None:
        return False
    desde = parse_instant(side.cancelacion_solicitada_en)
    vivos = ESTADOS_CANCELABLES | {Estado.ESPERANDO_CLIENTE}
    return all(e.a in vivos for e in incidencia.historial if e.en >= desde)


def replicar_comentario(incidencias: IncidenciaRepository, notificaciones: NotificacionRepository,
                        clientes: ClienteReplica, portal_url: str, event: Event, incidencia_id: str,
                        comentario: Comentario) -> None:
    """A public comment written in resolucion (the incident must be here:
    NotFound is retried, then dead-lettered). An internal note is never
    kept here nor notified (the handler refuses one before this)."""
    if comentario.interna:
        raise PermanentError("internal notes never leave resolucion")

    def merge(incidencia: Incidencia, _side: DatosApertura):
        return [] if fusionar_comentarios(incidencia, [comentario], conservar_internas=False) else None

    incidencia, _side = incidencias.update(incidencia_id, merge)
    if comentario.autor.rol != CLIENTE:
        _notificar(notificaciones, clientes, portal_url, event, incidencia,
                   f"{incidencia.id}:comentario:{comentario.id}", comentario)


# -- customers -----------------------------------------------------------------
def replicar_cliente(clientes: ClienteReplica, cliente: dict[str, Any], order: str) -> None:
    """What a ``cliente.*`` event says of the customer (id, nombre,
    apellidos, email, avisos_por_correo, sesiones_desde), unless a more
    recent event (``order``) was replicated already."""
    clientes.upsert({**cliente, "eliminado": False}, order)


def borrar_cliente(incidencias: IncidenciaRepository, clientes: ClienteReplica,
                   notificaciones: NotificacionRepository, cliente_id: str) -> None:
    """The customer's erasure: their token is refused from now on, every
    incident of theirs anonymised here, the ones this side owns (resuelta)
    closed, their notifications and every mail not sent to them yet
    deleted, and what their keyed requests left reduced to the keys (no
    fingerprint, no answer; a late retry is refused, not applied twice:
    ``common.idempotency.without_fingerprints``).
    resolucion cancels the ones it owns on the same event."""
    clientes.erase(cliente_id)
    for incidencia_id in incidencias.not_final_of_cliente(cliente_id):
        def change(incidencia: Incidencia, _side: DatosApertura):
            anonymised = incidencia.anonimizar_cliente()
            if incidencia.estado == Estado.RESUELTA:
                return [events.snapshot(incidencia.cerrar(APERTURA, SISTEMA, utc_now()), incidencia)]
            if incidencia.estado == Estado.ESPERANDO_CLIENTE:
                tipo = incidencia.cancelar(APERTURA, SISTEMA, utc_now(), "cuenta del cliente eliminada")
                return [events.snapshot(tipo, incidencia)]
            return [] if anonymised else None

        incidencias.update(incidencia_id, change, forget_requests=True)
    for incidencia_id in incidencias.final_of_cliente(cliente_id):
        incidencias.update(incidencia_id, lambda i, _s: [] if i.anonimizar_cliente() else None, forget_requests=True)
    notificaciones.delete_of_cliente(cliente_id)


# -- periodic ------------------------------------------------------------------
def cerrar_vencidas(incidencias: IncidenciaRepository, dias: float, ahora: datetime | None = None) -> int:
    """Close the incidents left in resuelta for more than ``dias`` days."""
    ahora = ahora or utc_now()
    cutoff = format_instant(ahora - timedelta(days=dias))
    closed = 0
    for incidencia_id in incidencias.resolved_before(cutoff):
        cerrada_aqui: list[bool] = []

        def change(incidencia: Incidencia, _side: DatosApertura):
            cerrada_aqui[:] = [incidencia.estado == Estado.RESUELTA and format_instant(incidencia.resuelta_en) < cutoff]
            if not cerrada_aqui[0]:
                return None  # closed or reopened by the customer meanwhile
            return [events.snapshot(incidencia.cerrar(APERTURA, SISTEMA, ahora, automatico=True), incidencia)]

        try:
            incidencias.update(incidencia_id, change)
        except NotFound:
            continue
        if cerrada_aqui[0]:
            closed += 1
            log.info("auto-closed incident %s", incidencia_id)
    return closed


def recordar_y_cerrar_esperas(incidencias: IncidenciaRepository, notificaciones: NotificacionRepository,
                              clientes: ClienteReplica, portal_url: str, dias: float,
                              ahora: datetime | None = None) -> tuple[int, int]:
    """The questions left unanswered: ``dias`` days after it, the customer is
    reminded once (a notification and its mail, under a key of its own, so
    several workers running this remind once); ``dias`` more, the incident
    closes itself, as a resolved one does. Returns (reminded, closed)."""
    ahora = ahora or utc_now()
    cutoff = format_instant(ahora - timedelta(days=dias))
    recordadas = cerradas = 0
    for incidencia_id in incidencias.to_remind(cutoff):
        found = incidencias.get(incidencia_id)
        if found is not None and found[0].estado is Estado.ESPERANDO_CLIENTE and found[1].recordatorio_en is None:
            recordadas += _recordar(incidencias, notificaciones, clientes, portal_url, found[0], dias, ahora)
    for incidencia_id in incidencias.reminded_before(cutoff):
        cerradas += _cerrar_sin_respuesta(incidencias, incidencia_id, cutoff, ahora)
    return recordadas, cerradas


def _recordar(incidencias: IncidenciaRepository, notificaciones: NotificacionRepository, clientes: ClienteReplica,
              portal_url: str, incidencia: Incidencia, dias: float, ahora: datetime) -> int:
    """The reminder first (its key, the incident and version, keeps it one),
    then the mark that it was sent: a crash between them reminds nobody twice."""
    added = _avisar(notificaciones, clientes, portal_url, RECORDATORIO_CONSULTA, incidencia,
                    f"{incidencia.id}:{RECORDATORIO_CONSULTA}:v{incidencia.version}", new_id(), format_instant(ahora),
                    dias=dias)

    def mark(current: Incidencia, side: DatosApertura):
        if current.version != incidencia.version or side.recordatorio_en is not None:
            return None
        side.recordatorio_en = format_instant(ahora)
        return []

    incidencias.update(incidencia.id, mark)
    return int(added)


def _cerrar_sin_respuesta(incidencias: IncidenciaRepository, incidencia_id: str, cutoff: str,
                          ahora: datetime) -> int:
    """Close one still waiting, reminded before ``cutoff``; 1 if it did."""
    cerrada: list[bool] = [False]

    def change(incidencia: Incidencia, side: DatosApertura):
        if incidencia.estado is not Estado.ESPERANDO_CLIENTE or not side.recordatorio_en \
                or side.recordatorio_en >= cutoff:
            return None  # answered, withdrawn or closed meanwhile
        cerrada[0] = True
        return [events.snapshot(incidencia.cerrar(APERTURA, SISTEMA, ahora, automatico=True), incidencia)]

    incidencias.update(incidencia_id, change)
    if cerrada[0]:
        log.info("closed incident %s: its question went unanswered", incidencia_id)
    return int(cerrada[0])
