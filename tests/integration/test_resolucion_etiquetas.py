"""incidencias_resolucion over HTTP: staff's tags on incidents (``PUT`` and
``DELETE /incidencias/{id}/etiquetas/{etiqueta}``), the list filtered by
one (``?etiqueta=``) and the tags in use with their counts (``GET
/etiquetas``); a tag never leaves the service.

The same application and fakes as ``test_resolucion_api`` (its ``api`` and
``team`` fixtures): real tokens from issuers served over HTTP, a real
SQLite file, the other services' events handed to the worker's handlers."""
from __future__ import annotations

import pytest

from incidencias_resolucion.repository import etiqueta_counter
from tests.integration.test_resolucion_api import api, fields_of, ids, team  # noqa: F401 - fixtures
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture

PROBLEM = "application/problem+json"


def tag(api, incidencia_id: str, etiqueta: str, who: str = "e1", method: str = "PUT"):
    return api.request(method, f"/incidencias/{incidencia_id}/etiquetas/{etiqueta}", who)


def test_a_tag_is_kept_in_lower_case_once_and_the_customer_never_learns_of_it(api, team):
    response = tag(api, team, "Rotura%20en%20transporte")
    assert response.status_code == 200, response.json
    assert response.json["etiquetas"] == ["rotura-en-transporte"]
    assert tag(api, team, "ROTURA-EN-TRANSPORTE").json["etiquetas"] == ["rotura-en-transporte"]
    assert tag(api, team, "vip").json["etiquetas"] == ["rotura-en-transporte", "vip"]
    assert api.take_events() == []  # nothing published: apertura's replica never holds a tag
    before = api.raw(team)["version"]
    assert api.ok("GET", f"/incidencias/{team}", "e1")["version"] == before


def test_the_list_filters_by_tag_combined_with_the_other_filters(api, team):
    other = api.arrive()  # e2's, or e1's again: whoever the load gives it to
    tag(api, team, "vip")
    tag(api, other, "vip", who="a1")
    tag(api, other, "garantia", who="a1")
    assert set(ids(api.ok("GET", "/incidencias?etiqueta=VIP", "e1"))) == {team, other}
    assert ids(api.ok("GET", "/incidencias?etiqueta=garantia", "e1")) == [other]
    assert ids(api.ok("GET", "/incidencias?etiqueta=vip&asignada_a=yo", "e1")) == [
        i for i in (team, other) if api.raw(i)["asignada_a"]["id"] == "e1"]
    assert api.ok("GET", "/incidencias?etiqueta=nadie", "e1")["total"] == 0


def test_the_tags_in_use_are_counted_the_most_used_first_and_removal_counts_down(api, team):
    other = api.arrive()
    for incidencia_id in (team, other):
        tag(api, incidencia_id, "vip", who="a1")
    tag(api, other, "garantia", who="a1")
    assert api.ok("GET", "/etiquetas", "e1") == {"etiquetas": [{"etiqueta": "vip", "total": 2},
                                                               {"etiqueta": "garantia", "total": 1}]}
    assert tag(api, other, "garantia", who="a1", method="DELETE").json["etiquetas"] == ["vip"]
    assert tag(api, other, "garantia", who="a1", method="DELETE").status_code == 200  # again: no change
    assert api.ok("GET", "/etiquetas", "e1") == {"etiquetas": [{"etiqueta": "vip", "total": 2}]}
    assert api.store.counters([etiqueta_counter("vip"), etiqueta_counter("garantia")]) == {
        etiqueta_counter("vip"): 2, etiqueta_counter("garantia"): 0}


def test_tags_survive_the_other_sides_snapshots(api, team):
    tag(api, team, "vip")
    assert api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Hecho"})["etiquetas"] == ["vip"]
    [resuelta] = [e for e in api.take_events() if e.tipo == "incidencia.resuelta"]
    assert "etiquetas" not in resuelta.datos["incidencia"]  # what apertura is sent never has them
    api.from_apertura(team, "reabierta")  # apertura's snapshot, a newer version, then assigned again here
    seen = api.ok("GET", f"/incidencias/{team}", "e1")
    assert ([h["a"] for h in seen["historial"]][-2:], seen["etiquetas"]) == (["reabierta", "asignada"], ["vip"])


def test_an_agent_tags_only_their_own_incidents_a_manager_any(api, team):
    response = tag(api, team, "vip", who="e2")
    assert response.status_code == 403 and response.content_type == PROBLEM
    assert tag(api, team, "vip", who="s1").status_code == 200
    assert tag(api, team, "vip", who="e2", method="DELETE").status_code == 403
    assert api.ok("GET", f"/incidencias/{team}", "e1")["etiquetas"] == ["vip"]


@pytest.mark.parametrize("etiqueta", ["-vip", "x" * 31, "%C2%BFqu%C3%A9%3F", "%20", "a,b"])
def test_a_bad_tag_is_422_naming_it_and_changes_nothing(api, team, etiqueta):
    before = api.raw(team)
    response = tag(api, team, etiqueta)
    assert response.status_code == 422 and response.content_type == PROBLEM
    assert [(e["campo"], e["ubicacion"]) for e in response.json["errores"]] == [("etiqueta", "ruta")]
    assert api.raw(team) == before and api.ok("GET", "/etiquetas", "e1") == {"etiquetas": []}


def test_a_slash_in_a_tag_is_another_path(api, team):
    response = tag(api, team, "a%2Fb")
    assert response.status_code == 404 and response.content_type == PROBLEM


def test_a_bad_tag_in_the_list_filter_is_422(api, team):
    response = api.request("GET", "/incidencias?etiqueta=-vip", "e1")
    assert response.status_code == 422 and fields_of(response.json) == {"etiqueta"}


def test_at_most_twenty_tags(api, team):
    for n in range(20):
        assert tag(api, team, f"t{n:02d}").status_code == 200
    response = tag(api, team, "una-mas")
    assert response.status_code == 422 and response.json["errores"][0]["campo"] == "etiqueta"
    assert len(api.ok("GET", f"/incidencias/{team}", "e1")["etiquetas"]) == 20


def test_an_unknown_incident_is_404(api, team):
    assert tag(api, "no-existe", "vip").status_code == 404
    assert tag(api, "no-existe", "vip", method="DELETE").status_code == 404
