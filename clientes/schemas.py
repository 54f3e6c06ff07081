"""The shapes of clientes' requests and answers (they also generate its OpenAPI)."""
from __future__ import annotations

import datetime as dt

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.passwords import WeakPassword, check_password_strength
from common.http.schemas import StrictSchema, text

PHONE = ma.validate.Regexp(r"^\+?[0-9][0-9 ()-]{5,19}$", error="Teléfono no válido.")


def _birth_date(value: dt.date) -> None:
    if not dt.date(1900, 1, 1) <= value <= dt.date.today():
        raise ma.ValidationError("Debe ser una fecha pasada, posterior a 1900.")


class ClienteCreateSchema(StrictSchema):
    nombre = text(100, required=True)
    apellidos = text(150, required=True)
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=254))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(max=128))
    fecha_nacimiento = ma.fields.Date(allow_none=True, validate=_birth_date, metadata={"example": "1990-07-26"})
    direccion = text(300, allow_none=True)
    telefono = ma.fields.String(allow_none=True, validate=PHONE)

    @ma.validates_schema(skip_on_field_errors=False)
    def _strong_password(self, data, **_kwargs):
        if isinstance(data.get("password"), str):
            try:
                check_password_strength(data["password"], data.get("email"))
            except WeakPassword as exc:
                raise ma.ValidationError(str(exc), "password") from exc


class ClientePatchSchema(ClienteCreateSchema):
    class Meta:
        partial = True

    nombre = text(100)
    apellidos = text(150)
    email = ma.fields.Email(validate=ma.validate.Length(max=254))
    password = ma.fields.String(load_only=True, validate=ma.validate.Length(max=128))
    password_actual = ma.fields.String(load_only=True, validate=ma.validate.Length(max=128))

    @ma.validates_schema
    def _password_change_needs_current(self, data, **_kwargs):
        if "password" in data and not data.get("password_actual"):
            raise ma.ValidationError("Para cambiar la contraseña envíe también password_actual.",
                                     "password_actual")


class ClienteSchema(ma.Schema):
    id = ma.fields.String()
    nombre = ma.fields.String()
    apellidos = ma.fields.String()
    email = ma.fields.String()
    fecha_nacimiento = ma.fields.String(allow_none=True)
    direccion = ma.fields.String(allow_none=True)
    telefono = ma.fields.String(allow_none=True)
    creado_en = ma.fields.String()
    actualizado_en = ma.fields.String()


class ClientesQuerySchema(PaginationArgs):
    q = ma.fields.String(validate=ma.validate.Length(min=1, max=100),
                         metadata={"description": "Text contained in the email, name or surnames"})
