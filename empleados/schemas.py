"""The shapes of empleados' requests and answers (they also generate its OpenAPI)."""
from __future__ import annotations

import marshmallow as ma

from common.http.pagination import PaginationArgs
from common.http.schemas import ChangesSchema, instant, search_text, text
from cuentas.schemas import (CuentaCreateSchema, CuentaSchema, PasswordChange, new_password_field, password_field,
                             rol_empleado_field)

from .domain import MAX_CATEGORIA_LENGTH, MAX_CATEGORIAS, EmpleadoNoValido, normalize_categorias


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

    password = new_password_field("Omit it to invite the employee by e-mail instead")
    rol = rol_empleado_field(required=True)
    categorias = _categorias(load_default=list)


class EmpleadoPatchSchema(_NormalizedCategorias, PasswordChange, ChangesSchema):
    """Admins change nombre, apellidos, rol and categorias; the employee
    themself nombre, apellidos and (with password_actual) the password."""

    nombre = text(100)
    apellidos = text(150)
    rol = rol_empleado_field()
    categorias = _categorias()
    password = new_password_field()
    password_actual = password_field()

    @ma.validates_schema
    def _password_actual_needs_password(self, data, **_kwargs):
        if "password_actual" in data and "password" not in data:
            raise ma.ValidationError("password_actual solo se envía para cambiar la contraseña.",
                                     "password_actual")


class EmpleadoSchema(CuentaSchema):
    rol = rol_empleado_field()
    categorias = ma.fields.List(ma.fields.String())
    activo = ma.fields.Boolean()
    creado_en = instant()
    actualizado_en = instant()
    baja_en = instant(allow_none=True, metadata={"description": "When it was deactivated"})
    invitacion_pendiente = ma.fields.Boolean(metadata={
        "description": "Invited and the password not chosen yet: the account cannot log in"})


class EmpleadosQuerySchema(PaginationArgs):
    rol = rol_empleado_field()
    activo = ma.fields.Boolean(metadata={"description": "true: active accounts only; false: deactivated only"})
    q = search_text(100, metadata={"description": "Text contained in the email, name or surnames "
                                                  "(no control characters)"})
