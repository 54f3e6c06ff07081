"""Application factory of empleados (``gunicorn 'empleados.app:create_app()'``).

The first admin: when the service starts with no active admin, it creates
one from ``ADMIN_EMAIL`` and ``ADMIN_PASSWORD`` (and ``ADMIN_NOMBRE``,
``ADMIN_APELLIDOS``); there is no built-in default account. Every gunicorn
worker runs this factory, and the unique email index lets exactly one of
them create it. More admins, or a first one without those variables:

    flask --app empleados.app crear-admin --email ana@example.com --nombre Ana --apellidos Ruiz

which reads the password from ``ADMIN_PASSWORD`` when set, or else prompts
for it. An employee token stops working as soon as the account is
deactivated or its role changes (the employee logs in again to get one with
the new role).
"""
from __future__ import annotations

import logging

from flask import Flask

from common.http.app import build_service_app
from common.storage import StorageUnavailable

from . import bootstrap, services
from .api import PROBLEMS, blp, keys
from .cli import crear_admin_command
from .config import EmpleadosSettings
from .repository import EmpleadoRepository

log = logging.getLogger(__name__)


def create_app(settings: EmpleadosSettings | None = None) -> Flask:
    settings = settings or EmpleadosSettings()
    app, _api = build_service_app(
        settings, bootstrap.build, "Incidencias empleados",
        "Employee accounts: registration by admins, login, profile, roles, categories and "
        "deactivation. Issues employee tokens.",
        [blp, keys], PROBLEMS,
    )
    app.cli.add_command(crear_admin_command)
    components: bootstrap.Components = app.extensions["incidencias"]
    admin_pending = not _try_bootstrap_admin(components.empleados, settings)

    if admin_pending:
        @app.before_request
        def bootstrap_admin_once_storage_answers() -> None:
            # A worker (re)started while the database was down creates the
            # first admin on its first request once the database is back.
            nonlocal admin_pending
            if admin_pending:
                admin_pending = not _try_bootstrap_admin(components.empleados, settings)

    return app


def _try_bootstrap_admin(empleados: EmpleadoRepository, settings: EmpleadosSettings) -> bool:
    """True once the first-admin check has run; a database that does not
    answer must not stop the service from starting (it reports not ready)."""
    try:
        services.crear_primer_admin(empleados, settings)
    except StorageUnavailable as exc:
        log.warning("the first-admin check waits for the database: %s", exc)
        return False
    return True
