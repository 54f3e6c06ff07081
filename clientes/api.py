"""clientes' HTTP API."""
from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint

from common.http.app import components
from common.http.auth import current_principal, requires
from common.http.operations import ANYONE, operation
from common.http.pagination import page_schema, paginate
from cuentas.http import add_login, keys_blueprint
from cuentas.roles import CLIENTE, ROLES_PERSONAL

from . import services
from .schemas import ClienteCreateSchema, ClientePatchSchema, ClienteSchema, ClientesQuerySchema

blp = Blueprint("clientes", __name__, description="Customer accounts")
keys = keys_blueprint("customer")


def _clientes():
    return components().clientes


@operation(blp, "POST", "/clientes", ANYONE, ClienteSchema, status=201, body=ClienteCreateSchema,
           refusals={409: "Email already registered"}, idempotent=True)
def register(data, idempotency):
    """Register a customer account

    Anonymous, so an `Idempotency-Key` is matched by the key alone and the
    request's fingerprint; a retry must carry the same password too."""
    cliente = services.registrar_cliente(
        _clientes(), data["nombre"], data["apellidos"], data["email"], data["password"],
        data.get("fecha_nacimiento"), data.get("direccion"), data.get("telefono"), idempotency,
    )
    return cliente, 201, {"Location": url_for("clientes.get_cliente", cliente_id=cliente.id)}


add_login(blp, "/clientes/login", "login_cliente", "Log in and get a customer token", "Wrong credentials",
          _clientes)


@blp.get("/clientes/yo")
@requires(CLIENTE)
@blp.response(200, ClienteSchema)
def get_me():
    """The caller's own profile"""
    return services.cuenta_propia(_clientes(), current_principal().id)


@blp.patch("/clientes/yo")
@requires(CLIENTE)
@blp.arguments(ClientePatchSchema)
@blp.response(200, ClienteSchema)
def update_me(data):
    """Update the caller's profile (changing the password needs password_actual)"""
    password, password_actual = data.pop("password", None), data.pop("password_actual", None)
    return services.actualizar_perfil(_clientes(), current_principal().id, data, password, password_actual)


@blp.delete("/clientes/yo")
@requires(CLIENTE)
@blp.response(204)
def delete_me():
    """Delete the caller's account: personal data is erased"""
    services.eliminar_cuenta(_clientes(), current_principal().id)


@blp.get("/clientes")
@requires(*ROLES_PERSONAL)
@blp.arguments(ClientesQuerySchema, location="query")
@blp.response(200, page_schema(ClienteSchema, "ClientesPage"))
def list_clientes(args):
    """Customers, newest first (employees only); `q` searches email and name"""
    return paginate(args, services.listar_clientes(_clientes(), args.get("q")))


@blp.get("/clientes/<cliente_id>")
@requires(CLIENTE, *ROLES_PERSONAL)
@blp.response(200, ClienteSchema)
def get_cliente(cliente_id: str):
    """A customer: the customer themself or an employee"""
    return services.ver_cliente(_clientes(), current_principal(), cliente_id)
