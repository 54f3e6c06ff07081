"""clientes' use cases (clientes/services.py), its staff replica and the rule
that revokes tokens, against the in-memory store."""
from __future__ import annotations

import datetime as dt

import pytest

from clientes import services
from clientes.bootstrap import Components
from clientes.domain import ERASED_NAME
from clientes.handlers import ClientesHandlers
from clientes.repository import OUTBOX, ClienteRepository, ConcurrentUpdate
from common.errors import Invalid, NotFound
from common import idempotency
from common.idempotency import CREATION_FINGERPRINT, CREATION_KEY, CREATION_SCOPE, KeyInProgress, KeyReused
from common.messaging import PermanentError, make_event
from common.passwords import PASSWORD_RULE, verify_password
from common.storage import Query
from common.tokens import Principal
from cuentas.personal import PersonalReplica
from cuentas.services import EmailDuplicado
from tests.services.keyed import keyed

pytestmark = pytest.mark.outbox(*OUTBOX)

PASSWORD = "clave-segura-2024"
PORTAL = "https://portal.example.com"


def perfil(clientes, cliente_id, cambios, password=None, password_actual=None):
    return services.actualizar_perfil(clientes, cliente_id, cambios, password, password_actual, portal_url=PORTAL)


def public(cliente, **changes) -> dict:
    """The public data of ``cliente`` in its events, with ``changes``."""
    return {"id": cliente.id, "nombre": cliente.nombre, "apellidos": cliente.apellidos, "eliminado": False,
            "email": cliente.email, "avisos_por_correo": True, "sesiones_desde": None, **changes}


@pytest.fixture
def clientes(store) -> ClienteRepository:
    return ClienteRepository(store)


def registrar(clientes, email: str = "ana@example.com", **extra):
    return services.registrar_cliente(clientes, extra.pop("nombre", " Ana "), extra.pop("apellidos", "Pérez García "),
                                      email, PASSWORD, **extra, portal_url=PORTAL)


def cliente_token(cliente_id: str) -> Principal:
    return Principal(cliente_id, "cliente", "clientes")


def staff_token(empleado_id: str = "e1", rol: str = "agente") -> Principal:
    return Principal(empleado_id, rol, "empleados")


# -- registering -----------------------------------------------------------------

def test_registering_stores_the_account_normalised_and_records_cliente_registrado(clientes, outbox, clock):
    cliente = registrar(clientes, "Ana.Perez@Example.COM", fecha_nacimiento=dt.date(1990, 7, 26),
                        direccion="Calle Mayor 1", telefono="+34 600 000 000")
    stored = clientes.get(cliente.id)
    assert stored == cliente
    assert (stored.nombre, stored.apellidos, stored.email) == ("Ana", "Pérez García", "ana.perez@example.com")
    assert (stored.fecha_nacimiento, stored.direccion, stored.telefono) == ("1990-07-26", "Calle Mayor 1",
                                                                           "+34 600 000 000")
    assert stored.creado_en == stored.actualizado_en == "2026-11-01T10:00:00.000000Z"
    assert stored.password_hash.startswith("$argon2id$") and verify_password(stored.password_hash, PASSWORD)
    assert outbox.events() == [("cliente.registrado", {
        "id": cliente.id, "nombre": "Ana", "apellidos": "Pérez García", "eliminado": False,
        "email": "ana.perez@example.com", "avisos_por_correo": True, "sesiones_desde": None})]
    assert outbox.messages()[0].origen == "clientes"


def test_an_email_taken_in_any_case_is_refused_and_nothing_is_written(clientes, outbox):
    first = registrar(clientes)
    with pytest.raises(EmailDuplicado) as refused:
        registrar(clientes, "ANA@Example.com")
    problem = refused.value
    assert (problem.status, problem.title, problem.slug, problem.detail) == (
        409, "Email ya registrado", "email-duplicado", "Ya existe una cuenta con ese email")
    assert problem.errores == [{"campo": "email", "mensaje": "Ya existe una cuenta con ese email"}]
    assert clientes.count() == 1 and clientes.by_email("ana@example.com").id == first.id
    assert outbox.tipos() == ["cliente.registrado"]


# -- retried registrations -------------------------------------------------------------------
# Registration is anonymous: its key is matched by the key alone (scope "")
# and the fingerprint, which leaves the password out; the password is checked
# against the stored hash instead.

def registro(key: str = "alta-1", sent: str = "ana") -> object:
    return keyed(key, "", ("POST", "/clientes", sent), 201)


def test_a_retried_registration_returns_the_first_account_and_records_one_event(clientes, outbox, clock):
    first_request = registro()
    first = registrar(clientes, idempotency=first_request)
    stored = clientes.collection.get(first.id)
    assert (stored[CREATION_SCOPE], stored[CREATION_KEY], stored[CREATION_FINGERPRINT]) == (
        "", "alta-1", first_request.fingerprint)
    assert not first_request.replayed
    clock.advance(seconds=30)
    retry = registro()
    again = registrar(clientes, idempotency=retry)
    assert (retry.replayed, retry.replayed_status) == (True, 201)
    assert again == first == clientes.get(first.id) and clientes.count() == 1
    assert outbox.tipos() == ["cliente.registrado"]


def test_a_registration_key_reused_for_another_body_or_password_is_refused(clientes, outbox):
    first = registrar(clientes, idempotency=registro())
    with pytest.raises(KeyReused):
        registrar(clientes, "otra@example.com", idempotency=registro(sent="otra"))
    with pytest.raises(KeyReused):
        services.registrar_cliente(clientes, " Ana ", "Pérez García ", "ana@example.com", "otra-clave-2024",
                                   idempotency=registro(), portal_url=PORTAL)
    assert clientes.count() == 1 and clientes.get(first.id) == first and outbox.tipos() == ["cliente.registrado"]


class LaggingReads(ClienteRepository):
    """The repository on a database whose reads lag its unique indexes (what
    is faked: MongoDB's majority reads, which may not see yet an account the
    primary already refuses a duplicate of). The first ``misses`` lookups
    by key and by e-mail find nothing."""

    def __init__(self, store, misses: float):
        super().__init__(store)
        self.misses = {"created_by": misses, "by_email": misses}
        self.lookups = 0

    def _lagging(self, name: str) -> bool:
        self.lookups += 1
        if self.misses[name] > 0:
            self.misses[name] -= 1
            return True
        return False

    def created_by(self, idempotency):
        return None if self._lagging("created_by") else super().created_by(idempotency)

    def by_email(self, email):
        return None if self._lagging("by_email") else super().by_email(email)


def test_a_retry_that_cannot_read_the_first_account_yet_waits_for_it_and_gets_the_first_answer(store, outbox):
    clientes = LaggingReads(store, misses=0)
    first = registrar(clientes, idempotency=registro())
    clientes.misses = {"created_by": 1, "by_email": 1}
    retry = registro()
    assert registrar(clientes, idempotency=retry) == first and retry.replayed
    assert clientes.count() == 1 and outbox.tipos() == ["cliente.registrado"]


def test_a_retry_whose_first_account_stays_unreadable_is_told_to_retry_not_that_the_email_is_taken(
        store, outbox, monkeypatch):
    monkeypatch.setattr(idempotency, "IN_PROGRESS_WAIT", 0.2)
    clientes = LaggingReads(store, misses=0)
    registrar(clientes, idempotency=registro())
    clientes.misses = {"created_by": float("inf"), "by_email": float("inf")}
    with pytest.raises(KeyInProgress) as refused:
        registrar(clientes, idempotency=registro())
    problem = refused.value
    assert (problem.status, problem.title, problem.slug, problem.detail, problem.errores, problem.extra) == (
        409, "Petición en curso", "idempotencia-en-curso",
        "Una petición con esa Idempotency-Key está en curso; reintente en unos segundos",
        [{"campo": "Idempotency-Key", "mensaje": "Una petición con esta clave está en curso",
          "ubicacion": "cabeceras"}], {"headers": {"Retry-After": "1"}})
    assert clientes.count() == 1 and outbox.tipos() == ["cliente.registrado"]


def test_a_keyed_registration_with_an_email_another_account_holds_is_refused_at_once(store, outbox):
    clientes = LaggingReads(store, misses=0)
    registrar(clientes)
    clientes.lookups = 0
    with pytest.raises(EmailDuplicado):
        registrar(clientes, idempotency=registro())
    assert clientes.lookups == 2  # the e-mail's holder, then the key: no waiting


def test_without_the_key_a_second_registration_is_the_email_conflict_it_always_was(clientes, outbox):
    registrar(clientes, idempotency=registro())
    with pytest.raises(EmailDuplicado):
        registrar(clientes)
    with pytest.raises(EmailDuplicado):
        registrar(clientes, idempotency=registro("alta-2"))
    assert clientes.count() == 1


def test_the_registration_key_survives_profile_changes_and_erasure_keeps_no_fingerprint(clientes, outbox):
    first = registrar(clientes, idempotency=registro())
    perfil(clientes, first.id, {"telefono": "+34 600 000 001"})
    retry = registro()
    assert registrar(clientes, idempotency=retry).telefono == "+34 600 000 001" and retry.replayed
    services.eliminar_cuenta(clientes, first.id)
    stored = clientes.collection.get(first.id)
    assert (stored[CREATION_SCOPE], stored[CREATION_KEY]) == ("", "alta-1") and CREATION_FINGERPRINT not in stored
    # A late retry of the erased account's registration opens no second account.
    with pytest.raises(KeyReused):
        registrar(clientes, idempotency=registro())
    assert clientes.count() == 0 and clientes.collection.count(Query()) == 1


# -- the own account ----------------------------------------------------------------

def test_the_own_account_exists_until_it_is_erased(clientes):
    cliente = registrar(clientes)
    assert services.cuenta_propia(clientes, cliente.id) == cliente
    with pytest.raises(NotFound) as missing:
        services.cuenta_propia(clientes, "nadie")
    assert (missing.value.status, missing.value.slug, missing.value.detail) == (404, "no-encontrado",
                                                                              "La cuenta no existe")
    services.eliminar_cuenta(clientes, cliente.id)
    with pytest.raises(NotFound):
        services.cuenta_propia(clientes, cliente.id)


# -- updating the profile ------------------------------------------------------------

def test_updating_the_profile_stores_it_and_records_cliente_actualizado(clientes, outbox, clock):
    cliente = registrar(clientes)
    outbox.clear()
    clock.advance(minutes=5)
    updated = perfil(clientes, cliente.id, {
        "nombre": " Ana María ", "telefono": "+34 611 222 333", "fecha_nacimiento": dt.date(1985, 2, 1)})
    assert (updated.nombre, updated.telefono, updated.fecha_nacimiento) == ("Ana María", "+34 611 222 333",
                                                                           "1985-02-01")
    assert updated.actualizado_en == "2026-11-01T10:05:00.000000Z" and updated.creado_en == cliente.creado_en
    assert clientes.get(cliente.id) == updated
    assert outbox.events() == [("cliente.actualizado", public(cliente, nombre="Ana María"))]


def test_the_same_values_or_the_own_email_in_another_case_change_nothing(clientes, outbox, clock):
    cliente = registrar(clientes)
    outbox.clear()
    clock.advance(minutes=5)
    same = perfil(clientes, cliente.id, {"nombre": "Ana", "email": "ANA@Example.com"})
    assert same.email == "ana@example.com" and same.actualizado_en == cliente.actualizado_en
    assert clientes.get(cliente.id)._rev == cliente._rev and outbox.events() == []


def test_a_new_email_waits_for_its_confirmation_and_a_taken_one_is_refused_without_any_change(clientes, outbox):
    ana, bob = registrar(clientes), registrar(clientes, "bob@example.com", nombre="Bob")
    outbox.clear()
    pending = perfil(clientes, ana.id, {"email": "Ana.Nueva@Example.com"})
    assert (pending.email, pending.email_pendiente) == ("ana@example.com", "ana.nueva@example.com")
    assert clientes.by_email("ana.nueva@example.com") is None and clientes.by_email("ana@example.com").id == ana.id
    assert outbox.events() == []  # nothing public changed yet
    with pytest.raises(EmailDuplicado) as refused:
        perfil(clientes, ana.id, {"email": "BOB@example.com", "nombre": "Otra"})
    assert refused.value.errores == [{"campo": "email", "mensaje": "Ya existe una cuenta con ese email"}]
    stored = clientes.get(ana.id)
    assert (stored.email, stored.email_pendiente, stored.nombre) == ("ana@example.com", "ana.nueva@example.com",
                                                                     "Ana")
    assert clientes.get(bob.id).email == "bob@example.com" and outbox.events() == []


@pytest.mark.parametrize("campo", ["nombre", "apellidos", "email"])
def test_a_required_field_cannot_become_null(clientes, outbox, campo):
    cliente = registrar(clientes)
    outbox.clear()
    with pytest.raises(Invalid) as refused:
        perfil(clientes, cliente.id, {campo: None})
    assert refused.value.errores == [{"campo": campo, "mensaje": "No puede ser nulo", "ubicacion": "cuerpo"}]
    assert clientes.get(cliente.id) == cliente and outbox.events() == []


def test_a_profile_update_based_on_a_stale_read_is_a_conflict(clientes, outbox, monkeypatch):
    cliente = registrar(clientes)
    stale = clientes.get(cliente.id)
    perfil(clientes, cliente.id, {"nombre": "Primera"})
    outbox.clear()
    monkeypatch.setattr(clientes, "get", lambda _id: stale)
    with pytest.raises(ConcurrentUpdate) as refused:
        perfil(clientes, cliente.id, {"nombre": "Segunda"})
    assert (refused.value.status, refused.value.slug, refused.value.detail) == (
        409, "conflicto-concurrente", "La cuenta cambió mientras tanto; reintente")
    monkeypatch.undo()
    assert clientes.get(cliente.id).nombre == "Primera" and outbox.events() == []


# -- changing the password ------------------------------------------------------------

@pytest.mark.parametrize("password, actual, campo", [
    ("nueva-clave-2025", "no-es-la-mia-1", "password_actual"),
    ("debil", PASSWORD, "password"),
    ("mi-ana-9999", PASSWORD, "password"),  # holds the current email
    ("otra-bob-2025", PASSWORD, "password"),  # holds the email sent with it
])
def test_a_password_change_needs_the_current_password_and_a_strong_new_one(clientes, outbox, password, actual,
                                                                           campo):
    cliente = registrar(clientes)
    outbox.clear()
    cambios = {"email": "bob@example.com"} if "bob" in password else {}
    with pytest.raises(Invalid) as refused:
        perfil(clientes, cliente.id, cambios, password, actual)
    [error] = refused.value.errores
    assert (error["campo"], refused.value.status, refused.value.slug) == (campo, 422, "validacion")
    if campo == "password":
        assert error["mensaje"] == PASSWORD_RULE == refused.value.detail
    else:
        assert error["mensaje"] == "La contraseña actual no es correcta"
    assert clientes.get(cliente.id) == cliente and outbox.events() == []


def test_a_password_change_is_stored_and_publishes_since_when_sessions_count(clientes, outbox, clock):
    cliente = registrar(clientes)
    outbox.clear()
    clock.advance(minutes=1, microseconds=250_000)
    services.actualizar_perfil(clientes, cliente.id, {}, "nueva-clave-2025", PASSWORD, portal_url=PORTAL)
    stored = clientes.get(cliente.id)
    assert verify_password(stored.password_hash, "nueva-clave-2025")
    assert not verify_password(stored.password_hash, PASSWORD)
    assert stored.actualizado_en == "2026-11-01T10:01:00.250000Z"
    assert stored.sesiones_desde == "2026-11-01T10:01:00Z"
    assert outbox.events() == [("cliente.actualizado", public(cliente, sesiones_desde="2026-11-01T10:01:00Z"))]


# -- erasing the account -----------------------------------------------------------------

def test_erasing_removes_personal_data_frees_the_email_and_records_cliente_eliminado(clientes, outbox, clock):
    cliente = registrar(clientes, fecha_nacimiento=dt.date(1990, 7, 26), direccion="Calle Sol 3",
                        telefono="+34 600 111 222")
    outbox.clear()
    clock.advance(hours=1)
    services.eliminar_cuenta(clientes, cliente.id)
    stored = clientes.get(cliente.id)
    assert stored.eliminado and stored.eliminado_en == "2026-11-01T11:00:00.000000Z"
    assert (stored.nombre, stored.apellidos) == (ERASED_NAME, "")
    assert stored.email is stored.password_hash is stored.telefono is stored.direccion is None
    assert stored.fecha_nacimiento is None
    assert outbox.events() == [("cliente.eliminado", {"id": cliente.id})]
    with pytest.raises(NotFound):
        services.eliminar_cuenta(clientes, cliente.id)
    assert registrar(clientes).id != cliente.id


# -- listing and reading customers ---------------------------------------------------------

def test_the_list_is_newest_first_without_erased_accounts_and_searches(clientes, clock):
    made = []
    for i in range(4):
        clock.advance(minutes=1)
        made.append(registrar(clientes, f"persona{i}@example.com", nombre=f"Nombre{i}"))
    services.eliminar_cuenta(clientes, made[1].id)
    listing = services.listar_clientes(clientes)
    assert listing.count() == 3
    assert [c.id for c in listing.fetch(0, 10)] == [made[3].id, made[2].id, made[0].id]
    assert [c.id for c in listing.fetch(1, 1)] == [made[2].id]
    found = services.listar_clientes(clientes, "NOMBRE2")
    assert found.count() == 1 and [c.id for c in found.fetch(0, 10)] == [made[2].id]


def test_a_customer_is_seen_by_staff_and_by_themself_only(clientes):
    ana, bob = registrar(clientes), registrar(clientes, "bob@example.com")
    assert services.ver_cliente(clientes, cliente_token(ana.id), ana.id) == ana
    assert services.ver_cliente(clientes, staff_token(), bob.id) == bob
    with pytest.raises(NotFound) as other:
        services.ver_cliente(clientes, cliente_token(ana.id), bob.id)
    with pytest.raises(NotFound) as unknown:
        services.ver_cliente(clientes, cliente_token(ana.id), "nadie")
    assert other.value.detail == unknown.value.detail == "El cliente no existe"
    services.eliminar_cuenta(clientes, bob.id)
    with pytest.raises(NotFound):
        services.ver_cliente(clientes, staff_token(), bob.id)


# -- the staff replica and the revoked tokens --------------------------------------------

def empleado_event(tipo: str, version: int, rol: str = "agente", empleado_id: str = "e1"):
    return make_event(tipo, {"id": empleado_id, "nombre": "Eva", "apellidos": "Soporte", "rol": rol,
                             "categorias": [], "activo": tipo != "empleado.baja", "version": version}, "empleados")


@pytest.fixture
def components(store, clientes) -> Components:
    """Only what ``is_revoked`` reads: the accounts and the staff replica."""
    return Components(settings=None, store=store, verifier=None, clientes=clientes,
                      personal=PersonalReplica(store), issuer=None, throttle=None, solicitudes=None)


def test_a_customer_token_is_revoked_once_its_account_is_erased(clientes, components):
    cliente = registrar(clientes)
    assert not components.is_revoked(cliente_token(cliente.id))
    assert components.is_revoked(cliente_token("nadie"))
    services.eliminar_cuenta(clientes, cliente.id)
    assert components.is_revoked(cliente_token(cliente.id))


def test_a_staff_token_is_revoked_once_its_employee_is_deactivated_or_changes_role(components):
    handlers = ClientesHandlers(components.personal)
    assert set(handlers.empleado_routes()) == {"empleado.registrado", "empleado.actualizado", "empleado.baja"}
    # Not heard of yet: the signature of empleados is enough.
    assert not components.is_revoked(staff_token("e1", "supervisor"))
    handlers.on_empleado(empleado_event("empleado.registrado", 1, "supervisor"))
    assert not components.is_revoked(staff_token("e1", "supervisor"))
    handlers.on_empleado(empleado_event("empleado.actualizado", 2, "agente"))
    assert components.is_revoked(staff_token("e1", "supervisor"))
    assert not components.is_revoked(staff_token("e1", "agente"))
    # A late, older event changes nothing; the deactivation refuses every role.
    handlers.on_empleado(empleado_event("empleado.actualizado", 1, "supervisor"))
    assert components.is_revoked(staff_token("e1", "supervisor"))
    handlers.on_empleado(empleado_event("empleado.baja", 3, "agente"))
    assert components.is_revoked(staff_token("e1", "agente"))
    assert not components.is_revoked(staff_token("e2", "agente"))
    assert components.personal.get("e1")["activo"] is False


@pytest.mark.parametrize("datos", [{"rol": "agente"}, {"id": "e1"}, {"id": 7, "rol": "agente"},
                                   {"id": "e1", "rol": ["admin"]}])
def test_an_employee_event_without_id_or_role_is_refused_for_good(components, datos):
    with pytest.raises(PermanentError):
        ClientesHandlers(components.personal).on_empleado(make_event("empleado.actualizado", datos, "empleados"))
    assert components.personal.active() == []
