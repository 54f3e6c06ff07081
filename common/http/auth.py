"""Bearer-token authentication and role checks for Flask views."""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import current_app, g, request
from flask_smorest import Blueprint

from common.tokens import InvalidToken, IssuerUnreachable, Principal

from .problems import Problem

BEARER_SECURITY = [{"bearerAuth": []}]


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401, "No autenticado", detail, slug="no-autenticado",
        headers={"WWW-Authenticate": 'Bearer realm="incidencias"'},
    )


def authenticate() -> Principal:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("Falta el token: envíe 'Authorization: Bearer <token>'")
    state = current_app.extensions["incidencias"]
    try:
        principal = state.verifier.verify(token.strip())
    except InvalidToken as exc:
        current_app.logger.info("token refused: %s", exc)
        raise _unauthorized("El token no es válido o ha caducado") from exc
    except IssuerUnreachable as exc:
        current_app.logger.warning("token issuer unreachable: %s", exc)
        raise Problem(503, "Servicio no disponible", "No se puede verificar el token ahora",
                      slug="emisor-no-disponible", headers={"Retry-After": "5"}) from exc
    if state.is_revoked(principal):
        raise _unauthorized("La cuenta de este token ya no está activa")
    return principal


def requires(*roles: str) -> Callable:
    """Allow the view to callers holding one of ``roles`` (any role when empty).

    Place it right under the route decorator: the token is checked before the
    body is validated, and the OpenAPI operation is marked as secured."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            principal = authenticate()
            if roles and principal.rol not in roles:
                raise Problem(403, "Prohibido", f"Esta operación requiere el rol {' o '.join(roles)}",
                              slug="prohibido")
            g.principal = principal
            return view(*args, **kwargs)

        wrapper._required_roles = roles  # read by the permission tests
        return Blueprint.doc(security=BEARER_SECURITY)(wrapper)

    return decorator


def current_principal() -> Principal:
    return g.principal
