"""The links clientes mails to a customer (verify the e-mail, reset the
password, confirm a new e-mail), their throttles and what a password reset
or change does to earlier sessions, against the in-memory store: each use
case's mail is read from the store's mail outbox, as the sender reads it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from clientes import services
from clientes.bootstrap import Components
from clientes.domain import Cliente
from clientes.repository import OUTBOX, ClienteRepository, ConcurrentUpdate
from common.errors import Conflict, Invalid
from common.idempotency import KeyReused
from common.passwords import PASSWORD_RULE, verify_password
from common.storage import MAIL_FAILED, MAIL_PENDING, StorageUnavailable
from common.storage.memory import MemoryStore
from common.tokens import Principal
from cuentas.enlaces import EnlaceNoValido
from cuentas.personal import PersonalReplica
from cuentas.services import INTENTOS_DE_CANJE, DemasiadosEnvios, EmailDuplicado
from tests.services.conftest import T0
from tests.services.keyed import keyed
from tests.services.mailbox import FAR_FUTURE, Mailbox

pytestmark = pytest.mark.outbox(*OUTBOX)

PASSWORD = "clave-segura-2024"
NUEVA = "otra-clave-2025"
PORTAL = "https://portal.example.com"
VERIFICAR, RESTABLECER, CONFIRMAR = "/cuenta/verificar", "/cuenta/restablecer", "/cuenta/confirmar-email"
INVITACION = "/cuenta/invitacion"


@pytest.fixture
def clientes(store) -> ClienteRepository:
    return ClienteRepository(store)


@pytest.fixture
def mailbox(store) -> Mailbox:
    return Mailbox(store)


def registrar(clientes, email: str = "ana@example.com", nombre: str = "Ana") -> Cliente:
    return services.registrar_cliente(clientes, nombre, "Pérez", email, PASSWORD, portal_url=PORTAL)


def perfil(clientes, cliente_id: str, cambios: dict, password=None, password_actual=None) -> Cliente:
    return services.actualizar_perfil(clientes, cliente_id, cambios, password, password_actual, portal_url=PORTAL)


def solicitar(clientes, email: str = "ana@example.com") -> None:
    services.solicitar_password(clientes, email, PORTAL)


def assert_link_refused(refused) -> None:
    """The one refusal of every wrong, used, expired or other-purpose token."""
    problem = refused.value
    assert (problem.status, problem.title, problem.slug, problem.detail) == (
        400, "Enlace no válido", "enlace-no-valido", "El enlace no es válido o ha caducado")
    assert problem.errores == [{"campo": "token", "mensaje": "El enlace no es válido o ha caducado",
                                "ubicacion": "cuerpo"}]


# -- a caller staff register ------------------------------------------------------------

def test_a_caller_registered_by_staff_has_no_password_until_the_link_mailed_sets_one(clientes, mailbox, clock):
    cliente = services.invitar_cliente(clientes, "Ramón", "Llama", "Ramon@Example.com", None, "600 11 22 33",
                                       portal_url=PORTAL)
    assert (cliente.password_hash, cliente.invitacion_pendiente, cliente.email_verificado) == (None, True, False)
    [sent] = mailbox.take()
    assert (sent.recipient, sent.mail.to, sent.mail.subject) == (cliente.id, "ramon@example.com",
                                                                 "Su cuenta en Incidencias")
    token = sent.token(INVITACION)
    assert clientes.collection.get(cliente.id)["enlaces"]["invitacion"]["caduca_en"] == "2026-11-04T10:00:00.000000Z"
    clock.advance(hours=71, minutes=59)
    aceptada = services.aceptar_invitacion(clientes, token, PASSWORD)
    assert verify_password(aceptada.password_hash, PASSWORD)
    assert (aceptada.invitacion_pendiente, aceptada.email_verificado) == (False, True)
    with pytest.raises(EnlaceNoValido) as again:
        services.aceptar_invitacion(clientes, token, NUEVA)
    assert_link_refused(again)


def test_an_invitation_link_expires_after_72_hours(clientes, mailbox, clock):
    cliente = services.invitar_cliente(clientes, "Ramón", "Llama", "ramon@example.com", portal_url=PORTAL)
    token = mailbox.take()[0].token(INVITACION)
    clock.advance(hours=72)
    with pytest.raises(EnlaceNoValido) as refused:
        services.aceptar_invitacion(clientes, token, PASSWORD)
    assert_link_refused(refused)
    assert clientes.get(cliente.id).password_hash is None


# -- verifying the e-mail ---------------------------------------------------------------

def test_registration_stores_a_verification_mail_in_the_same_write_and_only_a_hash_of_its_token(
        clientes, mailbox, store, clock):
    cliente = registrar(clientes)
    assert cliente.email_verificado is False
    [sent] = mailbox.pending()
    assert (sent.recipient, sent.mail.to, sent.mail.subject) == (cliente.id, "ana@example.com", "Confirme su email")
    token = sent.token(VERIFICAR)
    assert sent.links() == [f"{PORTAL}{VERIFICAR}?token={token}"]
    assert token.startswith(f"{cliente.id}.") and len(token.split(".", 1)[1]) == 43
    stored = clientes.collection.get(cliente.id)
    assert token not in str(stored) and token.split(".", 1)[1] not in str(stored)
    assert stored["enlaces"]["verificacion"]["caduca_en"] == "2026-11-03T10:00:00.000000Z"
    assert not {"enlaces", "envios", "password_hash"} & set(cliente.public_data())
    assert f"{PORTAL}{VERIFICAR}?token={token}" in sent.mail.html


def test_a_verification_link_works_once(clientes, mailbox, clock):
    cliente = registrar(clientes)
    token = mailbox.take()[0].token(VERIFICAR)
    clock.advance(hours=47, minutes=59)
    verified = services.verificar_email(clientes, token)
    assert verified.email_verificado and clientes.get(cliente.id).email_verificado
    assert clientes.get(cliente.id).enlaces == {}
    with pytest.raises(EnlaceNoValido) as again:
        services.verificar_email(clientes, token)
    assert_link_refused(again)


def test_an_expired_verification_link_is_refused_and_changes_nothing(clientes, mailbox, clock):
    cliente = registrar(clientes)
    token = mailbox.take()[0].token(VERIFICAR)
    clock.advance(hours=48)
    with pytest.raises(EnlaceNoValido) as refused:
        services.verificar_email(clientes, token)
    assert_link_refused(refused)
    assert clientes.get(cliente.id) == cliente and not clientes.get(cliente.id).email_verificado


@pytest.mark.parametrize("tampered", [
    lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # another secret
    lambda t: "0" * 32 + "." + t.split(".", 1)[1],  # another account
    lambda t: t.split(".", 1)[1],  # no account
    lambda t: t + ".",
    lambda t: "",
    lambda t: t + "x" * 200,
])
def test_a_wrong_token_gets_the_same_refusal(clientes, mailbox, tampered):
    cliente = registrar(clientes)
    token = mailbox.take()[0].token(VERIFICAR)
    with pytest.raises(EnlaceNoValido) as refused:
        services.verificar_email(clientes, tampered(token))
    assert_link_refused(refused)
    assert services.verificar_email(clientes, token).id == cliente.id


def test_a_token_of_one_purpose_opens_nothing_else(clientes, mailbox):
    registrar(clientes)
    verificacion = mailbox.take()[0].token(VERIFICAR)
    solicitar(clientes)
    restablecimiento = mailbox.take()[0].token(RESTABLECER)
    for attempt in (lambda: services.restablecer_password(clientes, verificacion, NUEVA),
                    lambda: services.confirmar_email(clientes, verificacion),
                    lambda: services.verificar_email(clientes, restablecimiento),
                    lambda: services.confirmar_email(clientes, restablecimiento)):
        with pytest.raises(EnlaceNoValido) as refused:
            attempt()
        assert_link_refused(refused)
    # Both still work for their own purpose.
    assert services.verificar_email(clientes, verificacion).email_verificado
    services.restablecer_password(clientes, restablecimiento, NUEVA)


def test_resending_is_throttled_once_a_minute_and_five_times_a_day(clientes, mailbox, clock):
    cliente = registrar(clientes)
    first = mailbox.take()[0].token(VERIFICAR)
    clock.advance(seconds=20)
    with pytest.raises(DemasiadosEnvios) as soon:
        services.reenviar_verificacion(clientes, cliente.id, PORTAL)
    assert (soon.value.status, soon.value.slug, soon.value.retry_after) == (429, "demasiados-envios", 40)
    assert soon.value.extra == {"headers": {"Retry-After": "40"}} and mailbox.pending() == []
    tokens = []
    for _ in range(4):  # the registration's mail counts: five a day in all
        clock.advance(seconds=60)
        services.reenviar_verificacion(clientes, cliente.id, PORTAL)
        [sent] = mailbox.take()
        assert (sent.mail.to, sent.mail.subject) == ("ana@example.com", "Confirme su email")
        tokens.append(sent.token(VERIFICAR))
    clock.advance(hours=1)
    with pytest.raises(DemasiadosEnvios) as daily:
        services.reenviar_verificacion(clientes, cliente.id, PORTAL)
    # Free again a day after the registration's mail.
    assert daily.value.retry_after == int(timedelta(days=1, seconds=-(20 + 4 * 60 + 3600)).total_seconds())
    # Only the newest link works.
    for old in (first, *tokens[:-1]):
        with pytest.raises(EnlaceNoValido):
            services.verificar_email(clientes, old)
    assert services.verificar_email(clientes, tokens[-1]).email_verificado
    with pytest.raises(Conflict) as verified:
        services.reenviar_verificacion(clientes, cliente.id, PORTAL)
    assert (verified.value.status, verified.value.slug) == (409, "email-ya-verificado")


def test_a_retried_verification_is_answered_as_the_first(clientes, mailbox):
    cliente = registrar(clientes)
    token = mailbox.take()[0].token(VERIFICAR)
    first = keyed("v-1", "", token)
    services.verificar_email(clientes, token, first)
    retry = keyed("v-1", "", token)
    assert services.verificar_email(clientes, token, retry).email_verificado and retry.replayed
    with pytest.raises(EnlaceNoValido):  # without the key: the link is used
        services.verificar_email(clientes, token)
    assert clientes.get(cliente.id).email_verificado


def test_a_redemption_that_read_the_account_before_another_one_saved_is_refused_as_a_used_link(
        clientes, mailbox, monkeypatch):
    """The loser's save meets a newer revision; it reads the account again
    and finds the link gone. (Two threads at once on SQLite:
    tests/integration/test_clientes_links.py.)"""
    cliente = registrar(clientes)
    token = mailbox.take()[0].token(VERIFICAR)
    stale = [clientes.get(cliente.id)]
    services.verificar_email(clientes, token)
    read = clientes.get
    monkeypatch.setattr(clientes, "get", lambda cuenta_id, key=None: stale.pop() if stale else read(cuenta_id, key))
    with pytest.raises(EnlaceNoValido) as refused:
        services.verificar_email(clientes, token)
    assert_link_refused(refused)
    assert stale == []
    assert clientes.get(cliente.id).email_verificado


def test_a_redemption_that_keeps_meeting_newer_revisions_gives_up_with_a_conflict(clientes, mailbox, monkeypatch):
    registrar(clientes)
    token = mailbox.take()[0].token(VERIFICAR)
    tries = []
    monkeypatch.setattr(clientes.collection, "replace", lambda doc, events=(): tries.append(doc["_rev"]))
    with pytest.raises(ConcurrentUpdate):
        services.verificar_email(clientes, token)
    assert tries == [1] * INTENTOS_DE_CANJE


def test_accounts_from_before_verification_count_as_verified_unless_a_link_is_pending(clientes):
    legacy = {"id": "c-legacy", "nombre": "Vieja", "apellidos": "Cuenta", "email": "vieja@example.com",
              "password_hash": None, "creado_en": "2025-01-01T00:00:00.000000Z",
              "actualizado_en": "2025-01-01T00:00:00.000000Z"}
    assert Cliente.from_document(legacy).email_verificado is True
    assert Cliente.from_document(legacy).avisos_por_correo is True
    pending = {**legacy, "enlaces": {"verificacion": {"hash": "h", "caduca_en": "2025-01-03T00:00:00Z"}}}
    assert Cliente.from_document(pending).email_verificado is False
    assert Cliente.from_document({**pending, "email_verificado": True}).email_verificado is True


# -- resetting the password -------------------------------------------------------------------

def test_a_reset_request_for_an_unknown_or_erased_email_writes_and_sends_nothing(clientes, mailbox, store):
    ana = registrar(clientes)
    bob = registrar(clientes, "bob@example.com", "Bob")
    services.eliminar_cuenta(clientes, bob.id)
    mailbox.take()
    before = clientes.collection.get(ana.id)
    assert solicitar(clientes, "nadie@example.com") is None
    assert solicitar(clientes, "bob@example.com") is None
    assert mailbox.pending() == [] and clientes.collection.get(ana.id) == before


def test_a_reset_request_mails_a_link_valid_30_minutes(clientes, mailbox, clock):
    cliente = registrar(clientes)
    mailbox.take()
    assert solicitar(clientes, " ANA@example.com ") is None
    [sent] = mailbox.take()
    assert (sent.recipient, sent.mail.to, sent.mail.subject) == (cliente.id, "ana@example.com",
                                                                "Restablezca su contraseña")
    token = sent.token(RESTABLECER)
    assert sent.links() == [f"{PORTAL}{RESTABLECER}?token={token}", f"{PORTAL}/cuenta/olvido"]
    clock.advance(minutes=30)
    with pytest.raises(EnlaceNoValido) as expired:
        services.restablecer_password(clientes, token, NUEVA)
    assert_link_refused(expired)
    assert verify_password(clientes.get(cliente.id).password_hash, PASSWORD)


def test_reset_requests_mail_at_most_three_links_an_hour_silently(clientes, mailbox, clock):
    registrar(clientes)
    mailbox.take()
    for _ in range(5):
        assert solicitar(clientes) is None
        clock.advance(minutes=1)
    assert len(mailbox.take()) == 3
    clock.advance(minutes=56)
    solicitar(clientes)
    assert len(mailbox.take()) == 1


def test_a_reset_sets_the_password_voids_every_link_and_publishes_since_when_sessions_count(
        clientes, mailbox, outbox, clock):
    cliente = registrar(clientes)
    verificacion = mailbox.take()[0].token(VERIFICAR)
    perfil(clientes, cliente.id, {"email": "nueva@example.com"})
    cambio = next(m for m in mailbox.take() if m.mail.to == "nueva@example.com").token(CONFIRMAR)
    solicitar(clientes)
    token = mailbox.take()[0].token(RESTABLECER)
    outbox.clear()
    clock.advance(minutes=10, microseconds=600_000)
    services.restablecer_password(clientes, token, NUEVA)
    stored = clientes.get(cliente.id)
    assert verify_password(stored.password_hash, NUEVA) and not verify_password(stored.password_hash, PASSWORD)
    assert stored.sesiones_desde == "2026-11-01T10:10:00Z" and stored.enlaces == {}
    assert stored.email_pendiente is None
    assert stored.email_verificado  # the link came to that e-mail
    assert outbox.events() == [("cliente.actualizado", {
        "id": cliente.id, "nombre": "Ana", "apellidos": "Pérez", "eliminado": False, "email": "ana@example.com",
        "avisos_por_correo": True, "sesiones_desde": "2026-11-01T10:10:00Z"})]
    for used in (lambda: services.restablecer_password(clientes, token, "y-otra-clave-3"),
                 lambda: services.verificar_email(clientes, verificacion),
                 lambda: services.confirmar_email(clientes, cambio)):
        with pytest.raises(EnlaceNoValido):
            used()


def test_a_weak_new_password_is_refused_and_the_link_still_works(clientes, mailbox):
    cliente = registrar(clientes)
    mailbox.take()
    solicitar(clientes)
    token = mailbox.take()[0].token(RESTABLECER)
    with pytest.raises(Invalid) as refused:
        services.restablecer_password(clientes, token, "ana-es-2025x")  # holds the e-mail
    assert refused.value.errores == [{"campo": "password", "mensaje": PASSWORD_RULE, "ubicacion": "cuerpo"}]
    assert verify_password(clientes.get(cliente.id).password_hash, PASSWORD)
    services.restablecer_password(clientes, token, NUEVA)


def test_a_retried_reset_needs_the_same_password(clientes, mailbox):
    registrar(clientes)
    mailbox.take()
    solicitar(clientes)
    token = mailbox.take()[0].token(RESTABLECER)
    services.restablecer_password(clientes, token, NUEVA, keyed("r-1", "", token))
    retry = keyed("r-1", "", token)
    services.restablecer_password(clientes, token, NUEVA, retry)
    assert retry.replayed
    with pytest.raises(KeyReused):
        services.restablecer_password(clientes, token, "y-otra-clave-3", keyed("r-1", "", token))


# -- sessions opened before a password change ---------------------------------------------------

@pytest.fixture
def components(store, clientes) -> Components:
    return Components(settings=None, store=store, verifier=None, clientes=clientes,
                      personal=PersonalReplica(store), issuer=None, throttle=None, solicitudes=None)


def session(cliente_id: str, at) -> Principal:
    return Principal(cliente_id, "cliente", "clientes", claims={"iat": int(at.timestamp())})


def test_sessions_issued_before_a_password_change_are_refused_and_later_ones_kept(clientes, components, clock):
    cliente = registrar(clientes)
    before = session(cliente.id, clock.now)
    clock.advance(seconds=5, microseconds=700_000)  # changed at 10:00:05.7
    perfil(clientes, cliente.id, {}, NUEVA, PASSWORD)
    assert components.is_revoked(before)
    # The same second as the change: a login right after it keeps working.
    assert not components.is_revoked(session(cliente.id, T0 + timedelta(seconds=5)))
    assert not components.is_revoked(session(cliente.id, T0 + timedelta(seconds=6)))
    assert components.is_revoked(session(cliente.id, T0 + timedelta(seconds=4)))
    assert components.is_revoked(Principal(cliente.id, "cliente", "clientes"))  # no iat at all


def test_sessions_issued_before_a_reset_are_refused(clientes, mailbox, components, clock):
    cliente = registrar(clientes)
    mailbox.take()
    stolen = session(cliente.id, clock.now)
    assert not components.is_revoked(stolen)
    clock.advance(minutes=2)
    solicitar(clientes)
    services.restablecer_password(clientes, mailbox.take()[0].token(RESTABLECER), NUEVA)
    assert components.is_revoked(stolen)
    assert not components.is_revoked(session(cliente.id, clock.now))


# -- changing the e-mail -----------------------------------------------------------------------

def test_a_new_email_is_confirmed_through_the_link_sent_to_it_and_the_old_one_is_told(
        clientes, mailbox, outbox, clock):
    cliente = registrar(clientes)
    mailbox.take()
    outbox.clear()
    pending = perfil(clientes, cliente.id, {"email": "Ana.Nueva@Example.com"})
    assert (pending.email, pending.email_pendiente) == ("ana@example.com", "ana.nueva@example.com")
    confirm, notice = mailbox.take()
    assert (confirm.recipient, confirm.mail.to, confirm.mail.subject) == (
        cliente.id, "ana.nueva@example.com", "Confirme su nuevo email")
    assert (notice.recipient, notice.mail.to, notice.mail.subject) == (
        cliente.id, "ana@example.com", "Se ha pedido cambiar el email de su cuenta")
    assert "ana.nueva@example.com" in notice.mail.text and notice.links() == [f"{PORTAL}/cuenta/olvido"]
    token = confirm.token(CONFIRMAR)
    assert outbox.events() == []
    clock.advance(hours=23)
    confirmed = services.confirmar_email(clientes, token)
    assert (confirmed.email, confirmed.email_pendiente, confirmed.email_verificado) == (
        "ana.nueva@example.com", None, True)
    assert clientes.by_email("ana.nueva@example.com").id == cliente.id and clientes.by_email("ana@example.com") is None
    [(tipo, datos)] = outbox.events()
    assert (tipo, datos["email"]) == ("cliente.actualizado", "ana.nueva@example.com")
    with pytest.raises(EnlaceNoValido):
        services.confirmar_email(clientes, token)


def test_a_change_link_expires_in_24_hours(clientes, mailbox, clock):
    cliente = registrar(clientes)
    mailbox.take()
    perfil(clientes, cliente.id, {"email": "nueva@example.com"})
    token = mailbox.take()[0].token(CONFIRMAR)
    clock.advance(hours=24)
    with pytest.raises(EnlaceNoValido):
        services.confirmar_email(clientes, token)
    assert clientes.get(cliente.id).email == "ana@example.com"


def test_an_email_taken_before_the_confirmation_is_refused_and_the_link_kept(clientes, mailbox):
    cliente = registrar(clientes)
    mailbox.take()
    perfil(clientes, cliente.id, {"email": "nueva@example.com"})
    token = mailbox.take()[0].token(CONFIRMAR)
    other = registrar(clientes, "nueva@example.com", "Otra")
    with pytest.raises(EmailDuplicado):
        services.confirmar_email(clientes, token)
    assert clientes.get(cliente.id).email == "ana@example.com"
    services.eliminar_cuenta(clientes, other.id)
    assert services.confirmar_email(clientes, token).email == "nueva@example.com"


def test_asking_for_the_current_email_withdraws_the_pending_change(clientes, mailbox):
    cliente = registrar(clientes)
    mailbox.take()
    perfil(clientes, cliente.id, {"email": "nueva@example.com"})
    token = mailbox.take()[0].token(CONFIRMAR)
    assert perfil(clientes, cliente.id, {"email": "ANA@example.com"}).email_pendiente is None
    assert clientes.get(cliente.id).email_pendiente is None and mailbox.pending() == []
    with pytest.raises(EnlaceNoValido):
        services.confirmar_email(clientes, token)


def test_change_mails_are_throttled_like_verification_mails(clientes, mailbox, clock):
    cliente = registrar(clientes)
    mailbox.take()
    perfil(clientes, cliente.id, {"email": "uno@example.com"})
    clock.advance(seconds=30)
    with pytest.raises(DemasiadosEnvios) as refused:
        perfil(clientes, cliente.id, {"email": "dos@example.com"})
    assert refused.value.retry_after == 30
    assert clientes.get(cliente.id).email_pendiente == "uno@example.com" and len(mailbox.take()) == 2


# -- e-mail preferences, erasure -------------------------------------------------------------------

def test_the_customer_turns_notification_mails_off_and_it_is_published(clientes, outbox):
    cliente = registrar(clientes)
    assert cliente.avisos_por_correo is True
    outbox.clear()
    assert perfil(clientes, cliente.id, {"avisos_por_correo": False}).avisos_por_correo is False
    [(tipo, datos)] = outbox.take()
    assert (tipo, datos["avisos_por_correo"]) == ("cliente.actualizado", False)
    with pytest.raises(Invalid):
        perfil(clientes, cliente.id, {"avisos_por_correo": None})
    perfil(clientes, cliente.id, {"avisos_por_correo": False})
    assert outbox.take() == []


def test_erasure_deletes_the_mails_not_sent_yet_and_every_link(clientes, mailbox):
    ana, bob = registrar(clientes), registrar(clientes, "bob@example.com", "Bob")
    token = next(m for m in mailbox.pending() if m.recipient == ana.id).token(VERIFICAR)
    services.eliminar_cuenta(clientes, ana.id)
    assert [m.recipient for m in mailbox.pending()] == [bob.id]
    assert clientes.get(ana.id).enlaces == {} and clientes.get(ana.id).public_data()["email"] is None
    with pytest.raises(EnlaceNoValido):
        services.verificar_email(clientes, token)


class CancelFailsOnce(MemoryStore):
    """A store whose first ``cancel_mails`` fails (the database went away),
    and whose ``meanwhile`` (if set) runs right after a cancel: another
    request writing the account between the cancel and the erasure."""

    def __init__(self) -> None:
        super().__init__(outbox=OUTBOX)
        self.failures, self.meanwhile = 1, None

    def cancel_mails(self, recipient: str) -> int:
        if self.failures:
            self.failures -= 1
            raise StorageUnavailable("memory: the database is not reachable now")
        cancelled = super().cancel_mails(recipient)
        if self.meanwhile is not None:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return cancelled


def test_an_erasure_whose_cancel_fails_erases_nothing_and_its_retry_drops_every_mail(outbox_of):
    store = CancelFailsOnce()
    clientes, mailbox, outbox = ClienteRepository(store), Mailbox(store), outbox_of(store)
    ana = registrar(clientes)
    [verificacion] = store.due_mails(FAR_FUTURE)
    store.mail_failed(verificacion.id, 1, "550 buzón lleno")
    solicitar(clientes)
    outbox.clear()
    with pytest.raises(StorageUnavailable):
        services.eliminar_cuenta(clientes, ana.id)
    assert not clientes.get(ana.id).eliminado and outbox.events() == []
    assert store.mail_counts() == {MAIL_PENDING: 1, MAIL_FAILED: 1}
    services.eliminar_cuenta(clientes, ana.id)  # the client's retry: the account is still there
    assert clientes.get(ana.id).eliminado and outbox.events() == [("cliente.eliminado", {"id": ana.id})]
    assert store.mail_counts() == {MAIL_PENDING: 0, MAIL_FAILED: 0} and mailbox.pending() == []


def test_a_mail_stored_while_the_account_is_being_erased_makes_the_erasure_start_again(outbox_of):
    store = CancelFailsOnce()
    store.failures = 0
    clientes, outbox = ClienteRepository(store), outbox_of(store)
    ana = registrar(clientes)
    outbox.clear()
    store.meanwhile = lambda: solicitar(clientes)  # a reset link, mailed after the cancel
    services.eliminar_cuenta(clientes, ana.id)
    assert clientes.get(ana.id).eliminado and outbox.events() == [("cliente.eliminado", {"id": ana.id})]
    assert store.mail_counts() == {MAIL_PENDING: 0, MAIL_FAILED: 0}
