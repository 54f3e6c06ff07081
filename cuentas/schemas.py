"""The request and answer shapes both account services share: the fields an
account is created with, the password rule applied at the door, the
password change that needs the current one, the start of every answer, and
the bodies of the links mailed to an account's owner (a token, a token and a
new password, the e-mail of a forgotten password)."""
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


def strong_password_field(**kwargs) -> ma.fields.String:
    """A new password meeting the rule (checked again against the account's
    e-mail by the use case, which knows it)."""
    return ma.fields.String(load_only=True, validate=[ma.validate.Length(max=128), _strong], **kwargs)


def _strong(value: str) -> None:
    try:
        check_password_strength(value)
    except WeakPassword as exc:
        raise ma.ValidationError(str(exc)) from exc


def _token_field() -> ma.fields.String:
    return ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200),
                            metadata={"description": "The token of the link mailed to the account's owner"})


class EnlaceSchema(StrictSchema):
    """The token of a link mailed to the account's owner."""

    token = _token_field()


class PasswordEnlaceSchema(StrictSchema):
    """The token of a reset or invitation link, and the new password."""

    token = _token_field()
    password = strong_password_field(required=True)


class SolicitudPasswordSchema(StrictSchema):
    """The e-mail of the account whose password is forgotten."""

    email = email_field(required=True)


class AceptadoSchema(ma.Schema):
    """The empty answer of a request taken (202)."""
