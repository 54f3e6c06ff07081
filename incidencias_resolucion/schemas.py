"""The shapes of incidencias_resolucion's requests and answers."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.problems import ProblemSchema
from common.http.schemas import AnswerSchema, ChangesSchema, StrictSchema, instant, one_of, text
from cuentas.schemas import rol_empleado_field
from incidencias_replica import schemas as replica
from incidencias_dominio import REGLA_ETIQUETA, etiqueta
from incidencias_replica.schemas import CANALES, ESTADOS, PRIORIDADES, busqueda_field, estado_field, prioridad_field

from .repository import SORTS
from .respuestas import PLACEHOLDERS, unknown_placeholders
from .statistics import SEMANAS


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
                       "first, the default without `q`), recientes, prioridad"})

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


class EstadisticasSchema(AnswerSchema):
    por_estado = ma.fields.Nested(PorEstadoSchema, metadata={"description": "Incidents in each state"})
    por_prioridad = ma.fields.Nested(PorPrioridadSchema, metadata={"description": "Incidents of each priority"})
    carga_por_empleado = ma.fields.List(ma.fields.Nested(CargaSchema))
    hasta_primera_asignacion = ma.fields.Nested(DuracionesSchema)
    hasta_resolucion = ma.fields.Nested(DuracionesSchema)
    muestra = ma.fields.Integer(metadata={"description": "How many recent incidents the durations cover"})
    por_canal_y_semana = ma.fields.List(ma.fields.Nested(SemanaPorCanalSchema), metadata={
        "description": f"Incidents opened by channel in each of the last {SEMANAS} weeks, oldest first"})


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
