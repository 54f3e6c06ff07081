"""empleados' use cases: what an employee, an admin or the operator can
make happen here. Each takes plain values and the repository, calls the
domain, writes through the repository and returns the result; a refusal is a
``common.errors`` exception or a domain error (``UltimoAdmin``,
``EmpleadoDeBaja``) the HTTP layer answers.

Who may do what beyond the role a view requires (an employee acts on their
own account, an admin on anyone's) is decided here."""
from __future__ import annotations

import logging
from typing import Any, Iterable

from common.errors import Forbidden, NotFound
from common.idempotency import IdempotentRequest
from common.listing import Listing
from common.messaging import new_id, rfc3339, utc_now
from common.passwords import check_password_strength, hash_password
from common.storage import DuplicateKeyError
from common.tokens import Principal
from cuentas import enlaces
from cuentas.cuenta import INVITACION, RESTABLECIMIENTO, normalize_email
from cuentas.roles import ADMIN, ROLES_GESTION
from cuentas.services import (
    ahora, cambiar_password, correo, fijar_password_con_enlace, registrar, solicitar_restablecimiento,
)

from . import correos, events
from .config import EmpleadosSettings
from .domain import Empleado, EmpleadoDeBaja, exigir_un_admin
from .repository import EmpleadoRepository

log = logging.getLogger(__name__)

EMAIL_EN_USO = "Ya existe un empleado con ese email"


class EmpleadoExistente(Exception):
    """The email already belongs to an employee (``empleado``; None while the
    account that took it is not visible to this process's reads yet)."""

    def __init__(self, empleado: Empleado | None):
        super().__init__(empleado.id if empleado else "?")
        self.empleado = empleado


def _activo(empleado: Empleado) -> bool:
    return empleado.activo


def registrar_empleado(empleados: EmpleadoRepository, nombre: str, apellidos: str, email: str,
                       password: str | None, rol: str, categorias: Iterable[str],
                       idempotency: IdempotentRequest | None = None, *, portal_url: str) -> Empleado:
    """An admin registers an employee (``empleado.registrado``, in the same
    write); a retry of a keyed request returns the employee it registered.

    Without a ``password`` it is an invitation: the account has none (it
    cannot log in) until the invitee sets one through the link mailed to
    them in the same write (``aceptar_invitacion``), so the admin never
    knows it. With one (automation, tests) the account is ready at once."""
    now = utc_now()
    password_hash = hash_password(password) if password is not None else None
    empleado = Empleado.nuevo(new_id(), nombre, apellidos, email, password_hash, rol, categorias, rfc3339(now))
    mails = ()
    if password is None:
        token = enlaces.emitir(empleado, INVITACION, now)
        mails = (correo(correos.invitacion(empleado, token, portal_url), empleado),)
    return registrar(empleados, empleado, events.registrado(empleado), EMAIL_EN_USO, password, idempotency,
                     mails=mails)


def aceptar_invitacion(empleados: EmpleadoRepository, token: str, password: str,
                       idempotency: IdempotentRequest | None = None) -> Empleado:
    """The invitee sets their password through the invitation link (an
    active account only): they can log in from now on (``empleado.actualizado``)."""
    return fijar_password_con_enlace(empleados, token, INVITACION, password, events.actualizado, idempotency,
                                     _activo)


def solicitar_password(empleados: EmpleadoRepository, email: str, portal_url: str) -> None:
    """"I forgot my password": a reset link to that e-mail if it is an active
    employee's (at most 3 an hour); nothing tells whether it is. An invitee
    whose invitation expired sets their first password this way."""
    solicitar_restablecimiento(
        empleados, email, lambda empleado, token: correos.restablecimiento(empleado, token, portal_url), _activo)


def restablecer_password(empleados: EmpleadoRepository, token: str, password: str,
                         idempotency: IdempotentRequest | None = None) -> Empleado:
    """Set the password through a reset link (an active account only).
    Every link of the account and every session opened before stop working
    (``empleado.actualizado`` publishes ``sesiones_desde``)."""
    return fijar_password_con_enlace(empleados, token, RESTABLECIMIENTO, password, events.actualizado, idempotency,
                                     _activo)


def crear_admin(empleados: EmpleadoRepository, email: str, password: str, nombre: str,
                apellidos: str = "") -> Empleado:
    """Create an active admin (and its ``empleado.registrado``, in the same
    write). Raises WeakPassword, or EmpleadoExistente when the email is
    taken: the unique email index decides between concurrent creators."""
    email = normalize_email(email)
    check_password_strength(password, email)
    admin = Empleado.nuevo(new_id(), nombre, apellidos, email, hash_password(password), ADMIN, [], ahora())
    try:
        empleados.add(admin, events.registrado(admin))
    except DuplicateKeyError as exc:
        if exc.fields != ("email",):  # a clash on something else than the email: not ours to hide
            raise
        # The account may not be readable yet: a concurrent creator's insert
        # reaches majority reads (MongoDB's default) only once a majority of
        # the replica set has it, while the unique index refuses at once.
        raise EmpleadoExistente(empleados.by_email(email)) from exc
    return admin


def crear_primer_admin(empleados: EmpleadoRepository, settings: EmpleadosSettings) -> Empleado | None:
    """Create the first admin from ADMIN_EMAIL / ADMIN_PASSWORD when there is
    no active admin. Safe when several processes start at once: only one
    insert wins the email, the others write nothing (and find the account it
    created, unless their reads do not see it yet)."""
    if empleados.active_admins() > 0:
        return None
    if settings.admin_email is None or settings.admin_password_value is None:
        log.warning("there is no active admin: set ADMIN_EMAIL and ADMIN_PASSWORD, or run "
                    "'flask --app empleados.app crear-admin --email ... --nombre ...'")
        return None
    try:
        admin = crear_admin(empleados, settings.admin_email, settings.admin_password_value,
                            settings.admin_nombre, settings.admin_apellidos)
    except EmpleadoExistente as exc:
        existing = exc.empleado
        if existing is None:
            log.info("another process is creating the first admin from ADMIN_EMAIL")
        elif existing.es_admin_activo:
            log.info("the first admin was created by another process", extra={"empleado_id": existing.id})
        else:
            log.error("ADMIN_EMAIL belongs to employee %s, who is not an active admin: no admin was "
                      "created; run 'flask --app empleados.app crear-admin' with another email", existing.id)
        return None
    log.info("first admin created from ADMIN_EMAIL", extra={"empleado_id": admin.id})
    return admin


def ver_empleado(empleados: EmpleadoRepository, quien: Principal, empleado_id: str) -> Empleado:
    """An employee's account: for the employee themself, supervisors and admins."""
    if quien.rol not in ROLES_GESTION and quien.id != empleado_id:
        raise Forbidden("Solo puede consultar su propia cuenta")
    empleado = empleados.get(empleado_id)
    if empleado is None:
        raise NotFound("El empleado no existe")
    return empleado


def listar_empleados(empleados: EmpleadoRepository, rol: str | None = None, activo: bool | None = None,
                     texto: str | None = None) -> Listing[Empleado]:
    """Employees, newest first, by ``rol`` and ``activo``; ``texto`` searches email, name and surnames."""
    return Listing(lambda: empleados.count(rol, activo, texto),
                   lambda skip, limit: empleados.list(rol, activo, texto, skip, limit))


def actualizar_empleado(empleados: EmpleadoRepository, quien: Principal, empleado_id: str,
                        cambios: dict[str, Any], password: str | None = None,
                        password_actual: str | None = None) -> Empleado:
    """Admins change nombre, apellidos, rol and categorias; the employee
    themself nombre, apellidos and, given the current one, the password
    (which ends every session opened before and voids every link).
    Published (``empleado.actualizado``) when anything changed; no change
    may leave the service without an active admin."""
    is_self, is_admin = quien.id == empleado_id, quien.rol == ADMIN
    if not (is_self or is_admin):
        raise Forbidden("Solo un administrador puede modificar la cuenta de otro empleado")
    if not is_admin and ("rol" in cambios or "categorias" in cambios):
        raise Forbidden("Solo un administrador puede cambiar rol y categorias")
    if not is_self and password is not None:
        raise Forbidden("Solo el propio empleado puede cambiar su contraseña")
    empleado = empleados.get(empleado_id)
    if empleado is None:
        raise NotFound("El empleado no existe")
    if not empleado.activo:
        raise EmpleadoDeBaja(empleado.id)
    if password is not None:
        cambiar_password(empleado, password, password_actual or "")
    now = ahora()
    cambios = {k: v for k, v in cambios.items() if k in Empleado.EDITABLE_FIELDS}
    if "rol" in cambios:
        exigir_un_admin(empleado, empleados.active_admins(), rol=cambios["rol"])
    changed = empleado.actualizar(cambios, now)
    if changed or password is not None:
        empleados.save(empleado, events.actualizado(empleado))
    return empleado


def dar_de_baja(empleados: EmpleadoRepository, empleado_id: str,
                idempotency: IdempotentRequest | None = None) -> Empleado:
    """Deactivate an employee (``empleado.baja``): they can no longer log in
    and their tokens stop working; the account stays as history.
    Idempotent: an inactive account is returned as it is, nothing published
    (with a key, that key is recorded: its reuse for another request is refused)."""
    empleado = empleados.get(empleado_id, idempotency)
    if empleado is None:
        raise NotFound("El empleado no existe")
    if idempotency is not None and idempotency.replayed:
        return empleado
    if not empleado.activo:
        if idempotency is not None:
            empleados.save(empleado, idempotency=idempotency)
        return empleado
    exigir_un_admin(empleado, empleados.active_admins(), activo=False)
    empleado.dar_de_baja(ahora())
    empleados.save(empleado, events.baja(empleado), idempotency=idempotency)
    return empleado
