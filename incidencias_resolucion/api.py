"""incidencias_resolucion's HTTP API: employees work the incidents."""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint

from common.http.auth import current_principal, requires
from common.http.pagination import page_schema, paginate
from common.http.problems import Problem
from common.http.schemas import NoBodySchema, as_documented
from common.messaging import new_id, utc_now
from common.storage.retry import NotFound, TooMuchContention
from incidencias_dominio import (
    RESOLUCION,
    Actor,
    EmpleadoRef,
    Estado,
    Incidencia,
    IncidentConflict,
    Prioridad,
)

from . import events
from .schemas import (
    AsignacionSchema,
    ComentarioCreateSchema,
    EstadisticasSchema,
    IncidenciaPatchSchema,
    IncidenciaSchema,
    IncidenciasQuerySchema,
    ResolucionInSchema,
)
from .statistics import durations, summary

STAFF = ("agente", "supervisor", "admin")
MANAGERS = ("supervisor", "admin")
STATS_SAMPLE = 1000

blp = Blueprint("incidencias", __name__, description="Incidents, for the employees who resolve them")
estadisticas = Blueprint("estadisticas", __name__, description="Workload and response times")


def _extra(name: str):
    return current_app.extensions["incidencias"].extra[name]


def _actor() -> Actor:
    principal = current_principal()
    return Actor(principal.id, principal.rol, principal.nombre)


def _not_found() -> Problem:
    return Problem(404, "No encontrada", "La incidencia no existe", slug="no-encontrada")


def staff_view(incidencia: Incidencia) -> dict:
    """The incident as ``IncidenciaSchema`` documents it, internal notes
    included, built directly: the answers skip the schema's dump, and a unit
    test holds the two equal for every state."""
    view = incidencia.to_snapshot(incluir_internas=True)
    view["cliente"] = {"id": view["cliente"]["id"], "nombre": view["cliente"]["nombre"]}
    return view


def _load(incidencia_id: str) -> Incidencia:
    incidencia = _extra("incidencias").get(incidencia_id)
    if incidencia is None:
        raise _not_found()
    return incidencia


def _check_may_act(incidencia: Incidencia) -> None:
    """Agents act on the incidents assigned to them; supervisors and admins on any."""
    principal = current_principal()
    if principal.rol in MANAGERS:
        return
    if incidencia.asignada_a is None or incidencia.asignada_a.id != principal.id:
        raise Problem(403, "Prohibido", "Solo puede actuar sobre las incidencias asignadas a usted",
                      slug="prohibido")


def _change(incidencia_id: str, change, check=_check_may_act, status: int = 200):
    def guarded(incidencia: Incidencia):
        check(incidencia)
        return change(incidencia)

    try:
        return as_documented(staff_view(_extra("incidencias").update(incidencia_id, guarded)), status)
    except IncidentConflict as exc:
        raise Problem(409, "Conflicto de estado", str(exc), slug="conflicto-estado",
                      estado=exc.estado_actual.value, **exc.as_dict()) from exc
    except NotFound as exc:
        raise _not_found() from exc
    except TooMuchContention as exc:
        raise Problem(409, "Conflicto", "La incidencia cambió mientras tanto; reintente",
                      slug="conflicto-concurrente") from exc


@blp.get("/incidencias")
@requires(*STAFF)
@blp.arguments(IncidenciasQuerySchema, location="query")
@blp.response(200, page_schema(IncidenciaSchema, "IncidenciasStaffPage"))
def list_incidencias(args):
    """Incidents, filtered and sorted (oldest first by default)"""
    filters = dict(args)
    if filters.get("asignada_a") == "yo":
        filters["asignada_a"] = current_principal().id
    repository, orden = _extra("incidencias"), args["orden"]
    return as_documented(paginate(
        args, lambda: repository.count(filters),
        lambda skip, limit: [staff_view(i) for i in repository.list(filters, orden, skip, limit)]))


@blp.get("/incidencias/<incidencia_id>")
@requires(*STAFF)
@blp.response(200, IncidenciaSchema)
def get_incidencia(incidencia_id: str):
    """An incident with its history, comments and internal notes"""
    return as_documented(staff_view(_load(incidencia_id)))


@blp.post("/incidencias/<incidencia_id>/asignacion")
@requires(*STAFF)
@blp.arguments(AsignacionSchema)
@blp.response(200, IncidenciaSchema)
@blp.alt_response(409, description="Not assignable in its current state")
def assign(data, incidencia_id: str):
    """Assign: an agent takes an unassigned incident; supervisors and admins assign anyone's to anyone"""
    principal = current_principal()
    empleado_id = data.get("empleado_id") or principal.id
    if principal.rol not in MANAGERS and empleado_id != principal.id:
        raise Problem(403, "Prohibido", "Un agente solo puede asignarse incidencias a sí mismo", slug="prohibido")
    empleado = _extra("empleados").get(empleado_id)
    if empleado is None or not empleado.get("activo"):
        raise Problem(422, "Datos no válidos", "El empleado no existe o no está activo", slug="validacion",
                      errores=[{"campo": "empleado_id", "mensaje": "No es un empleado activo", "ubicacion": "cuerpo"}])
    nombre = f"{empleado.get('nombre') or ''} {empleado.get('apellidos') or ''}".strip() or None
    actor = _actor()

    def check(incidencia: Incidencia):
        if principal.rol not in MANAGERS and incidencia.estado not in (Estado.ABIERTA, Estado.REABIERTA) \
                and (incidencia.asignada_a is None or incidencia.asignada_a.id != principal.id):
            raise Problem(403, "Prohibido", "Un agente solo puede tomar incidencias sin asignar",
                          slug="prohibido")

    def change(incidencia: Incidencia):
        if (incidencia.asignada_a is not None and incidencia.asignada_a.id == empleado_id
                and incidencia.estado in (Estado.ASIGNADA, Estado.EN_CURSO)):
            return None  # already theirs: nothing to change, nothing to notify
        tipo = incidencia.asignar(RESOLUCION, EmpleadoRef(empleado_id, nombre), actor, utc_now())
        return [events.snapshot(tipo, incidencia)]

    return _change(incidencia_id, change, check)


@blp.post("/incidencias/<incidencia_id>/inicio")
@requires(*STAFF)
@blp.response(200, IncidenciaSchema)
@blp.arguments(NoBodySchema)
@blp.alt_response(409, description="Not in asignada")
def start(_body, incidencia_id: str):
    """Start working on the incident (asignada → en_curso)"""
    actor = _actor()
    return _change(incidencia_id, lambda i: [events.snapshot(i.iniciar(RESOLUCION, actor, utc_now()), i)])


@blp.post("/incidencias/<incidencia_id>/resolucion")
@requires(*STAFF)
@blp.arguments(ResolucionInSchema)
@blp.response(200, IncidenciaSchema)
@blp.alt_response(409, description="Not in asignada or en_curso")
def resolve(data, incidencia_id: str):
    """Propose a solution: the customer then closes or reopens it"""
    actor, texto = _actor(), data["texto"].strip()
    return _change(incidencia_id,
                   lambda i: [events.snapshot(i.resolver(RESOLUCION, texto, actor, utc_now()), i)])


@blp.post("/incidencias/<incidencia_id>/comentarios")
@requires(*STAFF)
@blp.arguments(ComentarioCreateSchema)
@blp.response(201, IncidenciaSchema)
def comment(data, incidencia_id: str):
    """Comment for the customer, or write an internal note (`interna: true`)"""
    comentario_id, actor, at = new_id(), _actor(), utc_now()

    def change(incidencia: Incidencia):
        incidencia.comentar(comentario_id, actor, data["texto"].strip(), data["interna"], at)
        if data["interna"]:
            return []
        added = next(c for c in incidencia.comentarios if c.id == comentario_id)
        return [events.comentada(incidencia.id, added.to_dict())]

    return _change(incidencia_id, change, status=201)


@blp.patch("/incidencias/<incidencia_id>")
@requires(*STAFF)
@blp.arguments(IncidenciaPatchSchema)
@blp.response(200, IncidenciaSchema)
@blp.alt_response(409, description="Not editable in its current state")
def patch(data, incidencia_id: str):
    """Change the priority or the category"""
    actor = _actor()
    categoria = data.get("categoria")
    if "categoria" in data and categoria is None:
        categoria = ""

    def change(incidencia: Incidencia):
        tipo = incidencia.cambiar_datos(RESOLUCION, data.get("prioridad"), categoria, por=actor, at=utc_now())
        return [events.snapshot(tipo, incidencia)] if tipo else None

    return _change(incidencia_id, change)


@estadisticas.get("/estadisticas")
@requires(*STAFF)
@estadisticas.response(200, EstadisticasSchema)
def stats():
    """Counts by state and priority, open load per employee, time to first assignment and to resolution"""
    repository, empleados = _extra("incidencias"), _extra("empleados")
    activos = empleados.active()
    carga = repository.load_of(e["id"] for e in activos)
    sample = repository.recent(STATS_SAMPLE)
    to_assignment, to_resolution = durations(sample)
    return {
        "por_estado": {e.value: repository.count({"estado": e.value}) for e in Estado},
        "por_prioridad": {p.value: repository.count({"prioridad": p.value}) for p in Prioridad},
        "carga_por_empleado": [
            {"id": e["id"], "nombre": f"{e.get('nombre') or ''} {e.get('apellidos') or ''}".strip(),
             "rol": e.get("rol"), "abiertas": carga.get(e["id"], 0)}
            for e in activos
        ],
        "hasta_primera_asignacion": summary(to_assignment),
        "hasta_resolucion": summary(to_resolution),
        "muestra": len(sample),
    }
