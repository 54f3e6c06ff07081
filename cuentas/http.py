"""The HTTP endpoints both token issuers (clientes, empleados) serve the
same way: the password login and the JWKS that publishes the public key.

Both read the service's components (``common.http.app.components()``):
``issuer`` (its ``TokenIssuer``) and ``throttle`` (its ``LoginThrottle``)."""
from __future__ import annotations

from typing import Any, Callable

from flask_smorest import Blueprint

from common.http.app import components
from common.http.login import Account, login
from common.http.schemas import JwksSchema, LoginSchema, TokenSchema

from .cuenta import normalize_email
from .repository import CuentaRepository


def iniciar_sesion(cuentas: CuentaRepository, email: str, password: str) -> dict[str, Any]:
    """A token of this service's issuer for the account with that email and
    password (401 otherwise, 429 once too many attempts failed)."""

    def find(email: str) -> Account | None:
        cuenta = cuentas.by_email(email)
        if cuenta is None:
            return None
        return Account(cuenta.id, cuenta.rol, cuenta.password_hash, cuenta.puede_iniciar_sesion,
                       {"nombre": cuenta.nombre_completo, "email": cuenta.email})

    service = components()
    return login(normalize_email(email), password, find, service.throttle, service.issuer)


def add_login(blp: Blueprint, path: str, endpoint: str, summary: str, refused: str,
              cuentas: Callable[[], CuentaRepository]) -> None:
    """``POST path``: log in to one of the accounts ``cuentas()`` holds.
    ``refused`` documents when the answer is 401.

    The one POST that takes no ``Idempotency-Key``: a login creates nothing
    a retry could duplicate (each answer is just another token for the same
    account, and a lost one is worth nothing), while recording keys would
    mean writing to the account on every login. A retried failure must count
    against the login throttle like any other attempt, too."""

    def view(data: dict[str, Any]) -> dict[str, Any]:
        return iniciar_sesion(cuentas(), data["email"], data["password"])

    view.__name__, view.__doc__ = endpoint, summary
    view = blp.alt_response(429, description="Too many failed attempts")(view)
    view = blp.alt_response(401, description=refused)(view)
    view = blp.response(200, TokenSchema)(view)
    view = blp.arguments(LoginSchema)(view)
    blp.post(path)(view)


def keys_blueprint(tokens: str) -> Blueprint:
    """``GET /.well-known/jwks.json``: the public keys that verify the
    ``tokens`` (say, "customer") tokens this service issues."""
    keys = Blueprint("claves", __name__, description=f"Public keys of the {tokens} tokens")

    def jwks() -> dict[str, Any]:
        return components().issuer.jwks()

    jwks.__doc__ = f"Public keys that verify {tokens} tokens"
    keys.get("/.well-known/jwks.json")(keys.response(200, JwksSchema)(jwks))
    return keys
