"""clientes' use cases: what a customer, or an employee, can make happen
here. Each takes plain values and the repository, calls the domain, writes
through the repository and returns the result; a refusal is a
``common.errors`` exception the HTTP layer answers.

The mails an account use case decides (``correos``) are stored in the same
write as the change; ``portal_url`` is the portal their links open.

(What the events of empleados make happen, the staff replica, is
``cuentas.personal.PersonalReplica.apply``.)"""
from __future__ import annotations

import datetime as dt
from datetime import timedelta
from typing import Any

from common.errors import Conflict, Invalid, NotFound
from common.idempotency import IdempotentRequest
from common.listing import Listing
from common.messaging import Event, new_id, rfc3339, utc_now
from common.passwords import hash_password
from common.storage import DuplicateKeyError
from common.tokens import Principal
from cuentas import enlaces
from cuentas.cuenta import CAMBIO_EMAIL, INVITACION, RESTABLECIMIENTO, VERIFICACION, normalize_email
from cuentas.roles import CLIENTE
from cuentas.services import (
    Canje, DemasiadosEnvios, EmailDuplicado, ahora, cambiar_password, canjear_y_guardar, correo,
    fijar_password_con_enlace, registrar, solicitar_restablecimiento,
)

from . import correos, events
from .domain import Cliente
from .repository import ClienteRepository, ConcurrentUpdate

EMAIL_EN_USO = "Ya existe una cuenta con ese email"
LIMITES_VERIFICACION = ((timedelta(seconds=60), 1), (timedelta(days=1), 5))
"""Verification mails to one account (the registration's included): one a
minute, five a day."""
LIMITES_CAMBIO_EMAIL = LIMITES_VERIFICACION
"""Mails asking to confirm a new e-mail: the same (each also notifies the
address in use, so a flood to strangers' addresses is bounded too)."""


def _vigente(cliente: Cliente) -> bool:
    return not cliente.eliminado


def registrar_cliente(clientes: ClienteRepository, nombre: str, apellidos: str, email: str, password: str,
                      fecha_nacimiento: dt.date | None = None, direccion: str | None = None,
                      telefono: str | None = None, idempotency: IdempotentRequest | None = None, *,
                      portal_url: str) -> Cliente:
    """Open a customer account (``cliente.registrado`` and a mail with the
    link that verifies the e-mail, in the same write); a retry of a keyed
    registration returns the account it opened."""
    now = utc_now()
    en = rfc3339(now)
    cliente = Cliente(
        id=new_id(), nombre=nombre.strip(), apellidos=apellidos.strip(), email=normalize_email(email),
        password_hash=hash_password(password), creado_en=en, actualizado_en=en,
        fecha_nacimiento=fecha_nacimiento.isoformat() if fecha_nacimiento else None,
        direccion=direccion, telefono=telefono, email_verificado=False,
    )
    mail = _verificacion(cliente, now, portal_url)
    return registrar(clientes, cliente, events.registrado(cliente), EMAIL_EN_USO, password, idempotency,
                     mails=(mail,))


def invitar_cliente(clientes: ClienteRepository, nombre: str, apellidos: str, email: str,
                    direccion: str | None = None, telefono: str | None = None,
                    idempotency: IdempotentRequest | None = None, *, portal_url: str) -> Cliente:
    """Staff register a caller who has no account: the account has no
    password (it cannot log in) until its owner chooses one through the
    link mailed in the same write (``aceptar_invitacion``), which also
    verifies the e-mail. ``cliente.registrado`` goes out at once, so the
    incident services know the customer and staff can open their incident
    while they are still on the phone."""
    en = rfc3339(now := utc_now())
    cliente = Cliente(
        id=new_id(), nombre=nombre.strip(), apellidos=apellidos.strip(), email=normalize_email(email),
        password_hash=None, creado_en=en, actualizado_en=en, direccion=direccion, telefono=telefono,
        email_verificado=False,
    )
    token = enlaces.emitir(cliente, INVITACION, now)
    mail = correo(correos.invitacion(cliente, token, portal_url), cliente)
    return registrar(clientes, cliente, events.registrado(cliente), EMAIL_EN_USO, None, idempotency,
                     mails=(mail,))


def aceptar_invitacion(clientes: ClienteRepository, token: str, password: str,
                       idempotency: IdempotentRequest | None = None) -> Cliente:
    """The invited customer sets their password through the link (an account
    not erased only): they can log in from now on, and the e-mail the link
    came to counts as verified (``cliente.actualizado``)."""
    return fijar_password_con_enlace(clientes, token, INVITACION, password, events.actualizado, idempotency,
                                     _vigente, ademas=Cliente.verificar_email)


def _verificacion(cliente: Cliente, now: dt.datetime, portal_url: str):
    """A new verification link for the e-mail in use, and its mail (counted by the throttle)."""
    token = enlaces.emitir(cliente, VERIFICACION, now, email=cliente.email)
    enlaces.anotar_envio(cliente, VERIFICACION, now, LIMITES_VERIFICACION)
    return correo(correos.verificacion(cliente, token, portal_url), cliente)


def reenviar_verificacion(clientes: ClienteRepository, cliente_id: str, portal_url: str,
                          idempotency: IdempotentRequest | None = None) -> None:
    """Mail the customer a new verification link (the earlier one stops
    working): ``DemasiadosEnvios`` within a minute of the last one or after
    five in a day; 409 when the e-mail is verified already."""
    cliente = clientes.get(cliente_id, idempotency)
    if cliente is None or cliente.eliminado:
        raise NotFound("La cuenta no existe")
    if idempotency is not None and idempotency.replayed:
        return
    if cliente.email_verificado:
        raise Conflict("El email de la cuenta ya está verificado", slug="email-ya-verificado",
                       title="Email ya verificado")
    now = utc_now()
    wait = enlaces.espera_de_envio(cliente, VERIFICACION, now, LIMITES_VERIFICACION)
    if wait:
        raise DemasiadosEnvios(wait)
    clientes.save(cliente, idempotency=idempotency, mails=(_verificacion(cliente, now, portal_url),))


def verificar_email(clientes: ClienteRepository, token: str,
                    idempotency: IdempotentRequest | None = None) -> Cliente:
    """Follow the verification link: the e-mail it was sent to, still the
    account's, is verified (``EnlaceNoValido`` otherwise). Not published."""

    def cambio(canje: Canje[Cliente]) -> tuple[()]:
        if canje.datos.get("email") != canje.cuenta.email:
            raise enlaces.EnlaceNoValido()
        canje.cuenta.verificar_email(rfc3339(canje.en))
        return ()

    return canjear_y_guardar(clientes, token, VERIFICACION, cambio, idempotency, admite=_vigente)


def solicitar_password(clientes: ClienteRepository, email: str, portal_url: str) -> None:
    """"I forgot my password": a reset link to that e-mail if it is a
    customer's (at most 3 an hour); nothing tells whether it is."""
    solicitar_restablecimiento(
        clientes, email, lambda cliente, token: correos.restablecimiento(cliente, token, portal_url), _vigente)


def restablecer_password(clientes: ClienteRepository, token: str, password: str,
                         idempotency: IdempotentRequest | None = None) -> Cliente:
    """Set the password through a reset link. Every link of the account and
    every session opened before stop working (``cliente.actualizado``
    publishes ``sesiones_desde``); the link came to the account's e-mail, so
    that e-mail counts as verified."""
    return fijar_password_con_enlace(clientes, token, RESTABLECIMIENTO, password, events.actualizado, idempotency,
                                     _vigente, ademas=Cliente.verificar_email)


def cuenta_propia(clientes: ClienteRepository, cliente_id: str) -> Cliente:
    """The caller's own account, while it exists."""
    cliente = clientes.get(cliente_id)
    if cliente is None or cliente.eliminado:
        raise NotFound("La cuenta no existe")
    return cliente


def actualizar_perfil(clientes: ClienteRepository, cliente_id: str, cambios: dict[str, Any],
                      password: str | None = None, password_actual: str | None = None, *,
                      portal_url: str) -> Cliente:
    """Change the customer's own profile (``cliente.actualizado`` when
    anything published changed) and, given the current one, the password
    (which ends every other session and voids every link).

    A new ``email`` does not take effect yet: it waits in
    ``email_pendiente``, a link to confirm it goes to it and a notice to the
    e-mail in use (``confirmar_email`` makes the change); the current
    e-mail withdraws a pending change. Nothing is written when nothing changed."""
    cliente = cuenta_propia(clientes, cliente_id)
    pendiente = cliente.email_pendiente
    for required in ("nombre", "apellidos", "email", "avisos_por_correo"):
        if required in cambios and cambios[required] is None:
            raise Invalid(required, "No puede ser nulo")
    if password is not None:
        cambiar_password(cliente, password, password_actual or "", cambios.get("email"))
    now = utc_now()
    en = rfc3339(now)
    cambios = {k: v for k, v in cambios.items() if k in Cliente.PROFILE_FIELDS}
    mails = _cambio_de_email(clientes, cliente, cambios.pop("email"), now, portal_url) if "email" in cambios else ()
    if isinstance(cambios.get("fecha_nacimiento"), dt.date):
        cambios["fecha_nacimiento"] = cambios["fecha_nacimiento"].isoformat()
    for name in ("nombre", "apellidos"):
        if isinstance(cambios.get(name), str):
            cambios[name] = cambios[name].strip()
    published = cliente.actualizar_perfil(cambios, en) or password is not None
    if published or mails or cliente.email_pendiente != pendiente:
        clientes.save(cliente, *([events.actualizado(cliente)] if published else []), mails=mails)
    return cliente


def _cambio_de_email(clientes: ClienteRepository, cliente: Cliente, email: str, now: dt.datetime,
                     portal_url: str) -> tuple:
    """Ask to move ``cliente`` to ``email``: the link to confirm it and the
    notice to the e-mail in use (both to store with the account), or
    nothing when it is the e-mail in use (a pending change is withdrawn)."""
    email, en = normalize_email(email), rfc3339(now)
    if email == cliente.email:
        if cliente.email_pendiente is not None:
            cliente.pedir_email(None, en)
            enlaces.descartar(cliente, CAMBIO_EMAIL)
        return ()
    holder = clientes.by_email(email)
    if holder is not None:
        raise EmailDuplicado(EMAIL_EN_USO)
    wait = enlaces.espera_de_envio(cliente, CAMBIO_EMAIL, now, LIMITES_CAMBIO_EMAIL)
    if wait:
        raise DemasiadosEnvios(wait)
    cliente.pedir_email(email, en)
    token = enlaces.emitir(cliente, CAMBIO_EMAIL, now, email=email)
    enlaces.anotar_envio(cliente, CAMBIO_EMAIL, now, LIMITES_CAMBIO_EMAIL)
    return (correo(correos.cambio_email(cliente, email, token, portal_url), cliente),
            correo(correos.aviso_cambio_email(cliente, email, portal_url), cliente))


def confirmar_email(clientes: ClienteRepository, token: str,
                    idempotency: IdempotentRequest | None = None) -> Cliente:
    """Follow the link sent to a new e-mail: it becomes the account's login,
    verified (``cliente.actualizado``); ``EmailDuplicado`` (nothing written,
    the link still valid) when another account took it meanwhile. The
    links sent to the e-mail before (a verification, a reset) stop working."""

    def cambio(canje: Canje[Cliente]) -> tuple[Event]:
        cliente, nuevo = canje.cuenta, canje.datos.get("email")
        if not nuevo or nuevo != cliente.email_pendiente:
            raise enlaces.EnlaceNoValido()
        cliente.confirmar_email(nuevo, rfc3339(canje.en))
        for proposito in (VERIFICACION, RESTABLECIMIENTO):
            enlaces.descartar(cliente, proposito)
        return (events.actualizado(cliente),)

    try:
        return canjear_y_guardar(clientes, token, CAMBIO_EMAIL, cambio, idempotency, admite=_vigente)
    except DuplicateKeyError as exc:
        raise EmailDuplicado(EMAIL_EN_USO) from exc


INTENTOS_DE_BORRADO = 3
"""Writes an erasure tries before it answers ``ConcurrentUpdate`` (409)."""


def eliminar_cuenta(clientes: ClienteRepository, cliente_id: str) -> None:
    """Right to erasure: the customer's personal data goes (``cliente.eliminado``),
    and so do the mails to them still waiting to be sent, or failed (they
    hold the name and the address).

    The mails are cancelled after the account is read and before the
    erasure is saved. Should the cancel fail, nothing is erased and a retry
    of the request finds the account and cancels again (cancelled after the
    save, a failure would leave them behind for good: the retry answers 404).
    Every mail to the account is stored by a write of the account itself,
    which changes its revision: one stored after the read makes the save
    refuse (``ConcurrentUpdate``), and the erasure starts again from the read."""
    intentos = INTENTOS_DE_BORRADO
    while True:
        cliente = cuenta_propia(clientes, cliente_id)
        clientes.cancel_mails(cliente.id)
        cliente.eliminar(ahora())
        try:
            clientes.save(cliente, events.eliminado(cliente), erased=True)
            return
        except ConcurrentUpdate:
            intentos -= 1
            if not intentos:
                raise


def listar_clientes(clientes: ClienteRepository, texto: str | None = None) -> Listing[Cliente]:
    """Customers not erased, newest first; ``texto`` searches email, name,
    surnames and phone (``domain.texto_de_busqueda``)."""
    return Listing(lambda: clientes.count(texto), lambda skip, limit: clientes.list(texto, skip, limit))


def ver_cliente(clientes: ClienteRepository, quien: Principal, cliente_id: str) -> Cliente:
    """A customer, for staff or for that customer; to another customer it does not exist."""
    cliente = clientes.get(cliente_id)
    if cliente is None or cliente.eliminado or (quien.rol == CLIENTE and quien.id != cliente_id):
        raise NotFound("El cliente no existe")
    return cliente
