"""The incident's answer shapes, the same in both services; each service
subclasses what it adds (apertura: the cancellation request; resolucion:
internal notes)."""
from __future__ import annotations

import marshmallow as ma

from common.http.schemas import AnswerSchema, StrictSchema, instant, one_of, text
from common.http.search import FullTextQuery
from cuentas.roles import ROLES_CLIENTE, ROLES_PERSONAL
from incidencias_dominio import SISTEMA, Canal, Estado, Prioridad

ESTADOS = [e.value for e in Estado]
PRIORIDADES = [p.value for p in Prioridad]
CANALES = [c.value for c in Canal]
ROLES_ACTOR = [*ROLES_CLIENTE, *ROLES_PERSONAL, SISTEMA.rol]
"""Who can act on an incident: the roles of the tokens, and the system."""


def estado_field(**kwargs) -> ma.fields.String:
    """An incident's state: the ``Estado`` enum of the documents."""
    return one_of(ESTADOS, "Estado", **kwargs)


def prioridad_field(**kwargs) -> ma.fields.String:
    """An incident's priority: the ``Prioridad`` enum of the documents."""
    return one_of(PRIORIDADES, "Prioridad", **kwargs)


def busqueda_field(quien: str = "the caller's") -> FullTextQuery:
    """``q``: words every incident listed must hold (``common.http.search``)."""
    return FullTextQuery(metadata={"description": (
        f"Words every incident listed holds in its title, description, {quien} comments or resolution, "
        "whatever their case and accents (`lampara` finds `Lámpara`); the best matches come first")})


class ComentarioCreateSchema(StrictSchema):
    texto = text(5000, required=True)


class PersonaSchema(AnswerSchema):
    id = ma.fields.String()
    nombre = ma.fields.String(allow_none=True)


class ActorSchema(PersonaSchema):
    rol = one_of(ROLES_ACTOR, name="Rol")


class ActorCambioSchema(AnswerSchema):
    """Who made a change in the history: their id and role (the names are
    in the comments and the assignee, which say who someone is)."""

    id = ma.fields.String()
    rol = one_of(ROLES_ACTOR, name="Rol")


class ProductoSchema(AnswerSchema):
    referencia = ma.fields.String()
    nombre = ma.fields.String()
    pedido = ma.fields.String(allow_none=True)


class HistorialSchema(AnswerSchema):
    de = estado_field(allow_none=True)
    a = estado_field()
    por = ma.fields.Nested(ActorCambioSchema)
    en = instant()
    motivo = ma.fields.String(allow_none=True)
    cambios = ma.fields.Dict(allow_none=True, metadata={
        "description": "What a change of data or of assignee changed: {campo: {de, a}}"})


class ComentarioSchema(AnswerSchema):
    id = ma.fields.String()
    autor = ma.fields.Nested(ActorSchema)
    texto = ma.fields.String()
    creado_en = instant()


class ResolucionSchema(AnswerSchema):
    texto = ma.fields.String()
    por = ma.fields.Nested(PersonaSchema)
    en = instant()


class ValoracionSchema(AnswerSchema):
    puntuacion = ma.fields.Integer(metadata={"description": "1 (very unhappy) to 5 (very happy)", "minimum": 1,
                                             "maximum": 5})
    comentario = ma.fields.String(allow_none=True)
    en = instant()


class IncidenciaSchema(AnswerSchema):
    id = ma.fields.String()
    cliente = ma.fields.Nested(PersonaSchema)
    producto = ma.fields.Nested(ProductoSchema)
    titulo = ma.fields.String()
    descripcion = ma.fields.String()
    categoria = ma.fields.String(allow_none=True)
    prioridad = prioridad_field()
    estado = estado_field()
    asignada_a = ma.fields.Nested(PersonaSchema, allow_none=True)
    version = ma.fields.Integer()
    historial = ma.fields.List(ma.fields.Nested(HistorialSchema))
    comentarios = ma.fields.List(ma.fields.Nested(ComentarioSchema))
    resolucion = ma.fields.Nested(ResolucionSchema, allow_none=True)
    creada_en = instant()
    actualizada_en = instant()
    resuelta_en = instant(allow_none=True)
    cerrada_en = instant(allow_none=True)
    motivo_reapertura = ma.fields.String(allow_none=True)
    canal = one_of(CANALES, "Canal", metadata={
        "description": "How it came in: the portal or the API (web), a phone call staff took (telefono), e-mail"})
    fusionada_en = ma.fields.String(allow_none=True, metadata={
        "description": "In `fusionada`: the incident of the same customer this one was merged into, where it goes on"})
    fusionadas = ma.fields.List(ma.fields.String(), metadata={
        "description": "The incidents merged into this one (their public comments were copied here)"})
    valoracion = ma.fields.Nested(ValoracionSchema, allow_none=True, metadata={
        "description": "The customer's rating once it was closed (null: not rated)"})
