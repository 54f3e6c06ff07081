"""Employee accounts: the rules, free of any framework."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

ROLES = ("agente", "supervisor", "admin")
ADMIN = "admin"
MAX_CATEGORIAS = 20
MAX_CATEGORIA_LENGTH = 50


class InvalidEmpleado(ValueError):
    """A value the domain refuses (the API validates before, so this is a bug guard)."""


class LastActiveAdmin(Exception):
    """The change would leave the service without any active admin."""


class AlreadyInactive(Exception):
    """The account was already deactivated: it is history and cannot change."""


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_categorias(values: Iterable[str]) -> list[str]:
    """Trimmed, lowercase, without duplicates, in the order first given."""
    result: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise InvalidEmpleado(f"categoria must be a string, got {type(value).__name__}")
        categoria = value.strip().lower()
        if not categoria or len(categoria) > MAX_CATEGORIA_LENGTH:
            raise InvalidEmpleado(f"categoria must have 1..{MAX_CATEGORIA_LENGTH} characters")
        if categoria not in result:
            result.append(categoria)
    if len(result) > MAX_CATEGORIAS:
        raise InvalidEmpleado(f"at most {MAX_CATEGORIAS} categorias")
    return result


def _rol(value: str) -> str:
    if value not in ROLES:
        raise InvalidEmpleado(f"rol must be one of {', '.join(ROLES)}")
    return value


def ensure_an_admin_remains(empleado: "Empleado", active_admins: int, *, rol: str | None = None,
                            activo: bool | None = None) -> None:
    """Raise LastActiveAdmin if giving ``empleado`` this ``rol``/``activo``
    would leave no active admin (``active_admins`` counts them now, the
    employee included)."""
    if not empleado.is_active_admin:
        return
    stays_admin = (rol is None or rol == ADMIN) and (activo is None or activo)
    if not stays_admin and active_admins <= 1:
        raise LastActiveAdmin(empleado.id)


@dataclass
class Empleado:
    id: str
    nombre: str
    apellidos: str
    email: str
    password_hash: str
    rol: str
    categorias: list[str]
    creado_en: str
    actualizado_en: str
    activo: bool = True
    baja_en: str | None = None
    # Numbers the published changes of the account: the replicas built from
    # empleado.* events keep the highest, whatever the delivery order.
    version: int = 1
    _rev: int | None = field(default=None, repr=False, compare=False)

    EDITABLE_FIELDS = ("nombre", "apellidos", "rol", "categorias")

    @classmethod
    def nuevo(cls, id: str, nombre: str, apellidos: str, email: str, password_hash: str, rol: str,
              categorias: Iterable[str], at: str) -> "Empleado":
        return cls(
            id=id, nombre=nombre.strip(), apellidos=apellidos.strip(), email=normalize_email(email),
            password_hash=password_hash, rol=_rol(rol), categorias=normalize_categorias(categorias),
            creado_en=at, actualizado_en=at,
        )

    @property
    def nombre_completo(self) -> str:
        return f"{self.nombre} {self.apellidos}".strip()

    @property
    def is_active_admin(self) -> bool:
        return self.activo and self.rol == ADMIN

    def update(self, changes: dict[str, Any], at: str) -> bool:
        """Apply the given editable fields; True (and a new version) when
        anything actually changed. A deactivated account cannot change."""
        if not self.activo:
            raise AlreadyInactive(self.id)
        normalized: dict[str, Any] = {}
        for name in self.EDITABLE_FIELDS:
            if name not in changes:
                continue
            value = changes[name]
            if name == "rol":
                value = _rol(value)
            elif name == "categorias":
                value = normalize_categorias(value)
            else:
                if not isinstance(value, str) or not value.strip():
                    raise InvalidEmpleado(f"{name} must be a non-empty string")
                value = value.strip()
            normalized[name] = value
        changed = False
        for name, value in normalized.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed:
            self.actualizado_en = at
            self.version += 1
        return changed

    def change_password(self, password_hash: str, at: str) -> None:
        """Not published: the other services never learn anything about passwords."""
        self.password_hash = password_hash
        self.actualizado_en = at

    def dar_de_baja(self, at: str) -> bool:
        """Deactivate, keeping the account as history. False (nothing
        changes) when it already was inactive: deactivating is idempotent."""
        if not self.activo:
            return False
        self.activo = False
        self.baja_en = self.actualizado_en = at
        self.version += 1
        return True

    def to_document(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("_rev")
        if self._rev is not None:
            doc["_rev"] = self._rev
        return doc

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> "Empleado":
        known = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def public_data(self) -> dict[str, Any]:
        """What other services learn about the employee through events:
        never the email nor anything about the password."""
        return {
            "id": self.id, "nombre": self.nombre, "apellidos": self.apellidos, "rol": self.rol,
            "categorias": list(self.categorias), "activo": self.activo, "version": self.version,
        }
