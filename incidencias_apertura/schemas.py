"""The shapes of incidencias_apertura's requests and answers."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import StrictSchema, text
from incidencias_replica import schemas as replica
from incidencias_replica.schemas import ESTADOS, PRIORIDADES


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
    prioridad = ma.fields.String(load_default="media", validate=ma.validate.OneOf(PRIORIDADES))


class ReaperturaSchema(StrictSchema):
    motivo = text(2000, required=True)


class CancelacionSchema(StrictSchema):
    motivo = text(2000, allow_none=True)


class IncidenciasQuerySchema(PaginationArgs):
    estado = ma.fields.String(validate=ma.validate.OneOf(ESTADOS))


class NotificacionesQuerySchema(PaginationArgs):
    no_leidas = ma.fields.Boolean(load_default=False)


# -- answers ------------------------------------------------------------------
class IncidenciaSchema(replica.IncidenciaSchema):
    cancelacion_solicitada_en = ma.fields.String(allow_none=True)


class NotificacionSchema(ma.Schema):
    id = ma.fields.String()
    incidencia_id = ma.fields.String()
    tipo = ma.fields.String()
    mensaje = ma.fields.String()
    creada_en = ma.fields.String()
    leida = ma.fields.Boolean()


class LecturaSchema(ma.Schema):
    marcadas = ma.fields.Integer()
