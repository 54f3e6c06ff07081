"""The steps both account services' use cases take the same way: storing a
new account whose email must be free, changing a password, and the links
mailed to an account's owner (asking for a password reset, redeeming a
link and saving what it allows, setting the password a link allows)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Generic, Sequence, TypeVar

from common.errors import ApplicationError, Conflict, Invalid
from common.idempotency import IdempotentRequest, KeyReused, create_once
from common.mail import Mail
from common.messaging import Event, new_id, rfc3339, utc_now
from common.passwords import WeakPassword, check_password_strength, hash_password, verify_password
from common.storage import DuplicateKeyError, OutboxMail

from . import enlaces
from .cuenta import RESTABLECIMIENTO, Cuenta, normalize_email
from .repository import ConcurrentUpdate, CuentaRepository

C = TypeVar("C", bound=Cuenta)
log = logging.getLogger(__name__)

LIMITES_RESTABLECIMIENTO = ((timedelta(hours=1), 3),)
"""Reset links mailed to one account: at most 3 an hour (more requests are
answered the same and send nothing)."""


class EmailDuplicado(Conflict):
    """The email already belongs to another account (409, naming ``email``)."""

    title, slug = "Email ya registrado", "email-duplicado"

    def __init__(self, detail: str):
        super().__init__(detail)
        self.errores = [{"campo": "email", "mensaje": detail}]


class DemasiadosEnvios(ApplicationError):
    """Another mail of that kind went out too recently (429, ``Retry-After``)."""

    status, title, slug = 429, "Demasiados envíos", "demasiados-envios"

    def __init__(self, retry_after: int):
        super().__init__("Ya se envió un mensaje hace poco; espere antes de pedir otro",
                         headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


def ahora() -> str:
    """The instant a use case records (RFC 3339, UTC)."""
    return rfc3339(utc_now())


def correo(mail: Mail, cuenta: Cuenta) -> OutboxMail:
    """``mail`` as the account's write stores it, for that account (a new id)."""
    return mail.outbox(new_id(), cuenta.id)


def registrar(cuentas: CuentaRepository[C], cuenta: C, evento: Event, email_en_uso: str, password: str | None,
              idempotency: IdempotentRequest | None = None, mails: tuple[OutboxMail, ...] = ()) -> C:
    """Store a new account with its event and its mails, and the account
    stored: ``EmailDuplicado(email_en_uso)`` (nothing written) when its
    email is taken.

    A retry of a keyed registration returns the account it created, as it is
    now (its mails are not sent again). The request's fingerprint leaves the
    password out (see ``common.http.idempotency``), so a retry must also
    prove the same ``password`` against the stored hash; another password,
    like another body, is ``KeyReused``. (An account created without a
    password, an invitation, is matched by the fingerprint alone.)"""

    def insert() -> C:
        cuentas.add(cuenta, evento, idempotency=idempotency, mails=mails)
        return cuenta

    def first(request: IdempotentRequest) -> tuple[C, str | None] | None:
        found = cuentas.created_by(request)
        if found is None:
            return None
        existing, fingerprint = found
        same = password is None or verify_password(existing.password_hash, password)
        return existing, fingerprint if same else None

    def held(refused: DuplicateKeyError) -> bool:
        # A retry's e-mail collides with the first attempt's account too:
        # the e-mail is taken only once an account holding it can be read.
        return "email" not in refused.fields or cuentas.by_email(cuenta.email) is not None

    try:
        return create_once(idempotency, insert, first, held)
    except DuplicateKeyError as exc:
        raise EmailDuplicado(email_en_uso) from exc


def nueva_password(cuenta: Cuenta, password: str, email: str | None = None) -> str:
    """Give ``cuenta`` the ``password``, which must meet the password rule,
    also against ``email`` (the account's own by default): ``Invalid``
    otherwise. Every link and every earlier session of the account stop
    working (``Cuenta.cambiar_password``); the instant recorded, returned,
    is taken once the new hash exists, so that no login with the old
    password can fall after it but for the same second (see
    ``cuentas.cuenta.inicio_de_sesiones``)."""
    try:
        check_password_strength(password, email or cuenta.email)
    except WeakPassword as exc:
        raise Invalid("password", str(exc)) from exc
    password_hash = hash_password(password)
    en = ahora()
    cuenta.cambiar_password(password_hash, en)
    return en


def cambiar_password(cuenta: Cuenta, password: str, password_actual: str, email: str | None = None) -> str:
    """Give ``cuenta`` the new ``password`` once ``password_actual`` proves it
    is the owner's (see ``nueva_password``), and the instant recorded.
    Refusals are ``Invalid``."""
    if not verify_password(cuenta.password_hash, password_actual):
        raise Invalid("password_actual", "La contraseña actual no es correcta")
    return nueva_password(cuenta, password, email)


def solicitar_restablecimiento(cuentas: CuentaRepository[C], email: str,
                               redactar: Callable[[C, str], Mail],
                               admite: Callable[[C], bool] = lambda _cuenta: True) -> None:
    """Mail a reset link (``redactar(account, token)``) to the account of
    ``email`` when there is one that ``admite`` it and the throttle allows
    (``LIMITES_RESTABLECIMIENTO``). Answers nothing either way, and refuses
    nothing: whoever asks must not learn whether the e-mail has an account.
    A concurrent change of the account is retried; should it keep
    changing, the request is dropped (logged), never answered otherwise."""
    for _attempt in range(3):
        cuenta = cuentas.by_email(normalize_email(email))
        if cuenta is None or not admite(cuenta):
            return
        now = utc_now()
        if enlaces.espera_de_envio(cuenta, RESTABLECIMIENTO, now, LIMITES_RESTABLECIMIENTO):
            log.info("password reset link not mailed: too many lately", extra={"cuenta_id": cuenta.id})
            return
        token = enlaces.emitir(cuenta, RESTABLECIMIENTO, now)
        enlaces.anotar_envio(cuenta, RESTABLECIMIENTO, now, LIMITES_RESTABLECIMIENTO)
        try:
            cuentas.save(cuenta, mails=(correo(redactar(cuenta, token), cuenta),))
            return
        except ConcurrentUpdate:
            continue
    log.warning("password reset request dropped: the account kept changing")


@dataclass
class Canje(Generic[C]):
    """A link redeemed on ``cuenta`` (not saved yet), with its ``datos`` and
    the instant ``en``; ``repetido``: the request is a retry of one that
    redeemed it already (answer the account as it is, write nothing)."""

    cuenta: C
    en: datetime
    datos: dict[str, Any] = field(default_factory=dict)
    repetido: bool = False


def canjear_enlace(cuentas: CuentaRepository[C], token: str, proposito: str,
                   idempotency: IdempotentRequest | None = None, password: str | None = None,
                   admite: Callable[[C], bool] = lambda _cuenta: True) -> Canje[C]:
    """Redeem the link ``token`` of ``proposito`` on its account, which must
    still be one ``admite`` accepts: ``EnlaceNoValido`` otherwise (the same
    refusal for an unknown account as for a wrong, used or expired token).

    A keyed retry of a request that redeemed it (recorded in the account by
    the write that did) is told as ``repetido``; a request that also set a
    ``password`` (which the fingerprint leaves out) must send the same one,
    or it is ``KeyReused``."""
    cuenta = cuentas.get(enlaces.cuenta_de(token), idempotency)
    now = utc_now()
    if cuenta is None or not admite(cuenta):
        raise enlaces.EnlaceNoValido()
    if idempotency is not None and idempotency.replayed:
        if password is not None and not verify_password(cuenta.password_hash, password):
            raise KeyReused()
        return Canje(cuenta, now, repetido=True)
    datos = enlaces.canjear(cuenta, proposito, token, now)
    return Canje(cuenta, now, datos)


INTENTOS_DE_CANJE = 3
"""Writes a redemption tries before it answers ``ConcurrentUpdate`` (409)."""


def canjear_y_guardar(cuentas: CuentaRepository[C], token: str, proposito: str,
                      cambio: Callable[[Canje[C]], Sequence[Event]],
                      idempotency: IdempotentRequest | None = None, password: str | None = None,
                      admite: Callable[[C], bool] = lambda _cuenta: True) -> C:
    """Redeem the link (``canjear_enlace``), make on its account the change
    it allows (``cambio(canje)``, which returns the events to publish) and
    save both in one write; the account as saved, or as it is for a keyed
    retry of a request that redeemed it.

    A concurrent write of the account between the read and the save is
    retried from the read. So of two requests redeeming one link at once,
    the one that saves second reads the link gone and is refused like any
    used link (``EnlaceNoValido``), not told of a conflict."""
    intentos = INTENTOS_DE_CANJE
    while True:
        canje = canjear_enlace(cuentas, token, proposito, idempotency, password, admite)
        if canje.repetido:
            return canje.cuenta
        eventos = cambio(canje)
        try:
            cuentas.save(canje.cuenta, *eventos, idempotency=idempotency)
            return canje.cuenta
        except ConcurrentUpdate:
            intentos -= 1
            if not intentos:
                raise


def fijar_password_con_enlace(cuentas: CuentaRepository[C], token: str, proposito: str, password: str,
                              evento: Callable[[C], Event], idempotency: IdempotentRequest | None = None,
                              admite: Callable[[C], bool] = lambda _cuenta: True,
                              ademas: Callable[[C, str], None] | None = None) -> C:
    """Set ``password`` on the account through its link of ``proposito`` (a
    reset, an invitation): the link is redeemed, the password must meet the
    rule (``nueva_password``: every link and every earlier session of the
    account stop working), and the account is saved with ``evento(account)``,
    retried as ``canjear_y_guardar`` says. ``ademas(account, instant)``:
    what else the service records at the instant the password was set."""

    def cambio(canje: Canje[C]) -> tuple[Event]:
        en = nueva_password(canje.cuenta, password)
        if ademas is not None:
            ademas(canje.cuenta, en)
        return (evento(canje.cuenta),)

    return canjear_y_guardar(cuentas, token, proposito, cambio, idempotency, password, admite)
