"""The request and answer shapes both account services share: the fields an
account is created with, the password rule applied at the door, the
password change that needs the current one, and the start of every answer."""
from __future__ import annotations

import marshmallow as ma

from common.http.schemas import StrictSchema, text
from common.passwords import WeakPassword, check_password_strength


def email_field(**kwargs) -> ma.fields.Email:
    return ma.fields.Email(validate=ma.validate.Length(max=254), **kwargs)


def password_field(**kwargs) -> ma.fields.String:
    """Never answered back (load only)."""
    return ma.fields.String(load_only=True, validate=ma.validate.Length(max=128), **kwargs)


class CuentaCreateSchema(StrictSchema):
    """Name, surnames, email and a password meeting the rule (not holding the email)."""

    nombre = text(100, required=True)
    apellidos = text(150, required=True)
    email = email_field(required=True)
    password = password_field(required=True)

    @ma.validates_schema(skip_on_field_errors=False)
    def _strong_password(self, data, **_kwargs):
        if isinstance(data.get("password"), str):
            try:
                check_password_strength(data["password"], data.get("email"))
            except WeakPassword as exc:
                raise ma.ValidationError(str(exc), "password") from exc


class PasswordChange:
    """A schema with ``password`` and ``password_actual``: the new password
    is only taken with the current one."""

    @ma.validates_schema
    def _password_change_needs_current(self, data, **_kwargs):
        if "password" in data and not data.get("password_actual"):
            raise ma.ValidationError("Para cambiar la contraseña envíe también password_actual.",
                                     "password_actual")


class CuentaSchema(ma.Schema):
    """The members every account answer starts with."""

    id = ma.fields.String()
    nombre = ma.fields.String()
    apellidos = ma.fields.String()
    email = ma.fields.String()
