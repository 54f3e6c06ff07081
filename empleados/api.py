"""empleados' HTTP API.

Who may do what (any other role gets 403, a missing or refused token 401):

=============================  =========================================
``POST /empleados``            admin
``POST /empleados/login``      anyone (answers a staff token)
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

from typing import Any

from flask import current_app, url_for
from flask_smorest import Blueprint

from common.http.auth import current_principal, requires
from common.http.login import Account, login
from common.http.pagination import page_schema, paginate
from common.http.problems import Problem
from common.http.schemas import JwksSchema, LoginSchema, NoBodySchema, TokenSchema
from common.messaging import new_id, rfc3339, utc_now
from common.passwords import WeakPassword, check_password_strength, hash_password, verify_password
from common.storage import DuplicateKeyError

from . import events
from .domain import ADMIN, AlreadyInactive, Empleado, LastActiveAdmin, ensure_an_admin_remains, normalize_email
from .repository import ConcurrentUpdate, EmpleadoRepository
from .schemas import EmpleadoCreateSchema, EmpleadoPatchSchema, EmpleadoSchema, EmpleadosQuerySchema

STAFF = ("agente", "supervisor", "admin")
MANAGERS = ("supervisor", "admin")

blp = Blueprint("empleados", __name__, description="Employee accounts")
keys = Blueprint("claves", __name__, description="Public keys of the employee tokens")


def _state():
    return current_app.extensions["incidencias"]


def _repo() -> EmpleadoRepository:
    return _state().extra["empleados"]


def _invalid(message: str, field: str) -> Problem:
    return Problem(422, "Datos no válidos", message, slug="validacion",
                   errores=[{"campo": field, "mensaje": message, "ubicacion": "cuerpo"}])


def _forbidden(detail: str) -> Problem:
    return Problem(403, "Prohibido", detail, slug="prohibido")


def _not_found() -> Problem:
    return Problem(404, "No encontrado", "El empleado no existe", slug="no-encontrado")


def _email_taken() -> Problem:
    return Problem(409, "Email ya registrado", "Ya existe un empleado con ese email", slug="email-duplicado",
                   errores=[{"campo": "email", "mensaje": "Ya existe un empleado con ese email"}])


def _last_admin() -> Problem:
    return Problem(409, "Último administrador", "No puede quedar el servicio sin ningún administrador activo",
                   slug="ultimo-admin")


def _inactive() -> Problem:
    return Problem(409, "Empleado dado de baja", "La cuenta está dada de baja y no puede modificarse",
                   slug="empleado-de-baja")


def _concurrent() -> Problem:
    return Problem(409, "Conflicto", "La cuenta cambió mientras tanto; reintente", slug="conflicto-concurrente")


@blp.post("/empleados")
@requires(ADMIN)
@blp.arguments(EmpleadoCreateSchema)
@blp.response(201, EmpleadoSchema)
@blp.alt_response(409, description="Email already registered")
def register(data):
    """Register an employee (admins only)"""
    now = rfc3339(utc_now())
    empleado = Empleado.nuevo(
        new_id(), data["nombre"], data["apellidos"], normalize_email(data["email"]),
        hash_password(data["password"]), data["rol"], data["categorias"], now,
    )
    try:
        _repo().add(empleado, events.registrado(empleado))
    except DuplicateKeyError as exc:
        raise _email_taken() from exc
    return empleado, 201, {"Location": url_for("empleados.get_empleado", empleado_id=empleado.id)}


@blp.post("/empleados/login")
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="Wrong credentials, or a deactivated account")
@blp.alt_response(429, description="Too many failed attempts")
def login_empleado(data):
    """Log in and get an employee token"""

    def find(email: str) -> Account | None:
        empleado = _repo().by_email(email)
        if empleado is None:
            return None
        return Account(empleado.id, empleado.rol, empleado.password_hash, empleado.activo,
                       {"nombre": empleado.nombre_completo, "email": empleado.email})

    state = _state()
    return login(data["email"], data["password"], find, state.extra["throttle"], state.extra["issuer"])


def _me() -> Empleado:
    empleado = _repo().get(current_principal().id)
    if empleado is None:
        raise _not_found()
    return empleado


@blp.get("/empleados/yo")
@requires(*STAFF)
@blp.response(200, EmpleadoSchema)
def get_me():
    """The caller's own account"""
    return _me()


@blp.patch("/empleados/yo")
@requires(*STAFF)
@blp.arguments(EmpleadoPatchSchema)
@blp.response(200, EmpleadoSchema)
@blp.alt_response(403, description="A field the caller may not change")
@blp.alt_response(409, description="It would leave no active admin")
def update_me(data):
    """Update the caller's own account (changing the password needs password_actual)"""
    return _update(current_principal().id, data)


@blp.get("/empleados")
@requires(*MANAGERS)
@blp.arguments(EmpleadosQuerySchema, location="query")
@blp.response(200, page_schema(EmpleadoSchema, "EmpleadosPage"))
def list_empleados(args):
    """Employees, newest first (supervisors and admins)

    Filter by `rol` and `activo`; `q` searches the email, name and surnames."""
    repo = _repo()
    rol, activo, search = args.get("rol"), args.get("activo"), args.get("q")
    return paginate(args, lambda: repo.count(rol, activo, search),
                    lambda skip, limit: repo.list(rol, activo, search, skip, limit))


@blp.get("/empleados/<empleado_id>")
@requires(*STAFF)
@blp.response(200, EmpleadoSchema)
@blp.alt_response(403, description="An agent asking for another employee")
@blp.alt_response(404, description="No such employee")
def get_empleado(empleado_id: str):
    """An employee: the employee themself, supervisors and admins"""
    principal = current_principal()
    if principal.rol not in MANAGERS and principal.id != empleado_id:
        raise _forbidden("Solo puede consultar su propia cuenta")
    empleado = _repo().get(empleado_id)
    if empleado is None:
        raise _not_found()
    return empleado


@blp.patch("/empleados/<empleado_id>")
@requires(*STAFF)
@blp.arguments(EmpleadoPatchSchema)
@blp.response(200, EmpleadoSchema)
@blp.alt_response(403, description="A field or an employee the caller may not change")
@blp.alt_response(404, description="No such employee")
@blp.alt_response(409, description="Deactivated account, or it would leave no active admin")
def update_empleado(data, empleado_id: str):
    """Update an employee

    Admins change nombre, apellidos, rol and categorias; the employee themself
    nombre, apellidos and the password (with password_actual). A token stops
    working when its account's role changes."""
    return _update(empleado_id, data)


def _update(empleado_id: str, data: dict[str, Any]) -> Empleado:
    principal = current_principal()
    is_self, is_admin = principal.id == empleado_id, principal.rol == ADMIN
    if not (is_self or is_admin):
        raise _forbidden("Solo un administrador puede modificar la cuenta de otro empleado")
    if not is_admin and ("rol" in data or "categorias" in data):
        raise _forbidden("Solo un administrador puede cambiar rol y categorias")
    if not is_self and "password" in data:
        raise _forbidden("Solo el propio empleado puede cambiar su contraseña")
    repo = _repo()
    empleado = repo.get(empleado_id)
    if empleado is None:
        raise _not_found()
    if not empleado.activo:
        raise _inactive()
    if "password" in data:
        if not verify_password(empleado.password_hash, data["password_actual"]):
            raise _invalid("La contraseña actual no es correcta", "password_actual")
        try:
            check_password_strength(data["password"], empleado.email)
        except WeakPassword as exc:
            raise _invalid(str(exc), "password") from exc
    changes = {k: v for k, v in data.items() if k in Empleado.EDITABLE_FIELDS}
    if "rol" in changes:
        try:
            ensure_an_admin_remains(empleado, repo.active_admins(), rol=changes["rol"])
        except LastActiveAdmin as exc:
            raise _last_admin() from exc
    now = rfc3339(utc_now())
    try:
        changed = empleado.update(changes, now)
    except AlreadyInactive as exc:
        raise _inactive() from exc
    if "password" in data:
        empleado.change_password(hash_password(data["password"]), now)
    if changed or "password" in data:
        try:
            repo.save(empleado, *([events.actualizado(empleado)] if changed else []))
        except ConcurrentUpdate as exc:
            raise _concurrent() from exc
    return empleado


@blp.post("/empleados/<empleado_id>/baja")
@requires(ADMIN)
@blp.response(200, EmpleadoSchema)
@blp.alt_response(404, description="No such employee")
@blp.arguments(NoBodySchema)
@blp.alt_response(409, description="It is the last active admin")
def deactivate(_body, empleado_id: str):
    """Deactivate an employee (admins only)

    They can no longer log in and their tokens stop working at once; the
    account stays as history (`activo: false`, `baja_en`). Idempotent: an
    inactive account is answered as it is, and nothing is published again."""
    repo = _repo()
    empleado = repo.get(empleado_id)
    if empleado is None:
        raise _not_found()
    if not empleado.activo:
        return empleado
    try:
        ensure_an_admin_remains(empleado, repo.active_admins(), activo=False)
    except LastActiveAdmin as exc:
        raise _last_admin() from exc
    empleado.dar_de_baja(rfc3339(utc_now()))
    try:
        repo.save(empleado, events.baja(empleado))
    except ConcurrentUpdate as exc:
        raise _concurrent() from exc
    return empleado


@keys.get("/.well-known/jwks.json")
@keys.response(200, JwksSchema)
def jwks():
    """Public keys that verify employee tokens"""
    return _state().extra["issuer"].jwks()
