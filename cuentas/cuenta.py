"""What every account aggregate (``Cliente``, ``Empleado``) has in common:
the e-mail that is its login, the password hash, the display name and the
way it is stored. Standard library only, like the domain modules that use it."""
from __future__ import annotations

from dataclasses import asdict
from typing import Any, TypeVar

C = TypeVar("C", bound="Cuenta")


def normalize_email(email: str) -> str:
    """E-mails are stored, looked up and compared trimmed and in lowercase."""
    return email.strip().lower()


class Cuenta:
    """Base of the account dataclasses. Each declares the fields ``id``,
    ``nombre``, ``apellidos``, ``email``, ``password_hash``,
    ``actualizado_en`` and ``_rev`` (the store's revision, never compared),
    the class attribute or field ``rol``, ``puede_iniciar_sesion`` and
    ``public_data``."""

    id: str
    nombre: str
    apellidos: str
    email: str | None
    password_hash: str | None
    rol: str
    actualizado_en: str
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

    def cambiar_password(self, password_hash: str, en: str) -> None:
        """Not published: the other services never learn anything about passwords."""
        self.password_hash = password_hash
        self.actualizado_en = en

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
