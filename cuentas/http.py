"""The HTTP endpoints both token issuers (clientes, empleados) serve the
same way: the password login, the password reset through a mailed link, and
the JWKS that publishes the public key.

They read the service's components (``common.http.app.components()``):
``issuer`` (its ``TokenIssuer``), ``throttle`` (its ``LoginThrottle``),
``solicitudes`` (its ``SolicitudThrottle``) and ``settings.portal_url``."""
from __future__ import annotations

from typing import Any, Callable

from flask_smorest import Blueprint

from common.http.app import components
from common.http.login import Account, client_address, login
from common.http.operations import ANYONE, operation
from common.http.problems import Problem
from common.http.schemas import JwksSchema, LoginSchema, TokenSchema
from common.idempotency import IdempotentRequest

from .cuenta import normalize_email
from .repository import CuentaRepository
from .schemas import AceptadoSchema, PasswordEnlaceSchema, SolicitudPasswordSchema


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
    view = blp.doc(operationId="iniciarSesion")(view)
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
    keys.get("/.well-known/jwks.json")(keys.doc(operationId="obtenerClaves")(keys.response(200, JwksSchema)(jwks)))
    return keys


def portal_url() -> str:
    """The portal the links of this service's mails open (``PORTAL_URL``)."""
    return components().settings.portal_url


def limit_requests() -> None:
    """Count an anonymous request that may mail someone against the caller's
    address: 429 with Retry-After once it sent too many (``SolicitudThrottle``)."""
    throttle, client = components().solicitudes, client_address()
    wait = throttle.retry_after("", client)
    if wait:
        raise Problem(429, "Demasiadas solicitudes", "Demasiadas solicitudes; espere antes de reintentar",
                      slug="demasiadas-solicitudes", headers={"Retry-After": str(wait)})
    throttle.failed("", client)


def add_password_reset(blp: Blueprint, path: str, endpoint: str,
                       solicitar: Callable[[str, str], None],
                       restablecer: Callable[[str, str, IdempotentRequest | None], Any]) -> None:
    """``POST path/solicitud`` (``solicitar(email, portal_url)``) and ``POST
    path/restablecimiento`` (``restablecer(token, password, idempotency)``),
    the views named ``endpoint_solicitud`` and ``endpoint_restablecimiento``.

    The request takes no ``Idempotency-Key``: a key recorded only for the
    e-mails that have an account would tell them apart, and a retried
    request sends at most one more mail, within the account's throttle."""

    def request_reset(data: dict[str, Any]) -> dict[str, Any]:
        limit_requests()
        solicitar(data["email"], portal_url())
        return {}

    request_reset.__name__ = f"{endpoint}_solicitud"
    request_reset.__doc__ = """Ask for a password reset link

    Always 202 with the same empty body, whether or not the e-mail has an
    account (which then gets a link valid 30 minutes, at most 3 an hour)."""
    operation(blp, "POST", f"{path}/solicitud", ANYONE, AceptadoSchema, name="solicitarRestablecimiento",
              status=202, body=SolicitudPasswordSchema,
              refusals={429: "Too many requests from this address"})(request_reset)

    def reset(data: dict[str, Any], idempotency: IdempotentRequest | None) -> None:
        restablecer(data["token"], data["password"], idempotency)

    reset.__name__ = f"{endpoint}_restablecimiento"
    reset.__doc__ = """Set a new password through a reset link

    Every link of the account and every session opened before stop working."""
    operation(blp, "POST", f"{path}/restablecimiento", ANYONE, None, name="restablecerPassword", status=204,
              body=PasswordEnlaceSchema,
              refusals={400: "The link is not valid or has expired"}, idempotent=True)(reset)
