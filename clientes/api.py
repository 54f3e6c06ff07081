"""clientes' HTTP API."""
from __future__ import annotations

from flask import url_for
from flask_smorest import Blueprint

from common.http.app import components
from common.http.auth import current_principal, requires
from common.http.operations import ANYONE, LOCATION, created, operation
from common.http.pagination import page_schema, paginate
from common.http.schemas import NoBodySchema
from cuentas.http import add_login, add_password_reset, keys_blueprint, portal_url
from cuentas.roles import CLIENTE, ROLES_PERSONAL
from cuentas.schemas import AceptadoSchema, EnlaceSchema, PasswordEnlaceSchema

from . import services
from .schemas import (
    ClienteCreateSchema, ClienteInvitacionSchema, ClientePatchSchema, ClienteSchema, ClientesQuerySchema,
    VerificacionSchema,
)

blp = Blueprint("clientes", __name__, description="Customer accounts")
keys = keys_blueprint("customer")


def _clientes():
    return components().clientes


@operation(blp, "POST", "/clientes", ANYONE, ClienteSchema,
           name="registrarCliente", status=201, body=ClienteCreateSchema,
           refusals={409: "Email already registered"}, idempotent=True,
           headers=LOCATION, links=created("cliente_id", "verCliente"))
def register(data, idempotency):
    """Register a customer account

    Anonymous, so an `Idempotency-Key` is matched by the key alone and the
    request's fingerprint; a retry must carry the same password too."""
    cliente = services.registrar_cliente(
        _clientes(), data["nombre"], data["apellidos"], data["email"], data["password"],
        data.get("fecha_nacimiento"), data.get("direccion"), data.get("telefono"), idempotency,
        portal_url=portal_url(),
    )
    return cliente, 201, {"Location": url_for("clientes.get_cliente", cliente_id=cliente.id)}


@operation(blp, "POST", "/clientes/invitacion", ROLES_PERSONAL, ClienteSchema,
           name="invitarCliente", status=201, body=ClienteInvitacionSchema,
           refusals={409: "Email already registered"}, idempotent=True,
           headers=LOCATION, links=created("cliente_id", "verCliente"))
def invite(data, idempotency):
    """Register a caller who has no account (employees only)

    The account has no password (`invitacion_pendiente`) until its owner
    chooses one through the link mailed to them (72 h), which also
    verifies the e-mail; staff can open incidents for them at once."""
    cliente = services.invitar_cliente(
        _clientes(), data["nombre"], data["apellidos"], data["email"], data.get("direccion"),
        data.get("telefono"), idempotency, portal_url=portal_url(),
    )
    return cliente, 201, {"Location": url_for("clientes.get_cliente", cliente_id=cliente.id)}


@operation(blp, "POST", "/clientes/invitacion/aceptacion", ANYONE, ClienteSchema, name="aceptarInvitacionCliente",
           body=PasswordEnlaceSchema, refusals={400: "The link is not valid or has expired"}, idempotent=True)
def accept_invitation(data, idempotency):
    """Choose the password through the link mailed to an invited customer (no token needed)

    Every session and link before stop working; the e-mail counts as verified."""
    return services.aceptar_invitacion(_clientes(), data["token"], data["password"], idempotency)


add_login(blp, "/clientes/login", "login_cliente", "Log in and get a customer token", "Wrong credentials",
          _clientes)


@operation(blp, "POST", "/clientes/verificacion", ANYONE, VerificacionSchema, name="verificarEmail", body=EnlaceSchema,
           refusals={400: "The link is not valid or has expired"}, idempotent=True)
def verify_email(data, idempotency):
    """Verify the account's e-mail through the link mailed to it (no token needed)"""
    cliente = services.verificar_email(_clientes(), data["token"], idempotency)
    return {"email_verificado": cliente.email_verificado}


@operation(blp, "POST", "/clientes/yo/verificacion/reenvio", (CLIENTE,), AceptadoSchema,
           name="reenviarVerificacion", status=202,
           body=NoBodySchema, refusals={409: "The e-mail is verified already",
                                        429: "A verification mail went out too recently"}, idempotent=True)
def resend_verification(_body, idempotency):
    """Mail the caller a new verification link

    At most one a minute and five a day; the link before stops working."""
    services.reenviar_verificacion(_clientes(), current_principal().id, portal_url(), idempotency)
    return {}


add_password_reset(blp, "/clientes/password", "password_cliente",
                   lambda email, url: services.solicitar_password(_clientes(), email, url),
                   lambda token, password, key: services.restablecer_password(_clientes(), token, password, key))


@operation(blp, "POST", "/clientes/email/confirmacion", ANYONE, ClienteSchema, name="confirmarEmail", body=EnlaceSchema,
           refusals={400: "The link is not valid or has expired",
                     409: "Another account took that e-mail meanwhile"}, idempotent=True)
def confirm_email(data, idempotency):
    """Confirm a new e-mail through the link mailed to it: it becomes the login (no token needed)"""
    return services.confirmar_email(_clientes(), data["token"], idempotency)


@blp.get("/clientes/yo")
@blp.doc(operationId="verPerfil")
@requires(CLIENTE)
@blp.response(200, ClienteSchema)
def get_me():
    """The caller's own profile"""
    return services.cuenta_propia(_clientes(), current_principal().id)


@blp.patch("/clientes/yo")
@blp.doc(operationId="actualizarPerfil")
@requires(CLIENTE)
@blp.arguments(ClientePatchSchema)
@blp.response(200, ClienteSchema)
@blp.alt_response(409, description="The new e-mail belongs to another account")
@blp.alt_response(429, description="A mail to confirm a new e-mail went out too recently")
def update_me(data):
    """Update the caller's profile

    Changing the password needs password_actual, and ends every session
    opened before (this one too: log in again). A new `email` takes effect
    once confirmed through the link mailed to it (`email_pendiente` until then)."""
    password, password_actual = data.pop("password", None), data.pop("password_actual", None)
    return services.actualizar_perfil(_clientes(), current_principal().id, data, password, password_actual,
                                      portal_url=portal_url())


@blp.delete("/clientes/yo")
@blp.doc(operationId="eliminarCuenta")
@requires(CLIENTE)
@blp.response(204)
def delete_me():
    """Delete the caller's account: personal data is erased"""
    services.eliminar_cuenta(_clientes(), current_principal().id)


@blp.get("/clientes")
@blp.doc(operationId="listarClientes")
@requires(*ROLES_PERSONAL)
@blp.arguments(ClientesQuerySchema, location="query")
@blp.response(200, page_schema(ClienteSchema, "ClientesPage"))
def list_clientes(args):
    """Customers, newest first (employees only); `q` searches email, name and phone"""
    return paginate(args, services.listar_clientes(_clientes(), args.get("q")))


@blp.get("/clientes/<cuenta:cliente_id>")
@blp.doc(operationId="verCliente")
@requires(CLIENTE, *ROLES_PERSONAL)
@blp.response(200, ClienteSchema)
def get_cliente(cliente_id: str):
    """A customer: the customer themself or an employee"""
    return services.ver_cliente(_clientes(), current_principal(), cliente_id)
