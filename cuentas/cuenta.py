"""What every account aggregate (``Cliente``, ``Empleado``) has in common:
the e-mail that is its login, the password hash, the display name, the
links mailed to its owner, the instant from which its sessions count, and
the way it is stored. Standard library only, like the domain modules that
use it."""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any, TypeVar

C = TypeVar("C", bound="Cuenta")

# The purposes of the links mailed to an account's owner (``cuentas.enlaces``).
VERIFICACION = "verificacion"
RESTABLECIMIENTO = "restablecimiento"
CAMBIO_EMAIL = "cambio_email"
INVITACION = "invitacion"


def normalize_email(email: str) -> str:
    """E-mails are stored, looked up and compared trimmed and in lowercase."""
    return email.strip().lower()


def inicio_de_sesiones(en: str) -> str:
    """The ``sesiones_desde`` of a password set at ``en`` (RFC 3339): that
    instant truncated to the whole second, as a token's ``iat`` is.

    A token is refused when its ``iat`` is earlier than this (``sesion_anterior``).
    So the login right after a change, in the same second, is never refused
    wrongly; what stays accepted is a token issued in the fraction of that
    same second before the change (at most one second: the price of the
    one-second resolution of ``iat``, not worth a second claim)."""
    moment = datetime.fromisoformat(en).astimezone(timezone.utc).replace(microsecond=0)
    return moment.isoformat().replace("+00:00", "Z")


def sesion_anterior(sesiones_desde: str | None, iat: Any) -> bool:
    """Whether a token issued at ``iat`` (seconds since the epoch) dates from
    before the account's last password change or reset (``sesiones_desde``,
    RFC 3339 or None): such a token must be refused. A token without a
    numeric ``iat`` counts as before it. The issuers and the replicas of the
    accounts (customers in apertura, staff in ``cuentas.personal``) decide
    with this one rule."""
    if not sesiones_desde:
        return False
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        return True
    return iat < datetime.fromisoformat(sesiones_desde).timestamp()


class Cuenta:
    """Base of the account dataclasses. Each declares the fields ``id``,
    ``nombre``, ``apellidos``, ``email``, ``password_hash``,
    ``actualizado_en``, ``sesiones_desde``, ``enlaces``, ``envios`` and
    ``_rev`` (the store's revision, never compared), the class attribute or
    field ``rol``, ``puede_iniciar_sesion`` and ``public_data``.

    ``enlaces`` holds, per purpose, the SHA-256 of the one live link token
    of that purpose with its expiry (``cuentas.enlaces``); ``envios`` the
    recent instants a link of each kind was mailed (its throttle). Neither
    ever leaves the service: not in an answer, not in an event."""

    id: str
    nombre: str
    apellidos: str
    email: str | None
    password_hash: str | None
    rol: str
    actualizado_en: str
    sesiones_desde: str | None
    enlaces: dict[str, dict[str, Any]]
    envios: dict[str, list[str]]
    _rev: int | None

    @property
    def nombre_completo(self) -> str:
        return f"{self.nombre} {self.apellidos}".strip()

    @property
    def puede_iniciar_sesion(self) -> bool:
        raise NotImplementedError

    def public_data(self) -> dict[str, Any]:
        """What other services learn about the account through events."""
        raise NotImplementedError

    def sesion_revocada(self, iat: Any) -> bool:
        """Whether a session token issued at ``iat`` predates the last password change."""
        return sesion_anterior(self.sesiones_desde, iat)

    def cambiar_password(self, password_hash: str, en: str) -> None:
        """A new password (a change, a reset, an accepted invitation): every
        link mailed before stops working, and so does every session opened
        before (``sesiones_desde``, published so the replicas refuse them too)."""
        self.password_hash = password_hash
        self.actualizado_en = en
        self.sesiones_desde = inicio_de_sesiones(en)
        self.anular_enlaces()

    def anular_enlaces(self) -> None:
        """Void every link of the account (their hashes go)."""
        self.enlaces = {}

    def to_document(self) -> dict[str, Any]:
        doc = asdict(self)  # type: ignore[call-overload]
        doc.pop("_rev")
        if self._rev is not None:
            doc["_rev"] = self._rev
        return doc

    @classmethod
    def from_document(cls: type[C], doc: dict[str, Any]) -> C:
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}  # type: ignore[attr-defined]
        return cls(**known)
