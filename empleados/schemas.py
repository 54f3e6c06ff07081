"""The shapes of empleados' requests and answers (they also generate its OpenAPI)."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import StrictSchema, search_text, text
from cuentas.roles import ROLES_PERSONAL
from cuentas.schemas import CuentaCreateSchema, CuentaSchema, PasswordChange, password_field

from .domain import MAX_CATEGORIA_LENGTH, MAX_CATEGORIAS, EmpleadoNoValido, normalize_categorias

ROL = ma.validate.OneOf(ROLES_PERSONAL, error="Debe ser uno de: {choices}.")


def _rol(**kwargs) -> ma.fields.String:
    return ma.fields.String(validate=ROL, **kwargs)


def _not_blank(value: str) -> None:
    if not value.strip():
        raise ma.ValidationError("No puede estar vacío.")


def _categorias(**kwargs) -> ma.fields.List:
    item = ma.fields.String(validate=[ma.validate.Length(min=1, max=MAX_CATEGORIA_LENGTH), _not_blank])
    return ma.fields.List(
        item,
        validate=ma.validate.Length(max=MAX_CATEGORIAS, error="Como mucho {max} categorías."),
        metadata={"description": "Incident categories the employee handles (stored trimmed, "
                                 "lowercase and without duplicates); empty: any category",
                  "example": ["envios", "devoluciones"]},
        **kwargs,
    )


class _NormalizedCategorias:
    @ma.post_load
    def _normalize(self, data, **_kwargs):
        if "categorias" in data:
            try:
                data["categorias"] = normalize_categorias(data["categorias"])
            except EmpleadoNoValido as exc:
                raise ma.ValidationError(
                    f"Cada categoría debe tener entre 1 y {MAX_CATEGORIA_LENGTH} caracteres en minúsculas.",
                    "categorias") from exc
        return data


class EmpleadoCreateSchema(_NormalizedCategorias, CuentaCreateSchema):
    """Without ``password``, an invitation: the employee chooses it through
    the link mailed to them."""

    password = password_field(metadata={"description": "Omit it to invite the employee by e-mail instead"})
    rol = _rol(required=True)
    categorias = _categorias(load_default=list)


class EmpleadoPatchSchema(_NormalizedCategorias, PasswordChange, StrictSchema):
    """Admins change nombre, apellidos, rol and categorias; the employee
    themself nombre, apellidos and (with password_actual) the password."""

    nombre = text(100)
    apellidos = text(150)
    rol = _rol()
    categorias = _categorias()
    password = password_field()
    password_actual = password_field()

    @ma.validates_schema
    def _password_actual_needs_password(self, data, **_kwargs):
        if "password_actual" in data and "password" not in data:
            raise ma.ValidationError("password_actual solo se envía para cambiar la contraseña.",
                                     "password_actual")


class EmpleadoSchema(CuentaSchema):
    rol = ma.fields.String(metadata={"enum": list(ROLES_PERSONAL)})
    categorias = ma.fields.List(ma.fields.String())
    activo = ma.fields.Boolean()
    creado_en = ma.fields.String()
    actualizado_en = ma.fields.String()
    baja_en = ma.fields.String(allow_none=True, metadata={"description": "When it was deactivated"})
    invitacion_pendiente = ma.fields.Boolean(metadata={
        "description": "Invited and the password not chosen yet: the account cannot log in"})


class EmpleadosQuerySchema(PaginationArgs):
    rol = _rol()
    activo = ma.fields.Boolean(metadata={"description": "true: active accounts only; false: deactivated only"})
    q = search_text(100, metadata={"description": "Text contained in the email, name or surnames "
                                                  "(no control characters)"})
