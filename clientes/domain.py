"""Customer accounts: the rules, free of any framework."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

ERASED_NAME = "Cliente eliminado"


def normalize_email(email: str) -> str:
    return email.strip().lower()


@dataclass
class Cliente:
    id: str
    nombre: str
    apellidos: str
    email: str | None
    password_hash: str | None
    creado_en: str
    actualizado_en: str
    fecha_nacimiento: str | None = None
    direccion: str | None = None
    telefono: str | None = None
    eliminado: bool = False
    eliminado_en: str | None = None
    _rev: int | None = field(default=None, repr=False, compare=False)

    PROFILE_FIELDS = ("nombre", "apellidos", "email", "fecha_nacimiento", "direccion", "telefono")

    @property
    def nombre_completo(self) -> str:
        return f"{self.nombre} {self.apellidos}".strip()

    def update_profile(self, changes: dict[str, Any], at: str) -> bool:
        changed = False
        for name in self.PROFILE_FIELDS:
            if name not in changes:
                continue
            value = normalize_email(changes[name]) if name == "email" and changes[name] else changes[name]
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed:
            self.actualizado_en = at
        return changed

    def change_password(self, password_hash: str, at: str) -> None:
        self.password_hash = password_hash
        self.actualizado_en = at

    def erase(self, at: str) -> None:
        """Right to erasure: personal data goes, the id stays so that the
        incident services can anonymise what they hold about it."""
        self.nombre, self.apellidos = ERASED_NAME, ""
        self.email = self.password_hash = None
        self.fecha_nacimiento = self.direccion = self.telefono = None
        self.eliminado, self.eliminado_en, self.actualizado_en = True, at, at

    def to_document(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("_rev")
        if self._rev is not None:
            doc["_rev"] = self._rev
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Cliente":
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def public_data(self) -> dict[str, Any]:
        """What other services learn about the customer through events."""
        return {"id": self.id, "nombre": self.nombre, "apellidos": self.apellidos, "eliminado": self.eliminado}
