"""Creating admins from the command line (the first one, from the
configuration, is ``services.crear_primer_admin`` when the service starts).

    flask --app empleados.app crear-admin --email ana@example.com --nombre Ana [--apellidos "Ruiz"]

The command reads the password from ``ADMIN_PASSWORD`` when it is set, and
otherwise asks for it (twice, without echo); it never takes it as an
argument, which would leave it in the shell history and the process list.
"""
from __future__ import annotations

import click
import marshmallow as ma
from flask.cli import with_appcontext

from common.http.app import components
from common.passwords import WeakPassword

from .services import EmpleadoExistente, crear_admin


@click.command("crear-admin")
@click.option("--email", required=True, help="The admin's email (their login).")
@click.option("--nombre", required=True, help="The admin's first name.")
@click.option("--apellidos", default="", help="The admin's surnames.")
@with_appcontext
def crear_admin_command(email: str, nombre: str, apellidos: str) -> None:
    """Create an admin employee (password from ADMIN_PASSWORD or a prompt)."""
    service = components()
    try:
        ma.validate.Email()(email.strip())
    except ma.ValidationError as exc:
        raise click.BadParameter("not a valid email address", param_hint="--email") from exc
    if not nombre.strip():
        raise click.BadParameter("must not be empty", param_hint="--nombre")
    password = service.settings.admin_password_value
    if password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        admin = crear_admin(service.empleados, email, password, nombre, apellidos)
    except WeakPassword as exc:
        raise click.ClickException(f"weak password: {exc}") from exc
    except EmpleadoExistente as exc:
        holder = f" ({exc.empleado.id}, rol {exc.empleado.rol})" if exc.empleado else ""
        raise click.ClickException(f"an employee with that email already exists{holder}") from exc
    click.echo(f"Admin created: {admin.id} <{admin.email}>")
