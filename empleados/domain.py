"""Employee accounts: the rules, free of any framework."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

from cuentas.cuenta import Cuenta, normalize_email
from cuentas.roles import ADMIN, ROLES_PERSONAL

MAX_CATEGORIAS = 20
MAX_CATEGORIA_LENGTH = 50


class EmpleadoNoValido(ValueError):
    """A value the domain refuses (the API validates before, so this is a bug guard)."""


class UltimoAdmin(Exception):
    """The change would leave the service without any active admin."""


class EmpleadoDeBaja(Exception):
    """The account was already deactivated: it is history and cannot change."""


def normalize_categorias(values: Iterable[str]) -> list[str]:
    """Trimmed, lowercase, without duplicates, in the order first given."""
    result: list[str] = []
    for value in values:
        if not isinstance(value, str):
            raise EmpleadoNoValido(f"categoria must be a string, got {type(value).__name__}")
        categoria = value.strip().lower()
        if not categoria or len(categoria) > MAX_CATEGORIA_LENGTH:
            raise EmpleadoNoValido(f"categoria must have 1..{MAX_CATEGORIA_LENGTH} characters")
        if categoria not in result:
            result.append(categoria)
    if len(result) > MAX_CATEGORIAS:
        raise EmpleadoNoValido(f"at most {MAX_CATEGORIAS} categorias")
    return result


def _rol(value: str) -> str:
    if value not in ROLES_PERSONAL:
        raise EmpleadoNoValido(f"rol must be one of {', '.join(ROLES_PERSONAL)}")
    return value


def exigir_un_admin(empleado: "Empleado", admins_activos: int, *, rol: str | None = None,
                    activo: bool | None = None) -> None:
    """Raise UltimoAdmin if giving ``empleado`` this ``rol``/``activo``
    would leave no active admin (``admins_activos`` counts them now, the
    employee included)."""
    if not empleado.es_admin_activo:
        return
    stays_admin = (rol is None or rol == ADMIN) and (activo is None or activo)
    if not stays_admin and admins_activos <= 1:
        raise UltimoAdmin(empleado.id)


@dataclass
class Empleado(Cuenta):
    """An employee. ``password_hash`` is None while an invitation is
    pending: the invitee sets the password through the link, and until then
    the account cannot log in (no password verifies against none)."""

    id: str
    nombre: str
    apellidos: str
    email: str
    password_hash: str | None
    rol: str
    categorias: list[str]
    creado_en: str
    actualizado_en: str
    activo: bool = True
    baja_en: str | None = None
    # Numbers the published changes of the account: the replicas built from
    # empleado.* events keep the highest, whatever the delivery order.
    version: int = 1
    sesiones_desde: str | None = None
    enlaces: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    envios: dict[str, list[str]] = field(default_factory=dict, repr=False)
    _rev: int | None = field(default=None, repr=False, compare=False)

    EDITABLE_FIELDS: ClassVar[tuple[str, ...]] = ("nombre", "apellidos", "rol", "categorias")

    @classmethod
    def nuevo(cls, id: str, nombre: str, apellidos: str, email: str, password_hash: str | None, rol: str,
              categorias: Iterable[str], en: str) -> "Empleado":
        return cls(
            id=id, nombre=nombre.strip(), apellidos=apellidos.strip(), email=normalize_email(email),
            password_hash=password_hash, rol=_rol(rol), categorias=normalize_categorias(categorias),
            creado_en=en, actualizado_en=en,
        )

    @property
    def puede_iniciar_sesion(self) -> bool:
        return self.activo

    @property
    def es_admin_activo(self) -> bool:
        return self.activo and self.rol == ADMIN

    @property
    def invitacion_pendiente(self) -> bool:
        """Invited and not yet accepted: no password has been set."""
        return self.password_hash is None

    def cambiar_password(self, password_hash: str, en: str) -> None:
        """A new password, and a new version: ``sesiones_desde`` is published."""
        super().cambiar_password(password_hash, en)
        self.version += 1

    def actualizar(self, cambios: dict[str, Any], en: str) -> bool:
        """Apply the given editable fields; True (and a new version) when
        anything actually changed. A deactivated account cannot change."""
        if not self.activo:
            raise EmpleadoDeBaja(self.id)
        normalized: dict[str, Any] = {}
        for name in self.EDITABLE_FIELDS:
            if name not in cambios:
                continue
            value = cambios[name]
            if name == "rol":
                value = _rol(value)
            elif name == "categorias":
                value = normalize_categorias(value)
            else:
                if not isinstance(value, str) or not value.strip():
                    raise EmpleadoNoValido(f"{name} must be a non-empty string")
                value = value.strip()
            normalized[name] = value
        changed = False
        for name, value in normalized.items():
            if getattr(self, name) != value:
                setattr(self, name, value)
                changed = True
        if changed:
            self.actualizado_en = en
            self.version += 1
        return changed

    def dar_de_baja(self, en: str) -> bool:
        """Deactivate, keeping the account as history. False (nothing
        changes) when it already was inactive: deactivating is idempotent."""
        if not self.activo:
            return False
        self.activo = False
        self.baja_en = self.actualizado_en = en
        self.version += 1
        self.anular_enlaces()
        return True

    def public_data(self) -> dict[str, Any]:
        """What other services learn about the employee through events:
        where to mail them, and since when their sessions count (never the
        password nor its hash)."""
        return {
            "id": self.id, "nombre": self.nombre, "apellidos": self.apellidos, "rol": self.rol,
            "categorias": list(self.categorias), "activo": self.activo, "version": self.version,
            "email": self.email, "sesiones_desde": self.sesiones_desde,
        }
