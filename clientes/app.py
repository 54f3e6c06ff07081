"""Application factory of clientes (``gunicorn 'clientes.app:create_app()'``)."""
from __future__ import annotations

from flask import Flask

from common.http.app import ServiceState, create_service_app
from common.http.service import build_store, readiness_checks, trusted_issuers
from common.logs import configure_logging
from common.throttle import LoginThrottle
from common.tokens import TokenIssuer, TokenVerifier, signing_key

from .api import blp, keys
from .config import ClientesSettings
from .repository import ClienteRepository, StaffReplica


def create_app(settings: ClientesSettings | None = None) -> Flask:
    settings = settings or ClientesSettings()
    configure_logging(settings.service_name, settings.log_level)
    store = build_store(settings)
    issuer = TokenIssuer(signing_key(
        settings.jwt_private_key.get_secret_value() if settings.jwt_private_key else None,
        settings.keys_dir, settings.service_name), "clientes", settings.jwt_audience, settings.token_ttl_seconds)
    repository = ClienteRepository(store)
    personal = StaffReplica(store)

    def is_revoked(principal) -> bool:
        if principal.issuer == "clientes":
            cliente = repository.get(principal.id)
            return cliente is None or cliente.eliminado
        # A staff token stops working here as soon as empleado.baja, or the
        # change of its role, arrives. An employee this service has not heard
        # of yet is vouched for by empleados' signature alone.
        empleado = personal.get(principal.id)
        return empleado is not None and (not empleado["activo"] or empleado["rol"] != principal.rol)

    state = ServiceState(
        settings=settings,
        store=store,
        verifier=TokenVerifier(settings.jwt_audience, trusted_issuers(settings, issuer)),
        is_revoked=is_revoked,
        extra={
            "clientes": repository,
            "issuer": issuer,
            "throttle": LoginThrottle(store, settings.login_max_failures, settings.login_window_seconds),
        },
    )
    app, api = create_service_app(
        "clientes", "Incidencias · clientes",
        "Customer accounts: registration, login, profile and erasure. Issues customer tokens.",
        state, readiness_checks(settings, store),
    )
    api.register_blueprint(blp)
    api.register_blueprint(keys)
    return app
