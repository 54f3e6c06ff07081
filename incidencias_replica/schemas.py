"""The incident's answer shapes, the same in both services; each service
subclasses what it adds (apertura: the cancellation request; resolucion:
internal notes)."""
from __future__ import annotations

import marshmallow as ma

from common.http.schemas import StrictSchema, text
from incidencias_dominio import Estado, Prioridad

ESTADOS = [e.value for e in Estado]
PRIORIDADES = [p.value for p in Prioridad]


class ComentarioCreateSchema(StrictSchema):
    texto = text(5000, required=True)


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
