"""Application factory of incidencias_resolucion
(``gunicorn 'incidencias_resolucion.app:create_app()'``)."""
from __future__ import annotations

from flask import Flask

from common.http.app import build_service_app
from incidencias_replica.http import PROBLEMS

from . import bootstrap
from .api import blp, estadisticas, notificaciones, respuestas, sla
from .config import ResolucionSettings


def create_app(settings: ResolucionSettings | None = None) -> Flask:
    app, _api = build_service_app(
        settings or ResolucionSettings(), bootstrap.build, "Incidencias resolucion",
        "Employees get incidents assigned automatically by load, work on them and resolve them.",
        [blp, estadisticas, respuestas, sla, notificaciones], PROBLEMS,
    )
    return app
