"""incidencias_apertura over HTTP: an employee opens an incident for a
customer who called (``POST /clientes/{cliente_id}/incidencias``).

The same application and fakes as ``test_apertura_api`` (its ``api``
fixture): real tokens from issuers served over HTTP, a real SQLite file,
and the events of clientes, empleados and resolucion handed to the
worker's own handlers on the app's store."""
from __future__ import annotations

from typing import Any

import pytest

from common.mail import Mail
from common.messaging import make_event
from tests.integration.test_apertura_api import PROBLEM, api, fields_of, valid_body  # noqa: F401 - fixture
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture
from tests.services.mailbox import FAR_FUTURE

CLIENTE = "c7"


def known_customer(api, cliente_id: str = CLIENTE) -> None:
    """What clientes publishes of a customer, applied to apertura's replica."""
    event = make_event("cliente.registrado", {
        "id": cliente_id, "nombre": "Lucía", "apellidos": "Martín Gil", "email": "lucia@example.com",
        "avisos_por_correo": True}, "clientes")
    api.handlers.cliente_routes()[event.tipo](event)


def staff_event(api, tipo: str, empleado_id: str = "e1", rol: str = "agente", activo: bool = True) -> None:
    event = make_event(tipo, {"id": empleado_id, "nombre": "Eva", "apellidos": "Soporte", "rol": rol,
                              "activo": activo, "categorias": []}, "empleados")
    api.handlers.empleado_routes()[event.tipo](event)


def by_phone(api, cliente_id: str = CLIENTE, rol: str = "agente", body: dict[str, Any] | None = None,
             headers: dict[str, str] | None = None):
    return api.client.post(f"/clientes/{cliente_id}/incidencias", json=valid_body() if body is None else body,
                           headers={**api.issuers.bearer_empleado("e1", rol), **(headers or {})})


@pytest.mark.parametrize("rol", ["agente", "supervisor", "admin"])
def test_staff_open_an_incident_for_a_customer_who_called(api, rol):
    known_customer(api)
    response = by_phone(api, rol=rol)
    assert response.status_code == 201, response.json
    opened = response.json
    assert opened["canal"] == "telefono" and opened["estado"] == "abierta"
    assert opened["cliente"] == {"id": CLIENTE, "nombre": "Lucía Martín Gil"}
    assert [(h["de"], h["a"], h["por"]) for h in opened["historial"]] == [
        (None, "abierta", {"id": "e1", "rol": rol})]
    [event] = api.take_events()
    assert event.tipo == "incidencia.abierta"
    assert event.datos["incidencia"]["canal"] == "telefono"
    assert event.datos["incidencia"]["historial"][0]["por"] == {"id": "e1", "rol": rol}


def test_the_customer_sees_it_and_is_notified_as_if_they_had_opened_it(api):
    known_customer(api)
    opened = by_phone(api).json
    mine = api.request("GET", "/incidencias", CLIENTE).json
    assert [i["id"] for i in mine["elementos"]] == [opened["id"]]
    assert api.request("GET", f"/incidencias/{opened['id']}", CLIENTE).json["canal"] == "telefono"
    api.from_resolucion(opened["id"], "asignada")
    notes = api.request("GET", "/notificaciones", CLIENTE).json["elementos"]
    assert [(n["incidencia_id"], n["tipo"]) for n in notes] == [(opened["id"], "incidencia.asignada")]
    mails = api.store.due_mails(FAR_FUTURE)
    assert [(m.id, m.recipient) for m in mails] == [(notes[0]["id"], CLIENTE)]
    assert Mail.from_json(mails[0].body).to == "lucia@example.com"


@pytest.mark.parametrize("setup", ["unknown", "erased"])
def test_a_customer_apertura_does_not_know_is_404_and_nothing_is_written(api, setup):
    if setup == "erased":
        known_customer(api)
        api.customer_event("cliente.eliminado", CLIENTE)
    api.take_events()
    response = by_phone(api)
    assert response.status_code == 404 and response.content_type == PROBLEM
    assert response.json["detail"] == "El cliente no existe"
    assert api.take_events() == [] and api.count_incidents() == 0


def test_a_customer_token_is_403_here(api):
    known_customer(api)
    response = api.client.post(f"/clientes/{CLIENTE}/incidencias", json=valid_body(),
                               headers=api.as_cliente(CLIENTE))
    assert response.status_code == 403 and response.content_type == PROBLEM
    assert api.count_incidents() == 0


def test_no_token_is_401(api):
    known_customer(api)
    response = api.client.post(f"/clientes/{CLIENTE}/incidencias", json=valid_body())
    assert response.status_code == 401 and response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("tipo, rol, activo", [("empleado.baja", "agente", False),
                                              ("empleado.actualizado", "supervisor", True)])
def test_a_deactivated_or_demoted_employee_is_refused_once_the_event_arrives(api, tipo, rol, activo):
    known_customer(api)
    assert by_phone(api).status_code == 201
    staff_event(api, tipo, rol=rol, activo=activo)
    api.take_events()
    response = by_phone(api)
    assert response.status_code == 401 and response.content_type == PROBLEM
    assert api.take_events() == [] and api.count_incidents() == 1


def test_bad_input_is_422_naming_every_field_and_writes_nothing(api):
    known_customer(api)
    response = by_phone(api, body={"titulo": "", "producto": {"referencia": "X"}, "canal": "web"})
    assert response.status_code == 422 and response.content_type == PROBLEM
    assert fields_of(response.json) == {"titulo", "descripcion", "producto.nombre", "canal"}
    assert api.take_events() == [] and api.count_incidents() == 0


def test_a_retried_call_with_the_same_key_opens_one_incident(api):
    known_customer(api)
    key = {"Idempotency-Key": "llamada-0001"}
    first, again = by_phone(api, headers=key), by_phone(api, headers=key)
    assert first.status_code == 201 and again.status_code == 201
    assert again.json["id"] == first.json["id"] and again.headers["Idempotent-Replayed"] == "true"
    assert len(api.take_events()) == 1 and api.count_incidents() == 1
    other = by_phone(api, body=valid_body(titulo="Otra cosa"), headers=key)
    assert other.status_code == 409 and other.content_type == PROBLEM
