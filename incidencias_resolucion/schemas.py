"""The shapes of incidencias_resolucion's requests and answers."""
from __future__ import annotations

from datetime import datetime, timezone

import marshmallow as ma

from common.clock import utc_now
from common.http.pagination import PaginationArgs
from common.http.problems import ProblemSchema
from common.http.schemas import AnswerSchema, ChangesSchema, StrictSchema, instant, one_of, text
from cuentas.schemas import rol_empleado_field
from incidencias_replica import schemas as replica
from incidencias_dominio import MAX_MINUTOS, REGLA_ETIQUETA, EstadoSla, etiqueta, paises_con_festivos, zonas_horarias
from incidencias_replica.schemas import CANALES, ESTADOS, PRIORIDADES, busqueda_field, estado_field, prioridad_field

from .repository import SLA_STATES, SORTS
from .respuestas import PLACEHOLDERS, unknown_placeholders
from .statistics import PERIODO, SEMANAS


class EtiquetaField(ma.fields.String):
    """A tag, as it is kept (``incidencias_dominio.etiqueta``: "VIP" is "vip")."""

    def _deserialize(self, value, attr, data, **kwargs):
        texto = super()._deserialize(value, attr, data, **kwargs)
        try:
            return etiqueta(texto)
        except ValueError:
            raise ma.ValidationError(REGLA_ETIQUETA) from None


class IncidenciasQuerySchema(PaginationArgs):
    estado = estado_field()
    asignada_a = ma.fields.String(validate=ma.validate.Length(min=1, max=64),
                                  metadata={"description": "An employee id, or `yo`"})
    prioridad = prioridad_field()
    categoria = ma.fields.String(validate=ma.validate.Length(min=1, max=50))
    sin_asignar = ma.fields.Boolean()
    cliente_id = ma.fields.String(validate=ma.validate.Length(min=1, max=64),
                                  metadata={"description": "A customer's id: their incidents, the history of "
                                                           "everything they reported"})
    etiqueta = EtiquetaField(validate=ma.validate.Length(max=100), metadata={
        "pattern": r"^\s*[^\W_][\w\s-]*$",
        "description": "Only the incidents carrying this tag (written any case: `VIP` is `vip`; letters, digits, "
                       "`-`, `_` and spaces, at most 30 once spaces are dashes)"})
    q = busqueda_field("public comments, internal notes,")
    orden = ma.fields.String(validate=ma.validate.OneOf(list(SORTS)), metadata={
        "description": "relevancia (the best matches first: only with `q`, and its default), antiguedad (oldest "
                       "first, the default without `q`), recientes, prioridad, vencimiento (only the incidents "
                       "whose service-level clock runs, the first to run out first)"})
    sla = ma.fields.String(validate=ma.validate.OneOf(list(SLA_STATES)), metadata={
        "description": "Only the incidents whose service-level clock runs and that are, now, within their time "
                       "(en_plazo), past 4/5 of it (en_riesgo) or past it (incumplido), by their first target to "
                       "run out"})

    @ma.validates_schema
    def _relevance_needs_words(self, data, **_kwargs):
        if data.get("orden") == "relevancia" and not data.get("q"):
            raise ma.ValidationError("Solo al buscar palabras (q).", "orden")

    @ma.post_load
    def _default_order(self, data, **_kwargs):
        data.setdefault("orden", "relevancia" if data.get("q") else "antiguedad")
        return data


class FusionSchema(StrictSchema):
    destino_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64), metadata={
        "description": "The incident this one duplicates, the same customer's: it takes in this one's public "
                       "comments and goes on; this one ends in `fusionada`"})


class ConsultaSchema(StrictSchema):
    pregunta = text(5000, required=True, metadata={
        "description": "What the customer is asked: a public comment; the incident waits on their answer"})


class AsignacionSchema(StrictSchema):
    empleado_id = ma.fields.String(validate=ma.validate.Length(min=1, max=64),
                                   metadata={"description": "Omitted: the caller takes it"})


RESPUESTA_ID = {"description": "A canned reply to send instead of `texto` (`GET /respuestas`): the server "
                               "puts in its placeholders for this incident and records the text sent"}


class TextoOPlantilla(StrictSchema):
    """Exactly one of ``texto`` (the employee's words) and ``respuesta_id``
    (a canned reply). Documented in words and with ``minProperties``, which
    makes the body required: a ``oneOf`` of the two would say it exactly,
    but the client generators turn it into a union the clients cannot use."""

    texto = text(5000, metadata={"description": "The text sent; or `respuesta_id` instead"})
    respuesta_id = ma.fields.String(validate=ma.validate.Length(min=1, max=100), metadata=RESPUESTA_ID)

    class Meta(StrictSchema.Meta):
        json_schema = {"minProperties": 1}

    @ma.validates_schema(skip_on_field_errors=True)
    def _exactly_one(self, data, **_kwargs):
        if "texto" in data and "respuesta_id" in data:
            raise ma.ValidationError("Envíe texto o respuesta_id, no los dos.", "respuesta_id")
        if "texto" not in data and "respuesta_id" not in data:
            raise ma.ValidationError("Este campo es obligatorio (o respuesta_id).", "texto")


class ResolucionInSchema(TextoOPlantilla):
    pass


class ComentarioCreateSchema(TextoOPlantilla):
    interna = ma.fields.Boolean(load_default=False, metadata={"description": "Internal note, never shown to the customer"})


def _placeholders_known(texto: str) -> None:
    unknown = unknown_placeholders(texto)
    if unknown:
        raise ma.ValidationError(
            f"Marcadores desconocidos: {', '.join('{' + u + '}' for u in unknown)}. Se admiten "
            f"{', '.join('{' + p + '}' for p in PLACEHOLDERS)}.")


PLANTILLA = {"description": "The text sent; {cliente}, {titulo} and {agente} are put in for the incident it is "
                            "sent on (any other {word} is refused)"}


class RespuestaCreateSchema(StrictSchema):
    titulo = text(100, required=True)
    texto = text(5000, required=True, validate=_placeholders_known, metadata=PLANTILLA)
    categoria = text(50, allow_none=True)


class RespuestaPatchSchema(ChangesSchema):
    titulo = text(100)
    texto = text(5000, validate=_placeholders_known, metadata=PLANTILLA)
    categoria = text(50, allow_none=True)


class RespuestasQuerySchema(PaginationArgs):
    incluir_retiradas = ma.fields.Boolean(load_default=False, metadata={
        "description": "Also the retired ones (not offered any more)"})


class RespuestaSchema(AnswerSchema):
    id = ma.fields.String()
    titulo = ma.fields.String()
    texto = ma.fields.String()
    categoria = ma.fields.String(allow_none=True)
    activa = ma.fields.Boolean(metadata={"description": "Offered to agents (false: retired)"})
    creada_en = instant()
    actualizada_en = instant()
    retirada_en = instant(allow_none=True)


class IncidenciaPatchSchema(ChangesSchema):
    prioridad = prioridad_field()
    categoria = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=50))


# -- answers ------------------------------------------------------------------
class ComentarioSchema(replica.ComentarioSchema):
    interna = ma.fields.Boolean()


class IncidenciaSchema(replica.IncidenciaSchema):
    comentarios = ma.fields.List(ma.fields.Nested(ComentarioSchema))
    sla = ma.fields.Nested("SlaSchema", allow_none=True, metadata={
        "description": "How it stands against its service level now (null: its priority has none)"})
    etiquetas = ma.fields.List(ma.fields.String(), metadata={
        "description": "Staff's tags, in alphabetical order (never shown to the customer)"})


class EtiquetaEnUsoSchema(AnswerSchema):
    etiqueta = ma.fields.String()
    total = ma.fields.Integer(metadata={"description": "How many incidents carry it"})


class EtiquetasSchema(AnswerSchema):
    etiquetas = ma.fields.List(ma.fields.Nested(EtiquetaEnUsoSchema), metadata={
        "description": "Every tag some incident carries, the most used first"})


class DuracionesSchema(AnswerSchema):
    mediana_s = ma.fields.Float(allow_none=True)
    p90_s = ma.fields.Float(allow_none=True)
    muestras = ma.fields.Integer()


class CargaSchema(AnswerSchema):
    id = ma.fields.String()
    nombre = ma.fields.String()
    rol = rol_empleado_field()
    abiertas = ma.fields.Integer(metadata={"description": "Open incidents assigned to the employee"})


PorEstadoSchema = AnswerSchema.from_dict({estado: ma.fields.Integer() for estado in ESTADOS}, name="PorEstado")
PorPrioridadSchema = AnswerSchema.from_dict({prioridad: ma.fields.Integer() for prioridad in PRIORIDADES},
                                            name="PorPrioridad")


SemanaPorCanalSchema = AnswerSchema.from_dict({
    "semana": ma.fields.String(metadata={"description": "The ISO week (weeks start on Monday, 00:00 UTC)",
                                         "example": "2026-W49"}),
    "desde": instant(metadata={"description": "When the week starts"}),
    **{canal: ma.fields.Integer(metadata={"description": f"Incidents opened that week by {canal}"})
       for canal in CANALES},
}, name="SemanaPorCanal")


PERIODO_MAXIMO_DIAS = 366


PRIMER_DIA, ULTIMO_DIA = datetime(2000, 1, 1, tzinfo=timezone.utc), datetime(9000, 1, 1, tzinfo=timezone.utc)
"""The instants a period may start or end at: far enough from the calendar's ends to compute with."""


def _dentro_del_calendario(instante: datetime) -> None:
    if not PRIMER_DIA <= instante <= ULTIMO_DIA:
        raise ma.ValidationError("Una fecha entre el año 2000 y el 9000.")


class EstadisticasQuerySchema(StrictSchema):
    desde = ma.fields.AwareDateTime(validate=_dentro_del_calendario, metadata={
        "description": "Start of the period (default: 30 days before `hasta`)"})
    hasta = ma.fields.AwareDateTime(validate=_dentro_del_calendario, metadata={
        "description": "End of the period, excluded (default: now)"})

    @ma.post_load
    def _periodo(self, data, **_kwargs):
        """The period completed with its defaults, then checked whole: after
        its start, and at most ``PERIODO_MAXIMO_DIAS`` long."""
        hasta = data.get("hasta") or utc_now()
        desde = data.get("desde") or hasta - PERIODO
        if hasta <= desde:
            raise ma.ValidationError("Debe ser posterior a desde.", "hasta" if "hasta" in data else "desde")
        if (hasta - desde).days > PERIODO_MAXIMO_DIAS:
            raise ma.ValidationError(f"Un periodo de {PERIODO_MAXIMO_DIAS} días como mucho.",
                                     "hasta" if "hasta" in data else "desde")
        return {"desde": desde, "hasta": hasta}


class FilaNivelSchema(AnswerSchema):
    objetivo = one_of(["primera_respuesta", "resolucion"], "ObjetivoSla")
    dimension = one_of(["total", "prioridad", "categoria", "agente"], "DimensionInforme")
    valor = ma.fields.String(metadata={"description": "The priority, category or employee id (empty: total, or no "
                                                      "category)"})
    nombre = ma.fields.String(metadata={"description": "The employee's name (agente rows)"})
    cumplidos = ma.fields.Integer()
    incumplidos = ma.fields.Integer()
    porcentaje = ma.fields.Float(allow_none=True, metadata={"description": "Met on time, of the settled ones"})


class ValoracionesDeSchema(AnswerSchema):
    valoraciones = ma.fields.Integer()
    media = ma.fields.Float(allow_none=True)


class ValoracionesAgenteSchema(ValoracionesDeSchema):
    id = ma.fields.String()
    nombre = ma.fields.String()


class ValoracionesCategoriaSchema(ValoracionesDeSchema):
    categoria = ma.fields.String(metadata={"description": "Empty: no category"})


class SatisfaccionSchema(AnswerSchema):
    valoraciones = ma.fields.Integer(metadata={"description": "Closed incidents the customer rated"})
    cerradas = ma.fields.Integer()
    tasa_respuesta = ma.fields.Float(allow_none=True, metadata={"description": "Percentage of the closed ones rated"})
    media = ma.fields.Float(allow_none=True, metadata={"description": "Average rating, 1 to 5"})
    distribucion = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(), metadata={
        "description": "How many ratings of each value, \"1\" to \"5\""})
    por_agente = ma.fields.List(ma.fields.Nested(ValoracionesAgenteSchema))
    por_categoria = ma.fields.List(ma.fields.Nested(ValoracionesCategoriaSchema))


class PeriodoSchema(AnswerSchema):
    desde = instant()
    hasta = instant()
    incidencias = ma.fields.Integer(metadata={"description": "The incidents opened in it that the figures cover"})
    completo = ma.fields.Boolean(metadata={"description": "False: more were opened; the figures cover the newest"})


class EstadisticasSchema(AnswerSchema):
    por_estado = ma.fields.Nested(PorEstadoSchema, metadata={"description": "Incidents in each state"})
    por_prioridad = ma.fields.Nested(PorPrioridadSchema, metadata={"description": "Incidents of each priority"})
    carga_por_empleado = ma.fields.List(ma.fields.Nested(CargaSchema))
    hasta_primera_asignacion = ma.fields.Nested(DuracionesSchema)
    hasta_resolucion = ma.fields.Nested(DuracionesSchema)
    muestra = ma.fields.Integer(metadata={"description": "How many recent incidents the durations cover"})
    por_canal_y_semana = ma.fields.List(ma.fields.Nested(SemanaPorCanalSchema), metadata={
        "description": f"Incidents opened by channel in each of the last {SEMANAS} weeks, oldest first"})
    periodo = ma.fields.Nested(PeriodoSchema, metadata={"description": "What the figures below cover"})
    niveles_de_servicio = ma.fields.List(ma.fields.Nested(FilaNivelSchema), metadata={
        "description": "Service levels kept, per target: in total, by priority, category and agent"})
    satisfaccion = ma.fields.Nested(SatisfaccionSchema)
    espera_cliente = ma.fields.Nested(DuracionesSchema, metadata={
        "description": "How long questions kept incidents waiting on their customers"})


LOTE_MAX = 100
"""The most incidents one bulk request acts on."""
CAMPO_DE_ACCION = {"asignar": "empleado_id", "prioridad": "prioridad", "categoria": "categoria",
                   "etiqueta": "etiqueta"}
"""Each bulk action, and the field that says what it sets."""


class LoteSchema(StrictSchema):
    """One change for up to ``LOTE_MAX`` incidents; what it needs besides the
    incidents depends on ``accion``."""

    incidencias = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=64)), required=True,
                                 validate=ma.validate.Length(min=1, max=LOTE_MAX),
                                 metadata={"description": f"The incidents' ids (1 to {LOTE_MAX}, each once)",
                                           "uniqueItems": True})
    accion = one_of(tuple(CAMPO_DE_ACCION), "AccionLote", required=True, metadata={
        "description": "asignar (to `empleado_id`), prioridad, categoria (null clears it) or etiqueta (put on)"})
    empleado_id = ma.fields.String(validate=ma.validate.Length(min=1, max=64))
    prioridad = prioridad_field()
    categoria = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=50))
    etiqueta = EtiquetaField(validate=ma.validate.Length(max=100))

    @ma.validates_schema(skip_on_field_errors=True)
    def _what_the_action_needs(self, data, **_kwargs):
        ids = data["incidencias"]
        if len(set(ids)) != len(ids):
            raise ma.ValidationError("Cada incidencia una sola vez.", "incidencias")
        needed = CAMPO_DE_ACCION[data["accion"]]
        if needed not in data:
            raise ma.ValidationError(f"Obligatorio para la acción {data['accion']}.", needed)
        extra = sorted(field for field in CAMPO_DE_ACCION.values() if field in data and field != needed)
        if extra:
            raise ma.ValidationError(f"No se envía con la acción {data['accion']}.", extra[0])


class ProblemaLoteSchema(ProblemSchema):
    """A refused incident's problem document, its extension members (the
    state a conflict names, say) kept as the operation alone answers them."""

    @ma.post_dump(pass_original=True)
    def _extensions(self, data, original, **_kwargs):
        return {**original, **data}


class ResultadoLoteSchema(AnswerSchema):
    incidencia_id = ma.fields.String()
    aplicada = ma.fields.Boolean(metadata={"description": "Applied (or it was so already); false: refused"})
    problema = ma.fields.Nested(ProblemaLoteSchema, allow_none=True, metadata={
        "description": "Why it was refused, as the operation on that incident alone would answer"})


class LoteResultadoSchema(AnswerSchema):
    resultados = ma.fields.List(ma.fields.Nested(ResultadoLoteSchema), metadata={
        "description": "One per incident, in the order asked"})


# -- service levels (``/sla``) ------------------------------------------------------
HORA = {"pattern": r"^([01]\d|2[0-3]):[0-5]\d$", "example": "09:00"}


def _zona_conocida(zona: str) -> None:
    if zona not in zonas_horarias():
        raise ma.ValidationError("Zona horaria desconocida (una de la base de datos IANA, como Europe/Madrid).")


class CalendarioSchema(StrictSchema):
    """The working time the targets count in."""

    zona = ma.fields.String(required=True, validate=_zona_conocida, metadata={
        "description": "IANA time zone the working hours are in", "example": "Europe/Madrid"})
    dias = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(0, 6)), required=True,
                          validate=ma.validate.Length(min=1, max=7), metadata={
                              "description": "Working weekdays, 0 = Monday … 6 = Sunday", "example": [0, 1, 2, 3, 4]})
    desde = ma.fields.String(required=True, validate=ma.validate.Regexp(HORA["pattern"], error="Una hora HH:MM."),
                             metadata={"description": "Start of the working day, local time", **HORA})
    hasta = ma.fields.String(required=True, validate=ma.validate.Regexp(HORA["pattern"], error="Una hora HH:MM."),
                             metadata={"description": "End of the working day, local time (after `desde`)",
                                       "example": "18:00"})
    pais = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=2, max=3), metadata={
        "description": "Country whose public holidays are closing days (ISO 3166 code); null: none", "example": "ES"})
    region = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(min=1, max=10),
                              metadata={"description": "The country's region, for its own holidays (ISO 3166-2 "
                                                       "subdivision, as `MD` for Madrid)", "example": "MD"})
    cierres = ma.fields.List(ma.fields.Date(), load_default=list, validate=ma.validate.Length(max=366), metadata={
        "description": "Extra closing days"})

    @ma.validates_schema(skip_on_field_errors=False)
    def _coherente(self, data, **_kwargs):
        """Each rule of the whole, also when another field is wrong (only
        the fields that loaded are in ``data``), so one answer names them all."""
        errors: dict[str, list[str]] = {}
        if data.get("desde") and data.get("hasta") and data["hasta"] <= data["desde"]:
            errors["hasta"] = ["Debe ser posterior a desde."]
        pais, region = data.get("pais"), data.get("region")
        paises = paises_con_festivos()
        if "pais" not in data or "region" not in data:
            pass  # one of them is wrong already: its own error says so
        elif pais is not None and pais not in paises:
            errors["pais"] = ["País sin calendario de festivos conocido (código ISO 3166, como ES)."]
        elif region is not None and pais is None:
            errors["region"] = ["Una región solo con su país."]
        elif region is not None and region not in paises[pais]:
            errors["region"] = [f"Región desconocida en {pais}."]
        if len(set(data.get("dias") or ())) != len(data.get("dias") or ()):
            errors["dias"] = ["Cada día una vez."]
        if errors:
            raise ma.ValidationError(errors)


MINUTOS = {"validate": ma.validate.Range(1, MAX_MINUTOS, error=f"De 1 a {MAX_MINUTOS} minutos.")}


class ObjetivosSchema(StrictSchema):
    primera_respuesta_minutos = ma.fields.Integer(required=True, **MINUTOS, metadata={
        "description": "Business minutes from the opening to staff's first public reply, question or solution"})
    resolucion_minutos = ma.fields.Integer(required=True, **MINUTOS, metadata={
        "description": "Business minutes from the opening to the solution (the clock stops while it waits on the "
                       "customer)"})


def _por_prioridad(**kwargs) -> ma.fields.Dict:
    return ma.fields.Dict(keys=prioridad_field(), values=ma.fields.Nested(ObjetivosSchema), **kwargs)


class PoliticaSlaSchema(StrictSchema):
    calendario = ma.fields.Nested(CalendarioSchema, required=True)
    por_prioridad = _por_prioridad(required=True, metadata={
        "description": "The targets of each priority; a priority left out has no service level"})
    por_categoria = ma.fields.Dict(keys=ma.fields.String(validate=ma.validate.Length(min=1, max=50)),
                                   values=_por_prioridad(), load_default=dict,
                                   validate=ma.validate.Length(max=100), metadata={
                                       "description": "Targets that replace their priority's in one category"})


class CalendarioAnswerSchema(AnswerSchema):
    zona = ma.fields.String()
    dias = ma.fields.List(ma.fields.Integer(), metadata={"description": "0 = Monday … 6 = Sunday"})
    desde = ma.fields.String(metadata=HORA)
    hasta = ma.fields.String(metadata={**HORA, "example": "18:00"})
    pais = ma.fields.String(allow_none=True)
    region = ma.fields.String(allow_none=True)
    cierres = ma.fields.List(ma.fields.Date())


class PoliticaSlaAnswerSchema(AnswerSchema):
    calendario = ma.fields.Nested(CalendarioAnswerSchema)
    por_prioridad = _por_prioridad()
    por_categoria = ma.fields.Dict(keys=ma.fields.String(), values=_por_prioridad())
    version = ma.fields.Integer(metadata={"description": "Counts the changes; 0 while never set (no service levels)"})
    actualizada_en = instant(allow_none=True)


class SeguimientoSchema(AnswerSchema):
    objetivo_minutos = ma.fields.Integer(metadata={"description": "The target, in business minutes"})
    estado = one_of([e.value for e in EstadoSla], "EstadoSla")
    vence_en = instant(allow_none=True, metadata={
        "description": "When its time runs out (null while the clock is stopped short of it)"})
    en_riesgo_desde = instant(allow_none=True, metadata={"description": "When 4/5 of its time are gone"})
    cumplido_en = instant(allow_none=True)


class SlaSchema(AnswerSchema):
    primera_respuesta = ma.fields.Nested(SeguimientoSchema)
    resolucion = ma.fields.Nested(SeguimientoSchema)


# -- staff's notifications ------------------------------------------------------------
TIPOS_AVISO = ["incidencia.sla_en_riesgo", "incidencia.sla_incumplido"]


class NotificacionesQuerySchema(PaginationArgs):
    no_leidas = ma.fields.Boolean(load_default=False)


class NotificacionEquipoSchema(AnswerSchema):
    id = ma.fields.String()
    incidencia_id = ma.fields.String()
    tipo = one_of(TIPOS_AVISO, "TipoAviso", metadata={
        "description": "A service-level target at risk (4/5 of its time gone: told to whom holds the incident) or "
                       "run out (told to the supervisors)"})
    objetivo = one_of(["primera_respuesta", "resolucion"], "ObjetivoSla")
    mensaje = ma.fields.String()
    creada_en = instant()
    leida = ma.fields.Boolean()
