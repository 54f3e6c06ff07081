"""The links mailed to an account's owner: verify the e-mail, reset the
password, confirm a new e-mail, accept an invitation. Free of any web
framework; the account services' use cases issue and redeem them.

A link carries a token ``<account id>.<secret>``, the secret 32 random bytes
(``secrets.token_urlsafe``). The account keeps only the SHA-256 of the
secret, per purpose, with its expiry and what the purpose needs (the new
e-mail of a change): ``cuenta.enlaces[purpose] = {hash, caduca_en, datos}``.
So the database never holds a usable token, and a token is bound to its
account (the id) and to its purpose (the entry it must match). Issuing a
link of a purpose replaces the one before; redeeming it removes it (single
use: the account's write with the store's revision check decides between
two concurrent redemptions). A wrong, used, expired or other-purpose token
is the one refusal ``EnlaceNoValido``, the same for each of those cases.

``envios`` throttles the mails themselves: the recent instants a link of a
kind was mailed, kept on the account document, so every process of the
service (several gunicorn workers, several machines) counts the same ones,
in the same atomic write as the mail."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any, Sequence

from common.clock import rfc3339
from common.errors import ApplicationError

from .cuenta import CAMBIO_EMAIL, INVITACION, RESTABLECIMIENTO, VERIFICACION, Cuenta

__all__ = ["CAMBIO_EMAIL", "INVITACION", "RESTABLECIMIENTO", "VERIFICACION", "EnlaceNoValido", "anotar_envio",
           "canjear", "cuenta_de", "descartar", "emitir", "espera_de_envio", "vigente"]

VIGENCIA = {
    VERIFICACION: timedelta(hours=48),
    RESTABLECIMIENTO: timedelta(minutes=30),
    CAMBIO_EMAIL: timedelta(hours=24),
    INVITACION: timedelta(hours=72),
}
"""How long a link of each purpose stays valid."""

Limites = Sequence[tuple[timedelta, int]]
"""At most ``n`` mails within each ``window``: ``[(window, n), ...]``."""

MAX_TOKEN_LENGTH = 200
NO_VALIDO = "El enlace no es válido o ha caducado"


class EnlaceNoValido(ApplicationError):
    """The token is wrong, used, expired or for another purpose (400, naming ``token``)."""

    status, title, slug = 400, "Enlace no válido", "enlace-no-valido"

    def __init__(self) -> None:
        super().__init__(NO_VALIDO)
        self.errores = [{"campo": "token", "mensaje": NO_VALIDO, "ubicacion": "cuerpo"}]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def emitir(cuenta: Cuenta, proposito: str, ahora: datetime, **datos: Any) -> str:
    """A new link token of ``proposito`` for ``cuenta`` (replacing any
    earlier one of that purpose); only its hash is kept on the account."""
    secret = secrets.token_urlsafe(32)
    enlace: dict[str, Any] = {"hash": _digest(secret), "caduca_en": rfc3339(ahora + VIGENCIA[proposito])}
    if datos:
        enlace["datos"] = datos
    cuenta.enlaces = {**cuenta.enlaces, proposito: enlace}
    return f"{cuenta.id}.{secret}"


def cuenta_de(token: str) -> str:
    """The id of the account a token claims to be for (EnlaceNoValido when
    it has not the shape of one): where to look for its hash."""
    cuenta_id, dot, secret = token.partition(".") if isinstance(token, str) else ("", "", "")
    if not (dot and cuenta_id and secret) or len(token) > MAX_TOKEN_LENGTH or not cuenta_id.isalnum():
        raise EnlaceNoValido()
    return cuenta_id


def vigente(cuenta: Cuenta, proposito: str, ahora: datetime) -> bool:
    """Whether ``cuenta`` has a live link of ``proposito``."""
    enlace = cuenta.enlaces.get(proposito)
    return enlace is not None and ahora < datetime.fromisoformat(enlace["caduca_en"])


def canjear(cuenta: Cuenta, proposito: str, token: str, ahora: datetime) -> dict[str, Any]:
    """Redeem ``token`` for ``proposito``: the link's ``datos``, and the link
    is gone from ``cuenta`` (the caller saves it). EnlaceNoValido otherwise,
    nothing changed. The hashes are compared in constant time."""
    cuenta_id, _, secret = token.partition(".")
    enlace = cuenta.enlaces.get(proposito)
    matches = hmac.compare_digest(enlace["hash"] if enlace else "", _digest(secret))
    if not (enlace and matches and cuenta_id == cuenta.id and vigente(cuenta, proposito, ahora)):
        raise EnlaceNoValido()
    cuenta.enlaces = {p: e for p, e in cuenta.enlaces.items() if p != proposito}
    return dict(enlace.get("datos") or {})


def descartar(cuenta: Cuenta, proposito: str) -> None:
    """Void the link of ``proposito``, if any."""
    cuenta.enlaces = {p: e for p, e in cuenta.enlaces.items() if p != proposito}


def espera_de_envio(cuenta: Cuenta, clase: str, ahora: datetime, limites: Limites) -> int:
    """Seconds before another mail of ``clase`` may go to ``cuenta`` (0: now)."""
    sent = [datetime.fromisoformat(at) for at in cuenta.envios.get(clase, ())]
    wait = 0.0
    for window, most in limites:
        recent = sorted(at for at in sent if at > ahora - window)
        if len(recent) >= most:
            # Free again once the oldest mail that fills the window leaves it.
            wait = max(wait, (recent[-most] + window - ahora).total_seconds())
    return max(0, int(wait) + (1 if wait % 1 else 0))


def anotar_envio(cuenta: Cuenta, clase: str, ahora: datetime, limites: Limites) -> None:
    """Record a mail of ``clase`` sent at ``ahora`` (forgetting what no window counts any more)."""
    longest = max(window for window, _ in limites)
    kept = [at for at in cuenta.envios.get(clase, ()) if datetime.fromisoformat(at) > ahora - longest]
    cuenta.envios = {**cuenta.envios, clase: [*kept, rfc3339(ahora)]}
