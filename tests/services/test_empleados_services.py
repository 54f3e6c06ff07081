"""empleados' use cases (empleados/services.py) and the rule that revokes its
tokens, against the in-memory store."""
from __future__ import annotations

import logging

import pytest

from common.errors import Forbidden, Invalid, NotFound
from common.idempotency import FIELD, KeyReused
from common.passwords import PASSWORD_RULE, WeakPassword, verify_password
from common.tokens import Principal
from cuentas.services import EmailDuplicado
from empleados import services
from empleados.bootstrap import Components
from empleados.config import EmpleadosSettings
from empleados.domain import EmpleadoDeBaja, UltimoAdmin
from empleados.repository import OUTBOX, EmpleadoRepository
from empleados.services import EmpleadoExistente
from tests.services.keyed import keyed

pytestmark = pytest.mark.outbox(*OUTBOX)

PASSWORD = "Soporte-2026x"
PORTAL = "https://portal.example.com"
ADMIN_PASSWORD = "Direccion-2026"


@pytest.fixture
def empleados(store) -> EmpleadoRepository:
    return EmpleadoRepository(store)


@pytest.fixture
def admin(empleados, outbox):
    made = services.crear_admin(empleados, "jefa@example.com", ADMIN_PASSWORD, "Jefa", "Ruiz")
    outbox.clear()
    return made


def registrar(empleados, email: str = "luis@example.com", rol: str = "agente", categorias=(), nombre="Luis",
              idempotency=None):
    return services.registrar_empleado(empleados, nombre, " Gómez ", email, PASSWORD, rol, categorias, idempotency,
                                       portal_url=PORTAL)


def token(empleado) -> Principal:
    return Principal(empleado.id, empleado.rol, "empleados")


def public(empleado, **changes) -> dict:
    return {**empleado.public_data(), **changes}


# -- registering -----------------------------------------------------------------------------

def test_an_employee_is_registered_normalised_and_published(empleados, outbox, admin, clock):
    e = registrar(empleados, "Luis@Example.COM", categorias=["Envios", " devoluciones ", "ENVIOS"])
    stored = empleados.get(e.id)
    assert stored == e and stored.activo and stored.version == 1 and stored.baja_en is None
    assert (stored.email, stored.apellidos, stored.categorias) == ("luis@example.com", "Gómez",
                                                                   ["envios", "devoluciones"])
    assert stored.creado_en == "2026-11-01T10:00:00.000000Z"
    assert verify_password(stored.password_hash, PASSWORD)
    assert outbox.events() == [("empleado.registrado", {
        "id": e.id, "nombre": "Luis", "apellidos": "Gómez", "rol": "agente",
        "categorias": ["envios", "devoluciones"], "activo": True, "version": 1, "email": "luis@example.com",
        "sesiones_desde": None})]
    assert outbox.messages()[0].origen == "empleados"


def test_a_taken_email_is_refused_and_nothing_is_written(empleados, outbox, admin):
    registrar(empleados)
    outbox.clear()
    with pytest.raises(EmailDuplicado) as refused:
        registrar(empleados, "LUIS@example.com", rol="supervisor")
    assert (refused.value.status, refused.value.slug, refused.value.detail) == (
        409, "email-duplicado", "Ya existe un empleado con ese email")
    assert refused.value.errores == [{"campo": "email", "mensaje": "Ya existe un empleado con ese email"}]
    assert empleados.count() == 2 and outbox.events() == []


# -- admins: from the command line and the first one -----------------------------------------

def test_crear_admin_creates_an_active_admin_and_refuses_a_weak_password_or_a_taken_email(empleados, outbox):
    admin = services.crear_admin(empleados, " Root@Example.com ", ADMIN_PASSWORD, "Rosa", "Gil")
    assert (admin.email, admin.rol, admin.activo, admin.nombre_completo) == ("root@example.com", "admin", True,
                                                                          "Rosa Gil")
    assert outbox.take() == [("empleado.registrado", public(admin))]
    with pytest.raises(WeakPassword):
        services.crear_admin(empleados, "otra@example.com", "corta1", "Otra")
    with pytest.raises(EmpleadoExistente) as taken:
        services.crear_admin(empleados, "ROOT@example.com", ADMIN_PASSWORD, "Otra")
    assert taken.value.empleado == admin
    assert empleados.count() == 1 and outbox.events() == []


def first_admin_settings(tmp_path, **overrides) -> EmpleadosSettings:
    values = dict(data_dir=tmp_path, keys_dir=tmp_path, admin_email="jefa@example.com",
                  admin_password=ADMIN_PASSWORD, admin_nombre="Jefa", admin_apellidos="Ruiz")
    return EmpleadosSettings(**{**values, **overrides})


def test_the_first_admin_comes_from_the_configuration_once(empleados, outbox, tmp_path):
    admin = services.crear_primer_admin(empleados, first_admin_settings(tmp_path))
    assert (admin.email, admin.rol, admin.nombre_completo) == ("jefa@example.com", "admin", "Jefa Ruiz")
    assert services.crear_primer_admin(empleados, first_admin_settings(tmp_path)) is None
    assert empleados.count() == 1 and outbox.tipos() == ["empleado.registrado"]


def test_without_configuration_there_is_no_first_admin(empleados, tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="empleados.services")
    assert services.crear_primer_admin(empleados, first_admin_settings(tmp_path, admin_email=None,
                                                                       admin_password=None)) is None
    assert empleados.count() == 0 and "crear-admin" in caplog.text


def test_a_first_admin_email_held_by_a_non_admin_creates_nothing_and_says_so(empleados, admin, outbox, tmp_path,
                                                                            caplog):
    agente = registrar(empleados)
    outbox.clear()
    caplog.set_level(logging.ERROR, logger="empleados.services")
    assert services.crear_primer_admin(_NoActiveAdmin(empleados), first_admin_settings(
        tmp_path, admin_email=agente.email)) is None
    assert empleados.get(agente.id).rol == "agente" and outbox.events() == []
    assert agente.id in caplog.text and "crear-admin" in caplog.text


class _NoActiveAdmin(EmpleadoRepository):
    """The same accounts, seen by a process that found no active admin yet."""

    def __init__(self, other: EmpleadoRepository):
        self.collection = other.collection

    def active_admins(self) -> int:
        return 0


def test_a_process_that_lost_the_first_admin_race_finds_the_admin_and_writes_nothing(empleados, outbox,
                                                                                     tmp_path):
    winner = services.crear_primer_admin(empleados, first_admin_settings(tmp_path))
    outbox.clear()
    assert services.crear_primer_admin(_NoActiveAdmin(empleados), first_admin_settings(tmp_path)) is None
    assert empleados.count() == 1 and empleados.get(winner.id) == winner and outbox.events() == []


# -- reading and listing --------------------------------------------------------------------

def test_an_employee_is_read_by_themself_supervisors_and_admins(empleados, admin):
    agente, otro = registrar(empleados), registrar(empleados, "otro@example.com")
    supervisor = registrar(empleados, "sup@example.com", rol="supervisor")
    assert services.ver_empleado(empleados, token(agente), agente.id) == agente
    assert services.ver_empleado(empleados, token(supervisor), agente.id) == agente
    assert services.ver_empleado(empleados, token(admin), agente.id) == agente
    for missing in (otro.id, "no-existe"):  # an agent learns nothing of other accounts
        with pytest.raises(Forbidden) as refused:
            services.ver_empleado(empleados, token(agente), missing)
        assert (refused.value.status, refused.value.detail) == (403, "Solo puede consultar su propia cuenta")
    with pytest.raises(NotFound) as unknown:
        services.ver_empleado(empleados, token(admin), "no-existe")
    assert unknown.value.detail == "El empleado no existe"


def test_the_list_filters_by_role_activity_and_text_newest_first(empleados, clock, admin):
    made = []
    for i, rol in enumerate(["agente", "agente", "supervisor"]):
        clock.advance(minutes=1)
        made.append(registrar(empleados, f"p{i}@example.com", rol=rol, nombre=f"Nombre{i}"))
    services.dar_de_baja(empleados, made[0].id)
    ids = lambda listing: [e.id for e in listing.fetch(0, 10)]  # noqa: E731
    assert ids(services.listar_empleados(empleados)) == [made[2].id, made[1].id, made[0].id, admin.id]
    agentes = services.listar_empleados(empleados, rol="agente", activo=True)
    assert agentes.count() == 1 and ids(agentes) == [made[1].id]
    assert ids(services.listar_empleados(empleados, activo=False)) == [made[0].id]
    assert ids(services.listar_empleados(empleados, texto="NOMBRE2")) == [made[2].id]


# -- updating ------------------------------------------------------------------------------

def test_an_admin_changes_role_and_categories_and_it_is_published(empleados, admin, outbox, clock):
    agente = registrar(empleados, categorias=["envios"])
    outbox.clear()
    clock.advance(minutes=1)
    updated = services.actualizar_empleado(empleados, token(admin), agente.id,
                                           {"rol": "supervisor", "categorias": ["Audio", "audio", "hogar"]})
    assert (updated.rol, updated.categorias, updated.version) == ("supervisor", ["audio", "hogar"], 2)
    assert updated.actualizado_en == "2026-11-01T10:01:00.000000Z" and empleados.get(agente.id) == updated
    assert outbox.events() == [("empleado.actualizado", public(agente, rol="supervisor",
                                                               categorias=["audio", "hogar"], version=2))]


def test_an_unchanged_update_writes_and_publishes_nothing(empleados, admin, outbox):
    agente = registrar(empleados, categorias=["envios"])
    outbox.clear()
    same = services.actualizar_empleado(empleados, token(admin), agente.id,
                                        {"nombre": "Luis", "rol": "agente", "categorias": ["ENVIOS"]})
    assert same.version == 1 and empleados.get(agente.id)._rev == agente._rev and outbox.events() == []


def test_an_employee_renames_themself_and_changes_their_password_which_publishes_when_sessions_count(
        empleados, admin, outbox, clock):
    agente = registrar(empleados)
    outbox.clear()
    services.actualizar_empleado(empleados, token(agente), agente.id, {"nombre": "Luis María  "})
    assert outbox.take() == [("empleado.actualizado", public(agente, nombre="Luis María", version=2))]
    clock.advance(seconds=3, microseconds=900_000)
    services.actualizar_empleado(empleados, token(agente), agente.id, {}, "Cambiada-2027x", PASSWORD)
    stored = empleados.get(agente.id)
    assert verify_password(stored.password_hash, "Cambiada-2027x") and stored.version == 3
    assert stored.sesiones_desde == "2026-11-01T10:00:03Z"
    assert outbox.events() == [("empleado.actualizado", public(stored))]
    assert public(stored)["sesiones_desde"] == "2026-11-01T10:00:03Z" and "password_hash" not in public(stored)


@pytest.mark.parametrize("quien, cambios, password, detail", [
    ("otro", {"nombre": "X"}, None, "Solo un administrador puede modificar la cuenta de otro empleado"),
    ("self", {"rol": "admin"}, None, "Solo un administrador puede cambiar rol y categorias"),
    ("self", {"categorias": ["x"]}, None, "Solo un administrador puede cambiar rol y categorias"),
    ("admin", {}, "Impuesta-2026", "Solo el propio empleado puede cambiar su contraseña"),
])
def test_who_may_change_what(empleados, admin, outbox, quien, cambios, password, detail):
    agente, otro = registrar(empleados), registrar(empleados, "otro@example.com")
    outbox.clear()
    caller = {"otro": otro, "self": agente, "admin": admin}[quien]
    with pytest.raises(Forbidden) as refused:
        services.actualizar_empleado(empleados, token(caller), agente.id, cambios, password,
                                     PASSWORD if password else None)
    assert (refused.value.status, refused.value.slug, refused.value.detail) == (403, "prohibido", detail)
    assert empleados.get(agente.id) == agente and outbox.events() == []


@pytest.mark.parametrize("password, actual, campo", [
    ("Nueva-clave-2026", "Incorrecta-2026", "password_actual"),
    ("corta1", PASSWORD, "password"),
    ("luis-manda-2026", PASSWORD, "password"),  # holds the email
])
def test_a_password_change_needs_the_current_password_and_a_strong_new_one(empleados, admin, outbox, password,
                                                                           actual, campo):
    agente = registrar(empleados)
    outbox.clear()
    with pytest.raises(Invalid) as refused:
        services.actualizar_empleado(empleados, token(agente), agente.id, {"nombre": "Otro"}, password, actual)
    [error] = refused.value.errores
    assert error["campo"] == campo and error["ubicacion"] == "cuerpo"
    assert error["mensaje"] == (PASSWORD_RULE if campo == "password" else "La contraseña actual no es correcta")
    assert empleados.get(agente.id) == agente and outbox.events() == []


def test_an_unknown_or_deactivated_account_cannot_be_changed(empleados, admin, outbox):
    with pytest.raises(NotFound):
        services.actualizar_empleado(empleados, token(admin), "no-existe", {"nombre": "X"})
    gone = registrar(empleados)
    services.dar_de_baja(empleados, gone.id)
    outbox.clear()
    with pytest.raises(EmpleadoDeBaja):
        services.actualizar_empleado(empleados, token(admin), gone.id, {"rol": "admin"})
    assert empleados.get(gone.id).rol == "agente" and outbox.events() == []


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(empleados, admin, outbox):
    for attempt in (lambda: services.actualizar_empleado(empleados, token(admin), admin.id, {"rol": "supervisor"}),
                    lambda: services.dar_de_baja(empleados, admin.id)):
        with pytest.raises(UltimoAdmin):
            attempt()
    stored = empleados.get(admin.id)
    assert stored.rol == "admin" and stored.activo and outbox.events() == []
    otra = registrar(empleados, "otra@example.com", rol="admin")
    outbox.clear()
    assert services.actualizar_empleado(empleados, token(admin), admin.id, {"rol": "supervisor"}).rol == "supervisor"
    with pytest.raises(UltimoAdmin):
        services.dar_de_baja(empleados, otra.id)
    assert outbox.tipos() == ["empleado.actualizado"]


# -- deactivating ------------------------------------------------------------------------------

def test_dar_de_baja_deactivates_publishes_and_is_idempotent(empleados, admin, outbox, clock):
    agente = registrar(empleados, categorias=["envios"])
    outbox.clear()
    clock.advance(hours=1)
    gone = services.dar_de_baja(empleados, agente.id)
    assert (gone.activo, gone.baja_en, gone.version) == (False, "2026-11-01T11:00:00.000000Z", 2)
    assert gone.email == agente.email and empleados.get(agente.id) == gone
    assert outbox.take() == [("empleado.baja", public(agente, activo=False, version=2))]
    assert services.dar_de_baja(empleados, agente.id) == gone
    assert outbox.events() == []
    with pytest.raises(NotFound):
        services.dar_de_baja(empleados, "no-existe")


# -- retried requests --------------------------------------------------------------------------
# An admin's keyed requests: the key is the admin's own, stored with the
# account it created or changed, in the same write.

def test_a_retried_registration_returns_the_first_employee_and_records_one_event(empleados, admin, outbox):
    first = registrar(empleados, idempotency=keyed("alta", admin.id, "luis", 201))
    retry = keyed("alta", admin.id, "luis", 201)
    assert registrar(empleados, idempotency=retry) == first == empleados.get(first.id)
    assert retry.replayed and empleados.count() == 2 and outbox.tipos() == ["empleado.registrado"]
    with pytest.raises(KeyReused):
        registrar(empleados, "otro@example.com", idempotency=keyed("alta", admin.id, "otro", 201))
    with pytest.raises(KeyReused):
        services.registrar_empleado(empleados, "Luis", " Gómez ", "luis@example.com", "Otra-clave-2026", "agente",
                                    (), keyed("alta", admin.id, "luis", 201), portal_url=PORTAL)
    assert empleados.count() == 2 and outbox.tipos() == ["empleado.registrado"]


def test_registration_keys_are_each_admins_own(empleados, admin, outbox):
    otra = services.crear_admin(empleados, "otra@example.com", ADMIN_PASSWORD, "Otra")
    outbox.clear()
    registrar(empleados, idempotency=keyed("alta", admin.id, "luis", 201))
    registrar(empleados, "eva@example.com", nombre="Eva", idempotency=keyed("alta", otra.id, "eva", 201))
    assert empleados.count() == 4 and outbox.tipos() == ["empleado.registrado"] * 2


def test_a_retried_deactivation_is_answered_as_the_first_and_a_reused_key_is_refused(empleados, admin, outbox, clock):
    agente = registrar(empleados)
    outbox.clear()
    gone = services.dar_de_baja(empleados, agente.id, keyed("baja", admin.id, agente.id))
    clock.advance(minutes=5)
    retry = keyed("baja", admin.id, agente.id)
    assert services.dar_de_baja(empleados, agente.id, retry) == gone and retry.replayed
    assert outbox.tipos() == ["empleado.baja"]
    assert [r["key"] for r in empleados.collection.get(agente.id)[FIELD]] == ["baja"]
    with pytest.raises(KeyReused):
        services.dar_de_baja(empleados, agente.id, keyed("baja", admin.id, "another request"))


# -- the revoked tokens ------------------------------------------------------------------------

def test_a_token_is_revoked_once_its_account_is_deactivated_or_changes_role(store, empleados, admin):
    components = Components(settings=None, store=store, verifier=None, empleados=empleados, issuer=None,
                            throttle=None, solicitudes=None)
    agente = registrar(empleados)
    old = token(agente)
    assert not components.is_revoked(old)
    assert components.is_revoked(Principal("ghost", "admin", "empleados"))
    assert not components.is_revoked(Principal("c1", "cliente", "clientes"))  # not this service's token
    services.actualizar_empleado(empleados, token(admin), agente.id, {"rol": "supervisor"})
    assert components.is_revoked(old)
    assert not components.is_revoked(token(empleados.get(agente.id)))
    services.dar_de_baja(empleados, agente.id)
    assert components.is_revoked(token(empleados.get(agente.id)))
