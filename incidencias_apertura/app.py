"""Application factory of incidencias_apertura
(``gunicorn 'incidencias_apertura.app:create_app()'``)."""
from __future__ import annotations

from flask import Flask

from common.http.app import ServiceState, create_service_app
from common.http.service import build_store, readiness_checks, trusted_issuers
from common.logs import configure_logging
from common.tokens import TokenVerifier

from .api import blp, notificaciones
from .config import AperturaSettings
from .repository import ClienteReplica, IncidenciaRepository, NotificationRepository


def create_app(settings: AperturaSettings | None = None) -> Flask:
    settings = settings or AperturaSettings()
    configure_logging(settings.service_name, settings.log_level)
    store = build_store(settings)
    clientes = ClienteReplica(store)

    def is_revoked(principal) -> bool:
        # A customer deleted in clientes loses access here as soon as the event arrives.
        return principal.rol == "cliente" and clientes.is_deleted(principal.id)

    state = ServiceState(
        settings=settings,
        store=store,
        verifier=TokenVerifier(settings.jwt_audience, trusted_issuers(settings)),
        is_revoked=is_revoked,
        extra={
            "incidencias": IncidenciaRepository(store),
            "clientes": clientes,
            "notificaciones": NotificationRepository(store),
        },
    )
    app, api = create_service_app(
        "incidencias_apertura", "Incidencias · apertura",
        "Customers open incidents about products they bought, follow them, "
        "and confirm or reject the proposed solution.",
        state, readiness_checks(settings, store),
    )
    api.register_blueprint(blp)
    api.register_blueprint(notificaciones)
    return app
