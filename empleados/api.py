"""empleados' HTTP API.

Who may do what (any other role gets 403, a missing or refused token 401):

=============================  =========================================
``POST /empleados``            admin (without password: an invitation)
``POST /empleados/login``      anyone (answers a staff token)
``POST /empleados/invitacion/aceptacion``, ``POST /empleados/password/solicitud``,
``POST /empleados/password/restablecimiento``
                               anyone (the link's token is the proof)
``GET /empleados/yo``          any employee (their own account)
``PATCH /empleados/yo``        any employee (as PATCH of their own id)
``GET /empleados``             supervisor, admin
``GET /empleados/{id}``        the employee themself, supervisor, admin
``PATCH /empleados/{id}``      admin: nombre, apellidos, rol, categorias;
                               the employee themself: nombre, apellidos,
                               password (with password_actual)
``POST /empleados/{id}/baja``  admin
=============================  =========================================

Deactivating (``baja``) is idempotent: deactivating an inactive account
answers 200 with it, unchanged, and publishes nothing. A deactivated account
is history: it cannot be changed (409). No change may leave the service
without an active admin (409).
"""
from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint

from common.http.app import components
from common.http.auth import current_principal, requires
from common.http.operations import ANYONE, LOCATION, created, operation
from common.http.pagination import page_schema, paginate
from common.http.problems import Problem
from common.http.schemas import NoBodySchema
from cuentas.http import add_login, add_password_reset, keys_blueprint, portal_url
from cuentas.roles import ADMIN, ROLES_GESTION, ROLES_PERSONAL
from cuentas.schemas import PasswordEnlaceSchema

from . import services
from .domain import EmpleadoDeBaja, UltimoAdmin
from .schemas import EmpleadoCreateSchema, EmpleadoPatchSchema, EmpleadoSchema, EmpleadosQuerySchema

blp = Blueprint("empleados", __name__, description="Employee accounts")
keys = keys_blueprint("employee")

PROBLEMS = {
    UltimoAdmin: lambda _exc: Problem(409, "Último administrador",
                                      "No puede quedar el servicio sin ningún administrador activo",
                                      slug="ultimo-admin"),
    EmpleadoDeBaja: lambda _exc: Problem(409, "Empleado dado de baja",
                                         "La cuenta está dada de baja y no puede modificarse",
                                         slug="empleado-de-baja"),
}
"""empleados' own refusals, answered by the app for every view."""


def _empleados():
    return components().empleados


@operation(blp, "POST", "/empleados", (ADMIN,), EmpleadoSchema,
           name="crearEmpleado", status=201, body=EmpleadoCreateSchema,
           refusals={409: "Email already registered"}, idempotent=True, headers=LOCATION,
           links=created("empleado_id", "verEmpleado", "actualizarEmpleado", "darDeBajaEmpleado"))
def register(data, idempotency):
    """Register an employee (admins only)

    Without `password`, the employee is invited: a link valid 72 hours is
    mailed to them to choose it (`invitacion_pendiente` until then; the
    account cannot log in before)."""
    empleado = services.registrar_empleado(_empleados(), data["nombre"], data["apellidos"], data["email"],
                                           data.get("password"), data["rol"], data["categorias"], idempotency,
                                           portal_url=portal_url())
    return empleado, 201, {"Location": url_for("empleados.get_empleado", empleado_id=empleado.id)}


add_login(blp, "/empleados/login", "login_empleado", "Log in and get an employee token",
          "Wrong credentials, or a deactivated account", _empleados)


@operation(blp, "POST", "/empleados/invitacion/aceptacion", ANYONE, EmpleadoSchema,
           name="aceptarInvitacion", body=PasswordEnlaceSchema,
           refusals={400: "The link is not valid or has expired"}, idempotent=True)
def accept_invitation(data, idempotency):
    """Accept an invitation: choose the password through the link mailed (no token needed)"""
    return services.aceptar_invitacion(_empleados(), data["token"], data["password"], idempotency)


add_password_reset(blp, "/empleados/password", "password_empleado",
                   lambda email, url: services.solicitar_password(_empleados(), email, url),
                   lambda token, password, key: services.restablecer_password(_empleados(), token, password, key))


@blp.get("/empleados/yo")
@blp.doc(operationId="verPerfil")
@requires(*ROLES_PERSONAL)
@blp.response(200, EmpleadoSchema)
def get_me():
    """The caller's own account"""
    principal = current_principal()
    return services.ver_empleado(_empleados(), principal, principal.id)


def _account_patch(path: str, name: str):
    """``PATCH path`` (operation ``name``), the one update of an employee
    account (for any employee; who may change what is the use case's rule)."""

    def decorate(view):
        view = blp.doc(operationId=name)(view)
        view = blp.response(200, EmpleadoSchema)(view)
        view = blp.arguments(EmpleadoPatchSchema)(view)
        return blp.patch(path)(requires(*ROLES_PERSONAL)(view))

    return decorate


@_account_patch("/empleados/yo", "actualizarPerfil")
@blp.alt_response(403, description="A field the caller may not change")
@blp.alt_response(409, description="It would leave no active admin")
def update_me(data):
    """Update the caller's own account (changing the password needs password_actual)"""
    return _update(current_principal().id, data)


@blp.get("/empleados")
@blp.doc(operationId="listarEmpleados")
@requires(*ROLES_GESTION)
@blp.arguments(EmpleadosQuerySchema, location="query")
@blp.response(200, page_schema(EmpleadoSchema, "EmpleadosPage"))
def list_empleados(args):
    """Employees, newest first (supervisors and admins)

    Filter by `rol` and `activo`; `q` searches the email, name and surnames."""
    return paginate(args, services.listar_empleados(_empleados(), args.get("rol"), args.get("activo"),
                                                    args.get("q")))


@blp.get("/empleados/<cuenta:empleado_id>")
@blp.doc(operationId="verEmpleado")
@requires(*ROLES_PERSONAL)
@blp.response(200, EmpleadoSchema)
@blp.alt_response(403, description="An agent asking for another employee")
@blp.alt_response(404, description="No such employee")
def get_empleado(empleado_id: str):
    """An employee: the employee themself, supervisors and admins"""
    return services.ver_empleado(_empleados(), current_principal(), empleado_id)


@_account_patch("/empleados/<cuenta:empleado_id>", "actualizarEmpleado")
@blp.alt_response(403, description="A field or an employee the caller may not change")
@blp.alt_response(404, description="No such employee")
@blp.alt_response(409, description="Deactivated account, or it would leave no active admin")
def update_empleado(data, empleado_id: str):
    """Update an employee

    Admins change nombre, apellidos, rol and categorias; the employee themself
    nombre, apellidos and the password (with password_actual). A token stops
    working when its account's role changes."""
    return _update(empleado_id, data)


def _update(empleado_id: str, data: dict):
    password, password_actual = data.pop("password", None), data.pop("password_actual", None)
    return services.actualizar_empleado(_empleados(), current_principal(), empleado_id, data, password,
                                        password_actual)


@operation(blp, "POST", "/empleados/<cuenta:empleado_id>/baja", (ADMIN,), EmpleadoSchema,
           name="darDeBajaEmpleado", body=NoBodySchema,
           refusals={404: "No such employee", 409: "It is the last active admin"}, idempotent=True)
def deactivate(_body, empleado_id: str, idempotency):
    """Deactivate an employee (admins only)

    They can no longer log in and their tokens stop working at once; the
    account stays as history (`activo: false`, `baja_en`). Idempotent: an
    inactive account is answered as it is, and nothing is published again."""
    return services.dar_de_baja(_empleados(), empleado_id, idempotency)
