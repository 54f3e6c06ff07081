"""Customer accounts: the rules, free of any framework."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from cuentas.cuenta import Cuenta, normalize_email
from cuentas.roles import CLIENTE

ERASED_NAME = "Cliente eliminado"


@dataclass
class Cliente(Cuenta):
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

    PROFILE_FIELDS: ClassVar[tuple[str, ...]] = (
        "nombre", "apellidos", "email", "fecha_nacimiento", "direccion", "telefono")
    rol: ClassVar[str] = CLIENTE

    @property
    def puede_iniciar_sesion(self) -> bool:
        return not self.eliminado

    def actualizar_perfil(self, cambios: dict[str, Any], en: str) -> bool:
        """Apply the given profile fields (the email normalised); True when
        anything actually changed."""
        changed = False
        for name in self.PROFILE_FIELDS:
            if name not in cambios:
                continue
            value = normalize_email(cambios[name]) if name == "email" and cambios[name] else cambios[name]
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed:
            self.actualizado_en = en
        return changed

    def eliminar(self, en: str) -> None:
        """Right to erasure: personal data goes, the id stays so that the
        incident services can anonymise what they hold about it."""
        self.nombre, self.apellidos = ERASED_NAME, ""
        self.email = self.password_hash = None
        self.fecha_nacimiento = self.direccion = self.telefono = None
        self.eliminado, self.eliminado_en, self.actualizado_en = True, en, en

    def public_data(self) -> dict[str, Any]:
        """What other services learn about the customer through events."""
        return {"id": self.id, "nombre": self.nombre, "apellidos": self.apellidos, "eliminado": self.eliminado}
