"""The request and answer shapes both account services share: the fields an
account is created with, the password rule applied at the door, the
password change that needs the current one, the start of every answer, and
the bodies of the links mailed to an account's owner (a token, a token and a
new password, the e-mail of a forgotten password)."""
from __future__ import annotations

import marshmallow as ma

from common.http.schemas import AnswerSchema, StrictSchema, one_of, text
from common.passwords import PASSWORD_RULE, WeakPassword, check_password_strength

from .roles import ROLES_PERSONAL

NEW_PASSWORD = {"minLength": 10, "pattern": r"^(?=[\s\S]*[^\W\d_])(?=[\s\S]*\d)",
                "description": f"{PASSWORD_RULE} (the e-mail part is checked by the server only)"}
r"""The password rule in JSON Schema, as far as it can say it: a letter is
``[^\W\d_]``, Unicode-aware as Python and the JSON Schema validators that
follow it read it (an ECMA-262 engine without the ``u`` flag reads ASCII
letters only, so it may refuse a password of only non-ASCII letters the
server takes). ``[\s\S]*``, not ``.*``: the server takes a password with a
line break in it, and ``.`` stops at one."""


EMAIL_FORMAT = {"format": "idn-email"}
"""The addresses taken are internationalized (``josé@example.com``): JSON
Schema's ``email`` is ASCII only, ``idn-email`` is what the server takes."""


def email_field(**kwargs) -> ma.fields.Email:
    return ma.fields.Email(validate=ma.validate.Length(max=254), metadata=dict(EMAIL_FORMAT), **kwargs)


def rol_empleado_field(**kwargs) -> ma.fields.String:
    """A staff role: the ``RolEmpleado`` enum of the documents."""
    return one_of(ROLES_PERSONAL, "RolEmpleado", error="Debe ser uno de: {choices}.", **kwargs)


def password_field(**kwargs) -> ma.fields.String:
    """Never answered back (load only)."""
    return ma.fields.String(load_only=True, validate=ma.validate.Length(max=128), **kwargs)


def new_password_field(description: str | None = None, **kwargs) -> ma.fields.String:
    """A password being chosen: the rule documented (``NEW_PASSWORD``); the
    schema or use case that takes it checks it (``check_password_strength``)."""
    rule = NEW_PASSWORD["description"]
    return password_field(metadata={**NEW_PASSWORD, "description": f"{description}. {rule}" if description else rule},
                          **kwargs)


class CuentaCreateSchema(StrictSchema):
    """Name, surnames, email and a password meeting the rule (not holding the email)."""

    nombre = text(100, required=True)
    apellidos = text(150, required=True)
    email = email_field(required=True)
    password = new_password_field(required=True)

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


class CuentaSchema(AnswerSchema):
    """The members every account answer starts with."""

    id = ma.fields.String()
    nombre = ma.fields.String()
    apellidos = ma.fields.String()
    email = ma.fields.String(metadata=dict(EMAIL_FORMAT))


def strong_password_field(**kwargs) -> ma.fields.String:
    """A new password meeting the rule (checked again against the account's
    e-mail by the use case, which knows it)."""
    return ma.fields.String(load_only=True, validate=[ma.validate.Length(max=128), _strong],
                            metadata=dict(NEW_PASSWORD), **kwargs)


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


class AceptadoSchema(AnswerSchema):
    """The empty answer of a request taken (202)."""
