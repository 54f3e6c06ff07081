"""incidencias_resolucion's HTTP API: employees work the incidents. Each view
authenticates, parses, calls one use case (``services``) and shapes the
answer; refusals are answered by the HTTP plumbing."""
from __future__ import annotations

from flask import Response, url_for
from flask_smorest import Blueprint

from common.http.app import application_problem, components
from common.http.operations import LOCATION, created, operation, same_resource
from common.http.pagination import page_schema, paginate
from common.http.schemas import NoBodySchema, as_documented
from common.http.search import BAD_SEARCH
from cuentas.roles import ADMIN, ROLES_GESTION, ROLES_PERSONAL
from incidencias_dominio import Incidencia
from incidencias_replica.http import PROBLEMS, current_actor
from incidencias_replica.views import incident_view

from . import informe, services
from .schemas import (
    CAMPO_DE_ACCION, AsignacionSchema, ComentarioCreateSchema, ConsultaSchema, EstadisticasSchema, FusionSchema, IncidenciaPatchSchema,
    EstadisticasQuerySchema, IncidenciaSchema, NotificacionEquipoSchema, NotificacionesQuerySchema, PoliticaSlaAnswerSchema, PoliticaSlaSchema,
    EtiquetasSchema, IncidenciasQuerySchema, LoteResultadoSchema, LoteSchema, ResolucionInSchema,
    RespuestaCreateSchema, RespuestaPatchSchema, RespuestaSchema, RespuestasQuerySchema
)

blp = Blueprint("incidencias", __name__, description="Incidents, for the employees who resolve them")
estadisticas = Blueprint("estadisticas", __name__, description="Workload and response times")
respuestas = Blueprint("respuestas", __name__, description="Canned replies agents send when they comment or resolve")
sla = Blueprint("sla", __name__, description="The service levels: targets per priority in business time")
notificaciones = Blueprint("notificaciones", __name__,
                           description="What staff are told: service-level targets at risk or run out")


def staff_view(incidencia: Incidencia) -> dict:
    """The incident as ``IncidenciaSchema`` documents it, internal notes included."""
    return incident_view(incidencia, incluir_internas=True)



def _answer(incidencia: Incidencia, status: int = 200):
    return as_documented(staff_view(incidencia), status)


@operation(blp, "GET", "/incidencias", ROLES_PERSONAL, page_schema(IncidenciaSchema, "IncidenciasStaffPage"),
           name="listarIncidencias", query=IncidenciasQuerySchema, refusals={400: BAD_SEARCH})
def list_incidencias(args):
    """Incidents, filtered and sorted (oldest first by default; with `q`, those holding every word, best first)"""
    page = paginate(args, services.buscar_incidencias(components().incidencias, current_actor(), args, args["orden"]))
    page["elementos"] = [staff_view(i) for i in page["elementos"]]
    return as_documented(page)


@operation(blp, "GET", "/incidencias/<incidencia_id>", ROLES_PERSONAL, IncidenciaSchema, name="verIncidencia",
           links=same_resource("incidencia_id", "asignarIncidencia", "iniciarIncidencia", "resolverIncidencia",
                               "comentarIncidencia", "consultarCliente", "actualizarIncidencia"))
def get_incidencia(incidencia_id: str):
    """An incident with its history, comments and internal notes"""
    return _answer(services.incidencia(components().incidencias, incidencia_id))


@operation(blp, "POST", "/incidencias/<incidencia_id>/asignacion", ROLES_PERSONAL, IncidenciaSchema,
           name="asignarIncidencia", body=AsignacionSchema, refusals={409: "Not assignable in its current state"},
           idempotent=True)
def assign(data, incidencia_id: str, idempotency):
    """Assign: an agent takes an unassigned incident; supervisors and admins assign anyone's to anyone"""
    c = components()
    return _answer(services.asignar(c.incidencias, c.empleados, current_actor(), incidencia_id, data.get("empleado_id"),
                                    c.settings.portal_url, idempotency))


@operation(blp, "POST", "/incidencias/<incidencia_id>/fusion", ROLES_GESTION, IncidenciaSchema,
           name="fusionarIncidencia", body=FusionSchema, idempotent=True,
           refusals={409: "This incident is not in a state resolucion owns (or was merged into another one)",
                     422: "`destino_id` unknown, this incident itself, another customer's, or not in a state "
                          "resolucion owns"})
def merge(data, incidencia_id: str, idempotency):
    """Merge a duplicate into another incident of the same customer (supervisors and admins): that one takes
    in its public comments and records it; this one ends in `fusionada`, pointing to it"""
    return _answer(services.fusionar(components().incidencias, current_actor(), incidencia_id, data["destino_id"],
                                     idempotency))


@operation(blp, "POST", "/incidencias/<incidencia_id>/inicio", ROLES_PERSONAL, IncidenciaSchema,
           name="iniciarIncidencia", body=NoBodySchema,
           refusals={409: "Not in asignada"}, idempotent=True)
def start(_body, incidencia_id: str, idempotency):
    """Start working on the incident (asignada → en_curso)"""
    return _answer(services.iniciar(components().incidencias, current_actor(), incidencia_id, idempotency))


@operation(blp, "POST", "/incidencias/<incidencia_id>/resolucion", ROLES_PERSONAL, IncidenciaSchema,
           name="resolverIncidencia", body=ResolucionInSchema, refusals={409: "Not in asignada or en_curso"},
           idempotent=True)
def resolve(data, incidencia_id: str, idempotency):
    """Propose a solution: the customer then closes or reopens it (`texto`, or a canned reply's `respuesta_id`)"""
    c = components()
    texto = services.texto_a_enviar(c.respuestas, data.get("texto"), data.get("respuesta_id"))
    return _answer(services.resolver(c.incidencias, current_actor(), incidencia_id, texto, idempotency))


@operation(blp, "POST", "/incidencias/<incidencia_id>/consulta", ROLES_PERSONAL, IncidenciaSchema,
           name="consultarCliente", body=ConsultaSchema, idempotent=True,
           refusals={409: "Not asignada or en_curso"})
def ask(data, incidencia_id: str, idempotency):
    """Ask the customer something: the question is a public comment, and the incident waits on their answer
    (`esperando_cliente`), its service-level clock stopped; their comment takes it back to `en_curso`"""
    return _answer(services.consultar(components().incidencias, current_actor(), incidencia_id, data["pregunta"],
                                      idempotency))


@operation(blp, "POST", "/incidencias/<incidencia_id>/comentarios", ROLES_PERSONAL, IncidenciaSchema,
           name="comentarIncidencia", status=201,
           body=ComentarioCreateSchema, idempotent=True)
def comment(data, incidencia_id: str, idempotency):
    """Comment for the customer, or write an internal note (`interna: true`); `texto`, or a canned reply's `respuesta_id`"""
    c = components()
    texto = services.texto_a_enviar(c.respuestas, data.get("texto"), data.get("respuesta_id"))
    return _answer(services.comentar(c.incidencias, current_actor(), incidencia_id, texto, data["interna"],
                                     idempotency), 201)


@operation(blp, "PATCH", "/incidencias/<incidencia_id>", ROLES_PERSONAL, IncidenciaSchema,
           name="actualizarIncidencia", body=IncidenciaPatchSchema, refusals={409: "Not editable in its current state"})
def patch(data, incidencia_id: str):
    """Change the priority or the category"""
    c = components()
    return _answer(services.cambiar_datos(c.incidencias, current_actor(), incidencia_id, data, c.politicas.politica()))


@operation(blp, "PUT", "/incidencias/<incidencia_id>/etiquetas/<etiqueta>", ROLES_PERSONAL, IncidenciaSchema,
           name="etiquetarIncidencia")
def tag(incidencia_id: str, etiqueta: str):
    """Tag the incident (staff only; written any case, kept in lower case, spaces as `-`); again: no change"""
    c = components()
    return _answer(services.etiquetar(c.incidencias, c.etiquetas, current_actor(), incidencia_id, etiqueta))


@operation(blp, "DELETE", "/incidencias/<incidencia_id>/etiquetas/<etiqueta>", ROLES_PERSONAL, IncidenciaSchema,
           name="quitarEtiqueta")
def untag(incidencia_id: str, etiqueta: str):
    """Take a tag off the incident; one it does not carry: no change"""
    return _answer(services.quitar_etiqueta(components().incidencias, current_actor(), incidencia_id, etiqueta))


@operation(blp, "GET", "/etiquetas", ROLES_PERSONAL, EtiquetasSchema, name="listarEtiquetas")
def list_etiquetas():
    """The tags in use, with how many incidents carry each"""
    return {"etiquetas": services.etiquetas_en_uso(components().etiquetas)}


@operation(blp, "POST", "/incidencias/lote", ROLES_GESTION, LoteResultadoSchema, name="cambiarEnLote",
           body=LoteSchema, idempotent=True)
def bulk(data, idempotency):
    """One change on up to 100 incidents (supervisors and admins): assign, priority, category or a tag

    Each incident gets the normal change, with its own event, or is refused
    as that operation alone would refuse it; the answer has one result per
    incident, in order, and is 200 whatever each result."""
    c, accion = components(), data["accion"]
    resultados = services.cambiar_en_lote(c.incidencias, c.empleados, c.etiquetas, current_actor(),
                                          data["incidencias"], accion, data[CAMPO_DE_ACCION[accion]],
                                          c.settings.portal_url, idempotency, c.politicas.politica())
    return {"resultados": [{"incidencia_id": i, "aplicada": refused is None,
                            "problema": None if refused is None else _problem_of(refused)}
                           for i, refused in resultados]}


def _problem_of(refused: Exception) -> dict:
    """The problem document the operation alone would answer ``refused`` with (``PROBLEMS``, else a use case's)."""
    for error_type, to_problem in PROBLEMS.items():
        if isinstance(refused, error_type):
            return to_problem(refused).to_dict()
    return application_problem(refused).to_dict()


@operation(estadisticas, "GET", "/estadisticas", ROLES_PERSONAL, EstadisticasSchema, name="verEstadisticas",
           query=EstadisticasQuerySchema)
def stats(args):
    """Counts by state and priority, open load per employee, times to assignment and resolution; over a period,
    the service levels kept, the customers' ratings and the time waiting on them"""
    c = components()
    return services.estadisticas(c.incidencias, c.empleados, args.get("desde"), args.get("hasta"))


CSV = {"responses": {"200": {"description": "The rows as CSV (RFC 4180), with a header line",
                             "content": {"text/csv": {"schema": {"type": "string"}}}}}}


@operation(estadisticas, "GET", "/estadisticas/informe.csv", ROLES_PERSONAL, None, name="descargarInforme",
           query=EstadisticasQuerySchema, doc=CSV)
def stats_csv(args):
    """The period's service levels and ratings as CSV rows (columns: seccion, objetivo, dimension, valor, nombre,
    cumplidos, incumplidos, porcentaje, valoraciones, media)"""
    c = components()
    figuras = services.estadisticas(c.incidencias, c.empleados, args.get("desde"), args.get("hasta"))
    desde, hasta = figuras["periodo"]["desde"][:10], figuras["periodo"]["hasta"][:10]
    return Response(informe.como_csv(figuras), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="informe-{desde}-{hasta}.csv"'})


_RESPUESTA_ACTIONS = ("verRespuesta", "actualizarRespuesta", "retirarRespuesta")


@operation(respuestas, "GET", "/respuestas", ROLES_PERSONAL, page_schema(RespuestaSchema, "RespuestasPage"),
           name="listarRespuestas", query=RespuestasQuerySchema)
def list_respuestas(args):
    """The canned replies, by title (only those offered, unless `incluir_retiradas`)"""
    return paginate(args, services.listar_respuestas(components().respuestas, args["incluir_retiradas"]))


@operation(respuestas, "POST", "/respuestas", ROLES_GESTION, RespuestaSchema, name="crearRespuesta", status=201,
           body=RespuestaCreateSchema, idempotent=True, headers=LOCATION,
           links=created("respuesta_id", *_RESPUESTA_ACTIONS))
def create_respuesta(data, idempotency):
    """Write a canned reply (supervisors and admins)"""
    respuesta = services.crear_respuesta(components().respuestas, data, idempotency)
    return respuesta, 201, {"Location": url_for("respuestas.get_respuesta", respuesta_id=respuesta.id)}


@operation(respuestas, "GET", "/respuestas/<respuesta_id>", ROLES_PERSONAL, RespuestaSchema, name="verRespuesta",
           links=same_resource("respuesta_id", "actualizarRespuesta", "retirarRespuesta"))
def get_respuesta(respuesta_id: str):
    """One canned reply"""
    return services.respuesta(components().respuestas, respuesta_id)


@operation(respuestas, "PATCH", "/respuestas/<respuesta_id>", ROLES_GESTION, RespuestaSchema,
           name="actualizarRespuesta", body=RespuestaPatchSchema)
def patch_respuesta(data, respuesta_id: str):
    """Edit a canned reply's title, text or category (what was sent with it stays as sent)"""
    return services.cambiar_respuesta(components().respuestas, respuesta_id, data)


@operation(respuestas, "POST", "/respuestas/<respuesta_id>/retirada", ROLES_GESTION, RespuestaSchema,
           name="retirarRespuesta", body=NoBodySchema, idempotent=True)
def retire_respuesta(_body, respuesta_id: str, idempotency):
    """Retire a canned reply: agents are not offered it any more; it is kept (retiring it again changes nothing)"""
    return services.retirar_respuesta(components().respuestas, respuesta_id, idempotency)


@operation(sla, "GET", "/sla", ROLES_PERSONAL, PoliticaSlaAnswerSchema, name="verPoliticaSla")
def get_sla():
    """The service-level policy: first-answer and resolution targets per priority, in business time"""
    return as_documented(services.politica_sla(components().politicas))


@operation(sla, "PUT", "/sla", (ADMIN,), PoliticaSlaAnswerSchema, name="fijarPoliticaSla", body=PoliticaSlaSchema,
           refusals={422: "A calendar the holiday tables do not know"})
def put_sla(data):
    """Set the service-level policy (admins): incidents opened from now on, and those whose priority or
    category change, are held to it; the same policy again changes nothing"""
    return as_documented(services.fijar_politica_sla(components().politicas, data))


@operation(notificaciones, "GET", "/notificaciones", ROLES_PERSONAL,
           page_schema(NotificacionEquipoSchema, "NotificacionesEquipoPage"), name="listarNotificaciones",
           query=NotificacionesQuerySchema)
def list_notificaciones(args):
    """The caller's notifications, newest first"""
    return paginate(args, services.notificaciones_de(components().notificaciones, current_actor().id,
                                                     args["no_leidas"]))


@operation(notificaciones, "POST", "/notificaciones/<notificacion_id>/lectura", ROLES_PERSONAL,
           NotificacionEquipoSchema, name="marcarNotificacionLeida", body=NoBodySchema, idempotent=True)
def mark_read(_body, notificacion_id: str, idempotency):
    """Mark one of the caller's notifications as read"""
    return services.marcar_leida(components().notificaciones, current_actor().id, notificacion_id, idempotency)
