"""Application factory of incidencias_resolucion
(``gunicorn 'incidencias_resolucion.app:create_app()'``)."""
from __future__ import annotations

from flask import Flask

from common.http.app import ServiceState, create_service_app
from common.http.service import build_store, readiness_checks, trusted_issuers
from common.logs import configure_logging
from common.tokens import TokenVerifier

from .api import blp, estadisticas
from .config import ResolucionSettings
from .repository import EmpleadoReplica, IncidenciaRepository


def create_app(settings: ResolucionSettings | None = None) -> Flask:
    settings = settings or ResolucionSettings()
    configure_logging(settings.service_name, settings.log_level)
    store = build_store(settings)
    empleados = EmpleadoReplica(store)

    def is_revoked(principal) -> bool:
        # A deactivated or demoted employee's token stops working as soon as
        # empleado.baja or the change of role arrives.
        if principal.issuer != "empleados":
            return False
        known = empleados.get(principal.id)
        return known is not None and (not known.get("activo") or known.get("rol") != principal.rol)

    state = ServiceState(
        settings=settings,
        store=store,
        verifier=TokenVerifier(settings.jwt_audience, trusted_issuers(settings)),
        is_revoked=is_revoked,
        extra={"incidencias": IncidenciaRepository(store), "empleados": empleados},
    )
    app, api = create_service_app(
        "incidencias_resolucion", "Incidencias · resolución",
        "Employees get incidents assigned automatically by load, work on them and resolve them.",
        state, readiness_checks(settings, store),
    )
    api.register_blueprint(blp)
    api.register_blueprint(estadisticas)
    return app
