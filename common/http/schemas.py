"""Request/response schemas that are plumbing, not domain: strings that must
say something, logins and token answers shared by both token issuers."""
from __future__ import annotations

import marshmallow as ma

from common.storage import has_control_characters

from .openapi import ENUM_NAME


def text(max_length: int, *, validate=None, **kwargs) -> ma.fields.String:
    """A string of 1..max_length characters that is not only white space
    (and whatever ``validate`` adds)."""
    extra = [] if validate is None else list(validate) if isinstance(validate, (list, tuple)) else [validate]
    return ma.fields.String(
        validate=[ma.validate.Length(min=1, max=max_length), ma.validate.Regexp(r"[\s\S]*\S", error="No puede estar vacío."),
                  *extra],
        **kwargs,
    )


def search_text(max_length: int = 100, **kwargs) -> ma.fields.String:
    """A text to search for: 1..max_length characters, none of them a control
    character (the store refuses those too, see ``has_control_characters``)."""
    return ma.fields.String(
        validate=[ma.validate.Length(min=1, max=max_length), _no_control_characters],
        **kwargs,
    )


def _no_control_characters(value: str) -> None:
    if has_control_characters(value):
        raise ma.ValidationError("No puede contener caracteres de control.")


class StrictSchema(ma.Schema):
    """Unknown fields are rejected and named, never silently ignored."""

    class Meta:
        unknown = ma.RAISE


class NoBodySchema(StrictSchema):
    """For actions that take no data: any field sent is named and refused."""


class ChangesSchema(StrictSchema):
    """A PATCH body: the fields to change, at least one (documented
    ``minProperties: 1``; an empty body is refused with 422, as is none)."""

    class Meta(StrictSchema.Meta):
        json_schema = {"minProperties": 1}

    @ma.validates_schema
    def _something_to_change(self, data, **_kwargs):
        if not data:
            raise ma.ValidationError("Envíe al menos un campo que cambiar.", "_schema")


class AnswerSchema(ma.Schema):
    """The shape of an answer. Every field is always sent, so every field is
    documented required and a generated client types it without "unset": a
    nullable one is sent as null when there is no value. A field that is
    really sent only sometimes says so with ``metadata={"sometimes": True}``."""

    def on_bind_field(self, field_name: str, field_obj: ma.fields.Field) -> None:
        if field_obj.metadata.get("sometimes"):
            return
        field_obj.required = True
        if field_obj.allow_none and field_obj.dump_default is ma.missing:
            field_obj.dump_default = None


def instant(**kwargs) -> ma.fields.String:
    """An instant as the services write it: RFC 3339 in UTC
    (``2026-11-01T09:00:00.000000Z``)."""
    return ma.fields.String(metadata={"format": "date-time", **kwargs.pop("metadata", {})}, **kwargs)


def one_of(choices, name: str | None = None, *, error: str | None = None, **kwargs) -> ma.fields.String:
    """A string from a closed set, documented as its enum; with a ``name``,
    as the one schema of that name every use of the set refers to;
    ``error``, the message of a value outside it (marshmallow's otherwise)."""
    if name is not None:
        kwargs["metadata"] = {ENUM_NAME: name, **kwargs.get("metadata", {})}
    return ma.fields.String(validate=ma.validate.OneOf(list(choices), error=error), **kwargs)


class LoginSchema(StrictSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=128))


class TokenSchema(AnswerSchema):
    access_token = ma.fields.String()
    token_type = one_of(["Bearer"])
    expires_in = ma.fields.Integer(metadata={"description": "Seconds until the token expires"})


class JwksSchema(AnswerSchema):
    keys = ma.fields.List(ma.fields.Dict())


def as_documented(body, status: int = 200, headers: dict[str, str] | None = None):
    """Answer ``body`` as JSON without the response schema's dump: for views
    built in the documented shape already (a test must hold the two equal).
    flask-smorest passes a ready response through; its ``@response``
    decorator still documents the answer."""
    from flask import current_app

    response = current_app.json.response(body)
    response.status_code = status
    if headers:
        response.headers.update(headers)
    return response
