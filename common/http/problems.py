"""RFC 9457 problem details for every error a service answers."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Response, json

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "urn:incidencias:problema:"


class Problem(Exception):
    """Raise anywhere in a request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str | None = None,
        *,
        slug: str | None = None,
        errores: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ):
        super().__init__(detail or title)
        self.status = status
        self.title = title
        self.detail = detail
        self.slug = slug
        self.errores = errores
        self.headers = headers or {}
        self.extra = extra

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"{TYPE_BASE}{self.slug}" if self.slug else "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail or self.title,
        }
        if self.errores is not None:
            body["errores"] = self.errores
        body.update(self.extra)
        return body

    def response(self) -> Response:
        response = Response(
            json.dumps(self.to_dict(), ensure_ascii=False), status=self.status, mimetype=PROBLEM_JSON
        )
        for name, value in self.headers.items():
            response.headers[name] = value
        return response


def field_errors(messages: Any, location: str | None = None, prefix: str = "") -> list[dict[str, str]]:
    """Flatten marshmallow/webargs messages into ``[{campo, mensaje, ubicacion}]``."""
    errors: list[dict[str, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            name = str(key)
            if name == "_schema":
                errors.extend(field_errors(value, location, prefix))
                continue
            path = f"{prefix}.{name}" if prefix else name
            errors.extend(field_errors(value, location, path))
    elif isinstance(messages, (list, tuple)):
        for message in messages:
            if isinstance(message, (dict, list, tuple)):
                errors.extend(field_errors(message, location, prefix))
            else:
                entry = {"campo": prefix or "(cuerpo)", "mensaje": str(message)}
                if location:
                    entry["ubicacion"] = location
                errors.append(entry)
    else:
        entry = {"campo": prefix or "(cuerpo)", "mensaje": str(messages)}
        if location:
            entry["ubicacion"] = location
        errors.append(entry)
    return errors


def validation_problem(messages_by_location: dict[str, Any], status: int = 422) -> Problem:
    errores: list[dict[str, str]] = []
    for location, messages in messages_by_location.items():
        errores.extend(field_errors(messages, location))
    fields = ", ".join(dict.fromkeys(e["campo"] for e in errores))
    return Problem(
        status, "Datos no válidos", f"Revise estos campos: {fields}", slug="validacion", errores=errores
    )


class FieldErrorSchema(ma.Schema):
    """One invalid field of a validation problem."""

    campo = ma.fields.String(required=True, metadata={
        "description": "The field, dotted inside nested ones (`producto.nombre`); `(cuerpo)` for the body as a whole"})
    mensaje = ma.fields.String(required=True)
    ubicacion = ma.fields.String(validate=ma.validate.OneOf(["cuerpo", "consulta", "ruta", "cabeceras"]), metadata={
        "description": "Where the field was sent"})


class ProblemSchema(ma.Schema):
    """Documents the error payload in the OpenAPI document. RFC 9457 lets a
    problem carry extension members (a state conflict names ``estado`` and
    its owner, for instance), so other members are allowed."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(required=True, metadata={"example": "urn:incidencias:problema:validacion"})
    title = ma.fields.String(required=True)
    status = ma.fields.Integer(required=True)
    detail = ma.fields.String(required=True)
    errores = ma.fields.List(
        ma.fields.Nested(FieldErrorSchema),
        metadata={"description": "A validation problem's invalid fields, each named"},
    )
