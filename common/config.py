"""Typed configuration read from the environment.

Every service builds one ``Settings`` (or a subclass adding its own fields)
inside its application factory or worker entry point, never at import time.
Local runs work with no variable set; ``ENVIRONMENT=production`` refuses to
start without real secrets.
"""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUEST_LINE_LIMIT = 4094
"""Bytes of a request line (method, URL with its query, version) the web
server takes: gunicorn refuses a longer one with its own HTML 414 before
any application code runs, as every OpenAPI document says."""

PLACEHOLDER_SECRETS = {
    "", "changeme", "change-me", "change_me", "secret", "password", "admin",
    "example", "xxx", "todo", "placeholder",
}


class ConfigError(RuntimeError):
    """The configuration cannot be used; the message says which variable."""


def is_placeholder(value: str | None) -> bool:
    if value is None:
        return True
    stripped = value.strip().lower()
    return stripped in PLACEHOLDER_SECRETS or stripped.startswith(("<", "${"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "incidencias"
    environment: Literal["development", "production", "test"] = "development"
    amqp_url: str = Field(
        "amqp://guest:guest@localhost:5672/",
        validation_alias=AliasChoices("AMQP_URL", "CLOUDAMQP_URL"),
    )
    exchange: str = "incidencias"
    mongo_url: str | None = Field(
        None, validation_alias=AliasChoices("MONGO_URL", "MONGODB_URI")
    )
    data_dir: Path = Path("var/data")
    keys_dir: Path = Path("var/keys")
    jwt_private_key: SecretStr | None = None
    jwt_audience: str = "incidencias"
    token_ttl_seconds: int = Field(3600, ge=60, le=86400)
    clientes_jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    empleados_jwks_url: str = "http://127.0.0.1:8004/.well-known/jwks.json"
    log_level: str = "INFO"
    max_body_bytes: int = Field(64 * 1024, ge=1024)
    # Messaging tuning
    amqp_heartbeat: int = Field(30, ge=0)
    amqp_blocked_timeout: float = Field(30.0, gt=0)
    amqp_prefetch: int = Field(16, ge=1)
    max_deliveries: int = Field(5, ge=1)
    relay_interval: float = Field(0.02, gt=0)  # the outbox relay's poll while it finds events
    relay_idle_interval: float = Field(5.0, gt=0)  # its longest wait for the doorbell (SQLite)
    relay_poll_max: float = Field(0.5, gt=0)  # its longest wait between empty looks without one (MongoDB)
    dead_letter_check_interval: float = Field(60.0, gt=0)  # seconds between a worker's looks at its .dlq queues
    # Outgoing e-mail (common/mail): the server (smtp://user:pass@host:587 uses
    # STARTTLS, smtps:// implicit TLS; unset: mails wait in the outbox, and the
    # worker says so), the sender, the portal the links point to, and the retries.
    smtp_url: SecretStr | None = None
    mail_from: str = "Incidencias <no-responder@incidencias.localhost>"
    portal_url: str = "http://127.0.0.1:8000"
    smtp_timeout: float = Field(10.0, gt=0)
    mail_interval: float = Field(1.0, gt=0)  # longest wait between looks while mails wait (or no doorbell)
    mail_idle_interval: float = Field(30.0, gt=0)  # longest wait for the doorbell with the outbox empty (SQLite)
    mail_retry_base: float = Field(2.0, gt=0)  # first delay after a failed try; doubles each time
    mail_retry_max: float = Field(900.0, gt=0)  # longest delay between tries
    mail_max_attempts: int = Field(10, ge=1)  # 4xx answers to a mail; then it is final (fallido)
    mail_max_age: float = Field(48 * 3600.0, gt=0)  # seconds a mail may wait unsent; then it is final
    login_max_failures: int = Field(5, ge=1)
    login_window_seconds: int = Field(300, ge=1)

    test_clock_file: Path | None = Field(None, description=(
        "Tests only (ENVIRONMENT=test): a file whose number of seconds moves every process's clock forward "
        "(common.clock)"))

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> "Settings":
        if self.environment == "production":
            self.check_production_secrets()
        if self.test_clock_file is not None and self.environment != "test":
            raise ConfigError("TEST_CLOCK_FILE moves the clock for tests only: set ENVIRONMENT=test or unset it")
        return self

    def check_production_secrets(self) -> None:
        """Subclasses extend this with their own required secrets."""
        if self.amqp_url.startswith("amqp://guest:guest@"):
            raise ConfigError(
                "AMQP_URL uses the default guest account; set a real one in production"
            )

    @property
    def storage_url(self) -> str:
        """Where this service keeps its data: MongoDB if configured, else SQLite."""
        if self.mongo_url:
            return self.mongo_url
        return f"sqlite:///{(self.data_dir / f'{self.service_name}.sqlite3').resolve()}"


class IssuerSettings(Settings):
    """Settings of a service that signs tokens (clientes, empleados)."""

    def check_production_secrets(self) -> None:
        super().check_production_secrets()
        key = self.jwt_private_key.get_secret_value() if self.jwt_private_key else None
        if is_placeholder(key):
            raise ConfigError(
                "JWT_PRIVATE_KEY must hold the PEM signing key in production"
            )
