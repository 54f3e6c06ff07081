"""The shapes of incidencias_apertura's requests and answers."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import StrictSchema, text
from incidencias_dominio import Estado, Prioridad

ESTADOS = [e.value for e in Estado]
PRIORIDADES = [p.value for p in Prioridad]


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


class ComentarioCreateSchema(StrictSchema):
    texto = text(5000, required=True)


class ReaperturaSchema(StrictSchema):
    motivo = text(2000, required=True)


class CancelacionSchema(StrictSchema):
    motivo = text(2000, allow_none=True)


class IncidenciasQuerySchema(PaginationArgs):
    estado = ma.fields.String(validate=ma.validate.OneOf(ESTADOS))


class NotificacionesQuerySchema(PaginationArgs):
    no_leidas = ma.fields.Boolean(load_default=False)


# -- answers ------------------------------------------------------------------
class PersonaSchema(ma.Schema):
    id = ma.fields.String()
    nombre = ma.fields.String(allow_none=True)


class ActorSchema(PersonaSchema):
    rol = ma.fields.String()


class ProductoSchema(ma.Schema):
    referencia = ma.fields.String()
    nombre = ma.fields.String()
    pedido = ma.fields.String(allow_none=True)


class HistorialSchema(ma.Schema):
    de = ma.fields.String(allow_none=True)
    a = ma.fields.String()
    por = ma.fields.Nested(ActorSchema)
    en = ma.fields.String()
    motivo = ma.fields.String(allow_none=True)
    cambios = ma.fields.Dict(allow_none=True)


class ComentarioSchema(ma.Schema):
    id = ma.fields.String()
    autor = ma.fields.Nested(ActorSchema)
    texto = ma.fields.String()
    creado_en = ma.fields.String()


class ResolucionSchema(ma.Schema):
    texto = ma.fields.String()
    por = ma.fields.Nested(PersonaSchema)
    en = ma.fields.String()


class IncidenciaSchema(ma.Schema):
    id = ma.fields.String()
    cliente = ma.fields.Nested(PersonaSchema)
    producto = ma.fields.Nested(ProductoSchema)
    titulo = ma.fields.String()
    descripcion = ma.fields.String()
    categoria = ma.fields.String(allow_none=True)
    prioridad = ma.fields.String()
    estado = ma.fields.String()
    asignada_a = ma.fields.Nested(PersonaSchema, allow_none=True)
    version = ma.fields.Integer()
    historial = ma.fields.List(ma.fields.Nested(HistorialSchema))
    comentarios = ma.fields.List(ma.fields.Nested(ComentarioSchema))
    resolucion = ma.fields.Nested(ResolucionSchema, allow_none=True)
    creada_en = ma.fields.String()
    actualizada_en = ma.fields.String()
    resuelta_en = ma.fields.String(allow_none=True)
    cerrada_en = ma.fields.String(allow_none=True)
    motivo_reapertura = ma.fields.String(allow_none=True)
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
