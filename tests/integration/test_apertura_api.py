"""incidencias_apertura over HTTP: the customer's incident API.

The application is built by its real factory on a real SQLite file and
driven through Flask's test client. What is faked, and why:

- the token issuers (`clientes`, `empleados`): ``token_issuers`` signs real
  EdDSA tokens and serves their JWKS over real HTTP on 127.0.0.1, so the
  service verifies them exactly as in production without running the two
  identity services;
- the broker: events written by a request are read back from the service's
  outbox (``store.pending_events()``), and what incidencias_resolucion would
  publish is handed straight to the worker's own ``AperturaHandlers`` on the
  same store the app uses. Delivery through RabbitMQ is covered by
  tests/integration/test_messaging.py and tests/e2e.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from common.messaging import Event, make_event
from common.storage import Query
from incidencias_apertura.app import create_app
from incidencias_apertura.config import AperturaSettings
from incidencias_apertura.handlers import AperturaHandlers
from incidencias_dominio import RESOLUCION, SISTEMA, Actor, EmpleadoRef, format_instant
from tests.integration.token_issuers import Issuers, bad_tokens, bearer, issuers  # noqa: F401 - fixture

PROBLEM = "application/problem+json"
RESOLUCION_ORIGIN = "incidencias_resolucion"
AGENTE = EmpleadoRef("e1", "Eva Soporte")
AGENTE_ACTOR = Actor("e1", "agente", "Eva Soporte")


def valid_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "titulo": "La radio no enciende",
        "descripcion": "Desde ayer no da señal de vida.",
        "producto": {"referencia": "RAD-100", "nombre": "Radio portátil", "pedido": "PED-42"},
    }
    body.update(overrides)
    return body


class Apertura:
    """The app under test plus what a test needs around it."""

    def __init__(self, app, issuers: Issuers):
        self.app = app
        self.client = app.test_client()
        self.issuers = issuers
        state = app.extensions["incidencias"]
        self.store = state.store
        self.incidencias = state.incidencias
        self.notificaciones = state.notificaciones
        self.handlers = AperturaHandlers(state)

    # -- HTTP --
    def as_cliente(self, cliente_id: str = "c1", nombre: str = "Ana Pérez") -> dict[str, str]:
        return self.issuers.bearer_cliente(cliente_id, nombre)

    def request(self, method: str, path: str, cliente: str | None = "c1", **kwargs):
        headers = {**(self.as_cliente(cliente) if cliente else {}), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def open(self, cliente: str = "c1", **overrides: Any) -> dict[str, Any]:
        response = self.request("POST", "/incidencias", cliente, json=valid_body(**overrides))
        assert response.status_code == 201, response.json
        return response.json

    # -- outbox --
    def take_events(self) -> list[Event]:
        """The events written since the last call (marked as published)."""
        pending = self.store.pending_events(10_000)
        self.store.mark_published(e.id for e in pending)
        return [Event.parse(e.body) for e in pending]

    def count_incidents(self) -> int:
        return self.incidencias.collection.count(Query())

    # -- what incidencias_resolucion would publish --
    def from_resolucion(self, incidencia_id: str, *steps: str, at: datetime | None = None) -> list[Event]:
        """Apply ``steps`` (asignada, en_curso, resuelta, cancelada) the way
        resolucion does and deliver its snapshot events to the handlers."""
        at = at or datetime.now(timezone.utc)
        delivered = []
        for n, step in enumerate(steps):
            incidencia, _ = self.incidencias.get(incidencia_id)
            when = at + timedelta(seconds=n)
            if step == "asignada":
                tipo = incidencia.asignar(RESOLUCION, AGENTE, SISTEMA, when)
            elif step == "en_curso":
                tipo = incidencia.iniciar(RESOLUCION, AGENTE_ACTOR, when)
            elif step == "resuelta":
                tipo = incidencia.resolver(RESOLUCION, "Cambie las pilas", AGENTE_ACTOR, when)
            elif step == "cancelada":
                tipo = incidencia.cancelar(RESOLUCION, Actor(incidencia.cliente.id, "cliente"), when)
            else:
                raise ValueError(step)
            event = make_event(tipo, {"incidencia": incidencia.to_snapshot(False)}, RESOLUCION_ORIGIN, at=when)
            self.handlers.routes()[event.tipo](event)
            delivered.append(event)
        return delivered

    def employee_comment(self, incidencia_id: str, comentario_id: str, texto: str) -> Event:
        event = make_event("incidencia.comentada", {"incidencia_id": incidencia_id, "comentario": {
            "id": comentario_id, "autor": AGENTE_ACTOR.to_dict(), "texto": texto, "interna": False,
            "creado_en": "2026-11-01T10:00:00.000000Z"}}, RESOLUCION_ORIGIN)
        self.handlers.routes()[event.tipo](event)
        return event

    def customer_event(self, tipo: str, cliente_id: str) -> None:
        self.handlers.cliente_routes()[tipo](make_event(tipo, {"id": cliente_id, "nombre": "Ana"}, "clientes"))


@pytest.fixture
def api(tmp_path, issuers):  # noqa: F811 - the fixture imported above
    app = create_app(AperturaSettings(
        data_dir=tmp_path, keys_dir=tmp_path, mongo_url=None,
        clientes_jwks_url=issuers.clientes_jwks_url, empleados_jwks_url=issuers.empleados_jwks_url,
    ))
    yield Apertura(app, issuers)
    app.extensions["incidencias"].store.close()


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {e["campo"] for e in problem["errores"]}


# --- opening an incident -------------------------------------------------------

def test_opening_an_incident_answers_201_with_the_incident(api):
    before = datetime.now(timezone.utc)
    response = api.request("POST", "/incidencias", json=valid_body(prioridad="alta", categoria="sonido"))
    assert response.status_code == 201
    body = response.json
    assert response.headers["Location"].endswith(f"/incidencias/{body['id']}")
    assert body["estado"] == "abierta" and body["version"] == 1
    assert body["cliente"] == {"id": "c1", "nombre": "Ana Pérez"}  # from the token, not the body
    assert body["producto"] == {"referencia": "RAD-100", "nombre": "Radio portátil", "pedido": "PED-42"}
    assert body["titulo"] == "La radio no enciende" and body["prioridad"] == "alta"
    assert body["categoria"] == "sonido" and body["asignada_a"] is None
    assert body["historial"] == [{"de": None, "a": "abierta", "por": {"id": "c1", "rol": "cliente"},
                                  "en": body["creada_en"], "motivo": None, "cambios": None}]
    assert body["comentarios"] == [] and body["resolucion"] is None
    assert body["creada_en"] == body["actualizada_en"] >= before.strftime("%Y-%m-%dT%H:%M:%S")
    assert not {"idempotency_key", "idempotency_hash", "_rev", "_outbox"} & set(body)
    assert body["cancelacion_solicitada_en"] is None
    # The Location leads to the same incident, in the same shape.
    assert api.request("GET", response.headers["Location"]).json == body


def test_opening_publishes_incidencia_abierta_with_the_full_snapshot(api):
    body = api.open()
    [event] = api.take_events()
    assert event.tipo == "incidencia.abierta" and event.origen == "incidencias_apertura"
    snapshot = event.datos["incidencia"]
    stored, _ = api.incidencias.get(body["id"])
    assert snapshot == stored.to_snapshot(incluir_internas=False)
    assert snapshot["cliente"] == {"id": "c1", "nombre": "Ana Pérez", "anonimizado": False}
    for name in ("id", "titulo", "descripcion", "producto", "prioridad", "estado", "version", "historial",
                 "creada_en"):
        assert snapshot[name] == body[name]
    assert not {"idempotency_key", "idempotency_hash"} & set(snapshot)


def test_the_correlation_id_of_the_request_travels_in_the_event(api):
    response = api.request("POST", "/incidencias", json=valid_body(), headers={"X-Correlation-ID": "req-123"})
    assert response.headers["X-Correlation-ID"] == "req-123"
    assert api.take_events()[0].correlation_id == "req-123"


def test_defaults_and_trimming(api):
    body = api.open(titulo="Pantalla rota  \n", producto={"referencia": "TV-1", "nombre": "Tele"})
    assert body["prioridad"] == "media"
    assert body["categoria"] is None
    assert body["titulo"] == "Pantalla rota"
    assert body["producto"] == {"referencia": "TV-1", "nombre": "Tele", "pedido": None}


def test_text_with_leading_white_space_is_accepted_and_trimmed(api):
    response = api.request("POST", "/incidencias", json=valid_body(titulo="  Pantalla rota"))
    assert response.status_code == 201, response.json
    assert response.json["titulo"] == "Pantalla rota"


def test_a_comment_with_leading_white_space_is_accepted(api):
    opened = api.open()
    response = api.request("POST", f"/incidencias/{opened['id']}/comentarios", json={"texto": "\n¿Novedades?"})
    assert response.status_code == 201, response.json
    assert response.json["comentarios"][0]["texto"] == "¿Novedades?"


def test_a_top_level_pedido_goes_into_the_product(api):
    body = api.open(producto={"referencia": "TV-1", "nombre": "Tele"}, pedido="PED-7")
    assert body["producto"]["pedido"] == "PED-7"


def test_the_longest_allowed_values_are_accepted(api):
    body = api.open(titulo="t" * 200, descripcion="d" * 5000, categoria="c" * 50,
                    producto={"referencia": "r" * 100, "nombre": "n" * 200, "pedido": "p" * 100})
    assert len(body["titulo"]) == 200 and len(body["descripcion"]) == 5000


@pytest.mark.parametrize("body, fields", [
    ({}, {"titulo", "descripcion", "producto"}),
    (valid_body(titulo=None), {"titulo"}),
    ({k: v for k, v in valid_body().items() if k != "producto"}, {"producto"}),
    (valid_body(producto={"nombre": "Radio"}), {"producto.referencia"}),
    (valid_body(producto={"referencia": "R", "nombre": "Radio", "color": "rojo"}), {"producto.color"}),
    (valid_body(urgente=True, adjunto="x"), {"urgente", "adjunto"}),
    (valid_body(titulo=5, descripcion=["a"], prioridad=3, categoria=True),
     {"titulo", "descripcion", "prioridad", "categoria"}),
    (valid_body(producto="RAD-100"), {"producto"}),
    (valid_body(titulo={"$ne": 1}, producto={"referencia": {"$gt": ""}, "nombre": "Radio"}),
     {"titulo", "producto.referencia"}),
    (valid_body(titulo="t" * 201, descripcion="d" * 5001, categoria="c" * 51, pedido="p" * 101,
                producto={"referencia": "r" * 101, "nombre": "n" * 201, "pedido": "p" * 101}),
     {"titulo", "descripcion", "categoria", "pedido", "producto.referencia", "producto.nombre",
      "producto.pedido"}),
    (valid_body(prioridad="urgentisima"), {"prioridad"}),
    (valid_body(prioridad="MEDIA"), {"prioridad"}),
    (valid_body(titulo="   \t\n ", descripcion=""), {"titulo", "descripcion"}),
    ([valid_body()], {"(cuerpo)"}),
    ("texto suelto", {"(cuerpo)"}),
    (None, {"(cuerpo)"}),
], ids=["empty", "null titulo", "no producto", "no referencia", "unknown nested", "unknown fields",
        "wrong types", "producto not an object", "operators", "too long", "bad prioridad",
        "prioridad case", "blank strings", "array body", "string body", "null body"])
def test_bad_input_is_422_naming_every_field_and_writes_nothing(api, body, fields):
    response = api.request("POST", "/incidencias", data=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.content_type == PROBLEM
    problem = response.json
    assert problem["status"] == 422 and problem["type"].endswith(":validacion") and problem["title"]
    assert fields_of(problem) == fields
    for name in fields - {"(cuerpo)"}:
        assert name in problem["detail"]
    assert all(e["ubicacion"] == "cuerpo" and e["mensaje"] for e in problem["errores"])
    assert api.store.pending_events() == [] and api.count_incidents() == 0



def test_deeply_nested_json_is_400_not_500(api):
    body = '{"titulo": ' + "[" * 5000 + "]" * 5000 + "}"
    response = api.request("POST", "/incidencias", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


def test_a_lone_surrogate_is_refused_not_500(api):
    body = json.dumps(valid_body()).replace("La radio", "La \\ud800 radio")
    response = api.request("POST", "/incidencias", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.content_type == PROBLEM


@pytest.mark.parametrize("body", [
    '{"titulo": ' + "[" * 5000 + "]" * 5000 + "}",
    json.dumps(valid_body()).replace("La radio", "La \\ud800 radio"),
], ids=["deep nesting", "lone surrogate"])
def test_input_that_breaks_the_request_leaves_nothing_behind(api, body):
    response = api.request("POST", "/incidencias", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.content_type == PROBLEM
    assert "Traceback" not in response.get_data(as_text=True)
    assert api.store.pending_events() == [] and api.count_incidents() == 0


def test_malformed_json_is_400(api):
    response = api.request("POST", "/incidencias", data='{"titulo": "x",',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.content_type == PROBLEM
    assert response.json["status"] == 400 and response.json["errores"]
    assert api.store.pending_events() == [] and api.count_incidents() == 0


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", "text/xml"])
def test_a_body_that_is_not_json_is_415(api, content_type):
    response = api.request("POST", "/incidencias", data=json.dumps(valid_body()),
                           headers={"Content-Type": content_type})
    assert response.status_code == 415 and response.content_type == PROBLEM
    assert response.json["status"] == 415
    assert api.store.pending_events() == [] and api.count_incidents() == 0


def test_a_body_over_the_limit_is_413(api):
    limit = api.app.config["MAX_CONTENT_LENGTH"]
    response = api.request("POST", "/incidencias", data=json.dumps(valid_body(descripcion="d" * limit)),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.content_type == PROBLEM
    assert response.json["status"] == 413
    assert api.store.pending_events() == [] and api.count_incidents() == 0


@pytest.mark.parametrize("field, value", [
    ("estado", "cerrada"), ("version", 7), ("asignada_a", {"id": "e9", "nombre": "X"}),
    ("cliente", {"id": "c2", "nombre": "Otro"}), ("id", "elegido-por-mi"), ("_id", "x"), ("_rev", 5),
    ("historial", []), ("comentarios", []), ("resolucion", {"texto": "x"}), ("creada_en", "2020-01-01"),
    ("idempotency_key", "k"), ("cancelacion_solicitada_en", "2020-01-01"),
])
def test_mass_assignment_on_opening_is_rejected(api, field, value):
    response = api.request("POST", "/incidencias", json=valid_body(**{field: value}))
    assert response.status_code == 422
    assert fields_of(response.json) == {field}
    assert api.store.pending_events() == [] and api.count_incidents() == 0


# --- Idempotency-Key ------------------------------------------------------------

def test_the_same_idempotency_key_returns_the_first_incident_and_one_event(api):
    headers = {"Idempotency-Key": "pedido-42-intento"}
    first = api.request("POST", "/incidencias", json=valid_body(), headers=headers)
    again = api.request("POST", "/incidencias", json=valid_body(), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert [e.tipo for e in api.take_events()] == ["incidencia.abierta"]
    assert api.count_incidents() == 1


def test_the_same_key_returns_the_incident_as_it_is_now(api):
    headers = {"Idempotency-Key": "k-1"}
    first = api.request("POST", "/incidencias", json=valid_body(), headers=headers).json
    api.from_resolucion(first["id"], "asignada")
    again = api.request("POST", "/incidencias", json=valid_body(), headers=headers)
    assert again.status_code == 201
    assert again.json["id"] == first["id"] and again.json["estado"] == "asignada"


def test_the_same_key_with_another_body_is_409(api):
    headers = {"Idempotency-Key": "k-1"}
    first = api.request("POST", "/incidencias", json=valid_body(), headers=headers).json
    api.take_events()
    response = api.request("POST", "/incidencias", json=valid_body(titulo="Otra cosa"), headers=headers)
    assert response.status_code == 409 and response.content_type == PROBLEM
    assert api.take_events() == [] and api.count_incidents() == 1
    assert api.incidencias.get(first["id"])[0].titulo == "La radio no enciende"


@pytest.mark.parametrize("key", ["", "con espacio", "x" * 201, "ñandú"])
def test_an_invalid_idempotency_key_is_400(api, key):
    response = api.request("POST", "/incidencias", json=valid_body(),
                           headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert response.status_code == 400 and response.content_type == PROBLEM
    assert fields_of(response.json) == {"Idempotency-Key"}
    assert response.json["errores"][0]["ubicacion"] == "cabeceras"
    assert api.store.pending_events() == [] and api.count_incidents() == 0


def test_the_longest_idempotency_key_is_accepted(api):
    response = api.request("POST", "/incidencias", json=valid_body(), headers={"Idempotency-Key": "k" * 200})
    assert response.status_code == 201


def test_different_customers_may_use_the_same_key(api):
    headers = {"Idempotency-Key": "mismo"}
    mine = api.request("POST", "/incidencias", "c1", json=valid_body(), headers=headers)
    theirs = api.request("POST", "/incidencias", "c2", json=valid_body(), headers=headers)
    assert mine.status_code == theirs.status_code == 201
    assert mine.json["id"] != theirs.json["id"]
    assert theirs.json["cliente"]["id"] == "c2"
    assert len(api.take_events()) == 2


def test_without_a_key_every_request_opens_a_new_incident(api):
    ids = {api.open()["id"] for _ in range(3)}
    assert len(ids) == 3 and len(api.take_events()) == 3


def test_a_replayed_opening_says_it_is_a_replay(api):
    headers = {"Idempotency-Key": "k-replay"}
    first = api.request("POST", "/incidencias", json=valid_body(), headers=headers)
    again = api.request("POST", "/incidencias", json=valid_body(), headers=headers)
    assert "Idempotent-Replayed" not in first.headers and again.headers["Idempotent-Replayed"] == "true"


# --- Idempotency-Key on every change of an incident ----------------------------------
# path → (the steps resolucion takes first, the status, the body, another body;
# None: the action takes no body, so "another request" is another action on
# the same incident with the same key).
KEYED_ACTIONS = {
    "comentarios": (("asignada",), 201, {"texto": "¿Alguna novedad?"}, {"texto": "Otra cosa"}),
    "cierre": (("asignada", "en_curso", "resuelta"), 200, None, None),
    "reapertura": (("asignada", "en_curso", "resuelta"), 200, {"motivo": "Sigue sin ir"}, {"motivo": "Otro"}),
    "cancelacion": (("asignada",), 202, {"motivo": "Ya no la necesito"}, {"motivo": "Otro"}),
}


def _keyed_incident(api, action: str) -> str:
    opened = api.open()
    api.from_resolucion(opened["id"], *KEYED_ACTIONS[action][0])
    api.take_events()
    return opened["id"]


@pytest.mark.parametrize("action", KEYED_ACTIONS)
def test_a_retried_change_answers_as_the_first_time_and_happens_once(api, action):
    _steps, status, body, _other = KEYED_ACTIONS[action]
    incidencia_id = _keyed_incident(api, action)
    headers = {"Idempotency-Key": f"{action}-1"}
    first = api.request("POST", f"/incidencias/{incidencia_id}/{action}", json=body, headers=headers)
    assert first.status_code == status, first.json
    events = api.take_events()
    again = api.request("POST", f"/incidencias/{incidencia_id}/{action}", json=body, headers=headers)
    assert again.status_code == status and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(events) == 1 and api.take_events() == []
    assert len(api.incidencias.get(incidencia_id)[0].comentarios) == (1 if action == "comentarios" else 0)


@pytest.mark.parametrize("action", KEYED_ACTIONS)
def test_a_change_key_reused_for_another_request_is_409_and_changes_nothing(api, action):
    _steps, status, body, other = KEYED_ACTIONS[action]
    incidencia_id = _keyed_incident(api, action)
    headers = {"Idempotency-Key": "k-1"}
    assert api.request("POST", f"/incidencias/{incidencia_id}/{action}", json=body, headers=headers).status_code \
        == status
    api.take_events()
    before = api.incidencias.collection.get(incidencia_id)
    path, sent = (action, other) if other is not None else ("comentarios", {"texto": "Otra cosa"})
    response = api.request("POST", f"/incidencias/{incidencia_id}/{path}", json=sent, headers=headers)
    assert response.status_code == 409 and response.content_type == PROBLEM
    assert response.json["type"] == "urn:incidencias:problema:idempotencia"
    assert fields_of(response.json) == {"Idempotency-Key"}
    assert api.take_events() == [] and api.incidencias.collection.get(incidencia_id) == before


@pytest.mark.parametrize("action", KEYED_ACTIONS)
@pytest.mark.parametrize("key", ["", "con espacio", "x" * 201, "ñandú"])
def test_an_invalid_key_on_a_change_is_400_naming_the_header(api, action, key):
    _steps, _status, body, _other = KEYED_ACTIONS[action]
    incidencia_id = _keyed_incident(api, action)
    before = api.incidencias.collection.get(incidencia_id)
    response = api.request("POST", f"/incidencias/{incidencia_id}/{action}", json=body,
                           headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert response.status_code == 400 and response.content_type == PROBLEM
    assert response.json["errores"] == [{"campo": "Idempotency-Key", "mensaje": "No válida",
                                         "ubicacion": "cabeceras"}]
    assert api.take_events() == [] and api.incidencias.collection.get(incidencia_id) == before


def test_each_customer_and_each_key_is_its_own_comment(api):
    incidencia_id = _keyed_incident(api, "comentarios")
    for key in ("k-1", "k-2", "k-1"):
        api.request("POST", f"/incidencias/{incidencia_id}/comentarios", json={"texto": "hola"},
                    headers={"Idempotency-Key": key})
    api.request("POST", f"/incidencias/{incidencia_id}/comentarios", json={"texto": "hola"})
    assert len(api.incidencias.get(incidencia_id)[0].comentarios) == 3 and len(api.take_events()) == 3
    # another customer's key never reaches this incident: it is not theirs (404)
    response = api.request("POST", f"/incidencias/{incidencia_id}/comentarios", "c2", json={"texto": "hola"},
                           headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 404


def test_the_recent_keys_never_reach_an_answer_or_an_event(api):
    incidencia_id = _keyed_incident(api, "comentarios")
    answer = api.request("POST", f"/incidencias/{incidencia_id}/comentarios", json={"texto": "hola"},
                         headers={"Idempotency-Key": "secreta"})
    [event] = api.take_events()
    assert "secreta" not in answer.get_data(as_text=True) and "secreta" not in json.dumps(event.datos)
    assert "idempotency_keys" not in api.request("GET", f"/incidencias/{incidencia_id}").json


@pytest.mark.parametrize("path", ["/notificaciones/{id}/lectura", "/notificaciones/lectura"])
def test_a_retried_read_mark_answers_as_the_first_time(api, path):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "en_curso")
    newest = api.request("GET", "/notificaciones").json["elementos"][0]["id"]
    headers = {"Idempotency-Key": "leidas-1"}
    first = api.request("POST", path.format(id=newest), headers=headers)
    api.from_resolucion(opened["id"], "resuelta")  # news after the first answer
    again = api.request("POST", path.format(id=newest), headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert api.request("GET", "/notificaciones?no_leidas=true").json["total"] == (2 if "{id}" in path else 1)
    bad = api.request("POST", path.format(id=newest), headers={"Idempotency-Key": "con espacio"})
    assert bad.status_code == 400 and fields_of(bad.json) == {"Idempotency-Key"}


def test_a_read_mark_takes_no_body_and_its_key_belongs_to_what_it_marked(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada")
    headers = {"Idempotency-Key": "k-1"}
    assert api.request("POST", "/notificaciones/lectura", headers=headers).json == {"marcadas": 1}
    response = api.request("POST", "/notificaciones/lectura", json={"otra": 1}, headers=headers)
    assert response.status_code == 422  # no body is taken at all: the body is refused before any key
    [note] = api.request("GET", "/notificaciones").json["elementos"]
    response = api.request("POST", f"/notificaciones/{note['id']}/lectura", headers=headers)
    assert response.status_code == 200  # a key belongs to what it changed: another resource, another request


def test_openapi_documents_the_key_on_every_post_with_its_400_and_409(api):
    spec = api.client.get("/openapi.json").get_json()
    posts = {path: item["post"] for path, item in spec["paths"].items() if "post" in item}
    assert set(posts) == {"/incidencias", "/clientes/{cliente_id}/incidencias",
                          "/incidencias/{incidencia_id}/comentarios", "/incidencias/{incidencia_id}/cierre",
                          "/incidencias/{incidencia_id}/reapertura",
                          "/incidencias/{incidencia_id}/cancelacion", "/notificaciones/{notificacion_id}/lectura",
                          "/notificaciones/lectura", "/incidencias/{incidencia_id}/valoracion"}
    for path, operation in posts.items():
        [header] = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        assert (header["name"], header["required"], header["schema"]["maxLength"]) == ("Idempotency-Key", False, 200)
        assert {"400", "409"} <= set(operation["responses"]), path
        assert "Idempotency-Key" in operation["responses"]["409"]["description"], path


# --- listing and reading ------------------------------------------------------------

def test_the_list_holds_only_the_callers_incidents_newest_first_and_paginates(api):
    mine = [api.open(titulo=f"Incidencia {n}")["id"] for n in range(5)]
    api.open("c2")
    response = api.request("GET", "/incidencias?por_pagina=2")
    assert response.status_code == 200
    page = response.json
    assert page["total"] == 5 and page["paginas"] == 3 and page["pagina"] == 1 and page["por_pagina"] == 2
    assert [i["id"] for i in page["elementos"]] == mine[::-1][:2]
    seen = [i["id"] for i in page["elementos"]]
    while page["siguiente"]:
        page = api.request("GET", page["siguiente"]).json
        seen += [i["id"] for i in page["elementos"]]
    assert seen == mine[::-1]
    assert page["pagina"] == 3 and len(page["elementos"]) == 1
    other = api.request("GET", "/incidencias", "c2").json
    assert other["total"] == 1 and other["elementos"][0]["cliente"]["id"] == "c2"


def test_the_list_filters_by_estado(api):
    first, second, _ = (api.open()["id"] for _ in range(3))
    api.from_resolucion(first, "asignada")
    api.from_resolucion(second, "asignada", "en_curso")
    asignadas = api.request("GET", "/incidencias?estado=asignada").json
    assert [i["id"] for i in asignadas["elementos"]] == [first] and asignadas["total"] == 1
    assert api.request("GET", "/incidencias?estado=abierta").json["total"] == 1
    assert api.request("GET", "/incidencias?estado=cerrada").json == {
        "elementos": [], "pagina": 1, "por_pagina": 20, "total": 0, "paginas": 1, "siguiente": None}
    bad = api.request("GET", "/incidencias?estado=perdida")
    assert bad.status_code == 422 and fields_of(bad.json) == {"estado"}
    assert bad.json["errores"][0]["ubicacion"] == "consulta"


@pytest.mark.parametrize("query, field", [
    ("por_pagina=101", "por_pagina"), ("por_pagina=0", "por_pagina"), ("pagina=0", "pagina"),
    ("pagina=x", "pagina"),
])
def test_pagination_is_bounded(api, query, field):
    response = api.request("GET", f"/incidencias?{query}")
    assert response.status_code == 422 and fields_of(response.json) == {field}


def test_a_page_past_the_end_is_empty(api):
    api.open()
    page = api.request("GET", "/incidencias?pagina=5").json
    assert page["elementos"] == [] and page["total"] == 1 and page["siguiente"] is None


def test_get_one_of_my_incidents(api):
    opened = api.open()
    response = api.request("GET", f"/incidencias/{opened['id']}")
    assert response.status_code == 200 and response.json == opened


def test_another_customers_incident_and_an_unknown_one_are_404(api):
    theirs = api.open("c2")
    for path in (f"/incidencias/{theirs['id']}", "/incidencias/no-existe"):
        response = api.request("GET", path)
        assert response.status_code == 404 and response.content_type == PROBLEM
        assert response.json["status"] == 404
    # Nothing tells "exists but not yours" apart from "does not exist".
    assert api.request("GET", f"/incidencias/{theirs['id']}").json == api.request(
        "GET", "/incidencias/no-existe").json


@pytest.mark.parametrize("action, body", [
    ("cierre", None), ("reapertura", {"motivo": "Sigue igual"}), ("cancelacion", {}),
    ("comentarios", {"texto": "hola"}),
])
def test_acting_on_another_customers_incident_is_404_and_changes_nothing(api, action, body):
    theirs = api.open("c2")
    api.from_resolucion(theirs["id"], "asignada", "resuelta")
    before = api.incidencias.collection.get(theirs["id"])
    api.take_events()
    response = api.request("POST", f"/incidencias/{theirs['id']}/{action}", json=body)
    assert response.status_code == 404
    assert api.incidencias.collection.get(theirs["id"]) == before and api.take_events() == []


def test_the_answer_never_carries_internal_notes_even_if_a_snapshot_had_one(api):
    opened = api.open()
    incidencia, _ = api.incidencias.get(opened["id"])
    incidencia.comentar("n1", AGENTE_ACTOR, "NOTA INTERNA", True, datetime.now(timezone.utc))
    tipo = incidencia.asignar(RESOLUCION, AGENTE, SISTEMA, datetime.now(timezone.utc))
    api.handlers.routes()[tipo](make_event(tipo, {"incidencia": incidencia.to_snapshot(True)}, RESOLUCION_ORIGIN))
    response = api.request("GET", f"/incidencias/{opened['id']}")
    assert response.json["estado"] == "asignada"
    assert "NOTA INTERNA" not in response.get_data(as_text=True)
    assert "NOTA INTERNA" not in json.dumps(api.incidencias.collection.get(opened["id"]))


# --- closing, reopening, cancelling ------------------------------------------------------

def test_closing_a_resolved_incident(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "en_curso", "resuelta")
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/cierre")
    assert response.status_code == 200
    body = response.json
    assert body["estado"] == "cerrada" and body["version"] == 5 and body["cerrada_en"]
    assert body["historial"][-1]["de"] == "resuelta" and body["historial"][-1]["por"] == {
        "id": "c1", "rol": "cliente"}
    [event] = api.take_events()
    assert event.tipo == "incidencia.cerrada"
    assert event.datos["incidencia"]["version"] == 5 and event.datos["incidencia"]["estado"] == "cerrada"


def test_reopening_a_resolved_incident_needs_a_reason(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "resuelta")
    api.take_events()
    for body in (None, {}, {"motivo": "   "}, {"motivo": {"$ne": ""}}, {"motivo": "x" * 2001}):
        response = api.request("POST", f"/incidencias/{opened['id']}/reapertura", json=body)
        assert response.status_code == 422, body
        assert fields_of(response.json) == {"motivo"}
    assert api.take_events() == []
    response = api.request("POST", f"/incidencias/{opened['id']}/reapertura", json={"motivo": " Sigue sin ir \t"})
    assert response.status_code == 200
    body = response.json
    assert body["estado"] == "reabierta" and body["motivo_reapertura"] == "Sigue sin ir"
    assert body["asignada_a"] == {"id": "e1", "nombre": "Eva Soporte"}  # back to the same employee
    [event] = api.take_events()
    assert event.tipo == "incidencia.reabierta" and event.datos["incidencia"]["estado"] == "reabierta"
    assert event.datos["incidencia"]["version"] == body["version"] == 4


@pytest.mark.parametrize("steps, estado", [
    ((), "abierta"), (("asignada",), "asignada"), (("asignada", "en_curso"), "en_curso"),
    (("cancelada",), "cancelada"),
])
@pytest.mark.parametrize("action, body", [("cierre", None), ("reapertura", {"motivo": "No"})])
def test_closing_or_reopening_outside_resuelta_is_409_with_the_state(api, steps, estado, action, body):
    opened = api.open()
    api.from_resolucion(opened["id"], *steps)
    before = api.incidencias.collection.get(opened["id"])
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/{action}", json=body)
    assert response.status_code == 409 and response.content_type == PROBLEM
    assert response.json["estado"] == estado
    assert api.incidencias.collection.get(opened["id"]) == before and api.take_events() == []


def test_a_closed_incident_can_be_neither_closed_nor_reopened_again(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "resuelta")
    assert api.request("POST", f"/incidencias/{opened['id']}/cierre").status_code == 200
    api.take_events()
    for action, body in (("cierre", None), ("reapertura", {"motivo": "No"}), ("cancelacion", {})):
        response = api.request("POST", f"/incidencias/{opened['id']}/{action}", json=body)
        assert response.status_code == 409 and response.json["estado"] == "cerrada"
    assert api.take_events() == []


@pytest.mark.parametrize("steps", [(), ("asignada",), ("asignada", "en_curso")])
def test_cancelling_while_resolucion_owns_it_is_a_202_request(api, steps):
    opened = api.open()
    api.from_resolucion(opened["id"], *steps)
    version = api.incidencias.get(opened["id"])[0].version
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/cancelacion", json={"motivo": "\tYa no lo necesito  "})
    assert response.status_code == 202
    body = response.json
    # Only a request: the state is resolucion's to change.
    assert body["estado"] == (steps[-1] if steps else "abierta") and body["version"] == version
    assert body["cancelacion_solicitada_en"]
    [event] = api.take_events()
    assert event.tipo == "incidencia.cancelacion_solicitada"
    assert event.datos == {"incidencia_id": opened["id"], "cliente_id": "c1", "motivo": "Ya no lo necesito",
                           "solicitada_en": body["cancelacion_solicitada_en"]}


def test_cancelling_without_a_body_or_reason(api):
    opened = api.open()
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/cancelacion")
    assert response.status_code == 202
    [event] = api.take_events()
    assert event.datos["motivo"] is None


def test_cancelling_a_reopened_incident_is_a_request_too(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "resuelta")
    api.request("POST", f"/incidencias/{opened['id']}/reapertura", json={"motivo": "No va"})
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/cancelacion", json={})
    assert response.status_code == 202
    assert [e.tipo for e in api.take_events()] == ["incidencia.cancelacion_solicitada"]


@pytest.mark.parametrize("steps, estado", [(("asignada", "resuelta"), "resuelta"), (("cancelada",), "cancelada")])
def test_cancelling_when_resuelta_or_final_is_409(api, steps, estado):
    opened = api.open()
    api.from_resolucion(opened["id"], *steps)
    before = api.incidencias.collection.get(opened["id"])
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/cancelacion", json={})
    assert response.status_code == 409 and response.json["estado"] == estado
    assert api.take_events() == [] and api.incidencias.collection.get(opened["id"]) == before


def test_cancellation_body_is_validated(api):
    opened = api.open()
    api.take_events()
    for body in ({"motivo": 3}, {"estado": "cancelada"}, {"motivo": "x" * 2001}):
        response = api.request("POST", f"/incidencias/{opened['id']}/cancelacion", json=body)
        assert response.status_code == 422
    assert api.take_events() == []


# --- comments ---------------------------------------------------------------------------

def test_commenting_publishes_incidencia_comentada(api):
    opened = api.open()
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/comentarios", json={"texto": "  ¿Alguna novedad?\n"})
    assert response.status_code == 201
    body = response.json
    [comentario] = body["comentarios"]
    assert comentario["texto"] == "¿Alguna novedad?"
    assert comentario["autor"] == {"id": "c1", "rol": "cliente", "nombre": "Ana Pérez"}
    assert "interna" not in comentario
    assert body["version"] == 1  # comments are not versioned
    [event] = api.take_events()
    assert event.tipo == "incidencia.comentada"
    assert event.datos["incidencia_id"] == opened["id"]
    assert event.datos["comentario"]["id"] == comentario["id"]
    assert event.datos["comentario"]["interna"] is False
    assert api.request("GET", f"/incidencias/{opened['id']}").json["comentarios"] == [comentario]


@pytest.mark.parametrize("body, fields", [
    ({"texto": "x", "interna": True}, {"interna"}),
    ({}, {"texto"}),
    ({"texto": "  "}, {"texto"}),
    ({"texto": {"$ne": None}}, {"texto"}),
    ({"texto": "x" * 5001}, {"texto"}),
    ({"texto": "x", "id": "mio", "autor": {"id": "e1", "rol": "admin"}}, {"id", "autor"}),
])
def test_bad_comments_are_422_and_write_nothing(api, body, fields):
    opened = api.open()
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/comentarios", json=body)
    assert response.status_code == 422 and fields_of(response.json) == fields
    assert api.take_events() == []
    assert api.incidencias.get(opened["id"])[0].comentarios == []


def test_commenting_on_a_final_incident_is_409(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "cancelada")
    api.take_events()
    response = api.request("POST", f"/incidencias/{opened['id']}/comentarios", json={"texto": "hola"})
    assert response.status_code == 409 and response.json["estado"] == "cancelada"
    assert api.take_events() == []


MASS_ASSIGNMENT = [
    ("estado", "cerrada"), ("version", 99), ("asignada_a", {"id": "e9"}), ("cliente", {"id": "c2"}),
    ("id", "x"), ("_id", "x"), ("_rev", 1),
]


@pytest.mark.parametrize("action", ["reapertura", "cancelacion", "comentarios"])
@pytest.mark.parametrize("field, value", [
    *MASS_ASSIGNMENT,
])
def test_mass_assignment_on_actions_is_rejected(api, action, field, value):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "resuelta")
    before = api.incidencias.collection.get(opened["id"])
    api.take_events()
    body = {"reapertura": {"motivo": "No"}, "cancelacion": {}, "comentarios": {"texto": "hola"}}[action]
    response = api.request("POST", f"/incidencias/{opened['id']}/{action}", json={**body, field: value})
    assert response.status_code == 422, response.json
    assert field in fields_of(response.json)
    assert api.incidencias.collection.get(opened["id"]) == before and api.take_events() == []


def test_cierre_rejects_unknown_fields_like_every_other_endpoint(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "resuelta")
    response = api.request("POST", f"/incidencias/{opened['id']}/cierre", json={"estado": "reabierta"})
    assert response.status_code == 422
    assert api.incidencias.get(opened["id"])[0].estado.value == "resuelta"


# --- notifications ---------------------------------------------------------------------------

def test_resolucion_events_become_notifications_newest_first(api):
    opened = api.open()
    t0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
    events = api.from_resolucion(opened["id"], "asignada", "en_curso", "resuelta", at=t0)
    api.open("c2")  # someone else's incident and notifications stay theirs
    other = api.request("GET", "/incidencias", "c2").json["elementos"][0]
    api.from_resolucion(other["id"], "asignada")
    response = api.request("GET", "/notificaciones")
    assert response.status_code == 200
    page = response.json
    assert page["total"] == 3
    assert [n["tipo"] for n in page["elementos"]] == [
        "incidencia.resuelta", "incidencia.en_curso", "incidencia.asignada"]
    assert [n["id"] for n in page["elementos"]] == [e.id for e in reversed(events)]
    newest = page["elementos"][0]
    assert newest["incidencia_id"] == opened["id"] and newest["leida"] is False
    assert "La radio no enciende" in newest["mensaje"]
    assert "Eva Soporte" in page["elementos"][2]["mensaje"]
    assert set(newest) == {"id", "incidencia_id", "tipo", "mensaje", "creada_en", "leida"}
    # A redelivered event does not notify twice.
    api.handlers.routes()[events[0].tipo](events[0])
    assert api.request("GET", "/notificaciones").json["total"] == 3
    paged = api.request("GET", "/notificaciones?por_pagina=2").json
    assert paged["paginas"] == 2 and paged["siguiente"]


def test_an_employee_comment_notifies_the_customer_and_shows_in_the_incident(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada")
    api.employee_comment(opened["id"], "ec1", "Estamos en ello")
    notes = api.request("GET", "/notificaciones").json["elementos"]
    assert notes[0]["tipo"] == "incidencia.comentada"
    comentarios = api.request("GET", f"/incidencias/{opened['id']}").json["comentarios"]
    assert [c["texto"] for c in comentarios] == ["Estamos en ello"]


def test_marking_notifications_read(api):
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "en_curso", "resuelta")
    ids = [n["id"] for n in api.request("GET", "/notificaciones").json["elementos"]]
    response = api.request("POST", f"/notificaciones/{ids[0]}/lectura")
    assert response.status_code == 200
    assert response.json["id"] == ids[0] and response.json["leida"] is True
    assert api.request("POST", f"/notificaciones/{ids[0]}/lectura").json["leida"] is True  # idempotent
    unread = api.request("GET", "/notificaciones?no_leidas=true").json
    assert unread["total"] == 2 and ids[0] not in [n["id"] for n in unread["elementos"]]
    response = api.request("POST", "/notificaciones/lectura")
    assert response.status_code == 200 and response.json == {"marcadas": 2}
    assert api.request("GET", "/notificaciones?no_leidas=true").json["total"] == 0
    assert api.request("POST", "/notificaciones/lectura").json == {"marcadas": 0}
    every = api.request("GET", "/notificaciones").json
    assert every["total"] == 3 and all(n["leida"] for n in every["elementos"])


def test_another_customers_notification_is_404_and_stays_unread(api):
    theirs = api.open("c2")
    api.from_resolucion(theirs["id"], "asignada")
    [note] = api.request("GET", "/notificaciones", "c2").json["elementos"]
    for path in (f"/notificaciones/{note['id']}/lectura", "/notificaciones/no-existe/lectura"):
        response = api.request("POST", path)
        assert response.status_code == 404 and response.content_type == PROBLEM
    assert api.request("POST", "/notificaciones/lectura").json == {"marcadas": 0}
    assert api.request("GET", "/notificaciones", "c2").json["elementos"][0]["leida"] is False


def test_notification_query_is_validated(api):
    assert api.request("GET", "/notificaciones?no_leidas=quizas").status_code == 422
    assert api.request("GET", "/notificaciones?por_pagina=1000").status_code == 422


# --- authentication and roles ---------------------------------------------------------------------

ENDPOINTS = [
    ("POST", "/incidencias", valid_body()),
    ("GET", "/incidencias", None),
    ("GET", "/incidencias/{id}", None),
    ("POST", "/incidencias/{id}/comentarios", {"texto": "hola"}),
    ("POST", "/incidencias/{id}/cierre", None),
    ("POST", "/incidencias/{id}/reapertura", {"motivo": "No"}),
    ("POST", "/incidencias/{id}/cancelacion", {}),
    ("POST", "/incidencias/{id}/valoracion", {"puntuacion": 5}),
    ("GET", "/notificaciones", None),
    ("POST", "/notificaciones/{nid}/lectura", None),
    ("POST", "/notificaciones/lectura", None),
]


@pytest.fixture
def resolved(api):
    """An incident of c1 in resuelta with one notification, and an empty outbox."""
    opened = api.open()
    api.from_resolucion(opened["id"], "asignada", "resuelta")
    note = api.request("GET", "/notificaciones").json["elementos"][0]
    api.take_events()
    return {"id": opened["id"], "nid": note["id"]}


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
@pytest.mark.parametrize("rol", ["agente", "supervisor", "admin"])
def test_staff_tokens_are_403_everywhere(api, resolved, method, path, body, rol):
    before = api.incidencias.collection.get(resolved["id"])
    response = api.client.open(path.format(**resolved), method=method, json=body,
                               headers=api.issuers.bearer_empleado("e1", rol))
    assert response.status_code == 403 and response.content_type == PROBLEM
    assert api.take_events() == [] and api.incidencias.collection.get(resolved["id"]) == before


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_no_token_is_401_everywhere(api, resolved, method, path, body):
    for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Basic YTpi"},
                    {"Authorization": api.issuers.cliente()}):
        response = api.client.open(path.format(**resolved), method=method, json=body, headers=headers)
        assert response.status_code == 401 and response.content_type == PROBLEM
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.take_events() == []


def test_authentication_comes_before_validation(api):
    response = api.client.post("/incidencias", json={"titulo": {"$ne": 1}})
    assert response.status_code == 401 and "errores" not in response.json


def test_bad_tokens_are_401(api, issuers):  # noqa: F811
    for why, token in bad_tokens(issuers).items():
        response = api.client.post("/incidencias", json=valid_body(), headers=bearer(token))
        assert response.status_code == 401, why
        assert response.content_type == PROBLEM
    assert api.store.pending_events() == [] and api.count_incidents() == 0


def test_keys_are_fetched_over_http_from_the_issuer(api, issuers):  # noqa: F811
    before = issuers.server.fetches.get("clientes", 0)
    api.open()
    assert issuers.server.fetches["clientes"] == before + 1
    api.open()
    assert issuers.server.fetches["clientes"] == before + 1  # cached afterwards


def test_a_deleted_customer_is_refused_at_once(api):
    opened = api.open()
    api.open("c2")
    token = api.as_cliente("c1")
    assert api.client.get("/incidencias", headers=token).status_code == 200
    api.customer_event("cliente.eliminado", "c1")
    for method, path, body in ENDPOINTS:
        response = api.client.open(path.format(id=opened["id"], nid="x"), method=method, json=body, headers=token)
        assert response.status_code == 401, (method, path)
    # Only that customer.
    assert api.request("GET", "/incidencias", "c2").json["total"] == 1
    # A late cliente.actualizado does not bring the account back.
    api.customer_event("cliente.actualizado", "c1")
    assert api.client.get("/incidencias", headers=token).status_code == 401


def test_a_session_issued_before_the_customers_password_change_is_refused(api):
    token = api.as_cliente("c1")
    issued = datetime.now(timezone.utc).replace(microsecond=0)  # the token's iat, or the second before it
    changed = make_event("cliente.actualizado", {"id": "c1", "nombre": "Ana", "email": "ana@example.com",
                                                 "sesiones_desde": (issued - timedelta(hours=1)).isoformat()},
                         "clientes")
    api.handlers.on_cliente(changed)
    assert api.client.get("/incidencias", headers=token).status_code == 200  # issued after the change
    later = make_event("cliente.actualizado", {"id": "c1", "nombre": "Ana", "email": "ana@example.com",
                                               "sesiones_desde": (issued + timedelta(seconds=2)).isoformat()},
                       "clientes")
    api.handlers.on_cliente(later)
    response = api.client.get("/incidencias", headers=token)
    assert response.status_code == 401 and response.json["detail"] == "La cuenta de este token ya no está activa"
    assert api.request("GET", "/incidencias", "c2").status_code == 200  # only that customer's


def test_a_customer_the_service_has_not_heard_of_yet_may_open(api):
    # The token is the proof of identity; the replica only knows deletions.
    assert api.request("POST", "/incidencias", "nuevo", json=valid_body()).status_code == 201


# --- the customer's rating, and what a service level promises them -------------------------
def closed(api) -> str:
    incidencia_id = api.open()["id"]
    api.from_resolucion(incidencia_id, "asignada", "resuelta")
    assert api.request("POST", f"/incidencias/{incidencia_id}/cierre").status_code == 200
    api.take_events()
    return incidencia_id


def test_the_customer_rates_a_closed_incident_once(api):
    incidencia_id = closed(api)
    rated = api.request("POST", f"/incidencias/{incidencia_id}/valoracion",
                        json={"puntuacion": 4, "comentario": "Rápidos y amables"})
    assert rated.status_code == 201, rated.json
    assert {k: rated.json["valoracion"][k] for k in ("puntuacion", "comentario")} == {
        "puntuacion": 4, "comentario": "Rápidos y amables"}
    [event] = api.take_events()
    assert (event.tipo, event.datos["incidencia_id"], event.datos["valoracion"]) == (
        "incidencia.valorada", incidencia_id, rated.json["valoracion"])
    again = api.request("POST", f"/incidencias/{incidencia_id}/valoracion", json={"puntuacion": 1})
    assert again.status_code == 409 and again.content_type == PROBLEM and api.take_events() == []
    other = api.request("POST", f"/incidencias/{incidencia_id}/valoracion", "c2", json={"puntuacion": 1})
    assert other.status_code == 404


def test_an_incident_not_closed_is_not_rated(api):
    incidencia_id = api.open()["id"]
    refused = api.request("POST", f"/incidencias/{incidencia_id}/valoracion", json={"puntuacion": 5})
    assert refused.status_code == 409 and refused.json["estado_actual"] == "abierta"
    assert api.take_events()[-1].tipo == "incidencia.abierta"


@pytest.mark.parametrize("body, campos", [
    ({}, {"puntuacion"}), ({"puntuacion": 0}, {"puntuacion"}), ({"puntuacion": 6}, {"puntuacion"}),
    ({"puntuacion": "5"}, {"puntuacion"}), ({"puntuacion": 4.5}, {"puntuacion"}),
    ({"puntuacion": 3, "comentario": "x" * 2001}, {"comentario"}), ({"puntuacion": 3, "estrellas": 3}, {"estrellas"}),
])
def test_a_bad_rating_is_a_422_naming_the_field(api, body, campos):
    incidencia_id = closed(api)
    response = api.request("POST", f"/incidencias/{incidencia_id}/valoracion", json=body)
    assert response.status_code == 422 and fields_of(response.json) == campos
    assert api.take_events() == []


def test_the_customer_sees_when_to_expect_a_first_answer(api):
    politica = {"calendario": {"zona": "UTC", "dias": [0, 1, 2, 3, 4, 5, 6], "desde": "00:00", "hasta": "23:59",
                               "pais": None, "region": None, "cierres": []},
                "por_prioridad": {"alta": {"primera_respuesta_minutos": 60, "resolucion_minutos": 600}},
                "por_categoria": {}}
    api.handlers.routes()["sla.politica_actualizada"](make_event(
        "sla.politica_actualizada", {"politica": politica, "version": 1, "actualizada_en": None}, RESOLUCION_ORIGIN))
    sin = api.open(prioridad="media")
    con = api.open(prioridad="alta")
    assert sin["primera_respuesta_prevista"] is None
    prevista = datetime.fromisoformat(con["primera_respuesta_prevista"])
    creada = datetime.fromisoformat(con["creada_en"])
    assert timedelta(minutes=60) <= prevista - creada <= timedelta(minutes=61)  # the minute before midnight is off
    assert "plazos" not in con and "sla" not in con
    api.handlers.routes()["incidencia.comentada"](make_event("incidencia.comentada", {
        "incidencia_id": con["id"], "comentario": {
            "id": "k1", "autor": AGENTE_ACTOR.to_dict(), "texto": "Lo miramos", "interna": False,
            "creado_en": format_instant(datetime.now(timezone.utc))}}, RESOLUCION_ORIGIN))
    assert api.request("GET", f"/incidencias/{con['id']}").json["primera_respuesta_prevista"] is None
