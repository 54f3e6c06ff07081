"""A caller without an account, registered by staff (``POST
/clientes/invitacion``), chooses their password through the link mailed
to them (``POST /clientes/invitacion/aceptacion``).

What is real: the application from ``clientes.app.create_app`` on an SQLite
store in a temporary directory, its customer token issuer and the mail
outbox, read as the sender reads it. What stands in for empleados: the
``issuers`` fixture, which signs real staff tokens and serves their JWKS
over HTTP on 127.0.0.1 (tests/integration/token_issuers.py)."""
from __future__ import annotations

from typing import Any

import pytest

from clientes.app import create_app
from clientes.config import ClientesSettings
from common.messaging import make_event
from tests.integration.test_clientes_links import (
    LINK_REFUSED, PASSWORD, PORTAL, PROBLEM, events, login, register, session, take_mails, token_in,
)
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture

CALLER = {"nombre": "Ramón", "apellidos": "Llama Sin Cuenta", "email": "Ramon.Llama@Example.com",
          "telefono": "+34 600 11 22 33"}


@pytest.fixture
def app(tmp_path, issuers):  # noqa: F811 - the fixture imported above
    app = create_app(ClientesSettings(data_dir=tmp_path, keys_dir=tmp_path, portal_url=PORTAL, mongo_url=None,
                                      environment="test", empleados_jwks_url=issuers.empleados_jwks_url))
    yield app
    app.extensions["incidencias"].store.close()


@pytest.fixture
def client(app):
    return app.test_client()


def invite(client, issuers, rol: str = "agente", **fields: Any):  # noqa: F811
    return client.post("/clientes/invitacion", json={**CALLER, **fields},
                       headers=issuers.bearer_empleado("e1", rol))


@pytest.mark.parametrize("rol", ["agente", "supervisor", "admin"])
def test_staff_register_a_caller_who_gets_a_link_to_choose_a_password(app, client, issuers, rol):  # noqa: F811
    response = invite(client, issuers, rol)
    assert response.status_code == 201, response.get_json()
    cuenta = response.get_json()
    assert response.headers["Location"].endswith(f"/clientes/{cuenta['id']}")
    assert (cuenta["email"], cuenta["telefono"], cuenta["invitacion_pendiente"], cuenta["email_verificado"]) == (
        "ramon.llama@example.com", "+34 600 11 22 33", True, False)
    [registrado] = events(app, "cliente.registrado")
    assert registrado.datos["id"] == cuenta["id"] and registrado.datos["email"] == "ramon.llama@example.com"
    [(recipient, mail)] = take_mails(app)
    assert (recipient, mail.to, mail.subject) == (cuenta["id"], "ramon.llama@example.com", "Su cuenta en Incidencias")
    assert "Al atender su llamada" in mail.text
    token_in(mail, "/cuenta/invitacion")
    # No password yet: no way in.
    assert login(client, "ramon.llama@example.com", PASSWORD).status_code == 401


def test_the_link_sets_the_password_once_verifies_the_email_and_opens_the_account(app, client, issuers):  # noqa: F811
    cuenta = invite(client, issuers).get_json()
    [(_recipient, mail)] = take_mails(app)
    token = token_in(mail, "/cuenta/invitacion")
    response = client.post("/clientes/invitacion/aceptacion", json={"token": token, "password": PASSWORD})
    assert response.status_code == 200, response.get_json()
    assert (response.get_json()["invitacion_pendiente"], response.get_json()["email_verificado"]) == (False, True)
    [actualizado] = events(app, "cliente.actualizado")
    assert actualizado.datos["id"] == cuenta["id"] and actualizado.datos["sesiones_desde"]
    assert login(client, "ramon.llama@example.com", PASSWORD).status_code == 200
    again = client.post("/clientes/invitacion/aceptacion", json={"token": token, "password": "otra-clave-2029"})
    assert again.status_code == 400 and again.get_json() == LINK_REFUSED


def test_a_weak_password_is_refused_and_the_link_still_works(app, client, issuers):  # noqa: F811
    invite(client, issuers)
    [(_recipient, mail)] = take_mails(app)
    token = token_in(mail, "/cuenta/invitacion")
    weak = client.post("/clientes/invitacion/aceptacion", json={"token": token, "password": "corta"})
    assert weak.status_code == 422 and weak.mimetype == PROBLEM
    assert [e["campo"] for e in weak.get_json()["errores"]] == ["password"]
    assert client.post("/clientes/invitacion/aceptacion",
                       json={"token": token, "password": PASSWORD}).status_code == 200


def test_a_taken_email_is_409_and_nothing_is_written(app, client, issuers):  # noqa: F811
    assert invite(client, issuers).status_code == 201
    take_mails(app)
    before = len(app.extensions["incidencias"].store.pending_events(1000))
    response = invite(client, issuers, email="ramon.llama@example.com", nombre="Otro")
    assert response.status_code == 409 and response.mimetype == PROBLEM
    assert take_mails(app) == [] and len(app.extensions["incidencias"].store.pending_events(1000)) == before


def test_bad_input_is_422_naming_every_field(app, client, issuers):  # noqa: F811
    response = invite(client, issuers, email="no-es-email", telefono="abc", nombre="", password="x")
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert {e["campo"] for e in response.get_json()["errores"]} == {"email", "telefono", "nombre", "password"}
    assert take_mails(app) == [] and events(app, "cliente.registrado") == []


def test_a_retried_registration_with_its_key_registers_once(app, client, issuers):  # noqa: F811
    key = {"Idempotency-Key": "llamada-ramon-1"}
    first = client.post("/clientes/invitacion", json=CALLER, headers={**issuers.bearer_empleado(), **key})
    again = client.post("/clientes/invitacion", json=CALLER, headers={**issuers.bearer_empleado(), **key})
    assert first.status_code == again.status_code == 201
    assert again.get_json()["id"] == first.get_json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(take_mails(app)) == 1 and len(events(app, "cliente.registrado")) == 1


def test_only_staff_may_register_a_caller(app, client, issuers):  # noqa: F811
    assert client.post("/clientes/invitacion", json=CALLER).status_code == 401
    register(client)
    take_mails(app)
    customer = client.post("/clientes/invitacion", json=CALLER, headers=session(client))
    assert customer.status_code == 403 and customer.mimetype == PROBLEM
    # A deactivated employee's token stops working once empleado.baja arrives.
    baja = make_event("empleado.baja", {"id": "e1", "rol": "agente", "activo": False}, "empleados")
    app.extensions["incidencias"].personal.apply(baja)
    assert invite(client, issuers).status_code == 401
    assert take_mails(app) == []


def test_get_of_the_fixed_word_is_not_an_account(client, issuers):  # noqa: F811
    response = client.get("/clientes/invitacion", headers=issuers.bearer_empleado())
    # Werkzeug lists the allowed methods from a set: their order follows the hash seed.
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert response.status_code == 405 and allowed == {"POST", "OPTIONS"}
