"""Application factory of clientes (``gunicorn 'clientes.app:create_app()'``)."""
from __future__ import annotations

from flask import Flask

from common.http.app import create_service_app
from common.http.service import readiness_checks
from common.logs import configure_logging

from . import bootstrap
from .api import blp, keys
from .config import ClientesSettings


def create_app(settings: ClientesSettings | None = None) -> Flask:
    settings = settings or ClientesSettings()
    configure_logging(settings.service_name, settings.log_level)
    components = bootstrap.build(settings)
    app, api = create_service_app(
        "clientes", "Incidencias · clientes",
        "Customer accounts: registration, login, profile and erasure. Issues customer tokens.",
        components, readiness_checks(settings, components.store),
    )
    api.register_blueprint(blp)
    api.register_blueprint(keys)
    return app
