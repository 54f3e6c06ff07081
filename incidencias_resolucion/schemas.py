"""The shapes of incidencias_resolucion's requests and answers."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import StrictSchema, text
from incidencias_replica import schemas as replica
from incidencias_replica.schemas import ESTADOS, PRIORIDADES

from .repository import SORTS


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


class ComentarioCreateSchema(replica.ComentarioCreateSchema):
    interna = ma.fields.Boolean(load_default=False, metadata={"description": "Internal note, never shown to the customer"})


class IncidenciaPatchSchema(StrictSchema):
    prioridad = ma.fields.String(validate=ma.validate.OneOf(PRIORIDADES))
    categoria = ma.fields.String(allow_none=True, validate=ma.validate.Length(max=50))

    @ma.validates_schema
    def _something(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("Envíe prioridad o categoria.", "_schema")


# -- answers ------------------------------------------------------------------
class ComentarioSchema(replica.ComentarioSchema):
    interna = ma.fields.Boolean()


class IncidenciaSchema(replica.IncidenciaSchema):
    comentarios = ma.fields.List(ma.fields.Nested(ComentarioSchema))


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
