"""Application factory of incidencias_apertura
(``gunicorn 'incidencias_apertura.app:create_app()'``)."""
from __future__ import annotations

from flask import Flask

from common.http.app import build_service_app
from incidencias_replica.http import PROBLEMS

from . import bootstrap
from .api import blp, notificaciones, telefono
from .config import AperturaSettings


def create_app(settings: AperturaSettings | None = None) -> Flask:
    app, _api = build_service_app(
        settings or AperturaSettings(), bootstrap.build, "Incidencias apertura",
        "Customers open incidents about products they bought, follow them, "
        "and confirm or reject the proposed solution.",
        [blp, notificaciones, telefono], PROBLEMS,
    )
    return app
