"""incidencias_resolucion over HTTP: one change on many incidents
(``POST /incidencias/lote``), for supervisors and admins: each incident gets
the normal change with its own event, or the refusal that operation alone
would give, one result per incident.

The same application and fakes as ``test_resolucion_api`` (its ``api`` and
``team`` fixtures): real tokens from issuers served over HTTP, a real
SQLite file, the other services' events handed to the worker's handlers."""
from __future__ import annotations

import pytest

from tests.integration.test_resolucion_api import api, fields_of, team  # noqa: F401 - fixtures
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture

PROBLEM = "application/problem+json"


def lote(api, body: dict, who: str = "s1", **kwargs):
    return api.request("POST", "/incidencias/lote", who, json=body, **kwargs)


def test_a_supervisor_assigns_many_at_once_each_with_its_own_event(api, team):
    ids = [team, api.arrive(), api.arrive()]
    holders = [api.raw(i)["asignada_a"]["id"] for i in ids]
    api.take_events()
    response = lote(api, {"incidencias": ids, "accion": "asignar", "empleado_id": "e2"})
    assert response.status_code == 200, response.json
    assert response.json == {"resultados": [{"incidencia_id": i, "aplicada": True, "problema": None} for i in ids]}
    assert [api.raw(i)["asignada_a"]["id"] for i in ids] == ["e2"] * 3
    published = [e.datos["incidencia"]["id"] for e in api.take_events() if e.tipo == "incidencia.asignada"]
    assert published == [i for i, holder in zip(ids, holders) if holder != "e2"]  # each one that changed hands


def test_each_incident_refused_on_its_own_the_others_applied(api, team):
    resolved = api.arrive()
    api.ok("POST", f"/incidencias/{resolved}/resolucion", "a1", json={"texto": "Hecho"})
    api.take_events()
    ids = [team, "no-existe", resolved]
    response = lote(api, {"incidencias": ids, "accion": "prioridad", "prioridad": "critica"})
    assert response.status_code == 200
    [ok, missing, final] = response.json["resultados"]
    assert ok == {"incidencia_id": team, "aplicada": True, "problema": None}
    assert (missing["aplicada"], missing["problema"]["status"], missing["problema"]["detail"]) == (
        False, 404, "La incidencia no existe")
    assert (final["aplicada"], final["problema"]["status"]) == (False, 409), final
    assert final["problema"]["estado"] == "resuelta", final
    assert api.raw(team)["prioridad"] == "critica" and api.raw(resolved)["prioridad"] == "media"
    assert [e.tipo for e in api.take_events()] == ["incidencia.actualizada"]


@pytest.mark.parametrize("body, esperado", [
    ({"accion": "categoria", "categoria": "envios"}, ("categoria", "envios")),
    ({"accion": "categoria", "categoria": None}, ("categoria", None)),
    ({"accion": "etiqueta", "etiqueta": "Retirada de Lote"}, ("etiquetas", ["retirada-de-lote"])),
])
def test_category_and_tag_in_bulk(api, team, body, esperado):
    other = api.arrive(categoria="otra")
    response = lote(api, {"incidencias": [team, other], **body}, who="a1")
    assert [r["aplicada"] for r in response.json["resultados"]] == [True, True]
    field, value = esperado
    assert [api.raw(i).get(field) for i in (team, other)] == [value, value]


def test_an_agent_may_not_act_in_bulk(api, team):
    response = lote(api, {"incidencias": [team], "accion": "prioridad", "prioridad": "alta"}, who="e1")
    assert response.status_code == 403 and response.content_type == PROBLEM
    assert api.raw(team)["prioridad"] == "media"


@pytest.mark.parametrize("body, field", [
    ({"accion": "prioridad", "prioridad": "alta"}, "incidencias"),
    ({"incidencias": [], "accion": "prioridad", "prioridad": "alta"}, "incidencias"),
    ({"incidencias": [f"i{n}" for n in range(101)], "accion": "prioridad", "prioridad": "alta"}, "incidencias"),
    ({"incidencias": ["a", "a"], "accion": "prioridad", "prioridad": "alta"}, "incidencias"),
    ({"incidencias": ["a"], "accion": "borrar"}, "accion"),
    ({"incidencias": ["a"], "accion": "asignar"}, "empleado_id"),
    ({"incidencias": ["a"], "accion": "prioridad", "prioridad": "urgentisima"}, "prioridad"),
    ({"incidencias": ["a"], "accion": "prioridad", "prioridad": "alta", "etiqueta": "x"}, "etiqueta"),
    ({"incidencias": ["a"], "accion": "etiqueta", "etiqueta": "-mal"}, "etiqueta"),
    ({"incidencias": [{"$ne": None}], "accion": "prioridad", "prioridad": "alta"}, "incidencias.0"),
])
def test_a_bad_bulk_request_is_422_naming_the_field_and_changes_nothing(api, team, body, field):
    before = api.raw(team)
    response = lote(api, body)
    assert response.status_code == 422 and fields_of(response.json) == {field}
    assert api.raw(team) == before and api.take_events() == []


def test_a_retried_bulk_request_with_its_key_does_not_assign_twice(api, team):
    ids = [team, api.arrive()]
    api.take_events()
    key = {"Idempotency-Key": "lote-1"}
    body = {"incidencias": ids, "accion": "asignar", "empleado_id": "e2"}
    first, again = lote(api, body, headers=key), lote(api, body, headers=key)
    assert first.json == again.json and [r["aplicada"] for r in again.json["resultados"]] == [True, True]
    versions = [api.raw(i)["version"] for i in ids]
    assert lote(api, body, headers=key).json == first.json and [api.raw(i)["version"] for i in ids] == versions
    other = lote(api, {**body, "empleado_id": "e1"}, headers=key)
    assert [r["problema"]["status"] for r in other.json["resultados"]] == [409, 409]  # the key was another request's
