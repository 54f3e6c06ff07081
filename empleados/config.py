"""empleados' settings: an issuer's, plus the first admin.

``ADMIN_EMAIL`` and ``ADMIN_PASSWORD`` create the first admin when the
service starts and no active admin exists (nothing is created when they are
unset: there is no built-in default account). ``ADMIN_NOMBRE`` and
``ADMIN_APELLIDOS`` name it. The password must meet the password rule, and
in production it must not be a placeholder.
"""
from __future__ import annotations

import marshmallow as ma
from pydantic import SecretStr, field_validator, model_validator

from common.config import ConfigError, IssuerSettings, is_placeholder
from common.passwords import WeakPassword, check_password_strength
from cuentas.cuenta import normalize_email

_EMAIL = ma.validate.Email()


class EmpleadosSettings(IssuerSettings):
    service_name: str = "empleados"
    admin_email: str | None = None
    admin_password: SecretStr | None = None
    admin_nombre: str = "Administrador"
    admin_apellidos: str = ""

    @field_validator("admin_email", "admin_password", mode="before")
    @classmethod
    def _blank_is_unset(cls, value):
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("admin_email")
    @classmethod
    def _normalize_email(cls, value: str | None) -> str | None:
        return normalize_email(value) if value is not None else None

    @property
    def admin_password_value(self) -> str | None:
        return self.admin_password.get_secret_value() if self.admin_password is not None else None

    @model_validator(mode="after")
    def _usable_first_admin(self) -> "EmpleadosSettings":
        if self.admin_email is None:
            return self
        try:
            _EMAIL(self.admin_email)
        except ma.ValidationError as exc:
            raise ConfigError(f"ADMIN_EMAIL is not a valid email address: {self.admin_email!r}") from exc
        if self.admin_password_value is None:
            raise ConfigError("ADMIN_EMAIL is set but ADMIN_PASSWORD is not: set the first admin's password")
        if not self.admin_nombre.strip():
            raise ConfigError("ADMIN_NOMBRE must not be empty")
        try:
            check_password_strength(self.admin_password_value, self.admin_email)
        except WeakPassword as exc:
            raise ConfigError(f"ADMIN_PASSWORD is too weak: {exc}") from exc
        return self

    def check_production_secrets(self) -> None:
        super().check_production_secrets()
        if self.admin_email is not None and is_placeholder(self.admin_password_value):
            raise ConfigError(
                "ADMIN_PASSWORD must be a real password in production when ADMIN_EMAIL is set"
            )
