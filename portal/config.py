"""The portal's settings, read from the environment (names in upper case).

The session cookie is signed with ``portal_secret_key``. Production refuses a
missing or placeholder key. Locally the key is made once and kept in
``KEYS_DIR/portal-secret-key`` (like the services' signing keys), so every
gunicorn worker, and every restart, signs with the same key.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from common.config import ConfigError, is_placeholder

SECRET_KEY_FILE = "portal-secret-key"
DEFAULT_CATEGORIAS = "envios,devoluciones,garantia,facturacion,producto,otros"


class PortalSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "portal"
    environment: Literal["development", "production", "test"] = "development"
    log_level: str = "INFO"
    clientes_url: str = "http://127.0.0.1:8001"
    apertura_url: str = "http://127.0.0.1:8002"
    resolucion_url: str = "http://127.0.0.1:8003"
    empleados_url: str = "http://127.0.0.1:8004"
    portal_secret_key: SecretStr | None = None
    portal_categorias: str = DEFAULT_CATEGORIAS
    portal_api_timeout: float = Field(5.0, gt=0, le=60)
    portal_secure_cookies: bool = False
    keys_dir: Path = Path("var/keys")

    @model_validator(mode="after")
    def _production(self) -> "PortalSettings":
        if self.environment == "production":
            key = self.portal_secret_key.get_secret_value() if self.portal_secret_key else None
            if is_placeholder(key) or len(key or "") < 32:
                raise ConfigError("PORTAL_SECRET_KEY must hold a random key of at least 32 characters "
                                  "in production")
            if "portal_secure_cookies" not in self.model_fields_set:
                self.portal_secure_cookies = True
        return self

    @property
    def categorias(self) -> list[str]:
        """The incident categories offered in the forms, in their order."""
        return list(dict.fromkeys(c.strip().lower() for c in self.portal_categorias.split(",") if c.strip()))

    @property
    def api_urls(self) -> dict[str, str]:
        """Each service's base URL, by the name the portal calls it."""
        return {
            "clientes": self.clientes_url.rstrip("/"), "apertura": self.apertura_url.rstrip("/"),
            "resolucion": self.resolucion_url.rstrip("/"), "empleados": self.empleados_url.rstrip("/"),
        }

    def secret_key(self) -> str:
        """The key that signs the session cookie."""
        if self.portal_secret_key is not None and not is_placeholder(self.portal_secret_key.get_secret_value()):
            return self.portal_secret_key.get_secret_value()
        return local_secret_key(self.keys_dir / SECRET_KEY_FILE)


def local_secret_key(path: Path) -> str:
    """The key kept in ``path``, made there the first time. Workers starting
    together agree: the key is written to a file of its own and linked into
    place, which only the first one achieves; the others read it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        candidate = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
        try:
            os.link(candidate, path)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    key = path.read_text().strip()
    if len(key) < 32:
        raise ConfigError(f"{path} holds no usable key; delete it to make a new one")
    return key
