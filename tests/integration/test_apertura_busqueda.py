"""incidencias_apertura over HTTP: a customer finds their own incidents by
their words (``GET /incidencias?q=``), never another customer's and never
by an internal note, which apertura's replica does not hold.

The same application and fakes as ``test_apertura_api`` (its ``api``
fixture): real tokens, a real SQLite file with its FTS5 index, what
resolucion publishes handed to the worker's handlers."""
from __future__ import annotations

import pytest

from common.messaging import make_event
from common.messaging.consumer import PermanentError
from tests.integration.test_apertura_api import AGENTE_ACTOR, PROBLEM, RESOLUCION_ORIGIN, api  # noqa: F401
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture


def found(api, q: str, cliente: str = "c1", **filters) -> list[str]:
    query = "&".join(f"{k}={v}" for k, v in {"q": q, **filters}.items())
    response = api.request("GET", f"/incidencias?{query}", cliente)
    assert response.status_code == 200, response.json
    return [i["id"] for i in response.json["elementos"]]


def test_the_customer_finds_their_incident_by_a_word_typed_without_accents(api):
    mine = api.open(titulo="La lámpara no enciende", descripcion="Compré una lámpara de pie")["id"]
    api.open(titulo="Silla coja", descripcion="Le falta un tornillo")
    theirs = api.open("c2", titulo="Lámpara rota", descripcion="Llegó rota")["id"]
    assert found(api, "lampara") == [mine]
    assert found(api, "lampara", "c2") == [theirs]
    assert found(api, "LAMPARA tornillo") == []  # every word, in one incident


def test_a_search_combines_with_the_state_filter(api):
    mine = api.open(titulo="Altavoz mudo")["id"]
    other = api.open(titulo="Altavoz con ruido")["id"]
    api.from_resolucion(other, "asignada")
    assert sorted(found(api, "altavoz")) == sorted([mine, other])
    assert found(api, "altavoz", estado="asignada") == [other]
    assert found(api, "altavoz", estado="cerrada") == []


def test_an_employee_public_reply_is_searched_an_internal_note_never(api):
    incidencia_id = api.open(titulo="Cafetera")["id"]
    api.employee_comment(incidencia_id, "k1", "Pruebe a descalcificarla")
    assert found(api, "descalcificarla") == [incidencia_id]
    # An event that carried an internal note is refused, and nothing of it is kept.
    event = make_event("incidencia.comentada", {"incidencia_id": incidencia_id, "comentario": {
        "id": "k2", "autor": AGENTE_ACTOR.to_dict(), "texto": "Cliente conflictivo", "interna": True,
        "creado_en": "2026-11-01T10:00:00.000000Z"}}, RESOLUCION_ORIGIN)
    with pytest.raises(PermanentError):
        api.handlers.routes()[event.tipo](event)
    assert found(api, "conflictivo") == []


def test_a_text_that_is_not_a_search_is_a_400_naming_q(api):
    response = api.request("GET", "/incidencias?q=lampara%20OR%20*")
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.json["errores"] == [{"campo": "q", "mensaje": "Escriba solo palabras: la búsqueda no admite *",
                                         "ubicacion": "consulta"}]
