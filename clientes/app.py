"""Application factory of clientes (``gunicorn 'clientes.app:create_app()'``)."""
from __future__ import annotations

from flask import Flask

from common.http.app import build_service_app

from . import bootstrap
from .api import blp, keys
from .config import ClientesSettings


def create_app(settings: ClientesSettings | None = None) -> Flask:
    app, _api = build_service_app(
        settings or ClientesSettings(), bootstrap.build, "Incidencias clientes",
        "Customer accounts: registration, login, profile and erasure. Issues customer tokens.",
        [blp, keys],
    )
    return app
