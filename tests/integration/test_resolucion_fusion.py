"""incidencias_resolucion over HTTP: a supervisor merges a duplicate into
another incident of the same customer (``POST /incidencias/{id}/fusion``):
the duplicate ends in ``fusionada`` pointing to it, the other takes in its
public comments and records the merge, each with its event; retried, it
changes nothing twice; refused, it changes nothing at all.

The same application and fakes as ``test_resolucion_api`` (its ``api`` and
``team`` fixtures): real tokens from issuers served over HTTP, a real SQLite
file, the other services' events handed to the worker's handlers."""
from __future__ import annotations

import pytest

from incidencias_resolucion.repository import carga_counter
from tests.integration.test_resolucion_api import api, fields_of, team  # noqa: F401 - fixtures
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture


def merge(api, duplicada: str, destino: str, who: str = "s1", **kwargs):
    return api.request("POST", f"/incidencias/{duplicada}/fusion", who, json={"destino_id": destino}, **kwargs)


def test_a_supervisor_merges_a_duplicate_into_the_customers_other_incident(api, team):
    duplicada = api.arrive(titulo="La radio sigue sin encender")
    api.ok("POST", f"/incidencias/{duplicada}/comentarios", "s1", 201, json={"texto": "¿Es la misma radio?"})
    api.ok("POST", f"/incidencias/{duplicada}/comentarios", "s1", 201,
           json={"texto": "Duplicada, seguro", "interna": True})
    api.take_events()
    holder = api.raw(duplicada)["asignada_a"]["id"]
    loads = api.store.counters([carga_counter(holder)])

    response = merge(api, duplicada, team)
    assert response.status_code == 200, response.json
    assert (response.json["estado"], response.json["fusionada_en"]) == ("fusionada", team)
    assert response.json["historial"][-1]["cambios"] == {
        "fusionada_en": {"de": None, "a": team, "titulo": "No enciende"}}
    destino = api.ok("GET", f"/incidencias/{team}", "e1")
    assert destino["fusionadas"] == [duplicada] and destino["estado"] == "asignada"
    assert [(c["id"], c["texto"]) for c in destino["comentarios"]] == [
        (f"{duplicada}.{c['id']}", "¿Es la misma radio?") for c in response.json["comentarios"] if not c["interna"]]
    assert destino["historial"][-1]["cambios"] == {
        "fusion": {"de": duplicada, "a": team, "titulo": "La radio sigue sin encender"}}
    # Each half published with its snapshot; the duplicate no longer counts in its holder's load.
    assert [(e.tipo, e.datos["incidencia"]["id"]) for e in api.take_events()] == [
        ("incidencia.actualizada", team), ("incidencia.fusionada", duplicada)]
    assert api.store.counters([carga_counter(holder)])[carga_counter(holder)] == loads[carga_counter(holder)] - 1


def test_a_retried_merge_changes_nothing_twice(api, team):
    duplicada = api.arrive()
    key = {"Idempotency-Key": "fusion-1"}
    first = merge(api, duplicada, team, headers=key)
    api.take_events()
    again = merge(api, duplicada, team, headers=key)
    assert again.status_code == 200 and again.json == first.json
    unkeyed = merge(api, duplicada, team)  # finishing a merge cut short: both halves done already
    assert unkeyed.status_code == 200 and unkeyed.json["version"] == first.json["version"]
    assert api.ok("GET", f"/incidencias/{team}", "e1")["fusionadas"] == [duplicada]
    assert api.take_events() == []
    # The same key for another merge: refused, the duplicate being merged already (and nothing changes).
    otra = api.arrive()
    api.take_events()  # (its assignment)
    reused = merge(api, duplicada, otra, headers=key)
    assert reused.status_code == 409 and reused.json["estado"] == "fusionada"
    assert api.ok("GET", f"/incidencias/{otra}", "e1")["fusionadas"] == [] and api.take_events() == []


def test_a_merge_cut_between_its_halves_is_finished_by_asking_again(api, team):
    duplicada = api.arrive()
    origen, _ = api.incidencias.get(duplicada)
    # The first half alone, as if the second write had failed.
    api.incidencias.update(team, lambda destino, _side: [] if destino.recibir_fusion(
        "resolucion", origen, {"id": "s1", "rol": "supervisor"}, origen.creada_en) else None)
    assert api.raw(duplicada)["estado"] == "asignada"
    response = merge(api, duplicada, team)
    assert response.status_code == 200 and response.json["estado"] == "fusionada"
    assert api.ok("GET", f"/incidencias/{team}", "e1")["fusionadas"] == [duplicada]


@pytest.mark.parametrize("destino, says", [
    ("self", "consigo misma"), ("other-customer", "mismo cliente"), ("unknown", "no existe"), ("resolved", "resuelta"),
])
def test_a_merge_that_can_never_be_made_is_a_422_naming_destino_id_and_changes_nothing(api, team, destino, says):
    duplicada = api.arrive()
    target = {"self": duplicada, "other-customer": api.arrive(cliente="c2"), "unknown": "f" * 32,
              "resolved": team}[destino]
    if destino == "resolved":
        api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Hecho"})
    api.take_events()
    before = api.raw(duplicada), api.raw(team)
    response = merge(api, duplicada, target)
    assert response.status_code == 422 and fields_of(response.json) == {"destino_id"}
    assert says in response.json["errores"][0]["mensaje"]
    assert (api.raw(duplicada), api.raw(team)) == before and api.take_events() == []


def test_a_duplicate_no_longer_resolucions_is_a_409(api, team):
    duplicada = api.arrive()
    api.ok("POST", f"/incidencias/{duplicada}/resolucion", "s1", json={"texto": "Hecho"})
    response = merge(api, duplicada, team)
    assert response.status_code == 409 and response.json["estado"] == "resuelta"
    assert api.ok("GET", f"/incidencias/{team}", "e1")["fusionadas"] == []


def test_only_supervisors_and_admins_merge_and_the_body_is_required(api, team):
    duplicada = api.arrive()
    assert merge(api, duplicada, team, who="e1").status_code == 403
    assert api.request("POST", f"/incidencias/{duplicada}/fusion", "s1", json={}).status_code == 422
    assert merge(api, "f" * 32, team).status_code == 404
