"""The clientes HTTP API, end to end through Flask's test client.

What is real: the application built by ``clientes.app.create_app`` with its
SQLite store in a temporary directory, argon2id hashing, the customer token
issuer and its key file, and the outbox (read with ``store.pending_events()``;
no relay runs, so RabbitMQ is only needed by the ``/salud`` test).

What stands in for something else, and why: the empleados service, which
signs staff tokens, is not started (its database and login flow are not under
test). In its place a ``common.tokens.TokenIssuer`` named "empleados" on a
freshly generated Ed25519 key signs staff tokens, and a tiny ``http.server``
thread on 127.0.0.1 (random port) serves its JWKS; the app fetches the keys
over real HTTP from the ``empleados_jwks_url`` it is given. Some accounts are
seeded straight through the app's own repository with one precomputed hash,
and their tokens minted with the app's own issuer, to keep argon2 off the
hot path of tests that are not about registration or login. Two WSGI details
of production are reproduced through the test client's environ rather than
by running the servers: the gateway's prefix (``SCRIPT_NAME=/api/clientes``,
as nginx and gunicorn hand it over) and gunicorn's ``wsgi.input_terminated``
for chunked request bodies. Nothing in the application is patched or mocked.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from clientes.app import create_app
from clientes.config import ClientesSettings
from clientes.domain import ERASED_NAME, Cliente
from clientes.repository import CLIENTES
from common.messaging import new_id
from common.passwords import PASSWORD_RULE, hash_password
from common.tokens import TokenIssuer
from tests.helpers import free_port

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
AUDIENCE = "incidencias"
PASSWORD = "clave-segura-2024"
PROBLEM = "application/problem+json"
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")


# -- a stand-in for the empleados JWKS ------------------------------------------

class StaticServer:
    """Serves fixed bodies by path on 127.0.0.1 and counts the requests."""

    def __init__(self) -> None:
        self.bodies: dict[str, bytes] = {}
        self.hits = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.hits += 1
                body = server.bodies.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes) -> str:
        self.bodies[path] = body
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class Staff:
    def __init__(self, issuer: TokenIssuer, url: str):
        self.issuer, self.url = issuer, url

    def headers(self, rol: str = "agente", empleado_id: str = "e1") -> dict[str, str]:
        return bearer(self.issuer.issue(empleado_id, rol, nombre="Eva Soporte"))


@pytest.fixture(scope="module")
def jwks_host():
    server = StaticServer()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def staff(jwks_host) -> Staff:
    issuer = TokenIssuer(Ed25519PrivateKey.generate(), "empleados", AUDIENCE, 600)
    return Staff(issuer, jwks_host.serve("/empleados/.well-known/jwks.json", json.dumps(issuer.jwks()).encode()))


@pytest.fixture(scope="module")
def seed_hash() -> str:
    return hash_password(PASSWORD)


# -- the application -------------------------------------------------------------

def settings(tmp_path, jwks_url: str, **overrides: Any) -> ClientesSettings:
    values = dict(data_dir=tmp_path, keys_dir=tmp_path, empleados_jwks_url=jwks_url, amqp_url=AMQP_URL)
    values.update(overrides)
    return ClientesSettings(**values)


@pytest.fixture
def make_app(tmp_path, staff):
    built = []

    def make(**overrides: Any):
        app = create_app(settings(tmp_path, staff.url, **overrides))
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["incidencias"].store.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def link(url: str) -> tuple[str, dict[str, list[str]]]:
    parts = urlsplit(url)
    return parts.path, parse_qs(parts.query)


def state(app):
    return app.extensions["incidencias"]


def outbox(app) -> list[dict[str, Any]]:
    messages = state(app).store.pending_events(1000)
    events = []
    for message in messages:
        body = json.loads(message.body)
        assert message.id == body["id"] and message.routing_key == body["tipo"]
        events.append(body)
    return events


def stored(app, cliente_id: str) -> dict[str, Any] | None:
    return state(app).store.collection(CLIENTES).get(cliente_id)


def account_count(app) -> int:
    from common.storage import Query

    return state(app).store.collection(CLIENTES).count(Query())


def register(client, email: str = "ana@example.com", **fields: Any):
    body = {"nombre": "Ana", "apellidos": "Pérez García", "email": email, "password": PASSWORD, **fields}
    return client.post("/clientes", json=body)


def login(client, email: str = "ana@example.com", password: str = PASSWORD, **kwargs: Any):
    return client.post("/clientes/login", json={"email": email, "password": password}, **kwargs)


def assert_problem(response, status: int, fields: set[str] | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body = response.get_json()
    for member in ("type", "title", "status", "detail"):
        assert body.get(member), f"problem lacks {member}: {body}"
    assert body["status"] == status
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and "argon2" not in text
    if fields is not None:
        named = {e["campo"] for e in body["errores"]}
        assert named == fields, body
        for error in body["errores"]:
            assert error["mensaje"]
    return body


def seed(app, seed_hash: str, n: int, *, creado_en: str | None = None, prefix: str = "persona") -> list[Cliente]:
    """Store ``n`` customers straight through the app's repository, oldest first."""
    repo = state(app).clientes
    made = []
    for i in range(n):
        at = creado_en or f"2026-03-{i + 1:02d}T10:00:00.000000Z"
        cliente = Cliente(id=new_id(), nombre=f"Nombre{i}", apellidos=f"Apellido{i}",
                          email=f"{prefix}{i}@example.com", password_hash=seed_hash,
                          creado_en=at, actualizado_en=at)
        repo.add(cliente)
        made.append(cliente)
    return made


def customer_headers(app, cliente: Cliente) -> dict[str, str]:
    return bearer(state(app).issuer.issue(cliente.id, "cliente", nombre=cliente.nombre_completo,
                                                   email=cliente.email))


@pytest.fixture
def ana(client):
    """A customer registered and logged in through the API."""
    created = register(client)
    assert created.status_code == 201
    token = login(client).get_json()["access_token"]
    return {"id": created.get_json()["id"], "headers": bearer(token), "token": token}


# -- registration ------------------------------------------------------------------

PUBLIC_FIELDS = {"id", "nombre", "apellidos", "email", "fecha_nacimiento", "direccion", "telefono",
                 "email_verificado", "email_pendiente", "avisos_por_correo", "invitacion_pendiente", "creado_en",
                 "actualizado_en"}


def test_register_answers_201_with_location_and_no_secrets(app, client):
    response = register(client, email="Ana.Perez@Example.COM",
                        fecha_nacimiento="1990-07-26", telefono="+34 600 000 000",
                        direccion="Calle Mayor 1")
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == PUBLIC_FIELDS
    assert response.headers["Location"].endswith(f"/clientes/{body['id']}")
    assert body["email"] == "ana.perez@example.com"
    assert body["nombre"] == "Ana"
    assert body["fecha_nacimiento"] == "1990-07-26" and body["invitacion_pendiente"] is False
    assert RFC3339_UTC.match(body["creado_en"])
    text = response.get_data(as_text=True)
    assert PASSWORD not in text and "argon2" not in text and "password" not in text
    doc = stored(app, body["id"])
    assert doc["email"] == "ana.perez@example.com"
    assert doc["password_hash"].startswith("$argon2id$") and PASSWORD not in json.dumps(doc)


def test_names_with_surrounding_spaces_are_accepted_and_stripped(app, client):
    response = register(client, nombre="  Ana  ", apellidos=" Pérez García")
    assert response.status_code == 201, response.get_data(as_text=True)
    assert (response.get_json()["nombre"], response.get_json()["apellidos"]) == ("Ana", "Pérez García")


def test_location_leads_to_the_new_account(client):
    created = register(client)
    token = login(client).get_json()["access_token"]
    fetched = client.get(created.headers["Location"], headers=bearer(token))
    assert fetched.status_code == 200
    assert fetched.get_json() == created.get_json()


def test_register_records_cliente_registrado_in_the_outbox(app, client):
    response = client.post("/clientes", json={"nombre": "Ana", "apellidos": "Pérez", "email": "ana@example.com",
                                              "password": PASSWORD}, headers={"X-Correlation-ID": "corr-42"})
    assert response.status_code == 201
    cliente_id = response.get_json()["id"]
    [event] = outbox(app)
    assert set(event) == {"id", "tipo", "ocurrido_en", "origen", "correlation_id", "datos"}
    assert event["tipo"] == "cliente.registrado"
    assert event["origen"] == "clientes"
    assert event["correlation_id"] == "corr-42" == response.headers["X-Correlation-ID"]
    assert RFC3339_UTC.match(event["ocurrido_en"])
    moment = datetime.fromisoformat(event["ocurrido_en"].replace("Z", "+00:00"))
    assert moment.utcoffset().total_seconds() == 0
    assert abs((datetime.now(timezone.utc) - moment).total_seconds()) < 60
    assert re.fullmatch(r"[0-9a-f]{32}", event["id"])
    assert event["datos"] == {"id": cliente_id, "nombre": "Ana", "apellidos": "Pérez", "eliminado": False,
                              "email": "ana@example.com", "avisos_por_correo": True, "sesiones_desde": None}
    raw = json.dumps(event)
    assert "argon2" not in raw and PASSWORD not in raw and "enlaces" not in raw


def test_duplicate_email_in_any_case_is_409_naming_email(app, client):
    assert register(client, email="ana@example.com").status_code == 201
    body = assert_problem(register(client, email="ANA@Example.com"), 409, {"email"})
    assert "email" in body["detail"]
    assert account_count(app) == 1
    assert [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]


# -- retried registrations (Idempotency-Key) ---------------------------------------------------

def register_keyed(client, key: str = "alta-ana-1", password: str = PASSWORD, **fields: Any):
    body = {"nombre": "Ana", "apellidos": "Pérez García", "email": "ana@example.com", "password": password,
            **fields}
    return client.post("/clientes", json=body, headers={"Idempotency-Key": key})


def test_a_retried_registration_answers_the_first_account_and_opens_one(app, client):
    first = register_keyed(client)
    again = register_keyed(client)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json() and again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert account_count(app) == 1 and [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]
    doc = stored(app, first.get_json()["id"])
    assert (doc["idempotency_scope"], doc["idempotency_key"]) == ("", "alta-ana-1")
    assert "alta-ana-1" not in first.get_data(as_text=True) and "idempotency" not in json.dumps(outbox(app))


@pytest.mark.parametrize("changed", [{"telefono": "+34 600 000 000"}, {"password": "otra-clave-2024"}],
                         ids=["another body", "another password"])
def test_a_registration_key_reused_for_another_request_is_409(app, client, changed):
    assert register_keyed(client).status_code == 201
    body = assert_problem(register_keyed(client, **changed), 409, {"Idempotency-Key"})
    assert body["type"] == "urn:incidencias:problema:idempotencia"
    assert account_count(app) == 1 and [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]


@pytest.mark.parametrize("key", ["", "con espacio", "x" * 201, "ñandú"])
def test_an_invalid_registration_key_is_400_naming_the_header(app, client, key):
    response = register_keyed(client, key.encode("utf-8").decode("latin-1"))
    body = assert_problem(response, 400, {"Idempotency-Key"})
    assert body["errores"][0]["ubicacion"] == "cabeceras"
    assert account_count(app) == 0 and outbox(app) == []


def test_a_registration_with_another_key_is_the_email_conflict(app, client):
    assert register_keyed(client).status_code == 201
    assert_problem(register_keyed(client, "alta-ana-2"), 409, {"email"})
    assert account_count(app) == 1


def test_openapi_documents_the_key_on_registration_and_not_on_login(client):
    spec = client.get("/openapi.json").get_json()
    registration = spec["paths"]["/clientes"]["post"]
    [header] = [p for p in registration["parameters"] if p["in"] == "header"]
    assert (header["name"], header["required"]) == ("Idempotency-Key", False)
    assert {"400", "409"} <= set(registration["responses"])
    assert "Idempotency-Key" in registration["responses"]["409"]["description"]
    assert "security" not in registration
    assert not [p for p in spec["paths"]["/clientes/login"]["post"].get("parameters", []) if p["in"] == "header"]


def test_birth_date_accepts_an_iso_date(app, client):
    response = register(client, fecha_nacimiento="1990-07-26")
    assert response.status_code == 201
    assert stored(app, response.get_json()["id"])["fecha_nacimiento"] == "1990-07-26"


VALID = {"nombre": "Ana", "apellidos": "Pérez", "email": "ana@example.com", "password": PASSWORD}
REQUIRED = {"nombre", "apellidos", "email", "password"}

BAD_REGISTRATIONS = {
    "array body": ([VALID], {"(cuerpo)"}),
    "string body": ("ana", {"(cuerpo)"}),
    "wrong types": ({"nombre": 5, "apellidos": True, "email": 7, "password": 12345678901}, REQUIRED),
    "missing fields": ({}, REQUIRED),
    "nulls": ({"nombre": None, "apellidos": None, "email": None, "password": None}, REQUIRED),
    "unknown fields": ({**VALID, "rol": "admin", "eliminado": True}, {"rol", "eliminado"}),
    "over-long strings": ({**VALID, "nombre": "a" * 101, "apellidos": "b" * 151, "direccion": "c" * 301,
                           "email": "a" * 245 + "@example.com", "password": "a1" * 65},
                          REQUIRED | {"direccion"}),
    "blank names": ({**VALID, "nombre": "   ", "apellidos": ""}, {"nombre", "apellidos"}),
    "invalid email and phone": ({**VALID, "email": "no-es-un-email", "telefono": "llámame"}, {"email", "telefono"}),
    "weak password": ({**VALID, "password": "corta1"}, {"password"}),
    "password holding the email": ({**VALID, "email": "anaperez@example.com", "password": "anaperez-2024"},
                                   {"password"}),
    "operators instead of strings": ({"nombre": {"$regex": ".*"}, "apellidos": "Pérez", "email": {"$ne": None},
                                     "password": {"$gt": ""}}, {"nombre", "email", "password"}),
    "operator in an optional field": ({**VALID, "direccion": {"$ne": ""}}, {"direccion"}),
    "date not ISO": ({**VALID, "fecha_nacimiento": "26/07/1990"}, {"fecha_nacimiento"}),
    "date in the future": ({**VALID, "fecha_nacimiento": "2999-01-01"}, {"fecha_nacimiento"}),
    "date in 1800": ({**VALID, "fecha_nacimiento": "1800-07-26"}, {"fecha_nacimiento"}),
    "bare year 1800": ({**VALID, "fecha_nacimiento": "1800"}, {"fecha_nacimiento"}),
}


@pytest.mark.parametrize("case", list(BAD_REGISTRATIONS))
def test_bad_registration_is_a_422_naming_every_bad_field_and_writes_nothing(app, client, case):
    body, fields = BAD_REGISTRATIONS[case]
    problem = assert_problem(client.post("/clientes", json=body), 422, fields)
    assert problem["type"].endswith("validacion")
    for name in fields:
        assert name in problem["detail"]
    if "password" in fields and case in ("weak password", "password holding the email"):
        assert [e["mensaje"] for e in problem["errores"]] == [PASSWORD_RULE]
    assert outbox(app) == [] and account_count(app) == 0


def test_malformed_json_is_400(app, client):
    response = client.post("/clientes", data='{"nombre": "Ana",', content_type="application/json")
    body = assert_problem(response, 400)
    assert body["errores"]
    assert outbox(app) == [] and account_count(app) == 0


@pytest.mark.parametrize("path", ["/clientes", "/clientes/login"])
def test_json_nested_too_deep_is_400_not_500(app, client, path):
    body = '{"email": ' + "[" * 5000 + "]" * 5000 + ', "password": "x"}'
    assert_problem(client.post(path, data=body, content_type="application/json"), 400)
    assert outbox(app) == [] and account_count(app) == 0


@pytest.mark.parametrize("path", ["/clientes", "/clientes/login"])
def test_an_integer_too_long_to_convert_is_400_not_500(app, client, path):
    """Python refuses to convert integers of more than 4,300 digits (a guard
    against quadratic parsing); that is the client's error, not the server's."""
    body = '{"email": "a@example.com", "password": 1' + "0" * 5000 + "}"
    assert_problem(client.post(path, data=body, content_type="application/json"), 400)
    assert outbox(app) == [] and account_count(app) == 0


@pytest.mark.parametrize("path, body", [
    ("/clientes", '{"nombre": "\\ud800", "apellidos": "P", "email": "a@example.com", "password": "clave-segura-2024"}'),
    ("/clientes", '{"nombre": "Ana", "apellidos": "P", "email": "a@example.com", '
                  '"password": "clave-segura-2024\\udfff"}'),
    ("/clientes/login", '{"email": "\\ud800@example.com", "password": "clave-segura-2024"}'),
])
def test_a_lone_surrogate_is_400_not_500(app, client, path, body):
    assert_problem(client.post(path, data=body, content_type="application/json"), 400)
    assert outbox(app) == [] and account_count(app) == 0


CHUNKED_BODIES = {
    "nested too deep": ("application/json", b'{"nombre": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400),
    "lone surrogate": ("application/json", b'{"nombre": "\\ud800", "apellidos": "P", "email": "a@example.com", '
                                           b'"password": "clave-segura-2024"}', 400),
    "not JSON": ("text/plain", json.dumps(VALID).encode(), 415),
    "over the size limit": ("application/json", json.dumps({**VALID, "direccion": "x" * 70_000}).encode(), 413),
}


@pytest.mark.parametrize("case", list(CHUNKED_BODIES))
def test_chunked_bodies_get_the_same_answers(app, client, case):
    """Gunicorn accepts ``Transfer-Encoding: chunked`` and marks the input
    terminated (``wsgi.input_terminated``), which the environ below mirrors."""
    content_type, body, status = CHUNKED_BODIES[case]
    response = client.post("/clientes", input_stream=io.BytesIO(body),
                           headers={"Transfer-Encoding": "chunked", "Content-Type": content_type},
                           environ_overrides={"wsgi.input_terminated": True})
    assert_problem(response, status)
    assert outbox(app) == [] and account_count(app) == 0


def test_a_chunked_valid_body_is_accepted(app, client):
    response = client.post("/clientes", input_stream=io.BytesIO(json.dumps(VALID).encode()),
                           headers={"Transfer-Encoding": "chunked", "Content-Type": "application/json"},
                           environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 201
    assert account_count(app) == 1


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "application/xml"])
def test_non_json_content_type_is_415(app, client, content_type):
    response = client.post("/clientes", data=json.dumps(VALID), content_type=content_type)
    assert_problem(response, 415)
    assert outbox(app) == [] and account_count(app) == 0


def test_body_over_the_size_limit_is_413(app, client):
    limit = state(app).settings.max_body_bytes
    response = client.post("/clientes", data=json.dumps({**VALID, "direccion": "x" * limit}),
                           content_type="application/json")
    assert_problem(response, 413)
    assert outbox(app) == [] and account_count(app) == 0


# -- login -------------------------------------------------------------------------

def test_login_gives_a_bearer_token_that_verifies_against_the_published_key(app, client):
    cliente_id = register(client).get_json()["id"]
    response = login(client, email="  ANA@Example.COM ")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == state(app).settings.token_ttl_seconds
    token = body["access_token"]
    jwks = client.get("/.well-known/jwks.json").get_json()
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA"
    [jwk] = [k for k in jwks["keys"] if k["kid"] == header["kid"]]
    claims = jwt.decode(token, jwt.PyJWK(jwk).key, algorithms=["EdDSA"], audience=AUDIENCE, issuer="clientes",
                        options={"require": ["exp", "iat", "sub", "aud", "iss"]})
    assert claims["sub"] == cliente_id
    assert claims["rol"] == "cliente"
    assert claims["exp"] - claims["iat"] == body["expires_in"]
    assert "password" not in claims and "password_hash" not in claims


def test_wrong_password_and_unknown_email_give_the_same_401(client):
    register(client)
    wrong = login(client, password="otra-clave-2024")
    unknown = login(client, email="nadie@example.com")
    assert_problem(wrong, 401)
    assert_problem(unknown, 401)
    assert wrong.get_json() == unknown.get_json()
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    assert "access_token" not in wrong.get_data(as_text=True)


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"email": {"$ne": None}, "password": {"$gt": ""}}, {"email", "password"}),
        ({"email": "ana@example.com", "password": {"$ne": "x"}}, {"password"}),
        ({"email": {"$regex": "ana"}, "password": PASSWORD}, {"email"}),
        ({"email": ["ana@example.com"], "password": PASSWORD}, {"email"}),
        ({}, {"email", "password"}),
        ({"email": "ana@example.com", "password": PASSWORD, "rol": "admin"}, {"rol"}),
        ({"email": "ana@example.com", "password": ""}, {"password"}),
    ],
)
def test_login_with_operators_or_bad_fields_is_rejected_not_executed(app, client, seed_hash, body, fields):
    seed(app, seed_hash, 1, prefix="ana")  # an account an executed operator would match
    response = client.post("/clientes/login", json=body)
    assert_problem(response, 422, fields)
    assert "access_token" not in response.get_data(as_text=True)


def test_failed_logins_are_throttled_with_retry_after(make_app):
    client = make_app(login_max_failures=3).test_client()
    register(client)
    for _ in range(3):
        assert login(client, password="otra-clave-2024").status_code == 401
    blocked = login(client)  # even the right password
    body = assert_problem(blocked, 429)
    assert "access_token" not in json.dumps(body)
    retry_after = int(blocked.headers["Retry-After"])
    assert 0 < retry_after <= 301
    assert login(client, email="ANA@example.com").status_code == 429  # same account, other spelling


def test_throttling_is_shared_by_every_process_of_the_service(make_app):
    """Two app instances on one data_dir stand for two gunicorn workers."""
    first = make_app(login_max_failures=3).test_client()
    second = make_app(login_max_failures=3).test_client()
    register(first)
    assert login(first, password="otra-clave-2024").status_code == 401
    assert login(second, password="otra-clave-2024").status_code == 401
    assert login(first, password="otra-clave-2024").status_code == 401
    assert_problem(login(second), 429)
    assert_problem(login(first), 429)


def test_a_successful_login_resets_the_account_counter(make_app):
    client = make_app(login_max_failures=3).test_client()
    register(client)
    for _round in range(2):
        assert login(client, password="otra-clave-2024").status_code == 401
        assert login(client, password="otra-clave-2024").status_code == 401
        assert login(client).status_code == 200
    # without the reset, four failures would have reached the limit of three
    assert login(client, password="otra-clave-2024").status_code == 401


def test_spraying_many_accounts_from_one_address_is_throttled(make_app):
    client = make_app(login_max_failures=1).test_client()  # 4 failures per address
    for i in range(4):
        assert login(client, email=f"nadie{i}@example.com").status_code == 401
    assert_problem(login(client, email="otra@example.com"), 429)
    other = login(client, email="otra@example.com", environ_base={"REMOTE_ADDR": "10.0.0.9"})
    assert other.status_code == 401


# -- profile -----------------------------------------------------------------------

def test_get_own_profile(client, ana):
    response = client.get("/clientes/yo", headers=ana["headers"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == ana["id"] and body["email"] == "ana@example.com"
    assert set(body) == PUBLIC_FIELDS


@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_profile_needs_a_token(client, method):
    response = getattr(client, method)("/clientes/yo", json={} if method == "patch" else None)
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_staff_have_no_customer_profile(client, staff):
    assert_problem(client.get("/clientes/yo", headers=staff.headers("admin")), 403)


def _empleado_event(tipo: str, version: int, rol: str = "agente", empleado_id: str = "e1"):
    from common.messaging import make_event

    return make_event(tipo, {"id": empleado_id, "nombre": "Eva", "apellidos": "Soporte", "rol": rol,
                             "categorias": [], "activo": tipo != "empleado.baja", "version": version}, "empleados")


def test_a_staff_token_stops_working_when_its_employee_is_deactivated_or_changes_role(app, client, staff):
    """clientes keeps the employees' role and state from ``empleado.*`` events
    (here handed to the handler the worker's consumer calls) and refuses a
    staff token whose account is no longer active or no longer has that role."""
    from clientes.handlers import ClientesHandlers
    from cuentas.personal import PersonalReplica

    handlers = ClientesHandlers(PersonalReplica(state(app).store))
    supervisor = staff.headers("supervisor", "e1")
    # Not heard of yet: the signature of empleados is enough.
    assert client.get("/clientes", headers=supervisor).status_code == 200
    handlers.on_empleado(_empleado_event("empleado.registrado", 1, "supervisor"))
    assert client.get("/clientes", headers=supervisor).status_code == 200
    handlers.on_empleado(_empleado_event("empleado.actualizado", 2, "agente"))
    assert_problem(client.get("/clientes", headers=supervisor), 401)
    assert client.get("/clientes", headers=staff.headers("agente", "e1")).status_code == 200
    # A late, older event changes nothing; the deactivation refuses every role.
    handlers.on_empleado(_empleado_event("empleado.actualizado", 1, "supervisor"))
    assert_problem(client.get("/clientes", headers=supervisor), 401)
    handlers.on_empleado(_empleado_event("empleado.baja", 3, "agente"))
    assert_problem(client.get("/clientes", headers=staff.headers("agente", "e1")), 401)
    assert client.get("/clientes", headers=staff.headers("agente", "e2")).status_code == 200


def test_an_employee_event_without_id_or_role_is_refused_for_good(app):
    from clientes.handlers import ClientesHandlers
    from common.messaging import PermanentError, make_event
    from cuentas.personal import PersonalReplica

    handlers = ClientesHandlers(PersonalReplica(state(app).store))
    for datos in ({"rol": "agente"}, {"id": "e1"}, {"id": 7, "rol": "agente"}, {"id": "e1", "rol": ["admin"]}):
        with pytest.raises(PermanentError):
            handlers.on_empleado(make_event("empleado.actualizado", datos, "empleados"))


def test_patch_profile_updates_and_publishes_cliente_actualizado(app, client, ana):
    before = client.get("/clientes/yo", headers=ana["headers"]).get_json()
    response = client.patch("/clientes/yo", headers=ana["headers"], json={
        "nombre": "Ana María", "telefono": "+34 611 222 333", "direccion": "Calle Luna 5",
        "fecha_nacimiento": "1985-02-01"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["nombre"] == "Ana María"
    assert (body["telefono"], body["direccion"], body["fecha_nacimiento"]) == (
        "+34 611 222 333", "Calle Luna 5", "1985-02-01")
    assert body["actualizado_en"] > before["actualizado_en"]
    assert body["creado_en"] == before["creado_en"]
    assert client.get("/clientes/yo", headers=ana["headers"]).get_json() == body
    updated = [e for e in outbox(app) if e["tipo"] == "cliente.actualizado"]
    assert len(updated) == 1
    assert updated[0]["datos"] == {"id": ana["id"], "nombre": "Ana María", "apellidos": "Pérez García",
                                   "eliminado": False, "email": "ana@example.com", "avisos_por_correo": True,
                                   "sesiones_desde": None}


def test_patch_with_the_same_values_publishes_nothing(app, client, ana):
    response = client.patch("/clientes/yo", headers=ana["headers"], json={"nombre": "Ana", "email": "ana@example.com"})
    assert response.status_code == 200
    assert [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]


def test_patch_own_email_in_another_case_is_not_a_change(app, client, ana):
    before = client.get("/clientes/yo", headers=ana["headers"]).get_json()
    response = client.patch("/clientes/yo", headers=ana["headers"], json={"email": "ANA@Example.com"})
    assert response.status_code == 200
    assert response.get_json()["email"] == "ana@example.com"
    assert response.get_json()["actualizado_en"] == before["actualizado_en"]
    assert [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]


def test_patch_email_normalises_and_waits_for_the_confirmation(app, client, ana):
    response = client.patch("/clientes/yo", headers=ana["headers"], json={"email": "Ana.Nueva@Example.com"})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["email"], body["email_pendiente"]) == ("ana@example.com", "ana.nueva@example.com")
    assert stored(app, ana["id"])["email"] == "ana@example.com"
    assert login(client).status_code == 200
    assert_problem(login(client, email="ana.nueva@example.com"), 401)
    # (test_clientes_links.py follows the link that confirms it.)


def test_patch_email_to_a_taken_one_is_409(app, client, ana, seed_hash):
    seed(app, seed_hash, 1, prefix="bob")
    response = client.patch("/clientes/yo", headers=ana["headers"], json={"email": "BOB0@example.com",
                                                                          "nombre": "Otra"})
    assert_problem(response, 409, {"email"})
    doc = stored(app, ana["id"])
    assert doc["email"] == "ana@example.com" and doc["nombre"] == "Ana"
    assert [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]


@pytest.mark.parametrize(
    "body, fields",
    [
        ({"nombre": None}, {"nombre"}),
        ({"email": None}, {"email"}),
        ({"nombre": ""}, {"nombre"}),
        ({"email": {"$ne": None}}, {"email"}),
        ({"nombre": {"$set": {"rol": "admin"}}}, {"nombre"}),
        ({"rol": "admin", "id": "otro"}, {"rol", "id"}),
        ({"fecha_nacimiento": "2999-12-31"}, {"fecha_nacimiento"}),
        ({"fecha_nacimiento": "26/07/1990"}, {"fecha_nacimiento"}),
        ({"telefono": "abc"}, {"telefono"}),
        ([{"nombre": "x"}], {"(cuerpo)"}),
        ({}, {"(cuerpo)"}),  # nothing to change (documented minProperties: 1)
        (None, {"(cuerpo)"}),  # no body at all (documented required)
    ],
)
def test_bad_patch_is_422_and_changes_nothing(app, client, ana, body, fields):
    before = stored(app, ana["id"])
    assert_problem(client.patch("/clientes/yo", headers=ana["headers"], json=body), 422, fields)
    assert stored(app, ana["id"]) == before
    assert [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]


def test_password_change_needs_the_current_password_and_a_strong_new_one(app, client, ana):
    new = "nueva-clave-2025"
    me = ana["headers"]
    assert_problem(client.patch("/clientes/yo", headers=me, json={"password": new}), 422, {"password_actual"})
    assert_problem(client.patch("/clientes/yo", headers=me,
                                json={"password": new, "password_actual": "no-es-la-mia-1"}), 422, {"password_actual"})
    weak = assert_problem(client.patch("/clientes/yo", headers=me,
                                       json={"password": "debil", "password_actual": PASSWORD}), 422, {"password"})
    assert weak["errores"][0]["mensaje"] == PASSWORD_RULE
    # the rule also holds against the current email, not only an email in the same request
    holding = assert_problem(client.patch("/clientes/yo", headers=me,
                                          json={"password": "mi-ana-9999", "password_actual": PASSWORD}),
                             422, {"password"})
    assert holding["errores"][0]["mensaje"] == PASSWORD_RULE
    old_hash = stored(app, ana["id"])["password_hash"]
    changed = client.patch("/clientes/yo", headers=me, json={"password": new, "password_actual": PASSWORD})
    assert changed.status_code == 200
    assert stored(app, ana["id"])["password_hash"] not in (old_hash, None)
    assert_problem(login(client), 401)
    assert login(client, password=new).status_code == 200


def test_delete_erases_personal_data_and_revokes_the_token(app, client, ana, staff):
    me = ana["headers"]
    client.patch("/clientes/yo", headers=me, json={"telefono": "+34 600 111 222", "direccion": "Calle Sol 3",
                                                   "fecha_nacimiento": "1990-07-26"})
    response = client.delete("/clientes/yo", headers=me)
    assert response.status_code == 204
    assert response.get_data() == b""

    doc = stored(app, ana["id"])
    assert doc["email"] is None and doc["password_hash"] is None
    assert doc["nombre"] == ERASED_NAME and doc["apellidos"] == ""
    assert doc["telefono"] is None and doc["direccion"] is None and doc["fecha_nacimiento"] is None
    assert doc["eliminado"] is True and RFC3339_UTC.match(doc["eliminado_en"])
    raw = json.dumps(doc)
    for personal in ("ana@example.com", "Pérez", "Calle Sol", "600 111", "1990-07-26", "argon2"):
        assert personal not in raw

    deleted = [e for e in outbox(app) if e["tipo"] == "cliente.eliminado"]
    assert len(deleted) == 1 and deleted[0]["datos"] == {"id": ana["id"]}

    for method, path in (("get", "/clientes/yo"), ("patch", "/clientes/yo"), ("delete", "/clientes/yo"),
                         ("get", f"/clientes/{ana['id']}")):
        refused = getattr(client, method)(path, headers=me, json={} if method == "patch" else None)
        assert_problem(refused, 401)
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(client.get(f"/clientes/{ana['id']}", headers=staff.headers()), 404)
    assert_problem(login(client), 401)

    again = register(client)
    assert again.status_code == 201 and again.get_json()["id"] != ana["id"]
    assert login(client).status_code == 200


# -- listing and reading customers -----------------------------------------------------

def test_list_is_for_staff_only(app, client, seed_hash):
    [cliente] = seed(app, seed_hash, 1)
    anonymous = client.get("/clientes")
    assert_problem(anonymous, 401)
    assert "WWW-Authenticate" in anonymous.headers
    assert_problem(client.get("/clientes", headers=customer_headers(app, cliente)), 403)


@pytest.mark.parametrize("rol", ["agente", "supervisor", "admin"])
def test_every_staff_role_may_list(app, client, staff, seed_hash, rol):
    seed(app, seed_hash, 2)
    response = client.get("/clientes", headers=staff.headers(rol))
    assert response.status_code == 200
    assert response.get_json()["total"] == 2


def test_list_is_paginated_newest_first_without_deleted_customers(app, client, staff, seed_hash):
    clientes = seed(app, seed_hash, 6)
    removed = clientes[2]
    assert client.delete("/clientes/yo", headers=customer_headers(app, removed)).status_code == 204
    expected = [c.id for c in reversed(clientes) if c is not removed]

    first = client.get("/clientes?por_pagina=2", headers=staff.headers())
    assert first.status_code == 200
    page = first.get_json()
    assert (page["pagina"], page["por_pagina"], page["total"], page["paginas"]) == (1, 2, 5, 3)
    assert link(page["siguiente"]) == ("/clientes", {"pagina": ["2"], "por_pagina": ["2"]})
    seen = [c["id"] for c in page["elementos"]]
    while page["siguiente"]:
        page = client.get(page["siguiente"], headers=staff.headers()).get_json()
        seen += [c["id"] for c in page["elementos"]]
    assert seen == expected
    assert page["pagina"] == 3 and len(page["elementos"]) == 1
    item = first.get_json()["elementos"][0]
    assert set(item) == PUBLIC_FIELDS

    beyond = client.get("/clientes?pagina=9&por_pagina=2", headers=staff.headers()).get_json()
    assert beyond["elementos"] == [] and beyond["total"] == 5 and beyond["siguiente"] is None


GATEWAY = "http://gateway.example/api/clientes"  # SCRIPT_NAME=/api/clientes, as the nginx gateway sends it


def test_location_keeps_the_gateway_prefix(client):
    response = client.post("/clientes", base_url=GATEWAY, json=VALID)
    assert response.status_code == 201
    assert response.headers["Location"] == f"/api/clientes/clientes/{response.get_json()['id']}"


def test_next_page_link_keeps_the_gateway_prefix(app, client, staff, seed_hash):
    seed(app, seed_hash, 2)
    page = client.get("/clientes?por_pagina=1", base_url=GATEWAY, headers=staff.headers()).get_json()
    assert link(page["siguiente"]) == ("/api/clientes/clientes", {"pagina": ["2"], "por_pagina": ["1"]})


def test_list_order_is_stable_when_creation_times_tie(app, client, staff, seed_hash):
    clientes = seed(app, seed_hash, 4, creado_en="2026-03-01T10:00:00.000000Z")
    ids = []
    for pagina in range(1, 5):
        page = client.get(f"/clientes?pagina={pagina}&por_pagina=1", headers=staff.headers()).get_json()
        ids += [c["id"] for c in page["elementos"]]
    # Newest first; ties by id in the same direction (one index serves the list and its tie-breaker).
    assert ids == sorted((c.id for c in clientes), reverse=True)


def test_list_search_matches_email_and_names_case_insensitively(app, client, staff, seed_hash):
    seed(app, seed_hash, 3)
    repo = state(app).clientes
    extra = Cliente(id=new_id(), nombre="Lucía", apellidos="Martín_Sanz", email="lucia@tienda.es",
                    password_hash=seed_hash, creado_en="2026-04-01T00:00:00.000000Z",
                    actualizado_en="2026-04-01T00:00:00.000000Z")
    repo.add(extra)

    def search(q: str) -> list[str]:
        response = client.get("/clientes", query_string={"q": q}, headers=staff.headers())
        assert response.status_code == 200
        page = response.get_json()
        assert page["total"] == len(page["elementos"])
        return [c["email"] for c in page["elementos"]]

    assert search("TIENDA.ES") == ["lucia@tienda.es"]
    assert search("martín_") == ["lucia@tienda.es"]
    assert search("nombre1") == ["persona1@example.com"]
    assert search("APELLIDO") == ["persona2@example.com", "persona1@example.com", "persona0@example.com"]
    assert search("%") == [] and search("_") == ["lucia@tienda.es"] and search(".*") == []
    assert search("+34 600 12 34 56") == search("600123456") == []
    lucia = repo.get(extra.id)
    lucia.actualizar_perfil({"telefono": "+34 600-12-34-56"}, "2026-04-02T00:00:00.000000Z")
    repo.save(lucia)
    assert search("600 12 34 56") == search("(34) 600123456") == ["lucia@tienda.es"]  # a caller, by phone
    paged = client.get("/clientes?q=persona&por_pagina=2", headers=staff.headers()).get_json()
    assert paged["total"] == 3
    assert link(paged["siguiente"]) == ("/clientes", {"q": ["persona"], "pagina": ["2"], "por_pagina": ["2"]})


@pytest.mark.parametrize(
    "query, fields",
    [
        ("por_pagina=101", {"por_pagina"}),
        ("por_pagina=0", {"por_pagina"}),
        ("pagina=0", {"pagina"}),
        ("pagina=-1&por_pagina=abc", {"pagina", "por_pagina"}),
        ("q=", {"q"}),
        ("q=" + "x" * 101, {"q"}),
        ("q=ana%00", {"q"}),  # a NUL byte: MongoDB refuses such a pattern, no adapter should see one
        ("q=a%0Ab", {"q"}),
        ("q=%1B%5B31m", {"q"}),
    ],
)
def test_bad_list_parameters_are_422(client, staff, query, fields):
    body = assert_problem(client.get(f"/clientes?{query}", headers=staff.headers()), 422, fields)
    assert {e["ubicacion"] for e in body["errores"]} == {"consulta"}


def test_get_one_customer_self_other_staff_unknown(app, client, staff, seed_hash):
    ana, bob = seed(app, seed_hash, 2)
    own = client.get(f"/clientes/{ana.id}", headers=customer_headers(app, ana))
    assert own.status_code == 200 and own.get_json()["email"] == ana.email
    other = client.get(f"/clientes/{bob.id}", headers=customer_headers(app, ana))
    unknown = client.get(f"/clientes/{new_id()}", headers=customer_headers(app, ana))
    assert_problem(other, 404)
    assert other.get_json() == unknown.get_json()  # nothing tells that bob exists
    by_staff = client.get(f"/clientes/{bob.id}", headers=staff.headers("agente"))
    assert by_staff.status_code == 200 and by_staff.get_json()["id"] == bob.id
    assert set(by_staff.get_json()) == PUBLIC_FIELDS
    assert_problem(client.get(f"/clientes/{new_id()}", headers=staff.headers()), 404)
    assert_problem(client.get(f"/clientes/{bob.id}"), 401)


# -- tokens through the API ------------------------------------------------------------

def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64json(data: dict[str, Any]) -> str:
    return _b64(json.dumps(data).encode())


def _claims(iss: str, sub: str, rol: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "rol": rol, "iss": iss, "aud": AUDIENCE, "iat": now, "nbf": now, "exp": now + 600, **extra}


def _signed(issuer: TokenIssuer, payload: dict[str, Any], kid: str | None = None) -> str:
    return jwt.encode(payload, issuer.private_key, algorithm="EdDSA",
                      headers={"kid": issuer.jwk["kid"] if kid is None else kid})


def bad_authorizations(app, staff: Staff, cliente_id: str) -> dict[str, str]:
    """Authorization header values that must all be answered 401."""
    own: TokenIssuer = state(app).issuer
    now = int(time.time())
    good = own.issue(cliente_id, "cliente")
    head, payload, signature = good.split(".")
    public_raw = own.private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    hs_head = _b64json({"alg": "HS256", "typ": "JWT", "kid": own.jwk["kid"]})
    hs_body = _b64json(_claims("clientes", cliente_id, "cliente"))
    hs_sig = _b64(hmac.new(public_raw, f"{hs_head}.{hs_body}".encode(), hashlib.sha256).digest())
    tampered = _b64json({**jwt.decode(good, options={"verify_signature": False}), "sub": new_id()})
    tokens = {
        "alg none": f"{_b64json({'alg': 'none', 'typ': 'JWT'})}.{hs_body}.",
        "HS256 signed with the public key bytes": f"{hs_head}.{hs_body}.{hs_sig}",
        "expired": _signed(own, _claims("clientes", cliente_id, "cliente",
                                        iat=now - 900, nbf=now - 900, exp=now - 120)),
        "not yet valid": _signed(own, _claims("clientes", cliente_id, "cliente", nbf=now + 300)),
        "wrong audience": _signed(own, _claims("clientes", cliente_id, "cliente", aud="otra-api")),
        "wrong issuer name": _signed(own, _claims("Clientes", cliente_id, "cliente")),
        "untrusted issuer": _signed(TokenIssuer(Ed25519PrivateKey.generate(), "intruso", AUDIENCE, 600),
                                    _claims("intruso", cliente_id, "cliente")),
        "customer role minted by empleados": staff.issuer.issue(cliente_id, "cliente"),
        "staff role minted by clientes": own.issue(cliente_id, "admin"),
        "tampered payload": f"{head}.{tampered}.{signature}",
        "unknown kid": _signed(own, _claims("clientes", cliente_id, "cliente"), kid="otra-clave"),
        "unpublished key with the right kid": _signed(
            TokenIssuer(Ed25519PrivateKey.generate(), "clientes", AUDIENCE, 600),
            _claims("clientes", cliente_id, "cliente"), kid=own.jwk["kid"]),
        "valid signature, no such customer": own.issue(new_id(), "cliente"),
        "garbage": "basura",
        "garbage with dots": "a.b.c",
        "empty JSON parts": f"{_b64(b'{}')}.{_b64(b'{}')}.",
    }
    headers = {name: f"Bearer {token}" for name, token in tokens.items()}
    headers.update({
        "no Bearer prefix": good,
        "other scheme": f"Token {good}",
        "basic auth": "Basic " + base64.b64encode(b"ana@example.com:" + PASSWORD.encode()).decode(),
        "Bearer alone": "Bearer",
        "Bearer and spaces": "Bearer    ",
    })
    return headers


BAD_AUTHORIZATION_NAMES = [
    "alg none", "HS256 signed with the public key bytes", "expired", "not yet valid", "wrong audience",
    "wrong issuer name", "untrusted issuer", "customer role minted by empleados", "staff role minted by clientes",
    "tampered payload", "unknown kid", "unpublished key with the right kid", "valid signature, no such customer",
    "garbage", "garbage with dots", "empty JSON parts", "no Bearer prefix", "other scheme", "basic auth",
    "Bearer alone", "Bearer and spaces",
]


@pytest.mark.parametrize("name", BAD_AUTHORIZATION_NAMES)
def test_bad_tokens_are_401_problems_with_www_authenticate(app, client, staff, seed_hash, name):
    [cliente] = seed(app, seed_hash, 1)
    authorizations = bad_authorizations(app, staff, cliente.id)
    assert sorted(authorizations) == sorted(BAD_AUTHORIZATION_NAMES)
    for path in ("/clientes/yo", f"/clientes/{cliente.id}", "/clientes"):
        response = client.get(path, headers={"Authorization": authorizations[name]})
        body = assert_problem(response, 401)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert cliente.email not in json.dumps(body)
    # the same customer with a proper token gets in
    assert client.get("/clientes/yo", headers=customer_headers(app, cliente)).status_code == 200


@pytest.mark.parametrize("iss", [["clientes"], {"nombre": "clientes"}])
def test_token_with_a_non_string_issuer_is_401(app, client, iss):
    head, _payload, signature = state(app).issuer.issue("c1", "cliente").split(".")
    forged = f"{head}.{_b64json({**_claims('clientes', 'c1', 'cliente'), 'iss': iss})}.{signature}"
    assert_problem(client.get("/clientes/yo", headers=bearer(forged)), 401)


def test_unreachable_staff_jwks_is_503_and_customers_are_unaffected(make_app, staff, seed_hash):
    app = make_app(empleados_jwks_url=f"http://127.0.0.1:{free_port()}/.well-known/jwks.json")
    client = app.test_client()
    [cliente] = seed(app, seed_hash, 1)
    response = client.get("/clientes", headers=staff.headers("admin"))
    body = assert_problem(response, 503)
    assert response.headers["Retry-After"].isdigit()
    assert "127.0.0.1" not in body["detail"]
    assert client.get("/clientes/yo", headers=customer_headers(app, cliente)).status_code == 200


@pytest.mark.parametrize("jwks_body", [b"<html>Bad gateway</html>", b'{"keys": []}'])
def test_broken_staff_jwks_is_503(make_app, jwks_host, staff, jwks_body):
    url = jwks_host.serve(f"/roto/{hashlib.sha1(jwks_body).hexdigest()}", jwks_body)
    client = make_app(empleados_jwks_url=url).test_client()
    assert_problem(client.get("/clientes", headers=staff.headers("admin")), 503)


def test_staff_keys_are_fetched_over_http_once(make_app, jwks_host, staff, seed_hash):
    app = make_app()
    client = app.test_client()
    before = jwks_host.hits
    for rol in ("agente", "supervisor", "admin", "agente"):
        assert client.get("/clientes", headers=staff.headers(rol)).status_code == 200
    assert jwks_host.hits == before + 1


def test_jwks_publishes_the_public_ed25519_key_only(app, client):
    response = client.get("/.well-known/jwks.json")
    assert response.status_code == 200
    [key] = response.get_json()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("OKP", "Ed25519", "EdDSA", "sig")
    assert key["kid"] and key["x"]
    assert "d" not in key
    assert key == state(app).issuer.jwk


def test_the_signing_key_survives_a_restart(make_app, client):
    register(client)
    token = login(client).get_json()["access_token"]
    restarted = make_app().test_client()  # same keys_dir and data_dir
    assert restarted.get("/clientes/yo", headers=bearer(token)).status_code == 200


# -- OpenAPI, docs, health, metrics, errors --------------------------------------------

def _rule_paths(app) -> dict[str, set[str]]:
    paths: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("api-docs."):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        paths.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return paths


def _documented(spec) -> dict[str, set[str]]:
    return {path: {m for m in item if m in ("get", "post", "put", "patch", "delete")}
            for path, item in spec["paths"].items()}


def test_openapi_documents_every_api_route_and_marks_the_protected_ones(app, client):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    documented = _documented(spec)
    blueprint_rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith(("clientes.", "claves."))]
    assert len(blueprint_rules) == 15
    for rule in blueprint_rules:
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        [method] = [m.lower() for m in rule.methods - {"HEAD", "OPTIONS"}]
        assert method in documented.get(path, set()), f"{method.upper()} {path} is not documented"
        operation = spec["paths"][path][method]
        protected = bool(getattr(app.view_functions[rule.endpoint], "_required_roles", ()))
        assert (operation.get("security") == [{"bearerAuth": []}]) is protected, (method, path)
    assert {"/clientes/yo", "/clientes/{cliente_id}"} <= set(spec["paths"])
    assert "security" not in spec["paths"]["/clientes/login"]["post"]
    create = spec["paths"]["/clientes"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = create["$ref"].rsplit("/", 1)[-1]
    assert {"nombre", "apellidos", "email", "password"} <= set(spec["components"]["schemas"][name]["required"])


def test_openapi_documents_errors_as_the_problem_documents_they_are(client):
    spec = client.get("/openapi.json").get_json()
    responses = spec["components"]["responses"]
    errors = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, response in operation.get("responses", {}).items():
                if status.startswith("4") or status == "default":
                    if "$ref" in response:
                        response = responses[response["$ref"].rsplit("/", 1)[-1]]
                    errors.append((method, path, status, sorted(response.get("content", {}))))
    assert any(status == "422" for _m, _p, status, _c in errors)
    assert [e for e in errors if e[3] != ["application/problem+json"]] == []
    real = client.post("/clientes", json={"email": "x"})
    assert real.status_code == 422 and real.mimetype == "application/problem+json"


def test_openapi_lists_every_route_the_app_serves(app, client):
    documented = _documented(client.get("/openapi.json").get_json())
    missing = {f"{m.upper()} {p}" for p, methods in _rule_paths(app).items()
               for m in methods if m not in documented.get(p, set())}
    assert not missing, f"not in /openapi.json: {sorted(missing)}"


def test_docs_page_is_html(client):
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "openapi.json" in response.get_data(as_text=True)


def test_metrics_count_requests(client):
    client.get("/salud/vivo")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert "# TYPE http_requests_total counter" in text
    counted = [line for line in text.splitlines() if line.startswith("http_requests_total{")
               and 'service="clientes"' in line and 'endpoint="/salud/vivo"' in line and 'status="200"' in line]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 1


def test_liveness(client):
    response = client.get("/salud/vivo")
    assert response.status_code == 200
    assert response.get_json() == {"servicio": "clientes", "estado": "vivo"}


def test_readiness_with_rabbitmq_up(client):
    response = client.get("/salud")
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["estado"] == "listo"
    assert body["comprobaciones"]["almacenamiento"]["estado"] == "ok"
    assert body["comprobaciones"]["almacenamiento"]["tipo"] == "sqlite"
    assert body["comprobaciones"]["rabbitmq"]["estado"] == "ok"


def test_readiness_with_rabbitmq_down_is_503_but_the_api_answers(make_app):
    app = make_app(amqp_url=f"amqp://guest:guest@127.0.0.1:{free_port()}/")
    client = app.test_client()
    response = client.get("/salud")
    assert response.status_code == 503
    body = response.get_json()
    assert body["estado"] == "no listo"
    assert body["comprobaciones"]["rabbitmq"]["estado"] == "no disponible"
    assert "guest:guest" not in json.dumps(body)
    assert body["comprobaciones"]["almacenamiento"]["estado"] == "ok"
    created = register(client)
    assert created.status_code == 201  # the event waits in the outbox
    assert [e["tipo"] for e in outbox(app)] == ["cliente.registrado"]


def test_unknown_route_is_a_404_problem(client):
    assert_problem(client.get("/no-existe"), 404)
    assert_problem(client.post("/clientes/no/existe", json={}), 404)


@pytest.mark.parametrize("method, path", [("put", "/clientes/yo"), ("delete", "/clientes"),
                                          ("patch", "/clientes/login"), ("post", "/.well-known/jwks.json")])
def test_wrong_method_is_a_405_problem_with_allow(client, method, path):
    response = getattr(client, method)(path)
    assert_problem(response, 405)
    assert response.headers["Allow"]
