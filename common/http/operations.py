"""One declaration per API operation, in the order it must be applied: the
route, who may call it (checked before the body is read), what it reads,
what it answers and the refusals it documents."""
from __future__ import annotations

from typing import Any, Callable

import marshmallow as ma
from flask_smorest import Blueprint

from . import idempotency as keys
from .auth import requires

ANYONE = None
"""``roles`` of an operation open to callers without a token (a registration)."""


def operation(blp: Blueprint, method: str, rule: str, roles: tuple[str, ...] | None,
              answer: type[ma.Schema] | ma.Schema | None, *, name: str, status: int = 200,
              body: type[ma.Schema] | None = None,
              query: type[ma.Schema] | None = None, refusals: dict[int, str] | None = None,
              doc: dict[str, Any] | None = None, idempotent: bool = False) -> Callable:
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
    the same without one."""

    def decorator(view: Callable) -> Callable:
        documented = {**(doc or {}), "operationId": name}
        refused = dict(refusals or {})
        if idempotent:
            documented["parameters"] = [*documented.get("parameters", ()), keys.PARAMETER]
            refused = keys.documented(refused)
        view = blp.doc(**documented)(view)
        for code, description in refused.items():
            view = blp.alt_response(code, description=description)(view)
        view = blp.response(status, answer)(view)
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
    return any(field.required for field in schema().fields.values())
