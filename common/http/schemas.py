"""Request/response schemas that are plumbing, not domain: strings that must
say something, logins and token answers shared by both token issuers."""
from __future__ import annotations

import marshmallow as ma

from common.storage import has_control_characters


def text(max_length: int, **kwargs) -> ma.fields.String:
    """A string of 1..max_length characters that is not only white space."""
    return ma.fields.String(
        validate=[ma.validate.Length(min=1, max=max_length), ma.validate.Regexp(r"[\s\S]*\S", error="No puede estar vacío.")],
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


class LoginSchema(StrictSchema):
    email = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=254))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=1, max=128))


class TokenSchema(ma.Schema):
    access_token = ma.fields.String()
    token_type = ma.fields.String(metadata={"example": "Bearer"})
    expires_in = ma.fields.Integer(metadata={"description": "Seconds until the token expires"})


class JwksSchema(ma.Schema):
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
