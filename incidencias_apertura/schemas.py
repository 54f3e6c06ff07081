"""The shapes of incidencias_apertura's requests and answers."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import AnswerSchema, StrictSchema, instant, one_of, text
from incidencias_replica import schemas as replica
from incidencias_replica.schemas import busqueda_field, estado_field, prioridad_field

from .notificaciones import TIPOS_NOTIFICACION


class ProductoInSchema(StrictSchema):
    referencia = text(100, required=True)
    nombre = text(200, required=True)
    pedido = text(100, allow_none=True)


class IncidenciaCreateSchema(StrictSchema):
    titulo = text(200, required=True)
    descripcion = text(5000, required=True)
    producto = ma.fields.Nested(ProductoInSchema, required=True)
    pedido = text(100, allow_none=True, metadata={"description": "Order the product came in"})
    categoria = text(50, allow_none=True)
    prioridad = prioridad_field(load_default="media")


class ReaperturaSchema(StrictSchema):
    motivo = text(2000, required=True)


class ValoracionInSchema(StrictSchema):
    puntuacion = ma.fields.Integer(required=True, strict=True, validate=ma.validate.Range(1, 5), metadata={
        "description": "1 (very unhappy) to 5 (very happy)"})
    comentario = text(2000, allow_none=True, metadata={"description": "Anything the customer wants to add"})


class CancelacionSchema(StrictSchema):
    motivo = text(2000, allow_none=True)


class IncidenciasQuerySchema(PaginationArgs):
    estado = estado_field()
    q = busqueda_field()


class NotificacionesQuerySchema(PaginationArgs):
    no_leidas = ma.fields.Boolean(load_default=False)


# -- answers ------------------------------------------------------------------
class IncidenciaSchema(replica.IncidenciaSchema):
    cancelacion_solicitada_en = instant(allow_none=True, metadata={
        "description": "When the customer asked to cancel an incident staff are working on"})
    primera_respuesta_prevista = instant(allow_none=True, metadata={
        "description": "By when staff will first answer, in the working hours of the service level of its "
                       "priority (null once answered, or when its priority has no service level)"})


class NotificacionSchema(AnswerSchema):
    id = ma.fields.String()
    incidencia_id = ma.fields.String()
    tipo = one_of(TIPOS_NOTIFICACION, "TipoNotificacion")
    mensaje = ma.fields.String()
    creada_en = instant()
    leida = ma.fields.Boolean()


class LecturaSchema(AnswerSchema):
    marcadas = ma.fields.Integer()
