"""One declaration per API operation, in the order it must be applied: the
route, who may call it (checked before the body is read), what it reads,
what it answers and the refusals it documents."""
from __future__ import annotations

from typing import Any, Callable

import marshmallow as ma
from flask_smorest import Blueprint

from .auth import requires


def operation(blp: Blueprint, method: str, rule: str, roles: tuple[str, ...], answer: type[ma.Schema] | ma.Schema,
              *, status: int = 200, body: type[ma.Schema] | None = None, query: type[ma.Schema] | None = None,
              refusals: dict[int, str] | None = None, doc: dict[str, Any] | None = None) -> Callable:
    """Decorate a view: ``body`` (or ``query``) arrives as its first argument,
    the path's variables after it; ``refusals`` documents error answers
    (status → description) beyond the ones every operation has."""

    def decorator(view: Callable) -> Callable:
        if doc:
            view = blp.doc(**doc)(view)
        for code, description in (refusals or {}).items():
            view = blp.alt_response(code, description=description)(view)
        view = blp.response(status, answer)(view)
        if query is not None:
            view = blp.arguments(query, location="query")(view)
        if body is not None:
            view = blp.arguments(body)(view)
        view = requires(*roles)(view)
        return blp.route(rule, methods=[method])(view)

    return decorator
