"""incidencias_resolucion over HTTP: canned replies (``/respuestas``),
written by supervisors and admins and sent by agents on a comment or a
solution (``respuesta_id``), the server putting the incident in.

The same application and fakes as ``test_resolucion_api`` (its ``api`` and
``team`` fixtures): real tokens from issuers served over HTTP, a real
SQLite file, the other services' events handed to the worker's handlers."""
from __future__ import annotations

import pytest

from tests.integration.test_resolucion_api import api, fields_of, team  # noqa: F401 - fixtures
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture

PROBLEM = "application/problem+json"
SALUDO = {"titulo": "Reembolso aprobado", "categoria": "envios",
          "texto": "Hola {cliente}: sobre «{titulo}», le devolvemos el importe. Un saludo, {agente}."}


def crear(api, who: str = "s1", **fields) -> dict:
    return api.ok("POST", "/respuestas", who, 201, json={**SALUDO, **fields})


@pytest.mark.parametrize("who", ["s1", "a1"])
def test_managers_write_a_canned_reply_and_agents_list_it(api, team, who):
    created = api.request("POST", "/respuestas", who, json=SALUDO)
    assert created.status_code == 201, created.json
    respuesta = created.json
    assert created.headers["Location"].endswith(f"/respuestas/{respuesta['id']}")
    assert {k: respuesta[k] for k in ("titulo", "texto", "categoria", "activa", "retirada_en")} == {
        **SALUDO, "activa": True, "retirada_en": None}
    listed = api.ok("GET", "/respuestas", "e1")
    assert (listed["total"], [r["id"] for r in listed["elementos"]]) == (1, [respuesta["id"]])
    assert api.ok("GET", f"/respuestas/{respuesta['id']}", "e1") == respuesta


def test_an_agent_may_not_write_edit_or_retire_one(api, team):
    respuesta = crear(api)
    for method, path, body in (("POST", "/respuestas", SALUDO), ("PATCH", f"/respuestas/{respuesta['id']}",
                                                                   {"titulo": "Mío"}),
                               ("POST", f"/respuestas/{respuesta['id']}/retirada", None)):
        response = api.request(method, path, "e1", json=body)
        assert response.status_code == 403 and response.content_type == PROBLEM, (method, path)
    assert api.ok("GET", f"/respuestas/{respuesta['id']}", "e1") == respuesta


def test_sending_one_as_a_comment_records_the_text_actually_sent(api, team):
    respuesta = crear(api)
    body = api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"respuesta_id": respuesta["id"]})
    sent = "Hola Ana Pérez: sobre «No enciende», le devolvemos el importe. Un saludo, Eva Soporte."
    assert [(c["texto"], c["interna"], c["autor"]["id"]) for c in body["comentarios"]] == [(sent, False, "e1")]
    [event] = api.take_events()
    assert (event.tipo, event.datos["comentario"]["texto"]) == ("incidencia.comentada", sent)


def test_sending_one_as_the_solution(api, team):
    respuesta = crear(api, texto="Resuelto por {agente}", titulo="Firma")
    body = api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"respuesta_id": respuesta["id"]})
    assert (body["estado"], body["resolucion"]["texto"]) == ("resuelta", "Resuelto por Eva Soporte")


def test_an_edit_changes_what_is_sent_from_then_on_not_what_was_sent(api, team):
    respuesta = crear(api, texto="Primera versión")
    api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"respuesta_id": respuesta["id"]})
    edited = api.ok("PATCH", f"/respuestas/{respuesta['id']}", "s1", json={"texto": "Segunda, {cliente}",
                                                                           "categoria": None})
    assert (edited["texto"], edited["categoria"]) == ("Segunda, {cliente}", None)
    body = api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"respuesta_id": respuesta["id"]})
    assert [c["texto"] for c in body["comentarios"]] == ["Primera versión", "Segunda, Ana Pérez"]


def test_a_retired_reply_is_no_longer_offered_nor_sendable(api, team):
    respuesta = crear(api)
    retired = api.ok("POST", f"/respuestas/{respuesta['id']}/retirada", "s1")
    assert retired["activa"] is False and retired["retirada_en"]
    assert api.ok("POST", f"/respuestas/{respuesta['id']}/retirada", "a1") == retired  # again: nothing changes
    assert api.ok("GET", "/respuestas", "e1")["total"] == 0
    assert [r["id"] for r in api.ok("GET", "/respuestas?incluir_retiradas=true", "e1")["elementos"]] == [
        respuesta["id"]]
    before = api.raw(team)
    response = api.request("POST", f"/incidencias/{team}/comentarios", "e1", json={"respuesta_id": respuesta["id"]})
    assert response.status_code == 422 and response.content_type == PROBLEM
    assert response.json["errores"] == [{"campo": "respuesta_id", "mensaje": "La respuesta predefinida está retirada",
                                         "ubicacion": "cuerpo"}]
    assert api.raw(team) == before and api.take_events() == []


@pytest.mark.parametrize("body, field", [
    ({"respuesta_id": "no-existe"}, "respuesta_id"),
    ({"texto": "Hola", "respuesta_id": "x"}, "respuesta_id"),
    ({"respuesta_id": ""}, "respuesta_id"),
    ({"interna": True}, "texto"),
])
def test_a_comment_names_exactly_one_text_or_reply(api, team, body, field):
    before = api.raw(team)
    response = api.request("POST", f"/incidencias/{team}/comentarios", "e1", json=body)
    assert response.status_code == 422 and fields_of(response.json) == {field}
    assert api.raw(team) == before and api.take_events() == []


@pytest.mark.parametrize("fields, field", [
    ({"texto": "Hola {nombre}, {cliente} y {pedido}"}, "texto"),
    ({"titulo": ""}, "titulo"),
    ({"texto": "x" * 5001}, "texto"),
    ({"categoria": "x" * 51}, "categoria"),
    ({"activa": False}, "activa"),
])
def test_bad_replies_are_422_naming_the_field_and_write_nothing(api, team, fields, field):
    response = api.request("POST", "/respuestas", "s1", json={**SALUDO, **fields})
    assert response.status_code == 422 and fields_of(response.json) == {field}
    assert api.ok("GET", "/respuestas?incluir_retiradas=true", "s1")["total"] == 0


def test_an_unknown_placeholder_is_named_in_the_message(api, team):
    response = api.request("POST", "/respuestas", "s1", json={**SALUDO, "texto": "Hola {nombre} y {pedido}"})
    [error] = response.json["errores"]
    assert error["mensaje"] == ("Marcadores desconocidos: {nombre}, {pedido}. Se admiten {cliente}, {titulo}, "
                                "{agente}.")


def test_an_empty_edit_and_an_unknown_reply(api, team):
    respuesta = crear(api)
    assert api.request("PATCH", f"/respuestas/{respuesta['id']}", "s1", json={}).status_code == 422
    for method, path in (("GET", "/respuestas/no-existe"), ("PATCH", "/respuestas/no-existe"),
                         ("POST", "/respuestas/no-existe/retirada")):
        response = api.request(method, path, "s1", json={"titulo": "x"} if method == "PATCH" else None)
        assert response.status_code == 404 and response.json["detail"] == "La respuesta predefinida no existe"


def test_a_retried_creation_with_its_key_writes_one(api, team):
    key = {"Idempotency-Key": "respuesta-1"}
    first = api.request("POST", "/respuestas", "s1", json=SALUDO, headers=key)
    again = api.request("POST", "/respuestas", "s1", json=SALUDO, headers=key)
    assert first.status_code == again.status_code == 201 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api.request("POST", "/respuestas", "s1", json={**SALUDO, "titulo": "Otra"}, headers=key)
    assert other.status_code == 409 and other.content_type == PROBLEM
    assert api.ok("GET", "/respuestas", "s1")["total"] == 1
