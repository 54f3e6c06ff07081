"""One declaration per API operation, in the order it must be applied: the
route, who may call it (checked before the body is read), what it reads,
what it answers and the refusals it documents."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import marshmallow as ma
from flask_smorest import Blueprint

from . import idempotency as keys
from .auth import requires
from .openapi import LINKS_KEY, declared_rules

ANYONE = None
"""``roles`` of an operation open to callers without a token (a registration)."""
LOCATION = {"Location": {"description": "The URL of the resource created", "schema": {"type": "string"}}}


@dataclass(frozen=True)
class Links:
    """OpenAPI links from an answer to the operations on the same resource
    (by ``operationId``), whose path parameter ``parameter`` takes
    ``value``: a runtime expression, the created resource's id by default."""

    parameter: str
    operations: tuple[str, ...]
    value: str = "$response.body#/id"

    def document(self) -> dict[str, Any]:
        return {name: {"operationId": name, "parameters": {self.parameter: self.value}}
                for name in self.operations}


def created(parameter: str, *operations: str) -> Links:
    """Links from a creation's answer (its body's ``id``) to ``operations``."""
    return Links(parameter, operations)


def same_resource(parameter: str, *operations: str) -> Links:
    """Links from an answer about the resource in the path to ``operations``."""
    return Links(parameter, operations, f"$request.path.{parameter}")


def operation(blp: Blueprint, method: str, rule: str, roles: tuple[str, ...] | None,
              answer: type[ma.Schema] | ma.Schema | None, *, name: str, status: int = 200,
              body: type[ma.Schema] | None = None,
              query: type[ma.Schema] | None = None, refusals: dict[int, str] | None = None,
              doc: dict[str, Any] | None = None, idempotent: bool = False,
              headers: dict[str, Any] | None = None, links: Links | None = None) -> Callable:
    """Decorate a view: ``body`` (or ``query``) arrives as its first argument,
    the path's variables after it; ``name`` is the ``operationId`` a
    generated client names its function after (a verb, camelCase, stable
    however the path changes); ``refusals`` documents error answers
    (status → description) beyond the ones every operation has. ``roles``
    ``ANYONE`` (None) takes no token; an empty tuple, any signed-in caller.

    ``idempotent``: the operation honours an ``Idempotency-Key`` header
    (``common.http.idempotency``): the view also gets ``idempotency`` (an
    ``IdempotentRequest``, or None without the header) to hand to its use
    case, and the header, its 400 and its 409 are documented.

    A ``body`` none of whose fields is required (``NoBodySchema``, an
    optional reason) is documented as optional, since the server answers
    the same without one; one that declares ``minProperties``
    (``ChangesSchema``) is required.

    ``headers`` documents the answer's headers (``LOCATION``); ``links``,
    the operations a client can follow from the answer."""

    def decorator(view: Callable) -> Callable:
        documented = {**(doc or {}), "operationId": name}
        if links is not None:
            documented[LINKS_KEY] = {str(status): links.document()}
        refused = dict(refusals or {})
        if idempotent:
            documented["parameters"] = [*documented.get("parameters", ()), keys.PARAMETER]
            refused = keys.documented(refused)
        view = blp.doc(**documented)(view)
        for code, description in refused.items():
            view = blp.alt_response(code, description=description)(view)
        view = blp.response(status, answer, headers=headers)(view)
        if idempotent:
            view = keys.keyed(view, status, keys.secret_fields(body))
        if query is not None:
            view = blp.arguments(query, location="query")(view)
        if body is not None:
            view = blp.arguments(body, required=_requires_a_body(body))(view)
        if roles is not ANYONE:
            view = requires(*roles)(view)
        return blp.route(rule, methods=[method])(view)

    return decorator


def _requires_a_body(schema: type[ma.Schema]) -> bool:
    return (declared_rules(schema).get("minProperties", 0) > 0
            or any(field.required for field in schema().fields.values()))
