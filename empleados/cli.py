"""Creating admins: the first one from the configuration when the service
starts, any one from the command line.

    flask --app empleados.app crear-admin --email ana@example.com --nombre Ana [--apellidos "Ruiz"]

The command reads the password from ``ADMIN_PASSWORD`` when it is set, and
otherwise asks for it (twice, without echo); it never takes it as an
argument, which would leave it in the shell history and the process list.
"""
from __future__ import annotations

import logging

import click
import marshmallow as ma
from flask import current_app
from flask.cli import with_appcontext

from common.messaging import new_id, rfc3339, utc_now
from common.passwords import WeakPassword, check_password_strength, hash_password
from common.storage import DuplicateKeyError

from . import events
from .config import EmpleadosSettings
from .domain import ADMIN, Empleado, normalize_email
from .repository import EmpleadoRepository

log = logging.getLogger(__name__)


class AdminExists(Exception):
    """The email already belongs to an employee."""

    def __init__(self, empleado: Empleado):
        super().__init__(empleado.id)
        self.empleado = empleado


def create_admin(repository: EmpleadoRepository, email: str, password: str, nombre: str,
                 apellidos: str = "") -> Empleado:
    """Create an active admin (and its ``empleado.registrado`` event, in the
    same write). Raises WeakPassword, or AdminExists when the email is taken:
    the unique email index decides between concurrent creators."""
    email = normalize_email(email)
    check_password_strength(password, email)
    now = rfc3339(utc_now())
    admin = Empleado.nuevo(new_id(), nombre, apellidos, email, hash_password(password), ADMIN, [], now)
    try:
        repository.add(admin, events.registrado(admin))
    except DuplicateKeyError as exc:
        existing = repository.by_email(email)
        if existing is None:  # the clash was on something else than the email: not ours to hide
            raise
        raise AdminExists(existing) from exc
    return admin


def bootstrap_admin(repository: EmpleadoRepository, settings: EmpleadosSettings) -> Empleado | None:
    """Create the first admin from ADMIN_EMAIL / ADMIN_PASSWORD when there is
    no active admin. Safe when several processes start at once: only one
    insert wins the email, the others find the account it created."""
    if repository.active_admins() > 0:
        return None
    if settings.admin_email is None or settings.admin_password_value is None:
        log.warning("there is no active admin: set ADMIN_EMAIL and ADMIN_PASSWORD, or run "
                    "'flask --app empleados.app crear-admin --email ... --nombre ...'")
        return None
    try:
        admin = create_admin(repository, settings.admin_email, settings.admin_password_value,
                             settings.admin_nombre, settings.admin_apellidos)
    except AdminExists as exc:
        existing = exc.empleado
        if not existing.is_active_admin:
            log.error("ADMIN_EMAIL belongs to employee %s, who is not an active admin: no admin was "
                      "created; run 'flask --app empleados.app crear-admin' with another email", existing.id)
        return None
    log.info("first admin created from ADMIN_EMAIL", extra={"empleado_id": admin.id})
    return admin


@click.command("crear-admin")
@click.option("--email", required=True, help="The admin's email (their login).")
@click.option("--nombre", required=True, help="The admin's first name.")
@click.option("--apellidos", default="", help="The admin's surnames.")
@with_appcontext
def crear_admin_command(email: str, nombre: str, apellidos: str) -> None:
    """Create an admin employee (password from ADMIN_PASSWORD or a prompt)."""
    state = current_app.extensions["incidencias"]
    try:
        ma.validate.Email()(email.strip())
    except ma.ValidationError as exc:
        raise click.BadParameter("not a valid email address", param_hint="--email") from exc
    if not nombre.strip():
        raise click.BadParameter("must not be empty", param_hint="--nombre")
    password = state.settings.admin_password_value
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        admin = create_admin(state.extra["empleados"], email, password, nombre, apellidos)
    except WeakPassword as exc:
        raise click.ClickException(f"weak password: {exc}") from exc
    except AdminExists as exc:
        raise click.ClickException(
            f"an employee with that email already exists ({exc.empleado.id}, rol {exc.empleado.rol})"
        ) from exc
    click.echo(f"Admin created: {admin.id} <{admin.email}>")
