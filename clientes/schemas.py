"""The shapes of clientes' requests and answers (they also generate its OpenAPI)."""
from __future__ import annotations

import datetime as dt

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import AnswerSchema, ChangesSchema, StrictSchema, instant, search_text, text
from cuentas.schemas import (EMAIL_FORMAT, CuentaCreateSchema, CuentaSchema, PasswordChange, email_field,
                             new_password_field, password_field)

PHONE = ma.validate.Regexp(r"^\+?[0-9][0-9 ()-]{5,19}$", error="Teléfono no válido.")


def _birth_date(value: dt.date) -> None:
    if not dt.date(1900, 1, 1) <= value <= dt.date.today():
        raise ma.ValidationError("Debe ser una fecha pasada, posterior a 1900.")


class ClienteCreateSchema(CuentaCreateSchema):
    fecha_nacimiento = ma.fields.Date(allow_none=True, validate=_birth_date, metadata={"example": "1990-07-26"})
    direccion = text(300, allow_none=True)
    telefono = ma.fields.String(allow_none=True, validate=PHONE)


class ClienteInvitacionSchema(StrictSchema):
    """A caller staff register: who they are and how to reach them, no password."""

    nombre = text(100, required=True)
    apellidos = text(150, required=True)
    email = email_field(required=True)
    direccion = text(300, allow_none=True)
    telefono = ma.fields.String(allow_none=True, validate=PHONE)


class ClientePatchSchema(PasswordChange, ChangesSchema, ClienteCreateSchema):
    class Meta(ChangesSchema.Meta):
        partial = True

    nombre = text(100)
    apellidos = text(150)
    email = email_field()
    password = new_password_field()
    password_actual = password_field()
    avisos_por_correo = ma.fields.Boolean(truthy={True}, falsy={False}, metadata={"description": "Whether notifications also come by e-mail"})


class ClienteSchema(CuentaSchema):
    fecha_nacimiento = ma.fields.String(allow_none=True, metadata={"format": "date"})
    direccion = ma.fields.String(allow_none=True)
    telefono = ma.fields.String(allow_none=True)
    email_verificado = ma.fields.Boolean(metadata={"description": "Whether the owner confirmed the e-mail"})
    email_pendiente = ma.fields.String(allow_none=True, metadata={**EMAIL_FORMAT,
        "description": "A new e-mail waiting for its confirmation through the link mailed to it"})
    avisos_por_correo = ma.fields.Boolean(metadata={"description": "Whether notifications also come by e-mail"})
    invitacion_pendiente = ma.fields.Boolean(metadata={
        "description": "Registered by staff and the password not chosen yet: the account cannot log in"})
    creado_en = instant()
    actualizado_en = instant()


class VerificacionSchema(AnswerSchema):
    email_verificado = ma.fields.Boolean()


class ClientesQuerySchema(PaginationArgs):
    q = search_text(100, metadata={"description": "Text contained in the email, name or surnames, or a "
                                                  "phone number written any way (`600 12 34 56`, "
                                                  "`+34-600123456`: its digits are looked for); no control "
                                                  "characters"})
