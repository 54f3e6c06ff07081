"""The steps both account services' use cases take the same way: storing a
new account whose email must be free, and changing a password."""
from __future__ import annotations

from typing import TypeVar

from common.errors import Conflict, Invalid
from common.idempotency import IdempotentRequest, create_once
from common.messaging import Event, rfc3339, utc_now
from common.passwords import WeakPassword, check_password_strength, hash_password, verify_password
from common.storage import DuplicateKeyError

from .cuenta import Cuenta
from .repository import CuentaRepository

C = TypeVar("C", bound=Cuenta)


class EmailDuplicado(Conflict):
    """The email already belongs to another account (409, naming ``email``)."""

    title, slug = "Email ya registrado", "email-duplicado"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.errores = [{"campo": "email", "mensaje": detail}]


def ahora() -> str:
    """The instant a use case records (RFC 3339, UTC)."""
    return rfc3339(utc_now())


def registrar(cuentas: CuentaRepository[C], cuenta: C, evento: Event, email_en_uso: str, password: str,
              idempotency: IdempotentRequest | None = None) -> C:
    """Store a new account with its event, and the account stored:
    ``EmailDuplicado(email_en_uso)`` (nothing written) when its email is taken.

    A retry of a keyed registration returns the account it created, as it is
    now. The request's fingerprint leaves the password out (see
    ``common.http.idempotency``), so a retry must also prove the same
    ``password`` against the stored hash; another password, like another
    body, is ``KeyReused``."""

    def insert() -> C:
        cuentas.add(cuenta, evento, idempotency=idempotency)
        return cuenta

    def first(request: IdempotentRequest) -> tuple[C, str | None] | None:
        found = cuentas.created_by(request)
        if found is None:
            return None
        existing, fingerprint = found
        return existing, fingerprint if verify_password(existing.password_hash, password) else None

    def held(refused: DuplicateKeyError) -> bool:
        # A retry's e-mail collides with the first attempt's account too:
        # the e-mail is taken only once an account holding it can be read.
        return "email" not in refused.fields or cuentas.by_email(cuenta.email) is not None

    try:
        return create_once(idempotency, insert, first, held)
    except DuplicateKeyError as exc:
        raise EmailDuplicado(email_en_uso) from exc


def cambiar_password(cuenta: Cuenta, password: str, password_actual: str, en: str,
                     email: str | None = None) -> None:
    """Give ``cuenta`` the new ``password`` once ``password_actual`` proves it
    is the owner's; the new one must meet the password rule, also against
    ``email`` (the account's own by default). Refusals are ``Invalid``."""
    if not verify_password(cuenta.password_hash, password_actual):
        raise Invalid("password_actual", "La contraseña actual no es correcta")
    try:
        check_password_strength(password, email or cuenta.email)
    except WeakPassword as exc:
        raise Invalid("password", str(exc)) from exc
    cuenta.cambiar_password(hash_password(password), en)
