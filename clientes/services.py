"""clientes' use cases: what a customer, or an employee, can make happen
here. Each takes plain values and the repository, calls the domain, writes
through the repository and returns the result; a refusal is a
``common.errors`` exception the HTTP layer answers.

(What the events of empleados make happen, the staff replica, is
``cuentas.personal.PersonalReplica.apply``.)"""
from __future__ import annotations

import datetime as dt
from typing import Any

from common.errors import Invalid, NotFound
from common.idempotency import IdempotentRequest
from common.listing import Listing
from common.messaging import new_id
from common.passwords import hash_password
from common.storage import DuplicateKeyError
from common.tokens import Principal
from cuentas.cuenta import normalize_email
from cuentas.roles import CLIENTE
from cuentas.services import EmailDuplicado, ahora, cambiar_password, registrar

from . import events
from .domain import Cliente
from .repository import ClienteRepository

EMAIL_EN_USO = "Ya existe una cuenta con ese email"


def registrar_cliente(clientes: ClienteRepository, nombre: str, apellidos: str, email: str, password: str,
                      fecha_nacimiento: dt.date | None = None, direccion: str | None = None,
                      telefono: str | None = None, idempotency: IdempotentRequest | None = None) -> Cliente:
    """Open a customer account (``cliente.registrado``, in the same write);
    a retry of a keyed registration returns the account it opened."""
    now = ahora()
    cliente = Cliente(
        id=new_id(), nombre=nombre.strip(), apellidos=apellidos.strip(), email=normalize_email(email),
        password_hash=hash_password(password), creado_en=now, actualizado_en=now,
        fecha_nacimiento=fecha_nacimiento.isoformat() if fecha_nacimiento else None,
        direccion=direccion, telefono=telefono,
    )
    return registrar(clientes, cliente, events.registrado(cliente), EMAIL_EN_USO, password, idempotency)


def cuenta_propia(clientes: ClienteRepository, cliente_id: str) -> Cliente:
    """The caller's own account, while it exists."""
    cliente = clientes.get(cliente_id)
    if cliente is None or cliente.eliminado:
        raise NotFound("La cuenta no existe")
    return cliente


def actualizar_perfil(clientes: ClienteRepository, cliente_id: str, cambios: dict[str, Any],
                      password: str | None = None, password_actual: str | None = None) -> Cliente:
    """Change the customer's own profile (``cliente.actualizado`` when
    anything changed) and, given the current one, the password (never
    published). Nothing is written when nothing changed."""
    cliente = cuenta_propia(clientes, cliente_id)
    for required in ("nombre", "apellidos", "email"):
        if required in cambios and cambios[required] is None:
            raise Invalid(required, "No puede ser nulo")
    now = ahora()
    if password is not None:
        cambiar_password(cliente, password, password_actual or "", now, cambios.get("email"))
    cambios = {k: v for k, v in cambios.items() if k in Cliente.PROFILE_FIELDS}
    if isinstance(cambios.get("fecha_nacimiento"), dt.date):
        cambios["fecha_nacimiento"] = cambios["fecha_nacimiento"].isoformat()
    for name in ("nombre", "apellidos"):
        if isinstance(cambios.get(name), str):
            cambios[name] = cambios[name].strip()
    changed = cliente.actualizar_perfil(cambios, now)
    if changed or password is not None:
        try:
            clientes.save(cliente, *([events.actualizado(cliente)] if changed else []))
        except DuplicateKeyError as exc:
            raise EmailDuplicado(EMAIL_EN_USO) from exc
    return cliente


def eliminar_cuenta(clientes: ClienteRepository, cliente_id: str) -> None:
    """Right to erasure: the customer's personal data goes (``cliente.eliminado``)."""
    cliente = cuenta_propia(clientes, cliente_id)
    cliente.eliminar(ahora())
    clientes.save(cliente, events.eliminado(cliente), erased=True)


def listar_clientes(clientes: ClienteRepository, texto: str | None = None) -> Listing[Cliente]:
    """Customers not erased, newest first; ``texto`` searches email, name and surnames."""
    return Listing(lambda: clientes.count(texto), lambda skip, limit: clientes.list(texto, skip, limit))


def ver_cliente(clientes: ClienteRepository, quien: Principal, cliente_id: str) -> Cliente:
    """A customer, for staff or for that customer; to another customer it does not exist."""
    cliente = clientes.get(cliente_id)
    if cliente is None or cliente.eliminado or (quien.rol == CLIENTE and quien.id != cliente_id):
        raise NotFound("El cliente no existe")
    return cliente
