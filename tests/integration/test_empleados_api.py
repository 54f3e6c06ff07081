"""empleados' HTTP API through the Flask test client, on an SQLite store in
a temporary directory. Events are read from the store's outbox (the relay
that would carry them to RabbitMQ is not involved).

Hashing a password costs ~0.1 s, so most accounts are planted straight into
the repository with one hash computed per module, and tokens are issued by
the service's own issuer; logins are exercised where logging in is the point.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.config import ConfigError
from common.messaging import Event
from common.passwords import PASSWORD_RULE, hash_password
from common.storage import open_store
from common.tokens import TokenIssuer
from empleados.app import create_app
from empleados.config import EmpleadosSettings
from empleados.domain import Empleado
from empleados.repository import OUTBOX, EmpleadoRepository
from empleados.services import crear_primer_admin
from harness.polling import wait_until

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "Soporte-2026x"
ADMIN_EMAIL = "jefa@example.com"
ADMIN_PASSWORD = "Direccion-2026"
PROBLEM_JSON = "application/problem+json"
RFC3339_SECOND = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
_serial = count(1)


def make_settings(tmp_path, **overrides) -> EmpleadosSettings:
    values = dict(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", mongo_url=None, jwt_private_key=None,
                  environment="test", admin_email=None, admin_password=None)
    values.update(overrides)
    return EmpleadosSettings(**values)


def admin_settings(tmp_path, **overrides) -> EmpleadosSettings:
    return make_settings(tmp_path, **{"admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD, **overrides})


def take_events(store) -> list[Event]:
    pending = store.pending_events(1000)
    store.mark_published(m.id for m in pending)
    return [Event.parse(m.body) for m in pending]


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.fixture(scope="module")
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class Service:
    app: object
    password_hash: str

    def __post_init__(self):
        self.client = self.app.test_client()
        state = self.app.extensions["incidencias"]
        self.store = state.store
        self.repo: EmpleadoRepository = state.empleados
        self.issuer: TokenIssuer = state.issuer

    def plant(self, rol: str = "agente", categorias=(), nombre: str = "Eva", activo: bool = True) -> Empleado:
        n = next(_serial)
        e = Empleado.nuevo(f"emp{n:04d}", nombre, "Pruebas", f"{nombre.lower()}{n}@example.com",
                           self.password_hash, rol, categorias, f"2026-01-01T00:{n // 60 % 60:02d}:{n % 60:02d}.000Z")
        e.activo = activo
        self.repo.add(e)
        return e

    def token(self, e: Empleado) -> str:
        return self.issuer.issue(e.id, e.rol, nombre=e.nombre_completo, email=e.email)

    def auth(self, who) -> dict:
        if who is None:
            return {}
        return {"Authorization": f"Bearer {who if isinstance(who, str) else self.token(who)}"}

    def call(self, method: str, path: str, who=None, **kwargs):
        return self.client.open(path, method=method, headers={**self.auth(who), **kwargs.pop("headers", {})},
                                **kwargs)

    def events(self) -> list[Event]:
        return take_events(self.store)

    def login(self, email: str, password: str = PASSWORD):
        return self.client.post("/empleados/login", json={"email": email, "password": password})


@pytest.fixture
def svc(tmp_path, password_hash) -> Service:
    service = Service(create_app(make_settings(tmp_path)), password_hash)
    service.admin = service.plant("admin", nombre="Ada")
    return service


def assert_problem(response, status: int, *fields: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM_JSON
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    if fields:
        named = {e["campo"] for e in body["errores"]}
        assert set(fields) <= named, named
    return body


def new_employee(**overrides) -> dict:
    return {"nombre": "Luis", "apellidos": "Gómez", "email": "luis@example.com", "password": PASSWORD,
            "rol": "agente", **overrides}


# --- the first admin -------------------------------------------------------------------------

def test_the_first_admin_comes_from_the_configuration_and_logs_in(tmp_path):
    app = create_app(admin_settings(tmp_path, admin_nombre="Jefa", admin_apellidos="Ruiz"))
    state = app.extensions["incidencias"]
    admin = state.empleados.by_email(ADMIN_EMAIL)
    assert admin.rol == "admin" and admin.activo and (admin.nombre, admin.apellidos) == ("Jefa", "Ruiz")
    [event] = take_events(state.store)
    assert event.tipo == "empleado.registrado" and event.origen == "empleados"
    assert event.datos == {"id": admin.id, "nombre": "Jefa", "apellidos": "Ruiz", "rol": "admin",
                           "categorias": [], "activo": True, "version": 1, "email": ADMIN_EMAIL,
                           "sesiones_desde": None}
    response = app.test_client().post("/empleados/login", json={"email": "JEFA@example.com ",
                                                                "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    claims = claims_of(response.get_json()["access_token"])
    assert (claims["sub"], claims["rol"], claims["iss"], claims["aud"]) == (admin.id, "admin", "empleados",
                                                                           "incidencias")
    assert claims["nombre"] == "Jefa Ruiz" and claims["email"] == ADMIN_EMAIL


def test_restarting_creates_no_second_admin(tmp_path):
    first = create_app(admin_settings(tmp_path))
    second = create_app(admin_settings(tmp_path))
    repo = second.extensions["incidencias"].empleados
    assert repo.count() == 1 and repo.active_admins() == 1
    assert len(take_events(first.extensions["incidencias"].store)) == 1


def test_a_worker_started_while_the_database_is_locked_creates_the_admin_once_it_is_free(tmp_path):
    """A gunicorn worker respawned during a storage outage must boot (and
    report not ready) rather than crash-loop; the first admin follows later."""
    import sqlite3

    create_app(make_settings(tmp_path)).extensions["incidencias"].store.close()  # the schema exists
    holder = sqlite3.connect(tmp_path / "data" / "empleados.sqlite3", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        app = create_app(admin_settings(tmp_path))
        repo = app.extensions["incidencias"].empleados
        assert repo.active_admins() == 0
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    client = app.test_client()
    response = client.post("/empleados/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200
    assert repo.active_admins() == 1 and repo.count() == 1
    client.post("/empleados/login", json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert repo.count() == 1


def test_there_is_no_default_admin_without_configuration(tmp_path):
    app = create_app(make_settings(tmp_path))
    assert app.extensions["incidencias"].empleados.count() == 0
    client = app.test_client()
    for email, password in [("admin@incidencias.local", "admin"), ("admin", "admin"), (ADMIN_EMAIL, ADMIN_PASSWORD)]:
        assert client.post("/empleados/login", json={"email": email, "password": password}).status_code == 401


@pytest.mark.parametrize("password", ["corta1", "solamenteletras", "1234567890123", "jefa-manda-2026"])
def test_a_weak_admin_password_refuses_to_start_and_states_the_rule(tmp_path, password):
    with pytest.raises(ConfigError) as info:
        admin_settings(tmp_path, admin_password=password)
    assert "ADMIN_PASSWORD" in str(info.value) and PASSWORD_RULE in str(info.value)


def test_admin_configuration_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="ADMIN_PASSWORD is not"):
        make_settings(tmp_path, admin_email=ADMIN_EMAIL)
    with pytest.raises(ConfigError, match="ADMIN_EMAIL is not a valid email"):
        make_settings(tmp_path, admin_email="jefa", admin_password=ADMIN_PASSWORD)
    blank = make_settings(tmp_path, admin_email="  ", admin_password="")
    assert blank.admin_email is None and blank.admin_password is None
    assert ADMIN_PASSWORD not in repr(admin_settings(tmp_path))


def test_production_refuses_a_placeholder_admin_password(tmp_path):
    production = dict(environment="production", amqp_url="amqp://incidencias:s3cret@rabbit:5672/",
                      jwt_private_key="-----BEGIN PRIVATE KEY-----\nreal\n-----END PRIVATE KEY-----")
    for placeholder in ["changeme", "<ADMIN_PASSWORD>", "${ADMIN_PASSWORD}"]:
        with pytest.raises(ConfigError, match="ADMIN_PASSWORD"):
            make_settings(tmp_path, admin_email=ADMIN_EMAIL, admin_password=placeholder, **production)
    assert make_settings(tmp_path, **production).admin_email is None  # no admin configured: nothing to check
    assert make_settings(tmp_path, admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD, **production)


def test_a_worker_that_lost_the_bootstrap_race_finds_the_admin_and_writes_nothing(tmp_path):
    app = create_app(admin_settings(tmp_path))
    state = app.extensions["incidencias"]
    take_events(state.store)
    repo = state.empleados

    class StaleView(EmpleadoRepository):
        """What a second worker saw: no admin yet, just before the first one inserted it."""

        def active_admins(self) -> int:
            return 0

    stale = StaleView.__new__(StaleView)
    stale.collection = repo.collection
    assert crear_primer_admin(stale, admin_settings(tmp_path)) is None
    assert repo.count() == 1 and state.store.pending_events() == []


def test_a_worker_that_does_not_see_the_winner_yet_writes_nothing_and_starts(tmp_path):
    """On a replica set with majority reads (MongoDB's default), the unique
    index refuses a second first admin before the first one is readable: the
    loser sees neither an admin nor the email's account, and must still start."""
    app = create_app(admin_settings(tmp_path))
    state = app.extensions["incidencias"]
    take_events(state.store)
    repo = state.empleados

    class NotReplicatedYet(EmpleadoRepository):
        def active_admins(self) -> int:
            return 0

        def by_email(self, email: str):
            return None

    unseen = NotReplicatedYet.__new__(NotReplicatedYet)
    unseen.collection = repo.collection
    assert crear_primer_admin(unseen, admin_settings(tmp_path)) is None
    assert repo.count() == 1 and state.store.pending_events() == []


# The factory as each gunicorn worker runs it after the fork: imports done, it
# waits at the start line (a lock the test holds) and then builds the app.
_WORKER = """
import fcntl, json, sys
from empleados.app import create_app
from empleados.config import EmpleadosSettings

settings = json.loads(sys.argv[1])
ready, start = settings.pop("ready"), settings.pop("start")
with open(start, "rb") as line:
    open(ready, "w").close()
    fcntl.flock(line, fcntl.LOCK_SH)
create_app(EmpleadosSettings(**settings))
print("the factory returned", flush=True)
"""


def test_workers_starting_together_create_exactly_one_admin(tmp_path):
    """Processes that run the factory at the same moment on a new data
    directory, as gunicorn's workers do: exactly one admin and one event come
    of it. A failure shows what each process printed and what was stored."""
    workers = 4
    start = tmp_path / "start"
    start.touch()
    settings = dict(data_dir=str(tmp_path / "data"), keys_dir=str(tmp_path / "keys"), mongo_url=None,
                    jwt_private_key=None, environment="test", admin_email=ADMIN_EMAIL, admin_password=ADMIN_PASSWORD)
    env = {key: value for key, value in os.environ.items() if not key.endswith("MONGO_URL")}
    env["PYTHONPATH"] = str(REPO)
    processes: list[subprocess.Popen] = []

    def stored() -> str:
        store = open_store(EmpleadosSettings(**settings).storage_url, OUTBOX)
        try:
            accounts = [(e.id, e.email, e.rol, e.activo, e.creado_en) for e in EmpleadoRepository(store).list()]
            pending = [(m.routing_key, m.id) for m in store.pending_events(1000)]
        finally:
            store.close()
        return f"accounts: {accounts}\nevents: {pending}"

    def report() -> str:
        said = "\n".join(f"--- worker {n} (exit {process.returncode}):\n"
                         f"{(tmp_path / f'worker{n}.log').read_text(errors='replace')}"
                         for n, process in enumerate(processes))
        return f"{said}\n--- stored\n{stored() if (tmp_path / 'data').exists() else 'no data directory'}"

    with start.open("rb") as line:
        fcntl.flock(line, fcntl.LOCK_EX)
        try:
            for n in range(workers):
                arguments = json.dumps({**settings, "ready": str(tmp_path / f"ready{n}"), "start": str(start)})
                with (tmp_path / f"worker{n}.log").open("w") as output:
                    processes.append(subprocess.Popen([sys.executable, "-c", _WORKER, arguments], cwd=REPO, env=env,
                                                      stdout=output, stderr=subprocess.STDOUT))

            def at_the_start_line() -> bool:
                assert all(process.poll() is None for process in processes), report()
                return all((tmp_path / f"ready{n}").exists() for n in range(workers))

            wait_until(at_the_start_line, 120, 0.05, "every worker at the start line", give_up_on=(AssertionError,))
            fcntl.flock(line, fcntl.LOCK_UN)
            for process in processes:
                try:
                    process.wait(timeout=120)
                except subprocess.TimeoutExpired:
                    raise AssertionError(f"a worker is still in the factory after 120 s\n{report()}") from None
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=10)
    assert [process.returncode for process in processes] == [0] * workers, report()
    store = open_store(EmpleadosSettings(**settings).storage_url, OUTBOX)
    try:
        repo = EmpleadoRepository(store)
        assert (repo.count(), repo.active_admins()) == (1, 1), report()
        assert [m.routing_key for m in store.pending_events(1000)] == ["empleado.registrado"], report()
    finally:
        store.close()


def test_admin_email_held_by_a_non_admin_creates_nothing_and_says_so(tmp_path, password_hash, caplog):
    service = Service(create_app(make_settings(tmp_path)), password_hash)
    agente = service.plant()
    logging.getLogger().addHandler(caplog.handler)  # the factory replaced the root handlers
    caplog.set_level(logging.ERROR)
    repo = service.repo
    assert crear_primer_admin(repo, make_settings(tmp_path, admin_email=agente.email,
                                               admin_password=ADMIN_PASSWORD)) is None
    assert repo.active_admins() == 0 and repo.get(agente.id).rol == "agente"
    assert agente.id in caplog.text and "crear-admin" in caplog.text


# --- the crear-admin command ------------------------------------------------------------------

def test_crear_admin_prompts_for_the_password_and_creates_an_admin(tmp_path):
    app = create_app(make_settings(tmp_path))
    result = app.test_cli_runner().invoke(
        args=["crear-admin", "--email", "Root@Example.com", "--nombre", "Rosa", "--apellidos", "Gil"],
        input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    repo = app.extensions["incidencias"].empleados
    admin = repo.by_email("root@example.com")
    assert admin.rol == "admin" and admin.activo and admin.nombre_completo == "Rosa Gil"
    assert admin.id in result.output and ADMIN_PASSWORD not in result.output
    assert [e.tipo for e in take_events(app.extensions["incidencias"].store)] == ["empleado.registrado"]
    login = app.test_client().post("/empleados/login", json={"email": "root@example.com", "password": ADMIN_PASSWORD})
    assert login.status_code == 200


def test_crear_admin_reads_the_password_from_the_environment(tmp_path):
    app = create_app(make_settings(tmp_path, admin_password=ADMIN_PASSWORD))  # ADMIN_PASSWORD without ADMIN_EMAIL
    result = app.test_cli_runner().invoke(args=["crear-admin", "--email", "otra@example.com", "--nombre", "Otra"])
    assert result.exit_code == 0, result.output
    assert app.extensions["incidencias"].empleados.by_email("otra@example.com").rol == "admin"


@pytest.mark.parametrize("args, password, message", [
    (["--email", "x@example.com", "--nombre", "X"], "corta1", "weak password"),
    (["--email", "not-an-email", "--nombre", "X"], ADMIN_PASSWORD, "not a valid email"),
    (["--email", "x@example.com", "--nombre", "  "], ADMIN_PASSWORD, "must not be empty"),
])
def test_crear_admin_refuses_bad_input_and_creates_nothing(tmp_path, args, password, message):
    app = create_app(make_settings(tmp_path))
    result = app.test_cli_runner().invoke(args=["crear-admin", *args], input=f"{password}\n{password}\n")
    assert result.exit_code != 0 and message in result.output
    assert app.extensions["incidencias"].empleados.count() == 0


def test_crear_admin_refuses_an_email_in_use(tmp_path, password_hash):
    service = Service(create_app(make_settings(tmp_path)), password_hash)
    agente = service.plant()
    result = service.app.test_cli_runner().invoke(
        args=["crear-admin", "--email", agente.email, "--nombre", "X"], input=f"{ADMIN_PASSWORD}\n{ADMIN_PASSWORD}\n")
    assert result.exit_code != 0 and "already exists" in result.output
    assert service.repo.get(agente.id).rol == "agente" and service.repo.count() == 1


# --- registration ------------------------------------------------------------------------------

def test_an_admin_registers_an_employee(svc):
    response = svc.call("POST", "/empleados", svc.admin, json=new_employee(
        email="Luis@Example.COM", categorias=["Envios", " devoluciones ", "ENVIOS"]),
        headers={"X-Correlation-ID": "req-42"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "luis@example.com" and body["rol"] == "agente" and body["activo"] is True
    assert body["categorias"] == ["envios", "devoluciones"] and body["baja_en"] is None
    assert not {"password", "password_hash"} & set(body) and "argon2" not in response.get_data(as_text=True)
    assert response.headers["Location"].endswith(f"/empleados/{body['id']}")
    fetched = svc.call("GET", response.headers["Location"], svc.admin)
    assert fetched.status_code == 200 and fetched.get_json() == body
    [event] = svc.events()
    assert event.tipo == "empleado.registrado" and event.correlation_id == "req-42"
    assert event.datos == {"id": body["id"], "nombre": "Luis", "apellidos": "Gómez", "rol": "agente",
                           "categorias": ["envios", "devoluciones"], "activo": True, "version": 1,
                           "email": "luis@example.com", "sesiones_desde": None}
    assert body["invitacion_pendiente"] is False and "argon2" not in event.to_json()
    login = svc.login("luis@example.com")
    assert login.status_code == 200 and claims_of(login.get_json()["access_token"])["rol"] == "agente"


def test_categorias_default_to_none(svc):
    response = svc.call("POST", "/empleados", svc.admin, json=new_employee(rol="supervisor"))
    assert response.status_code == 201 and response.get_json()["categorias"] == []


def test_a_duplicate_email_is_409_and_writes_nothing(svc):
    existing = svc.plant()
    response = svc.call("POST", "/empleados", svc.admin, json=new_employee(email=existing.email.upper()))
    assert_problem(response, 409, "email")
    assert svc.repo.count() == 2 and svc.events() == []


@pytest.mark.parametrize("body, fields", [
    ({}, ["nombre", "apellidos", "email", "rol"]),
    (new_employee(extra="x"), ["extra"]),
    (new_employee(nombre=5, apellidos=["a"], rol=["admin"]), ["nombre", "apellidos", "rol"]),
    (new_employee(email={"$ne": None}), ["email"]),
    (new_employee(email="no-es-un-email"), ["email"]),
    (new_employee(nombre="   ", apellidos=""), ["nombre", "apellidos"]),
    (new_employee(rol="jefe"), ["rol"]),
    (new_employee(rol=None), ["rol"]),
    (new_employee(categorias="envios"), ["categorias"]),
    (new_employee(categorias=[1, "  "]), ["categorias.0", "categorias.1"]),
    (new_employee(categorias=["x" * 51]), ["categorias.0"]),
    (new_employee(categorias=[f"c{i}" for i in range(21)]), ["categorias"]),
    (new_employee(password=12345678901), ["password"]),
    (new_employee(nombre="N" * 101, email=f"{'a' * 250}@example.com"), ["nombre", "email"]),
])
def test_bad_registrations_are_422_naming_each_field_and_write_nothing(svc, body, fields):
    response = svc.call("POST", "/empleados", svc.admin, json=body)
    assert_problem(response, 422, *fields)
    assert svc.repo.count() == 1 and svc.events() == []


@pytest.mark.parametrize("password", ["corta1", "sinnumeros-largos", "12345678901", "luis-es-el-2026"])
def test_weak_passwords_are_422_with_the_rule(svc, password):
    body = assert_problem(svc.call("POST", "/empleados", svc.admin, json=new_employee(password=password)),
                          422, "password")
    assert any(e["campo"] == "password" and e["mensaje"] == PASSWORD_RULE for e in body["errores"])
    assert svc.repo.count() == 1


def test_malformed_bodies(svc):
    assert_problem(svc.call("POST", "/empleados", svc.admin, data="{nope", content_type="application/json"), 400)
    assert_problem(svc.call("POST", "/empleados", svc.admin, data="nombre=x", content_type="text/plain"), 415)
    assert_problem(svc.call("POST", "/empleados", svc.admin, json=[new_employee()]), 422)
    assert svc.repo.count() == 1 and svc.events() == []


# --- login -----------------------------------------------------------------------------------

def test_login_answers_a_staff_token(svc):
    supervisor = svc.plant("supervisor", nombre="Sara")
    response = svc.login(supervisor.email.upper())
    assert response.status_code == 200
    body = response.get_json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    claims = claims_of(body["access_token"])
    assert claims["sub"] == supervisor.id and claims["rol"] == "supervisor" and claims["iss"] == "empleados"
    assert claims["nombre"] == "Sara Pruebas" and claims["email"] == supervisor.email
    assert "password" not in claims and "password_hash" not in claims
    me = svc.call("GET", "/empleados/yo", body["access_token"])
    assert me.status_code == 200 and me.get_json()["id"] == supervisor.id


def test_wrong_password_unknown_email_and_deactivated_account_get_the_same_401(svc):
    agente = svc.plant()
    inactive = svc.plant(activo=False)
    answers = [svc.login(agente.email, "Otra-clave-2026"), svc.login("nadie@example.com"), svc.login(inactive.email)]
    bodies = [assert_problem(r, 401) for r in answers]
    assert bodies[0] == bodies[1] == bodies[2]


@pytest.mark.parametrize("body, fields", [
    ({}, ["email", "password"]),
    ({"email": {"$ne": None}, "password": {"$ne": None}}, ["email", "password"]),
    ({"email": "a@example.com", "password": PASSWORD, "rol": "admin"}, ["rol"]),
])
def test_bad_login_bodies_are_422(svc, body, fields):
    assert_problem(svc.client.post("/empleados/login", json=body), 422, *fields)


def test_repeated_failures_are_throttled_with_retry_after(tmp_path, password_hash):
    service = Service(create_app(make_settings(tmp_path, login_max_failures=2)), password_hash)
    agente = service.plant()
    for _ in range(2):
        assert service.login(agente.email, "Mala-clave-2026").status_code == 401
    throttled = service.login(agente.email)  # even the right password waits
    assert_problem(throttled, 429)
    assert int(throttled.headers["Retry-After"]) > 0


# --- reading ---------------------------------------------------------------------------------

@pytest.mark.parametrize("rol", ["agente", "supervisor", "admin"])
def test_every_employee_reads_their_own_account(svc, rol):
    me = svc.plant(rol, categorias=["audio"])
    response = svc.call("GET", "/empleados/yo", me)
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == me.id and body["rol"] == rol and body["categorias"] == ["audio"]
    assert body["email"] == me.email and "password_hash" not in body
    assert svc.call("GET", f"/empleados/{me.id}", me).get_json() == body


def test_list_paginates_filters_and_searches(svc):
    agentes = [svc.plant(nombre=f"Agente{i}") for i in range(3)]
    supervisor = svc.plant("supervisor", nombre="Sara")
    baja = svc.plant(nombre="Bruno", activo=False)
    page = svc.call("GET", "/empleados?por_pagina=2", supervisor)
    assert page.status_code == 200
    body = page.get_json()
    assert (body["total"], body["paginas"], body["pagina"], len(body["elementos"])) == (6, 3, 1, 2)
    seen = [e["id"] for e in body["elementos"]]
    while body["siguiente"]:
        body = svc.call("GET", body["siguiente"], supervisor).get_json()
        seen += [e["id"] for e in body["elementos"]]
    assert seen == [baja.id, supervisor.id, *[a.id for a in reversed(agentes)], svc.admin.id]

    def ids(query: str) -> list[str]:
        response = svc.call("GET", f"/empleados?{query}", svc.admin)
        assert response.status_code == 200, response.get_data(as_text=True)
        return [e["id"] for e in response.get_json()["elementos"]]

    assert ids("rol=agente") == [baja.id, *[a.id for a in reversed(agentes)]]
    assert ids("rol=agente&activo=true") == [a.id for a in reversed(agentes)]
    assert ids("activo=false") == [baja.id]
    assert ids("q=SARA") == [supervisor.id]
    assert ids(f"q={agentes[1].email}") == [agentes[1].id]
    assert ids("q=%7B%22%24ne%22%3A+null%7D") == []  # {"$ne": null} is only text
    assert "password_hash" not in svc.call("GET", "/empleados", svc.admin).get_data(as_text=True)


@pytest.mark.parametrize("query, field", [
    ("rol=jefe", "rol"), ("activo=quizas", "activo"), ("por_pagina=1000", "por_pagina"),
    ("pagina=0", "pagina"), ("q=", "q"), ("q=ana%00", "q"), ("q=%7F", "q"),
])
def test_bad_list_queries_are_422(svc, query, field):
    body = assert_problem(svc.call("GET", f"/empleados?{query}", svc.admin), 422, field)
    assert all(e["ubicacion"] == "consulta" for e in body["errores"])


def test_an_unknown_employee_is_404_for_those_who_may_look(svc):
    supervisor = svc.plant("supervisor")
    assert_problem(svc.call("GET", "/empleados/no-existe", supervisor), 404)
    assert_problem(svc.call("PATCH", "/empleados/no-existe", svc.admin, json={"nombre": "X"}), 404)
    assert_problem(svc.call("POST", "/empleados/no-existe/baja", svc.admin), 404)


def test_deactivated_employees_stay_visible_as_history(svc):
    supervisor = svc.plant("supervisor")
    gone = svc.plant(activo=False)
    body = svc.call("GET", f"/empleados/{gone.id}", supervisor).get_json()
    assert body["activo"] is False and body["nombre"] == "Eva"


# --- the permission matrix ----------------------------------------------------------------------

ROLES = ["anonimo", "agente", "supervisor", "admin"]
MATRIX = [
    # method, path, body, then the expected status for: anonimo, agente, supervisor, admin
    ("POST", "/empleados", "create", (401, 403, 403, 201)),
    ("GET", "/empleados", None, (401, 403, 200, 200)),
    ("GET", "/empleados/yo", None, (401, 200, 200, 200)),
    ("GET", "/empleados/{other}", None, (401, 403, 200, 200)),
    ("GET", "/empleados/{self}", None, (401, 200, 200, 200)),
    ("PATCH", "/empleados/{other}", {"nombre": "Cambiado"}, (401, 403, 403, 200)),
    ("PATCH", "/empleados/{other}", {"categorias": ["audio"]}, (401, 403, 403, 200)),
    ("PATCH", "/empleados/{other}", {"password": "Nueva-clave-2026", "password_actual": PASSWORD},
     (401, 403, 403, 403)),
    ("PATCH", "/empleados/{self}", {"nombre": "Cambiado"}, (401, 200, 200, 200)),
    ("PATCH", "/empleados/yo", {"apellidos": "Cambiados"}, (401, 200, 200, 200)),
    ("PATCH", "/empleados/{self}", {"rol": "admin"}, (401, 403, 403, 200)),
    ("PATCH", "/empleados/{self}", {"categorias": ["audio"]}, (401, 403, 403, 200)),
    ("POST", "/empleados/{other}/baja", None, (401, 403, 403, 200)),
    ("GET", "/.well-known/jwks.json", None, (200, 200, 200, 200)),
]
CASES = [(m, p, b, rol, expected[i]) for m, p, b, expected in MATRIX for i, rol in enumerate(ROLES)]


@pytest.mark.parametrize("method, path, body, rol, expected", CASES,
                         ids=[f"{m} {p} {b if isinstance(b, str) else sorted(b or {})} {r}"
                              for m, p, b, r, _ in CASES])
def test_permission_matrix(svc, method, path, body, rol, expected):
    caller = None if rol == "anonimo" else (svc.admin if rol == "admin" else svc.plant(rol))
    other = svc.plant("agente", nombre="Otro")
    target_id = other.id if "{other}" in path else (caller.id if caller else svc.admin.id)
    before = svc.repo.get(target_id).to_document()
    if body == "create":
        body = new_employee()
    response = svc.call(method, path.format(other=other.id, self=target_id), caller,
                        **({"json": body} if body is not None else {}))
    assert response.status_code == expected, response.get_data(as_text=True)
    if expected >= 400:
        assert response.mimetype == PROBLEM_JSON
        if expected == 401:
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert svc.repo.get(target_id).to_document() == before
        assert svc.events() == [] and svc.repo.count() == (2 if caller in (None, svc.admin) else 3)


def test_an_agent_may_not_read_another_employee_even_one_that_does_not_exist(svc):
    agente = svc.plant()
    assert_problem(svc.call("GET", "/empleados/no-existe", agente), 403)


# --- updating --------------------------------------------------------------------------------

def test_an_admin_changes_role_and_categories_and_it_is_published(svc):
    agente = svc.plant(categorias=["envios"])
    old_token = svc.token(agente)
    response = svc.call("PATCH", f"/empleados/{agente.id}", svc.admin,
                        json={"rol": "supervisor", "categorias": ["Audio", "audio", "hogar"]})
    assert response.status_code == 200
    body = response.get_json()
    assert body["rol"] == "supervisor" and body["categorias"] == ["audio", "hogar"]
    assert body["actualizado_en"] > body["creado_en"]
    [event] = svc.events()
    assert event.tipo == "empleado.actualizado"
    assert event.datos == {"id": agente.id, "nombre": "Eva", "apellidos": "Pruebas", "rol": "supervisor",
                           "categorias": ["audio", "hogar"], "activo": True, "version": 2, "email": agente.email,
                           "sesiones_desde": None}
    # A token still claiming the old role stops working at once.
    assert_problem(svc.call("GET", "/empleados/yo", old_token), 401)
    assert svc.call("GET", "/empleados", svc.token(svc.repo.get(agente.id))).status_code == 200


def test_each_published_change_has_a_higher_version(svc):
    agente = svc.plant()
    for categorias in (["a"], ["a", "b"], []):
        response = svc.call("PATCH", f"/empleados/{agente.id}", svc.admin, json={"categorias": categorias})
        assert response.status_code == 200
    assert svc.call("POST", f"/empleados/{agente.id}/baja", svc.admin).status_code == 200
    published = svc.events()
    assert [e.datos["version"] for e in published] == [2, 3, 4, 5]
    assert [e.tipo for e in published] == ["empleado.actualizado"] * 3 + ["empleado.baja"]
    assert [e.datos["categorias"] for e in published] == [["a"], ["a", "b"], [], []]


def test_an_unchanged_patch_publishes_nothing(svc):
    agente = svc.plant(categorias=["envios"])
    response = svc.call("PATCH", f"/empleados/{agente.id}", svc.admin,
                        json={"nombre": "Eva", "rol": "agente", "categorias": ["ENVIOS"]})
    assert response.status_code == 200
    assert svc.events() == [] and svc.repo.get(agente.id).version == 1
    assert svc.events() == []


def test_an_employee_renames_themself(svc):
    agente = svc.plant()
    response = svc.call("PATCH", f"/empleados/{agente.id}", agente, json={"nombre": "Eva María  ", "apellidos": "Luz"})
    assert response.status_code == 200 and response.get_json()["nombre"] == "Eva María"
    [event] = svc.events()
    assert event.tipo == "empleado.actualizado" and event.datos["nombre"] == "Eva María"
    assert event.datos["apellidos"] == "Luz"


def test_an_employee_changes_their_password(svc):
    agente = svc.plant()
    new_password = "Cambiada-2027x"
    response = svc.call("PATCH", "/empleados/yo", agente,
                        json={"password": new_password, "password_actual": PASSWORD})
    assert response.status_code == 200
    assert "password" not in response.get_json() and new_password not in response.get_data(as_text=True)
    [event] = svc.events()  # since when its sessions count, nothing about the password itself
    assert event.tipo == "empleado.actualizado" and event.datos["version"] == 2
    assert RFC3339_SECOND.match(event.datos["sesiones_desde"])
    assert new_password not in event.to_json() and "argon2" not in event.to_json()
    assert svc.login(agente.email, PASSWORD).status_code == 401
    assert svc.login(agente.email, new_password).status_code == 200


def test_no_password_nor_hash_is_ever_logged(svc, caplog):
    root = logging.getLogger()
    if caplog.handler not in root.handlers:  # the factory replaces the root handlers
        root.addHandler(caplog.handler)
    caplog.set_level(logging.DEBUG)
    new_password = "Cambiada-2027x"
    created = svc.call("POST", "/empleados", svc.admin, json=new_employee())
    assert created.status_code == 201
    me = svc.login("luis@example.com").get_json()["access_token"]
    assert svc.login("luis@example.com", "Equivocada-2026").status_code == 401
    assert svc.call("PATCH", "/empleados/yo", me,
                    json={"password": new_password, "password_actual": PASSWORD}).status_code == 200
    me = svc.login("luis@example.com", new_password).get_json()["access_token"]  # the change ended the session
    weak = svc.call("PATCH", "/empleados/yo", me, json={"password": "corta1", "password_actual": "x"})
    assert weak.status_code == 422
    assert svc.call("GET", "/empleados/yo", "not.a.token").status_code == 401
    assert "token refused" in caplog.text  # the capture works...
    for secret in (PASSWORD, new_password, "Equivocada-2026", "corta1", "$argon2", svc.password_hash):
        assert secret not in caplog.text  # ...and never saw a password or a hash


@pytest.mark.parametrize("body, fields", [
    ({"password": "Nueva-clave-2026"}, ["password_actual"]),
    ({"password_actual": PASSWORD}, ["password_actual"]),
    ({"password": "Nueva-clave-2026", "password_actual": "Incorrecta-2026"}, ["password_actual"]),
    ({"password": "corta1", "password_actual": PASSWORD}, ["password"]),
    ({"email": "nuevo@example.com"}, ["email"]),
    ({"activo": False}, ["activo"]),
    ({"nombre": None, "apellidos": ""}, ["nombre", "apellidos"]),
    ({"nombre": 7}, ["nombre"]),
    ({"rol": "jefe", "categorias": [None]}, ["rol", "categorias.0"]),
    ({}, ["(cuerpo)"]),  # nothing to change (documented minProperties: 1)
    (None, ["(cuerpo)"]),  # no body at all (documented required)
])
def test_bad_updates_are_422_naming_each_field_and_change_nothing(svc, body, fields):
    before = svc.repo.get(svc.admin.id).to_document()
    assert_problem(svc.call("PATCH", f"/empleados/{svc.admin.id}", svc.admin, json=body), 422, *fields)
    assert svc.repo.get(svc.admin.id).to_document() == before and svc.events() == []


def test_an_admin_may_not_set_another_employees_password(svc):
    agente = svc.plant()
    response = svc.call("PATCH", f"/empleados/{agente.id}", svc.admin,
                        json={"password": "Impuesta-2026", "password_actual": PASSWORD})
    assert_problem(response, 403)
    assert svc.repo.get(agente.id).password_hash == svc.password_hash


def test_a_deactivated_account_cannot_be_changed(svc):
    gone = svc.plant(activo=False)
    assert_problem(svc.call("PATCH", f"/empleados/{gone.id}", svc.admin, json={"rol": "admin"}), 409)
    assert svc.repo.get(gone.id).rol == "agente" and svc.events() == []


# --- the last admin --------------------------------------------------------------------------

def test_the_last_active_admin_cannot_be_demoted_nor_deactivated(svc):
    for method, path, body in [("PATCH", f"/empleados/{svc.admin.id}", {"rol": "supervisor"}),
                               ("PATCH", "/empleados/yo", {"rol": "agente"}),
                               ("POST", f"/empleados/{svc.admin.id}/baja", None)]:
        response = svc.call(method, path, svc.admin, **({"json": body} if body else {}))
        assert assert_problem(response, 409)["type"].endswith("ultimo-admin")
    stored = svc.repo.get(svc.admin.id)
    assert stored.rol == "admin" and stored.activo and svc.events() == []


def test_an_admin_may_step_down_when_another_remains(svc):
    other_admin = svc.plant("admin", nombre="Otra")
    response = svc.call("PATCH", "/empleados/yo", svc.admin, json={"rol": "supervisor"})
    assert response.status_code == 200 and response.get_json()["rol"] == "supervisor"
    assert [e.datos["rol"] for e in svc.events()] == ["supervisor"]
    assert_problem(svc.call("POST", "/empleados", svc.admin, json=new_employee()), 401)  # old admin token
    assert_problem(svc.call("POST", f"/empleados/{other_admin.id}/baja", other_admin), 409)


# --- deactivation ----------------------------------------------------------------------------

def test_baja_deactivates_publishes_and_refuses_the_token_at_once(svc):
    agente = svc.plant(categorias=["envios"])
    token = svc.token(agente)
    assert svc.call("GET", "/empleados/yo", token).status_code == 200
    response = svc.call("POST", f"/empleados/{agente.id}/baja", svc.admin)
    assert response.status_code == 200
    body = response.get_json()
    assert body["activo"] is False and body["baja_en"] and body["email"] == agente.email
    [event] = svc.events()
    assert event.tipo == "empleado.baja"
    assert event.datos == {"id": agente.id, "nombre": "Eva", "apellidos": "Pruebas", "rol": "agente",
                           "categorias": ["envios"], "activo": False, "version": 2, "email": agente.email,
                           "sesiones_desde": None}
    assert_problem(svc.call("GET", "/empleados/yo", token), 401)
    assert_problem(svc.call("PATCH", "/empleados/yo", token, json={"nombre": "X"}), 401)
    assert_problem(svc.login(agente.email), 401)


def test_baja_is_idempotent(svc):
    agente = svc.plant()
    first = svc.call("POST", f"/empleados/{agente.id}/baja", svc.admin).get_json()
    assert len(svc.events()) == 1
    again = svc.call("POST", f"/empleados/{agente.id}/baja", svc.admin)
    assert again.status_code == 200 and again.get_json() == first
    assert svc.events() == []


# --- Idempotency-Key ---------------------------------------------------------------------------
# POST /empleados and POST /empleados/{id}/baja take a key of the admin's own.

def _registration(svc, key: str, **overrides):
    return svc.call("POST", "/empleados", svc.admin, json=new_employee(**overrides), headers={"Idempotency-Key": key})


def test_a_retried_registration_answers_the_first_employee_and_registers_one(svc):
    svc.events()
    first = _registration(svc, "alta-luis")
    again = _registration(svc, "alta-luis")
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert svc.repo.count() == 2 and [e.tipo for e in svc.events()] == ["empleado.registrado"]


@pytest.mark.parametrize("changed", [{"rol": "supervisor"}, {"password": "Otra-clave-2026"}],
                         ids=["another body", "another password"])
def test_a_registration_key_reused_for_another_request_is_409(svc, changed):
    assert _registration(svc, "alta-luis").status_code == 201
    svc.events()
    body = assert_problem(_registration(svc, "alta-luis", **changed), 409, "Idempotency-Key")
    assert body["type"] == "urn:incidencias:problema:idempotencia"
    assert svc.repo.count() == 2 and svc.events() == []


def test_registration_keys_are_each_admins_own(svc):
    other_admin = svc.plant("admin", nombre="Otra")
    assert _registration(svc, "alta").status_code == 201
    response = svc.call("POST", "/empleados", other_admin, json=new_employee(email="eva@example.com", nombre="Eva"),
                        headers={"Idempotency-Key": "alta"})
    assert response.status_code == 201 and svc.repo.count() == 4


def test_a_retried_baja_answers_the_first_and_a_reused_key_is_409(svc):
    agente, otro = svc.plant(), svc.plant(nombre="Otro")
    headers = {"Idempotency-Key": "baja-1"}
    first = svc.call("POST", f"/empleados/{agente.id}/baja", svc.admin, headers=headers)
    again = svc.call("POST", f"/empleados/{agente.id}/baja", svc.admin, headers=headers)
    assert first.status_code == again.status_code == 200 and again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [e.tipo for e in svc.events()] == ["empleado.baja"]
    # The key belongs to what it changed: on another employee it is another request.
    assert svc.call("POST", f"/empleados/{otro.id}/baja", svc.admin, headers=headers).status_code == 200
    assert [e.tipo for e in svc.events()] == ["empleado.baja"]


@pytest.mark.parametrize("key", ["", "con espacio", "x" * 201, "ñandú"])
def test_an_invalid_key_is_400_naming_the_header(svc, key):
    agente = svc.plant()
    svc.events()
    headers = {"Idempotency-Key": key.encode("utf-8").decode("latin-1")}
    for response in (svc.call("POST", "/empleados", svc.admin, json=new_employee(), headers=headers),
                     svc.call("POST", f"/empleados/{agente.id}/baja", svc.admin, headers=headers)):
        body = assert_problem(response, 400, "Idempotency-Key")
        assert body["errores"] == [{"campo": "Idempotency-Key", "mensaje": "No válida", "ubicacion": "cabeceras"}]
    assert svc.repo.count() == 2 and svc.repo.get(agente.id).activo and svc.events() == []


def test_openapi_documents_the_key_on_every_post_but_the_login(svc):
    paths = svc.client.get("/openapi.json").get_json()["paths"]
    for path in ("/empleados", "/empleados/{empleado_id}/baja"):
        operation = paths[path]["post"]
        assert [p["name"] for p in operation["parameters"] if p["in"] == "header"] == ["Idempotency-Key"]
        assert {"400", "409"} <= set(operation["responses"])
    assert not [p for p in paths["/empleados/login"]["post"].get("parameters", []) if p["in"] == "header"]


def test_a_deactivated_admins_token_stops_working(svc):
    other_admin = svc.plant("admin", nombre="Otra")
    assert svc.call("POST", f"/empleados/{other_admin.id}/baja", svc.admin).status_code == 200
    assert_problem(svc.call("POST", "/empleados", other_admin, json=new_employee()), 401)
    assert svc.repo.count() == 2


# --- tokens ------------------------------------------------------------------------------------

def _foreign_token(issuer: str = "empleados", rol: str = "admin", audience: str = "incidencias",
                   ttl: int = 3600, subject: str = "x") -> str:
    return TokenIssuer(Ed25519PrivateKey.generate(), issuer, audience, ttl).issue(subject, rol)


def test_bad_tokens_are_401(svc):
    own = TokenIssuer(svc.issuer.private_key, "empleados", "incidencias", 3600)
    expired = TokenIssuer(svc.issuer.private_key, "empleados", "incidencias", -3600)
    other_audience = TokenIssuer(svc.issuer.private_key, "empleados", "otra-cosa", 3600)
    tokens = {
        "garbage": "not.a.token",
        "foreign key": _foreign_token(subject=svc.admin.id),
        "expired": expired.issue(svc.admin.id, "admin"),
        "other audience": other_audience.issue(svc.admin.id, "admin"),
        "customer": _foreign_token(issuer="clientes", rol="cliente"),
        "own key, customer role": own.issue(svc.admin.id, "cliente"),
        "unknown account": own.issue("ghost", "admin"),
    }
    for name, token in tokens.items():
        response = svc.call("GET", "/empleados", token)
        assert response.status_code == 401, name
        assert response.mimetype == PROBLEM_JSON and response.headers["WWW-Authenticate"].startswith("Bearer")
    basic = svc.client.get("/empleados", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
    assert_problem(basic, 401)


def test_jwks_verifies_the_tokens_it_issues(svc):
    response = svc.client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    [key] = response.get_json()["keys"]
    assert key["kty"] == "OKP" and key["alg"] == "EdDSA" and "d" not in key
    token = svc.token(svc.admin)
    assert jwt.get_unverified_header(token)["kid"] == key["kid"]
    claims = jwt.decode(token, jwt.PyJWK(key).key, algorithms=["EdDSA"], audience="incidencias")
    assert claims["sub"] == svc.admin.id


def test_openapi_documents_every_endpoint_as_secured(svc):
    spec = svc.client.get("/openapi.json").get_json()
    paths = spec["paths"]
    assert {"/empleados", "/empleados/login", "/empleados/yo", "/empleados/{empleado_id}",
            "/empleados/{empleado_id}/baja", "/.well-known/jwks.json"} <= set(paths)
    assert paths["/empleados"]["post"]["security"] and paths["/empleados/{empleado_id}/baja"]["post"]["security"]
    assert "security" not in paths["/empleados/login"]["post"]
    create = spec["components"]["schemas"]["EmpleadoCreate"]
    assert set(create["required"]) == {"nombre", "apellidos", "email", "rol"}  # no password: an invitation
    assert create["properties"]["rol"] == {"$ref": "#/components/schemas/RolEmpleado"}
    assert spec["components"]["schemas"]["RolEmpleado"] == {"type": "string", "enum": ["agente", "supervisor", "admin"]}
