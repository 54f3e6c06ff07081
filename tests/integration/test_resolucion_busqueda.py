"""incidencias_resolucion over HTTP: staff find incidents by their words
(``GET /incidencias?q=``): title, description, comments, internal notes and
resolution, whatever the case and accents, ranked, with every other filter
and page; a text that is not a search is a 400 naming ``q``.

The same application and fakes as ``test_resolucion_api`` (its ``api`` and
``team`` fixtures): real tokens from issuers served over HTTP, a real
SQLite file with its FTS5 index, the other services' events handed to the
worker's handlers."""
from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.integration.test_resolucion_api import api, fields_of, ids, team  # noqa: F401 - fixtures
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture

PROBLEM = "application/problem+json"


def search(api, q: str, who: str = "e1", **filters) -> dict:
    query = "&".join(f"{k}={quote(str(v))}" for k, v in {"q": q, **filters}.items())
    return api.ok("GET", f"/incidencias?{query}", who)


def test_a_word_typed_without_accents_finds_the_incident_by_its_description(api, team):
    lampara = api.arrive(titulo="No se enciende", descripcion="La lámpara del salón parpadea")
    api.arrive(titulo="Mesa coja", descripcion="Una pata más corta")
    page = search(api, "lampara")
    assert ids(page) == [lampara] and page["total"] == 1
    assert ids(search(api, "LÁMPARA salon")) == [lampara]
    assert search(api, "lampara cocina")["total"] == 0  # every word must be there


def test_the_best_matches_come_first_and_an_order_asked_for_wins(api, team):
    once = api.arrive(titulo="Pedido", descripcion="Trae un ventilador de regalo")
    title = api.arrive(titulo="Ventilador ruidoso", descripcion="El ventilador vibra")
    assert ids(search(api, "ventilador")) == [title, once]
    assert ids(search(api, "ventilador", orden="antiguedad")) == [once, title]
    assert ids(search(api, "ventilador", orden="recientes")) == [title, once]


def test_comments_internal_notes_and_the_resolution_are_searched_for_staff(api, team):
    api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"texto": "El cliente llamó dos veces"})
    api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201,
           json={"texto": "Posible fraude con la garantía", "interna": True})
    assert ids(search(api, "llamo")) == [team]
    assert ids(search(api, "fraude garantia")) == [team]
    api.ok("POST", f"/incidencias/{team}/inicio", "e1")
    api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Sustituido el transformador"})
    assert ids(search(api, "transformador")) == [team]


def test_the_words_combine_with_every_filter_and_the_pages(api, team):
    found = [api.arrive(titulo=f"Envío retrasado {n}", prioridad="alta" if n % 2 else "baja") for n in range(5)]
    assert search(api, "envio")["total"] == 5
    altas = search(api, "envio", prioridad="alta")
    assert sorted(ids(altas)) == sorted(found[1::2]) and altas["total"] == 2
    mias = search(api, "envio", asignada_a="yo")
    assert set(ids(mias)) == {i for i in found if api.raw(i)["asignada_a"]["id"] == "e1"}
    pages = [search(api, "envio", por_pagina=2, pagina=n) for n in (1, 2, 3)]
    assert [len(p["elementos"]) for p in pages] == [2, 2, 1]
    assert sorted(i for p in pages for i in ids(p)) == sorted(found)  # no repeat, no gap
    api.ok("PUT", f"/incidencias/{found[0]}/etiquetas/vip", "s1")
    assert ids(search(api, "envio", etiqueta="vip")) == [found[0]]
    assert search(api, "envio", estado="cerrada")["total"] == 0


def test_a_blank_search_is_no_search(api, team):
    assert ids(api.ok("GET", "/incidencias?q=%20%20", "e1")) == ids(api.ok("GET", "/incidencias", "e1")) == [team]


@pytest.mark.parametrize("q, says", [
    ('"lampara"', '"'), ("lampara*", "*"), ("(lampara)", "("), ("titulo:lampara", ":"), ("a%2Bb", "+"),
    ("a%00b", "control"), ("x" * 201, "200"), ("%C2%BF%3F", "palabra"), ("+".join("abcdefghijklm"), "12"),
])
def test_a_text_that_is_not_a_search_is_a_400_naming_q(api, team, q, says):
    response = api.request("GET", f"/incidencias?q={q}&estado=abierta", "e1")
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.json["type"] == "urn:incidencias:problema:busqueda-no-valida"
    [error] = response.json["errores"]
    assert error["campo"] == "q" and error["ubicacion"] == "consulta" and says in error["mensaje"]


def test_relevance_is_an_order_of_searches_only(api, team):
    response = api.request("GET", "/incidencias?orden=relevancia", "e1")
    assert response.status_code == 422 and fields_of(response.json) == {"orden"}
    assert ids(search(api, "enciende", orden="relevancia")) == [team]
