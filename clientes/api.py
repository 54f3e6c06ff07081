"""clientes' HTTP API."""
from __future__ import annotations

from flask import current_app, url_for
from flask_smorest import Blueprint

from common.http.auth import current_principal, requires
from common.http.login import Account, login
from common.http.pagination import page_schema, paginate
from common.http.problems import Problem
from common.http.schemas import JwksSchema, LoginSchema, TokenSchema
from common.messaging import new_id, rfc3339, utc_now
from common.passwords import WeakPassword, check_password_strength, hash_password, verify_password
from common.storage import DuplicateKeyError

from . import events
from .domain import Cliente, normalize_email
from .repository import ClienteRepository, ConcurrentUpdate
from .schemas import ClienteCreateSchema, ClientePatchSchema, ClienteSchema, ClientesQuerySchema

STAFF = ("agente", "supervisor", "admin")

blp = Blueprint("clientes", __name__, description="Customer accounts")
keys = Blueprint("claves", __name__, description="Public keys of the customer tokens")


def _state():
    return current_app.extensions["incidencias"]


def _repo() -> ClienteRepository:
    return _state().extra["clientes"]


def _weak(message: str, field: str = "password") -> Problem:
    return Problem(422, "Datos no válidos", message, slug="validacion",
                   errores=[{"campo": field, "mensaje": message, "ubicacion": "cuerpo"}])


def _email_taken() -> Problem:
    return Problem(409, "Email ya registrado", "Ya existe una cuenta con ese email", slug="email-duplicado",
                   errores=[{"campo": "email", "mensaje": "Ya existe una cuenta con ese email"}])


@blp.post("/clientes")
@blp.arguments(ClienteCreateSchema)
@blp.response(201, ClienteSchema)
@blp.alt_response(409, description="Email already registered")
def register(data):
    """Register a customer account"""
    email = normalize_email(data["email"])
    now = rfc3339(utc_now())
    birth = data.get("fecha_nacimiento")
    cliente = Cliente(
        id=new_id(), nombre=data["nombre"].strip(), apellidos=data["apellidos"].strip(), email=email,
        password_hash=hash_password(data["password"]), creado_en=now, actualizado_en=now,
        fecha_nacimiento=birth.isoformat() if birth else None,
        direccion=data.get("direccion"), telefono=data.get("telefono"),
    )
    try:
        _repo().add(cliente, events.registrado(cliente))
    except DuplicateKeyError as exc:
        raise _email_taken() from exc
    return cliente, 201, {"Location": url_for("clientes.get_cliente", cliente_id=cliente.id)}


@blp.post("/clientes/login")
@blp.arguments(LoginSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="Wrong credentials")
@blp.alt_response(429, description="Too many failed attempts")
def login_cliente(data):
    """Log in and get a customer token"""

    def find(email: str) -> Account | None:
        cliente = _repo().by_email(email)
        if cliente is None:
            return None
        return Account(cliente.id, "cliente", cliente.password_hash, not cliente.eliminado,
                       {"nombre": cliente.nombre_completo, "email": cliente.email})

    state = _state()
    return login(data["email"], data["password"], find, state.extra["throttle"], state.extra["issuer"])


def _me() -> Cliente:
    cliente = _repo().get(current_principal().id)
    if cliente is None or cliente.eliminado:
        raise Problem(404, "No encontrado", "La cuenta no existe", slug="no-encontrado")
    return cliente


@blp.get("/clientes/yo")
@requires("cliente")
@blp.response(200, ClienteSchema)
def get_me():
    """The caller's own profile"""
    return _me()


@blp.patch("/clientes/yo")
@requires("cliente")
@blp.arguments(ClientePatchSchema)
@blp.response(200, ClienteSchema)
def update_me(data):
    """Update the caller's profile (changing the password needs password_actual)"""
    cliente = _me()
    if "password" in data:
        if not verify_password(cliente.password_hash, data["password_actual"]):
            raise _weak("La contraseña actual no es correcta", "password_actual")
        try:
            check_password_strength(data["password"], data.get("email") or cliente.email)
        except WeakPassword as exc:
            raise _weak(str(exc)) from exc
    for required in ("nombre", "apellidos", "email"):
        if required in data and data[required] is None:
            raise _weak("No puede ser nulo", required)
    now = rfc3339(utc_now())
    changes = {k: v for k, v in data.items() if k in Cliente.PROFILE_FIELDS}
    if changes.get("fecha_nacimiento") is not None:
        changes["fecha_nacimiento"] = changes["fecha_nacimiento"].isoformat()
    for name in ("nombre", "apellidos"):
        if isinstance(changes.get(name), str):
            changes[name] = changes[name].strip()
    changed = cliente.update_profile(changes, now)
    if "password" in data:
        cliente.change_password(hash_password(data["password"]), now)
    if changed or "password" in data:
        try:
            _repo().save(cliente, *([events.actualizado(cliente)] if changed else []))
        except DuplicateKeyError as exc:
            raise _email_taken() from exc
        except ConcurrentUpdate as exc:
            raise Problem(409, "Conflicto", "La cuenta cambió mientras tanto; reintente",
                          slug="conflicto-concurrente") from exc
    return cliente


@blp.delete("/clientes/yo")
@requires("cliente")
@blp.response(204)
def delete_me():
    """Delete the caller's account: personal data is erased"""
    cliente = _me()
    cliente.erase(rfc3339(utc_now()))
    try:
        _repo().save(cliente, events.eliminado(cliente))
    except ConcurrentUpdate as exc:
        raise Problem(409, "Conflicto", "La cuenta cambió mientras tanto; reintente",
                      slug="conflicto-concurrente") from exc
    return None


@blp.get("/clientes")
@requires(*STAFF)
@blp.arguments(ClientesQuerySchema, location="query")
@blp.response(200, page_schema(ClienteSchema, "ClientesPage"))
def list_clientes(args):
    """Customers, newest first (employees only); `q` searches email and name"""
    repo = _repo()
    search = args.get("q")
    return paginate(args, lambda: repo.count(search), lambda skip, limit: repo.list(search, skip, limit))


@blp.get("/clientes/<cliente_id>")
@requires("cliente", *STAFF)
@blp.response(200, ClienteSchema)
def get_cliente(cliente_id: str):
    """A customer: the customer themself or an employee"""
    principal = current_principal()
    cliente = _repo().get(cliente_id)
    if cliente is None or cliente.eliminado or (principal.rol == "cliente" and principal.id != cliente_id):
        raise Problem(404, "No encontrado", "El cliente no existe", slug="no-encontrado")
    return cliente


@keys.get("/.well-known/jwks.json")
@keys.response(200, JwksSchema)
def jwks():
    """Public keys that verify customer tokens"""
    return _state().extra["issuer"].jwks()
