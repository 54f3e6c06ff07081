"""incidencias_resolucion's use cases: what an employee, or an event, can
make happen here. Each takes plain values and the repositories, checks who
may do it, calls the domain, writes through the repository and returns the
result; a refusal is an exception the HTTP layer answers (``common.errors``,
``ConflictoDeEstado``)."""
from __future__ import annotations

import dataclasses
import logging
from datetime import datetime
from typing import Any, Callable, Collection

from common.errors import ApplicationError, Forbidden, Invalid, NotFound
from common.idempotency import IdempotentRequest, create_once
from common.listing import Listing
from common.messaging import PermanentError, new_id, utc_now
from common.storage.retry import NotFound as NoDocument
from cuentas.personal import PersonalReplica, nombre_visible
from cuentas.roles import ADMIN, CLIENTE, ROLES_GESTION, SUPERVISOR
from incidencias_dominio import (
    ESTADOS_CANCELABLES,
    RESOLUCION,
    SISTEMA,
    Actor,
    Canal,
    Comentario,
    ConflictoDeEstado,
    EmpleadoRef,
    Estado,
    FusionNoPermitida,
    Incidencia,
    Prioridad,
    MAX_ETIQUETAS,
    REGLA_ETIQUETA,
    PoliticaSla,
    EN_RIESGO,
    INCUMPLIDO,
    Seguimiento,
    Valoracion,
    aviso,
    avisos_debidos,
    etiqueta,
    format_instant,
    fusionar_comentarios,
    seguimiento,
)
from incidencias_replica.correos import direccion
# The notifications' use cases, the same in both services (re-exported for the API):
from incidencias_replica.notificaciones import marcar_leida as marcar_leida
from incidencias_replica.notificaciones import notificaciones_de as notificaciones_de
from incidencias_replica.repository import IncidenciaNoEncontrada
from incidencias_replica.sla import PoliticaSlaStore

from . import correos, events, informe
from .asignacion import ESTADOS_CON_CARGA, elegir_empleado
from .repository import EtiquetaRepository, IncidenciaRepository, NotificacionEquipoRepository, RespuestaRepository
from .respuestas import RespuestaPredefinida, render
from .statistics import PERIODO, durations, nombre_de_semana, semanas, summary

log = logging.getLogger(__name__)
STATS_SAMPLE = 1000
PERIODO_MAX = 10_000
"""The most incidents one report reads: the newest of the period (``periodo.completo`` false when it held more)."""
WAITING_STATES = (Estado.ABIERTA, Estado.REABIERTA)


# -- who may act -------------------------------------------------------------------
def _gestiona(actor: Actor) -> bool:
    return actor.rol in ROLES_GESTION


def _es_suya(incidencia: Incidencia, empleado_id: str) -> bool:
    return incidencia.asignada_a is not None and incidencia.asignada_a.id == empleado_id


def _puede_actuar(actor: Actor, incidencia: Incidencia) -> None:
    """Agents act on the incidents assigned to them; supervisors and admins on any."""
    if not _gestiona(actor) and not _es_suya(incidencia, actor.id):
        raise Forbidden("Solo puede actuar sobre las incidencias asignadas a usted")


def _cambiar(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str,
             change: Callable[[Incidencia], Any], idempotency: IdempotentRequest | None = None) -> Incidencia:
    """Apply ``change`` if ``actor`` may act on the incident as it is now; a
    retry of a keyed request changes nothing and returns the incident as it
    is, once the same check let it through (the repository's ``guard``)."""
    return incidencias.update(incidencia_id, lambda incidencia, _side: change(incidencia), idempotency,
                              guard=lambda incidencia, _side: _puede_actuar(actor, incidencia))[0]


# -- reading -------------------------------------------------------------------------
def incidencia(incidencias: IncidenciaRepository, incidencia_id: str) -> Incidencia:
    found = incidencias.get(incidencia_id)
    if found is None:
        raise IncidenciaNoEncontrada(incidencia_id)
    return found[0]


def buscar_incidencias(incidencias: IncidenciaRepository, actor: Actor, filtros: dict[str, Any],
                       orden: str) -> Listing[Incidencia]:
    """Incidents by state, assignee (``yo``: the caller), priority, category, customer, tag and words
    (``q``: every word in the title, description, comments, internal notes or resolution)."""
    filtros = dict(filtros)
    if filtros.get("asignada_a") == "yo":
        filtros["asignada_a"] = actor.id
    return Listing(lambda: incidencias.count(filtros, orden),
                   lambda skip, limit: incidencias.list(filtros, orden, skip, limit))


def periodo(desde: datetime | None, hasta: datetime | None) -> tuple[datetime, datetime]:
    """The period a report covers: as asked, else the ``PERIODO`` up to now (or up to ``hasta``)."""
    hasta = hasta or utc_now()
    return desde or hasta - PERIODO, hasta


def estadisticas(incidencias: IncidenciaRepository, empleados: PersonalReplica, desde: datetime | None = None,
                 hasta: datetime | None = None) -> dict[str, Any]:
    """Counts by state and priority, open load per employee, time to first
    assignment and to resolution; and, over the incidents opened in the
    period (the last 30 days unless asked), the service levels kept, the
    customers' ratings and the time waiting on them (``informe``)."""
    desde, hasta = periodo(desde, hasta)
    abiertas = incidencias.opened_in(desde, hasta, PERIODO_MAX)
    activos = empleados.active()
    carga = incidencias.load_of(e["id"] for e in activos)
    sample = incidencias.recent(STATS_SAMPLE)
    to_assignment, to_resolution = durations(sample)
    return {
        "por_estado": {e.value: incidencias.count({"estado": e.value}) for e in Estado},
        "por_prioridad": {p.value: incidencias.count({"prioridad": p.value}) for p in Prioridad},
        "carga_por_empleado": [
            {"id": e["id"], "nombre": nombre_visible(e) or "", "rol": e.get("rol"), "abiertas": carga.get(e["id"], 0)}
            for e in activos
        ],
        "hasta_primera_asignacion": summary(to_assignment),
        "hasta_resolucion": summary(to_resolution),
        "muestra": len(sample),
        "por_canal_y_semana": [_por_canal(incidencias, d, h) for d, h in semanas(utc_now())],
        "periodo": {"desde": format_instant(desde), "hasta": format_instant(hasta), "incidencias": len(abiertas),
                    "completo": len(abiertas) < PERIODO_MAX},
        **informe.informe(abiertas, utc_now()),
    }


def _por_canal(incidencias: IncidenciaRepository, desde: datetime, hasta: datetime) -> dict[str, Any]:
    """The incidents opened in one week by channel: the web's are all the
    others (those stored before the channel was recorded came in by it)."""
    otros = {canal.value: incidencias.count_opened(desde, hasta, canal) for canal in Canal if canal != Canal.WEB}
    web = incidencias.count_opened(desde, hasta) - sum(otros.values())
    return {"semana": nombre_de_semana(desde), "desde": format_instant(desde), "web": web, **otros}


# -- assignment: by hand and automatic, one way to give an incident -------------------
def _asignacion(current: Incidencia, elegido: dict[str, Any], por: Actor, portal_url: str) -> list[Any]:
    """Give ``current`` to ``elegido`` (their replica record): the event, and
    the e-mail telling them (``correos``; none when no address of theirs is
    known), its id the incident's new version."""
    empleado = EmpleadoRef(elegido["id"], nombre_visible(elegido))
    written: list[Any] = [events.snapshot(current.asignar(RESOLUCION, empleado, por, utc_now()), current)]
    email = direccion(elegido.get("email"))
    if email is not None:
        written.append(correos.correo_de_asignacion(current, email, portal_url)
                       .outbox(correos.id_de_correo(current), empleado.id))
    return written


def _dar(incidencias: IncidenciaRepository, incidencia_id: str, elegido: dict[str, Any], por: Actor,
         admite: Callable[[Incidencia], bool], portal_url: str, idempotency: IdempotentRequest | None = None,
         puede: Callable[[Incidencia], None] | None = None) -> tuple[Incidencia, bool]:
    """Give the incident to the employee ``elegido`` if ``admite`` it as it
    is now (``_asignacion``, in the same write); nothing is written
    otherwise. ``puede`` refuses (raising) a caller who may not assign it, a
    keyed retry included. Returns the incident and whether this call gave it."""
    given: list[bool] = [False]

    def change(current: Incidencia, _side):
        given[:] = [admite(current)]
        return _asignacion(current, elegido, por, portal_url) if given[0] else None

    guard = None if puede is None else (lambda current, _side: puede(current))
    incidencia, _side = incidencias.update(incidencia_id, change, idempotency, guard=guard)
    return incidencia, given[0]


def _elegir(incidencias: IncidenciaRepository, empleados: PersonalReplica, current: Incidencia,
            excluir: Collection[str] = frozenset()) -> dict[str, Any] | None:
    """Who should take ``current``: a reopened incident back to its assignee
    while still active, else the policy's choice (``asignacion``) by the
    loads as they are now; None if nobody can."""
    if current.estado == Estado.REABIERTA and current.asignada_a:
        previo = empleados.get(current.asignada_a.id)
        if previo and previo.get("activo") and previo["id"] not in excluir:
            return previo
    activos = empleados.active()
    return elegir_empleado(current.categoria, activos, incidencias.load_of(e["id"] for e in activos), excluir,
                           incidencias.earliest_due if current.plazos is not None else None)


def asignar(incidencias: IncidenciaRepository, empleados: PersonalReplica, actor: Actor, incidencia_id: str,
            empleado_id: str | None, portal_url: str, idempotency: IdempotentRequest | None = None) -> Incidencia:
    """An employee assigns an incident: an agent takes an unassigned one
    (or keeps their own); supervisors and admins give anyone's to any
    active employee. Giving it to whom already has it changes nothing."""
    empleado_id = empleado_id or actor.id
    if not _gestiona(actor) and empleado_id != actor.id:
        raise Forbidden("Un agente solo puede asignarse incidencias a sí mismo")
    elegido = empleados.get(empleado_id)
    if elegido is None or not elegido.get("activo"):
        raise Invalid("empleado_id", "No es un empleado activo", "El empleado no existe o no está activo")

    def puede(current: Incidencia) -> None:
        if not _gestiona(actor) and current.estado not in WAITING_STATES and not _es_suya(current, actor.id):
            raise Forbidden("Un agente solo puede tomar incidencias sin asignar")

    def admite(current: Incidencia) -> bool:
        # already theirs: nothing to change, nothing to notify
        return not (_es_suya(current, empleado_id) and current.estado in (Estado.ASIGNADA, Estado.EN_CURSO))

    return _dar(incidencias, incidencia_id, elegido, actor, admite, portal_url, idempotency, puede)[0]


def asignar_automaticamente(incidencias: IncidenciaRepository, empleados: PersonalReplica, incidencia_id: str,
                            portal_url: str, excluir: Collection[str] = frozenset()) -> Incidencia | None:
    """Give a waiting incident (or one held by an ``excluir``ed employee) to
    the best employee: a reopened one back to its assignee while still
    active, else by the policy (``asignacion``). None if nobody can take it,
    or someone else assigned it meanwhile."""
    found = incidencias.get(incidencia_id)
    if found is None:
        return None
    elegido = _elegir(incidencias, empleados, found[0], excluir)
    if elegido is None:
        return None

    def admite(now: Incidencia) -> bool:
        held_by_excluded = now.estado in (Estado.ASIGNADA, Estado.EN_CURSO) and now.asignada_a is not None \
            and now.asignada_a.id in excluir
        return now.estado in WAITING_STATES or held_by_excluded  # else someone assigned it meanwhile

    incidencia, given = _dar(incidencias, incidencia_id, elegido, SISTEMA, admite, portal_url)
    return incidencia if given else None


def repartir_pendientes(incidencias: IncidenciaRepository, empleados: PersonalReplica, portal_url: str) -> int:
    """Assign what is waiting: unassigned incidents, and those held by
    employees no longer active. Returns how many were assigned."""
    assigned = 0
    waiting = {"estados": [e.value for e in WAITING_STATES]}
    # The first to run out of time first; then the rest, oldest first.
    urgentes = incidencias.ids(waiting, limit=500, orden="vencimiento")
    for incidencia_id in dict.fromkeys([*urgentes, *incidencias.ids(waiting, limit=500)]):
        result = asignar_automaticamente(incidencias, empleados, incidencia_id, portal_url)
        if result is not None and result.estado == Estado.ASIGNADA:
            assigned += 1
    inactive = empleados.inactive_ids()
    if inactive:
        held = [e.value for e in ESTADOS_CON_CARGA if e != Estado.REABIERTA]
        for empleado_id in inactive:
            for incidencia_id in incidencias.ids({"asignada_a": empleado_id, "estados": held}):
                if asignar_automaticamente(incidencias, empleados, incidencia_id, portal_url,
                                           frozenset(inactive)) is not None:
                    assigned += 1
    return assigned


# -- working an incident ---------------------------------------------------------------
def iniciar(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str,
            idempotency: IdempotentRequest | None = None) -> Incidencia:
    return _cambiar(incidencias, actor, incidencia_id,
                    lambda i: [events.snapshot(i.iniciar(RESOLUCION, actor, utc_now()), i)], idempotency)


Texto = str | RespuestaPredefinida
"""What an employee sends: their own words, or a canned reply the server
fills in for the incident (``respuestas.render``)."""


def _texto(texto: Texto, incidencia: Incidencia, actor: Actor) -> str:
    if isinstance(texto, RespuestaPredefinida):
        return render(texto.texto, incidencia, actor).strip()
    return texto.strip()


def resolver(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, texto: Texto,
             idempotency: IdempotentRequest | None = None) -> Incidencia:
    """Propose a solution: the incident passes to apertura, where the customer decides."""
    return _cambiar(incidencias, actor, incidencia_id, lambda i: [events.snapshot(
        i.resolver(RESOLUCION, _texto(texto, i, actor), actor, utc_now()), i)], idempotency)


def comentar(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, texto: Texto,
             interna: bool, idempotency: IdempotentRequest | None = None) -> Incidencia:
    """A comment for the customer, or an internal note that never leaves this service."""
    comentario_id, en = new_id(), utc_now()

    def change(incidencia: Incidencia):
        incidencia.comentar(comentario_id, actor, _texto(texto, incidencia, actor), interna, en)
        if interna:
            return []
        added = next(c for c in incidencia.comentarios if c.id == comentario_id)
        return [events.comentada(incidencia.id, added.to_dict())]

    return _cambiar(incidencias, actor, incidencia_id, change, idempotency)


def consultar(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, pregunta: str,
              idempotency: IdempotentRequest | None = None) -> Incidencia:
    """Ask the customer something: the question is a public comment, and the
    incident waits on them (``esperando_cliente``, apertura's) until they
    answer, withdraw it or it closes itself; its service-level clock stops."""
    comentario_id = new_id()

    def change(incidencia: Incidencia):
        return [events.snapshot(incidencia.consultar(RESOLUCION, comentario_id, pregunta.strip(), actor, utc_now()),
                                incidencia)]

    return _cambiar(incidencias, actor, incidencia_id, change, idempotency)


def cambiar_datos(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, cambios: dict[str, Any],
                  politica: PoliticaSla | None = None) -> Incidencia:
    """Change the priority or the category (``categoria: None`` clears it),
    and with them the service level, the ``politica``'s for the new ones
    (None: never set, the incident keeps its own)."""
    categoria = cambios.get("categoria")
    if "categoria" in cambios and categoria is None:
        categoria = ""

    def change(incidencia: Incidencia):
        tipo = incidencia.cambiar_datos(RESOLUCION, cambios.get("prioridad"), categoria, por=actor, en=utc_now(),
                                        plazos_para=None if politica is None else politica.plazos_para)
        return [events.snapshot(tipo, incidencia)] if tipo else None

    return _cambiar(incidencias, actor, incidencia_id, change)


def fusionar(incidencias: IncidenciaRepository, actor: Actor, origen_id: str, destino_id: str,
             idempotency: IdempotentRequest | None = None) -> Incidencia:
    """Merge the duplicate ``origen_id`` into ``destino_id`` (the same
    customer's, both in states resolucion owns) and return the duplicate.

    Two writes, each with its event, in this order: the destination takes in
    the duplicate's public comments and records the merge; then the
    duplicate ends in ``fusionada`` pointing to it. Each half is a no-op when
    done already, so a merge cut between them (a 503) is finished by asking
    again, and a keyed retry changes nothing twice."""
    origen = incidencia(incidencias, origen_id)
    if incidencias.get(destino_id) is None:
        raise Invalid("destino_id", "La incidencia de destino no existe")
    en = utc_now()

    def take_in(destino: Incidencia):
        tipo = destino.recibir_fusion(RESOLUCION, origen, actor, en)
        return [events.snapshot(tipo, destino)] if tipo else None

    try:
        destino, _ = incidencias.update(destino_id, lambda destino, _side: take_in(destino))

        def merge(duplicada: Incidencia):
            tipo = duplicada.fusionar_en(RESOLUCION, destino, actor, en)
            return [events.snapshot(tipo, duplicada)] if tipo else None

        return incidencias.update(origen_id, lambda duplicada, _side: merge(duplicada), idempotency)[0]
    except FusionNoPermitida as exc:
        raise Invalid("destino_id", str(exc)) from None


# -- what apertura and the other services did ----------------------------------------
def replicar_cambio(incidencias: IncidenciaRepository, empleados: PersonalReplica, snapshot: dict[str, Any],
                    reanudar: Callable[[str], None], portal_url: str,
                    aparcados: Callable[[str], bool] = lambda _incidencia_id: False) -> Incidencia:
    """A change made in apertura (opened, reopened, closed): into the replica;
    then the events parked for it are ``reanudar``ed, and a waiting incident
    is assigned. When nothing waits parked for it (``aparcados``), an
    incident that arrives waiting is assigned in the same write that stores
    it; otherwise its parked events (a cancellation, say) are replayed
    first. Returns the incident as stored."""

    def assign_on_arrival(merged: Incidencia, _side) -> list[Any] | None:
        if merged.estado not in WAITING_STATES or aparcados(merged.id):
            return None
        elegido = _elegir(incidencias, empleados, merged)
        return None if elegido is None else _asignacion(merged, elegido, SISTEMA, portal_url)

    try:
        merged, _changed = incidencias.apply_snapshot(snapshot, then=assign_on_arrival)
    except ValueError as exc:
        raise PermanentError(f"invalid snapshot: {exc}") from exc
    reanudar(merged.id)
    if merged.estado in WAITING_STATES:
        return asignar_automaticamente(incidencias, empleados, merged.id, portal_url) or merged
    return merged


def replicar_comentario(incidencias: IncidenciaRepository, incidencia_id: str, comentario: Comentario) -> None:
    """A customer's comment from apertura (IncidenciaNoEncontrada: not here yet)."""
    incidencias.update(incidencia_id,
                       lambda i, _s: [] if fusionar_comentarios(i, [comentario], conservar_internas=True) else None)


def replicar_valoracion(incidencias: IncidenciaRepository, incidencia_id: str, valoracion: Valoracion) -> None:
    """The customer's rating from apertura (IncidenciaNoEncontrada: not here
    yet); the first one kept, as everywhere (a redelivery changes nothing)."""
    def keep(incidencia: Incidencia, _side):
        if incidencia.valoracion is not None:
            return None
        incidencia.valoracion = valoracion
        return []

    incidencias.update(incidencia_id, keep)


def aplicar_cancelacion(incidencias: IncidenciaRepository, incidencia_id: str, cliente_id: str,
                        motivo: str | None) -> None:
    """The customer's request to cancel, applied while the incident is still
    cancellable (IncidenciaNoEncontrada: not here yet)."""
    actor = Actor(cliente_id, CLIENTE)

    def cancel(incidencia: Incidencia, _side):
        if incidencia.estado not in ESTADOS_CANCELABLES:
            log.info("cancellation of %s not applied: it is %s", incidencia.id, incidencia.estado.value)
            return None
        return [events.snapshot(incidencia.cancelar(RESOLUCION, actor, utc_now(), motivo), incidencia)]

    incidencias.update(incidencia_id, cancel)


def borrar_cliente(incidencias: IncidenciaRepository, cliente_id: str) -> None:
    """The customer's erasure: every incident of theirs anonymised, the
    cancellable ones cancelled (apertura closes the resolved ones), and the
    fingerprints of the requests made to them forgotten (their keys stay, so
    a late retry is refused, not applied twice: ``common.idempotency``)."""
    en = utc_now()
    for incidencia_id in incidencias.ids({"cliente_id": cliente_id}):
        def change(incidencia: Incidencia, _side):
            published = []
            anonymised = incidencia.anonimizar_cliente()
            if incidencia.estado in ESTADOS_CANCELABLES:
                tipo = incidencia.cancelar(RESOLUCION, SISTEMA, en, "cuenta del cliente eliminada")
                published.append(events.snapshot(tipo, incidencia))
            return published if (anonymised or published) else None

        incidencias.update(incidencia_id, change, forget_requests=True)


def replicar_empleado(incidencias: IncidenciaRepository, empleados: PersonalReplica, event, portal_url: str) -> None:
    """An ``empleado.*`` event: into the replica; if it changed anything
    (a new, returning or departed employee), what waits is assigned again."""
    if empleados.apply(event):
        repartir_pendientes(incidencias, empleados, portal_url)


# -- canned replies ----------------------------------------------------------------
RESPUESTA_NO_EXISTE = "La respuesta predefinida no existe"


def crear_respuesta(respuestas: RespuestaRepository, datos: dict[str, Any],
                    idempotency: IdempotentRequest | None = None) -> RespuestaPredefinida:
    """A supervisor or admin writes a canned reply; a retry of a keyed request returns the one it created."""
    en = format_instant(utc_now())
    respuesta = RespuestaPredefinida(new_id(), datos["titulo"].strip(), datos["texto"].strip(),
                                     datos.get("categoria"), True, en, en)

    def insert() -> RespuestaPredefinida:
        respuestas.add(respuesta, idempotency)
        return respuesta

    return create_once(idempotency, insert, respuestas.created_by)


def respuesta(respuestas: RespuestaRepository, respuesta_id: str) -> RespuestaPredefinida:
    found = respuestas.get(respuesta_id)
    if found is None:
        raise NotFound(RESPUESTA_NO_EXISTE)
    return found


def listar_respuestas(respuestas: RespuestaRepository, incluir_retiradas: bool) -> Listing[RespuestaPredefinida]:
    """The canned replies by title: those offered, or every one ever written."""
    return Listing(lambda: respuestas.count(incluir_retiradas),
                   lambda skip, limit: respuestas.list(incluir_retiradas, skip, limit))


def cambiar_respuesta(respuestas: RespuestaRepository, respuesta_id: str,
                      cambios: dict[str, Any]) -> RespuestaPredefinida:
    """Edit a reply's title, text or category (what was sent with it before stays as it was sent)."""
    cambios = {k: v.strip() if isinstance(v, str) and k != "categoria" else v for k, v in cambios.items()}
    en = format_instant(utc_now())
    return _actualizar_respuesta(respuestas, respuesta_id, lambda r: r.cambiar(cambios, en))


def retirar_respuesta(respuestas: RespuestaRepository, respuesta_id: str,
                      idempotency: IdempotentRequest | None = None) -> RespuestaPredefinida:
    """Offer a reply no more; it is kept, and retiring it again changes nothing."""
    en = format_instant(utc_now())
    return _actualizar_respuesta(respuestas, respuesta_id, lambda r: r.retirar(en), idempotency)


def _actualizar_respuesta(respuestas: RespuestaRepository, respuesta_id: str, change,
                          idempotency: IdempotentRequest | None = None) -> RespuestaPredefinida:
    try:
        return respuestas.update(respuesta_id, change, idempotency)
    except NoDocument:
        raise NotFound(RESPUESTA_NO_EXISTE) from None


def texto_a_enviar(respuestas: RespuestaRepository, texto: str | None, respuesta_id: str | None) -> Texto:
    """The employee's own ``texto``, or the canned reply ``respuesta_id``
    names, which must be offered (422 naming it otherwise): the schema lets
    exactly one through."""
    if respuesta_id is None:
        return texto or ""
    found = respuestas.get(respuesta_id)
    if found is None:
        raise Invalid("respuesta_id", RESPUESTA_NO_EXISTE)
    if not found.activa:
        raise Invalid("respuesta_id", "La respuesta predefinida está retirada")
    return found


# -- tags ---------------------------------------------------------------------------
def _etiqueta(texto: str) -> str:
    try:
        return etiqueta(texto)
    except ValueError:
        raise Invalid("etiqueta", REGLA_ETIQUETA, ubicacion="ruta") from None


def etiquetar(incidencias: IncidenciaRepository, etiquetas: EtiquetaRepository, actor: Actor, incidencia_id: str,
              texto: str) -> Incidencia:
    """Tag the incident (staff only ever see tags); tagging it again changes
    nothing. The incident and who may act on it come first (404, 403), the
    tag's text after (422)."""
    def change(incidencia: Incidencia):
        nueva = _etiqueta(texto)
        try:
            if not incidencia.etiquetar(nueva):
                return None
        except ValueError:  # the text is a tag: only the limit is left to refuse it
            raise Invalid("etiqueta", f"Una incidencia lleva como mucho {MAX_ETIQUETAS} etiquetas",
                          ubicacion="ruta") from None
        etiquetas.register(nueva)  # listed before the write that makes an incident carry it
        return []

    return _cambiar(incidencias, actor, incidencia_id, change)


def quitar_etiqueta(incidencias: IncidenciaRepository, actor: Actor, incidencia_id: str, texto: str) -> Incidencia:
    """Take the tag off; taking off one it does not carry changes nothing."""
    return _cambiar(incidencias, actor, incidencia_id, lambda i: [] if i.quitar_etiqueta(_etiqueta(texto)) else None)


def etiquetas_en_uso(etiquetas: EtiquetaRepository) -> list[dict[str, Any]]:
    """Each tag some incident carries with how many do, the most used first."""
    return [{"etiqueta": e, "total": n}
            for e, n in sorted(etiquetas.in_use().items(), key=lambda item: (-item[1], item[0]))]


# -- bulk changes --------------------------------------------------------------------
def cambiar_en_lote(incidencias: IncidenciaRepository, empleados: PersonalReplica, etiquetas: EtiquetaRepository,
                    actor: Actor, ids: list[str], accion: str, valor: Any, portal_url: str,
                    idempotency: IdempotentRequest | None = None,
                    politica: PoliticaSla | None = None) -> list[tuple[str, Exception | None]]:
    """One ``accion`` (asignar to ``valor``, prioridad, categoria, etiqueta)
    on each incident, in order, each the normal change with its own event;
    what refused one (a refusal the HTTP layer words as that operation alone
    would) does not stop the others. A keyed bulk request gives each
    incident a key of its own, so its retry changes nothing already done and
    does what was left (a storage failure stops the whole request, 503)."""
    resultados: list[tuple[str, Exception | None]] = []
    for n, incidencia_id in enumerate(ids):
        clave = None if idempotency is None else dataclasses.replace(idempotency, key=f"{idempotency.key}#{n}")
        try:
            if accion == "asignar":
                asignar(incidencias, empleados, actor, incidencia_id, valor, portal_url, clave)
            elif accion == "etiqueta":
                etiquetar(incidencias, etiquetas, actor, incidencia_id, valor)
            else:
                cambiar_datos(incidencias, actor, incidencia_id, {accion: valor}, politica)
            resultados.append((incidencia_id, None))
        except (ApplicationError, ConflictoDeEstado) as refused:
            resultados.append((incidencia_id, refused))
    return resultados


# -- service levels -------------------------------------------------------------------
def politica_sla(politicas: PoliticaSlaStore) -> dict[str, Any]:
    """The service-level policy in force, with its version (0 and no targets: never set)."""
    politica, version, actualizada_en = politicas.current()
    return {**(politica or PoliticaSla.vacia()).to_dict(), "version": version, "actualizada_en": actualizada_en}


def fijar_politica_sla(politicas: PoliticaSlaStore, datos: dict[str, Any]) -> dict[str, Any]:
    """Set the policy (admins), published to apertura with the same write;
    the same policy again changes nothing. Incidents opened from then on
    carry its targets, and so do those whose priority or category change."""
    calendario = {**datos["calendario"], "cierres": [d.isoformat() for d in datos["calendario"]["cierres"]]}
    try:
        politica = PoliticaSla.of({**datos, "calendario": calendario})
    except ValueError as exc:  # the schema checks each field; this is what only the whole can refuse
        raise Invalid("calendario", str(exc), "La política no es válida") from None
    politicas.set(politica, utc_now(), events.politica_sla)
    return politica_sla(politicas)


# -- warnings before and at a breach ----------------------------------------------------
TEXTOS_DE_AVISO = {
    EN_RIESGO: "A «{titulo}» le queda poco para {objetivo}: vence el {vence}.",
    INCUMPLIDO: "«{titulo}» ha superado el plazo de {objetivo}: vencía el {vence}.",
}


def _destinatarios(empleados: PersonalReplica, incidencia: Incidencia, nivel: str) -> list[dict[str, Any]]:
    """Who hears of it: at risk, whoever holds the incident; run out (or at
    risk with nobody holding it), the active supervisors, else the admins."""
    if nivel == EN_RIESGO and incidencia.asignada_a is not None:
        holder = empleados.get(incidencia.asignada_a.id)
        if holder is not None and holder.get("activo"):
            return [holder]
    activos = empleados.active()
    return [e for e in activos if e.get("rol") == SUPERVISOR] or [e for e in activos if e.get("rol") == ADMIN]


def vigilar_plazos(incidencias: IncidenciaRepository, empleados: PersonalReplica,
                   notificaciones: NotificacionEquipoRepository, portal_url: str, ahora: datetime | None = None) -> int:
    """The periodic look at the service levels: for each target at risk, its
    holder is told; for each run out, the supervisors; each by a
    notification and its mail, and the event ``incidencia.sla_en_riesgo`` /
    ``incidencia.sla_incumplido``, once per incident and target however
    many workers look at once. The notifications go first, each under a
    key of its own (a second look adds none); then the incident records the
    warning with its event, in one write that only one look can make.
    Returns how many warnings were recorded."""
    ahora = ahora or utc_now()
    recorded = 0
    for incidencia_id in incidencias.warnings_due(format_instant(ahora)):
        found = incidencias.get(incidencia_id)
        if found is None:
            continue
        incidencia, side = found
        for nivel, s in avisos_debidos(seguimiento(incidencia, ahora), side.avisos_sla, ahora):
            _notificar_plazo(notificaciones, empleados, incidencia, nivel, s, portal_url, ahora)
        sent: list[int] = [0]

        def record(current: Incidencia, side) -> list[Any] | None:
            debidos = avisos_debidos(seguimiento(current, ahora), side.avisos_sla, ahora)
            for nivel, s in debidos:
                side.avisos_sla = sorted({*side.avisos_sla, aviso(s.objetivo, nivel), aviso(s.objetivo, EN_RIESGO)})
            sent[0] = len(debidos)
            if not debidos:
                return None  # another look recorded them first, or the incident moved on
            return [events.aviso_sla(nivel, current, s) for nivel, s in debidos]

        incidencias.update(incidencia_id, record)
        recorded += sent[0]
    return recorded


def _notificar_plazo(notificaciones: NotificacionEquipoRepository, empleados: PersonalReplica, incidencia: Incidencia,
                     nivel: str, s: Seguimiento, portal_url: str, ahora: datetime) -> None:
    texto = TEXTOS_DE_AVISO[nivel].format(titulo=incidencia.titulo, objetivo=correos.OBJETIVOS_LEGIBLES[s.objetivo],
                                          vence=correos.hora_legible(s.vence_en, incidencia.plazos.calendario.zona))
    tipo = events.TIPOS_DE_AVISO[nivel]
    for empleado in _destinatarios(empleados, incidencia, nivel):
        email = direccion(empleado.get("email"))
        notificaciones.add({
            "id": new_id(), "empleado_id": empleado["id"], "incidencia_id": incidencia.id, "tipo": tipo,
            "objetivo": s.objetivo, "mensaje": texto, "creada_en": format_instant(ahora), "leida": False,
            "clave": f"{incidencia.id}:{aviso(s.objetivo, nivel)}:{empleado['id']}",
        }, None if email is None else correos.correo_de_plazo(incidencia, texto, email, portal_url))
