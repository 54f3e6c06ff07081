"""The links empleados mails to an employee (the invitation, the password
reset) and what a reset does to earlier sessions, against the in-memory
store: each use case's mail is read from the store's mail outbox."""
from __future__ import annotations

import pytest

from common.idempotency import KeyReused
from common.passwords import verify_password
from common.tokens import Principal
from cuentas.enlaces import EnlaceNoValido
from empleados import services
from empleados.bootstrap import Components
from empleados.repository import OUTBOX, EmpleadoRepository
from tests.services.keyed import keyed
from tests.services.mailbox import Mailbox

pytestmark = pytest.mark.outbox(*OUTBOX)

ADMIN_PASSWORD = "Direccion-2026"
ELEGIDA = "Elegida-por-mi-2026"
PORTAL = "https://portal.example.com"
INVITACION, RESTABLECER = "/equipo/invitacion", "/equipo/restablecer"


@pytest.fixture
def empleados(store) -> EmpleadoRepository:
    return EmpleadoRepository(store)


@pytest.fixture
def mailbox(store) -> Mailbox:
    return Mailbox(store)


@pytest.fixture
def admin(empleados, outbox):
    made = services.crear_admin(empleados, "jefa@example.com", ADMIN_PASSWORD, "Jefa", "Ruiz")
    outbox.clear()
    return made


def invitar(empleados, email: str = "luis@example.com", idempotency=None):
    return services.registrar_empleado(empleados, "Luis", "Gómez", email, None, "agente", ["envios"], idempotency,
                                       portal_url=PORTAL)


def token_of(empleado) -> Principal:
    return Principal(empleado.id, empleado.rol, "empleados")


def test_an_invitation_creates_an_account_without_password_and_mails_the_link(
        empleados, admin, mailbox, outbox, clock):
    invitado = invitar(empleados, "Luis@Example.com")
    stored = empleados.get(invitado.id)
    assert stored.password_hash is None and stored.invitacion_pendiente and stored.activo
    assert stored.enlaces["invitacion"]["caduca_en"] == "2026-11-04T10:00:00.000000Z"
    assert not verify_password(stored.password_hash, "")  # nothing logs in
    [(tipo, datos)] = outbox.take()
    assert (tipo, datos["email"], datos["version"]) == ("empleado.registrado", "luis@example.com", 1)
    [sent] = mailbox.pending()
    assert (sent.recipient, sent.mail.to, sent.mail.subject) == (
        invitado.id, "luis@example.com", "Invitación al equipo de Incidencias")
    token = sent.token(INVITACION)
    assert sent.links() == [f"{PORTAL}{INVITACION}?token={token}", f"{PORTAL}/equipo/olvido"]
    assert "agente" in sent.mail.text and token.split(".", 1)[1] not in str(empleados.collection.get(invitado.id))


def test_with_a_password_there_is_no_invitation(empleados, admin, mailbox):
    empleado = services.registrar_empleado(empleados, "Eva", "Ruiz", "eva@example.com", "Soporte-2026x", "agente",
                                           [], portal_url=PORTAL)
    assert not empleado.invitacion_pendiente and empleado.enlaces == {} and mailbox.pending() == []


def test_accepting_the_invitation_sets_the_password_once(empleados, admin, mailbox, outbox, clock):
    invitado = invitar(empleados)
    token = mailbox.take()[0].token(INVITACION)
    outbox.clear()
    clock.advance(hours=71, minutes=59)
    accepted = services.aceptar_invitacion(empleados, token, ELEGIDA)
    stored = empleados.get(invitado.id)
    assert accepted == stored and not stored.invitacion_pendiente and verify_password(stored.password_hash, ELEGIDA)
    assert stored.enlaces == {}
    [(tipo, datos)] = outbox.take()
    assert (tipo, datos["version"]) == ("empleado.actualizado", 2)
    with pytest.raises(EnlaceNoValido):
        services.aceptar_invitacion(empleados, token, "Otra-elegida-2026")
    assert verify_password(empleados.get(invitado.id).password_hash, ELEGIDA)


def test_an_invitation_expires_after_72_hours(empleados, admin, mailbox, clock):
    invitado = invitar(empleados)
    token = mailbox.take()[0].token(INVITACION)
    clock.advance(hours=72)
    with pytest.raises(EnlaceNoValido) as refused:
        services.aceptar_invitacion(empleados, token, ELEGIDA)
    assert (refused.value.status, refused.value.slug) == (400, "enlace-no-valido")
    assert empleados.get(invitado.id).invitacion_pendiente


def test_an_invitee_whose_invitation_expired_sets_the_password_through_a_reset(empleados, admin, mailbox, clock):
    invitado = invitar(empleados)
    mailbox.take()
    clock.advance(days=4)
    services.solicitar_password(empleados, "luis@example.com", PORTAL)
    [sent] = mailbox.take()
    assert (sent.mail.to, sent.mail.subject) == ("luis@example.com", "Restablezca su contraseña")
    services.restablecer_password(empleados, sent.token(RESTABLECER), ELEGIDA)
    assert verify_password(empleados.get(invitado.id).password_hash, ELEGIDA)


def test_a_deactivated_invitee_cannot_accept_nor_ask_for_a_reset(empleados, admin, mailbox):
    invitado = invitar(empleados)
    token = mailbox.take()[0].token(INVITACION)
    services.dar_de_baja(empleados, invitado.id)
    assert empleados.get(invitado.id).enlaces == {}
    with pytest.raises(EnlaceNoValido):
        services.aceptar_invitacion(empleados, token, ELEGIDA)
    services.solicitar_password(empleados, "luis@example.com", PORTAL)
    assert mailbox.pending() == []


def test_an_invitation_token_is_no_reset_token(empleados, admin, mailbox):
    invitar(empleados)
    token = mailbox.take()[0].token(INVITACION)
    with pytest.raises(EnlaceNoValido):
        services.restablecer_password(empleados, token, ELEGIDA)
    services.solicitar_password(empleados, "luis@example.com", PORTAL)
    reset = mailbox.take()[0].token(RESTABLECER)
    with pytest.raises(EnlaceNoValido):
        services.aceptar_invitacion(empleados, reset, ELEGIDA)


def test_a_retried_invitation_is_the_first_and_mails_once(empleados, admin, mailbox, outbox):
    first = invitar(empleados, idempotency=keyed("alta", admin.id, "luis", 201))
    retry = keyed("alta", admin.id, "luis", 201)
    assert invitar(empleados, idempotency=retry) == first and retry.replayed
    assert len(mailbox.pending()) == 1 and outbox.tipos() == ["empleado.registrado"]


def test_a_retried_acceptance_needs_the_same_password(empleados, admin, mailbox):
    invitar(empleados)
    token = mailbox.take()[0].token(INVITACION)
    services.aceptar_invitacion(empleados, token, ELEGIDA, keyed("a-1", "", token))
    retry = keyed("a-1", "", token)
    assert services.aceptar_invitacion(empleados, token, ELEGIDA, retry).password_hash and retry.replayed
    with pytest.raises(KeyReused):
        services.aceptar_invitacion(empleados, token, "Otra-elegida-2026", keyed("a-1", "", token))


def test_a_reset_request_answers_the_same_for_unknown_emails_and_is_throttled(empleados, admin, mailbox, clock):
    assert services.solicitar_password(empleados, "nadie@example.com", PORTAL) is None
    assert mailbox.pending() == []
    for _ in range(4):
        assert services.solicitar_password(empleados, "jefa@example.com", PORTAL) is None
        clock.advance(minutes=1)
    assert [m.mail.to for m in mailbox.take()] == ["jefa@example.com"] * 3


def test_a_reset_ends_earlier_sessions_and_is_published(store, empleados, admin, mailbox, outbox, clock):
    components = Components(settings=None, store=store, verifier=None, empleados=empleados, issuer=None,
                            throttle=None, solicitudes=None)
    earlier = Principal(admin.id, "admin", "empleados", claims={"iat": int(clock.now.timestamp())})
    assert not components.is_revoked(earlier)
    clock.advance(minutes=3)
    services.solicitar_password(empleados, "jefa@example.com", PORTAL)
    services.restablecer_password(empleados, mailbox.take()[0].token(RESTABLECER), "Nueva-clave-2027")
    assert components.is_revoked(earlier)
    later = Principal(admin.id, "admin", "empleados", claims={"iat": int(clock.now.timestamp())})
    assert not components.is_revoked(later)
    [(tipo, datos)] = outbox.take()
    assert (tipo, datos["sesiones_desde"], datos["version"]) == ("empleado.actualizado", "2026-11-01T10:03:00Z", 2)
