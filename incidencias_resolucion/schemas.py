"""The shapes of incidencias_resolucion's requests and answers."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import StrictSchema, text
from incidencias_dominio import Estado, Prioridad

from .repository import SORTS

ESTADOS = [e.value for e in Estado]
PRIORIDADES = [p.value for p in Prioridad]


class IncidenciasQuerySchema(PaginationArgs):
    estado = ma.fields.String(validate=ma.validate.OneOf(ESTADOS))
    asignada_a = ma.fields.String(validate=ma.validate.Length(min=1, max=64),
                                  metadata={"description": "An employee id, or `yo`"})
    prioridad = ma.fields.String(validate=ma.validate.OneOf(PRIORIDADES))
    categoria = ma.fields.String(validate=ma.validate.Length(min=1, max=50))
    sin_asignar = ma.fields.Boolean()
    orden = ma.fields.String(load_default="antiguedad", validate=ma.validate.OneOf(list(SORTS)),
                             metadata={"description": "antiguedad (oldest first), recientes, prioridad"})


class AsignacionSchema(StrictSchema):
    empleado_id = ma.fields.String(validate=ma.validate.Length(min=1, max=64),
                                   metadata={"description": "Omitted: the caller takes it"})


class ResolucionInSchema(StrictSchema):
    texto = text(5000, required=True)


class ComentarioCreateSchema(StrictSchema):
    texto = text(5000, required=True)
    interna = ma.fields.Boolean(load_default=False, metadata={"description": "Internal note, never shown to the customer"})


class IncidenciaPatchSchema(StrictSchema):
    prioridad = ma.fields.String(validate=ma.validate.OneOf(PRIORIDADES))
    categoria = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=50))

    @ma.validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("Envíe prioridad o categoria.", "_schema")


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
    interna = ma.fields.Boolean()
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


class DuracionesSchema(ma.Schema):
    mediana_s = ma.fields.Float(allow_none=True)
    p90_s = ma.fields.Float(allow_none=True)
    muestras = ma.fields.Integer()


class EstadisticasSchema(ma.Schema):
    por_estado = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    por_prioridad = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    carga_por_empleado = ma.fields.List(ma.fields.Dict())
    hasta_primera_asignacion = ma.fields.Nested(DuracionesSchema)
    hasta_resolucion = ma.fields.Nested(DuracionesSchema)
    muestra = ma.fields.Integer(metadata={"description": "How many recent incidents the durations cover"})
