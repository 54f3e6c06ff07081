"""incidencias_resolucion over HTTP: the employees' incident API.

The application is built by its real factory on a real SQLite file and
driven through Flask's test client. What is faked, and why:

- the token issuers (`clientes`, `empleados`): ``token_issuers`` signs real
  EdDSA tokens and serves their JWKS over real HTTP on 127.0.0.1, so the
  service verifies them exactly as in production without running the two
  identity services;
- the broker: the replica of employees and the incidents arrive the way the
  worker receives them, by handing ``empleado.*`` and ``incidencia.abierta``
  events to the worker's own ``ResolucionHandlers`` on the same store the app
  uses; what a request publishes is read back from the outbox
  (``store.pending_events()``). Delivery through RabbitMQ is covered by
  tests/integration/test_messaging.py and tests/e2e.

One shortcut, where a test needs an incident nobody holds while an agent is
active: ``arrive_unassigned`` stores the incident with the repository's
``apply_snapshot``, the handler's replication step, without the automatic
assignment the handler runs right after it (the window a request can hit in
production between the two).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from common.messaging import Event, make_event, new_id
from common.tokens import TokenIssuer
from incidencias_apertura import events as apertura_events
from incidencias_dominio import APERTURA, Actor, Incidencia
from incidencias_resolucion.app import create_app
from incidencias_resolucion.config import ResolucionSettings
from incidencias_resolucion.handlers import ResolucionHandlers
from tests.integration.token_issuers import (  # noqa: F401 - issuers is a fixture
    AUDIENCE,
    Issuers,
    bad_tokens,
    bearer,
    issuers,
    new_issuer,
)

PROBLEM = "application/problem+json"
STAFF = {
    "e1": ("agente", "Eva", "Soporte"),
    "e2": ("agente", "Luis", "Gómez"),
    "s1": ("supervisor", "Sara", "Jefa"),
    "a1": ("admin", "Alba", "Admin"),
}


class Resolucion:
    def __init__(self, app, issuers: Issuers):
        self.app = app
        self.client = app.test_client()
        self.issuers = issuers
        state = app.extensions["incidencias"]
        self.store = state.store
        self.incidencias = state.incidencias
        self.empleados = state.empleados
        self.handlers = ResolucionHandlers(state)
        self.versions: dict[str, int] = {}

    # -- HTTP --
    def token(self, empleado_id: str) -> dict[str, str]:
        rol, nombre, apellidos = STAFF.get(empleado_id, ("agente", "Nadie", ""))
        return self.issuers.bearer_empleado(empleado_id, rol, f"{nombre} {apellidos}".strip())

    def request(self, method: str, path: str, who: str | None = "a1", **kwargs):
        headers = {**(self.token(who) if who else {}), **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def ok(self, method: str, path: str, who: str = "a1", status: int = 200, **kwargs) -> dict[str, Any]:
        response = self.request(method, path, who, **kwargs)
        assert response.status_code == status, response.json
        return response.json

    # -- what the worker receives --
    def register(self, empleado_id: str, activo: bool = True, categorias=(), tipo: str | None = None) -> None:
        rol, nombre, apellidos = STAFF[empleado_id]
        self.versions[empleado_id] = self.versions.get(empleado_id, 0) + 1
        tipo = tipo or ("empleado.registrado" if activo else "empleado.baja")
        self.handlers.on_empleado(make_event(tipo, {
            "id": empleado_id, "nombre": nombre, "apellidos": apellidos, "rol": rol,
            "categorias": list(categorias), "activo": activo, "version": self.versions[empleado_id],
        }, "empleados"))

    def abierta(self, cliente: str = "c1", categoria: str | None = None, prioridad: str = "media",
                creada_en: datetime | None = None, titulo: str = "No enciende",
                descripcion: str = "Desde ayer") -> Event:
        incidencia = Incidencia.abrir(
            new_id(), {"id": cliente, "nombre": "Ana Pérez"}, {"referencia": "RAD-1", "nombre": "Radio"},
            titulo, descripcion, categoria, prioridad, creada_en or datetime.now(timezone.utc))
        return apertura_events.snapshot("incidencia.abierta", incidencia)

    def arrive(self, **kwargs: Any) -> str:
        event = self.abierta(**kwargs)
        self.handlers.routes()[event.tipo](event)
        return event.datos["incidencia"]["id"]

    def arrive_unassigned(self, **kwargs: Any) -> str:
        event = self.abierta(**kwargs)
        self.incidencias.apply_snapshot(event.datos["incidencia"])
        return event.datos["incidencia"]["id"]

    def from_apertura(self, incidencia_id: str, step: str) -> None:
        """What apertura publishes when the customer closes or reopens."""
        incidencia = self.incidencias.get(incidencia_id)[0]
        at = datetime.now(timezone.utc)
        por = Actor(incidencia.cliente.id, "cliente")
        tipo = (incidencia.cerrar(APERTURA, por, at) if step == "cerrada"
                else incidencia.reabrir(APERTURA, "Sigue igual", por, at))
        event = apertura_events.snapshot(tipo, incidencia)
        self.handlers.routes()[event.tipo](event)

    def cancel_request(self, incidencia_id: str) -> None:
        incidencia = self.incidencias.get(incidencia_id)[0]
        event = apertura_events.cancelacion_solicitada(incidencia, "Ya no", datetime.now(timezone.utc))
        self.handlers.routes()[event.tipo](event)

    # -- outbox and state --
    def take_events(self) -> list[Event]:
        pending = self.store.pending_events(10_000)
        self.store.mark_published(e.id for e in pending)
        return [Event.parse(e.body) for e in pending]

    def raw(self, incidencia_id: str) -> dict[str, Any]:
        return self.incidencias.collection.get(incidencia_id)

    def estado(self, incidencia_id: str) -> str:
        return self.incidencias.get(incidencia_id)[0].estado.value


@pytest.fixture
def api(tmp_path, issuers):  # noqa: F811 - the fixture imported above
    app = create_app(ResolucionSettings(
        data_dir=tmp_path, keys_dir=tmp_path, mongo_url=None,
        clientes_jwks_url=issuers.clientes_jwks_url, empleados_jwks_url=issuers.empleados_jwks_url,
    ))
    resolucion = Resolucion(app, issuers)
    resolucion.register("a1")  # admins are never assigned automatically
    yield resolucion
    app.extensions["incidencias"].store.close()


@pytest.fixture
def team(api):
    """Two agents and a supervisor; e1 holds one incident (asignada), the outbox is empty."""
    api.register("e1")
    api.register("e2")
    api.register("s1")
    incidencia_id = api.arrive()
    assert api.incidencias.get(incidencia_id)[0].asignada_a.id == "e1"
    api.take_events()
    return incidencia_id


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {e["campo"] for e in problem["errores"]}


def ids(page: dict[str, Any]) -> list[str]:
    return [i["id"] for i in page["elementos"]]


# --- listing --------------------------------------------------------------------------

def test_list_filters(api):
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    # Only admins in the replica: every incident waits, unassigned.
    sonido = api.arrive(categoria="sonido", prioridad="alta", creada_en=t0)
    pantalla = api.arrive(categoria="pantalla", prioridad="baja", creada_en=t0 + timedelta(minutes=1))
    mio = api.arrive(categoria="sonido", prioridad="critica", creada_en=t0 + timedelta(minutes=2))
    otro = api.arrive(prioridad="alta", creada_en=t0 + timedelta(minutes=3))
    api.register("s1")  # with no agent, the supervisor takes every waiting one ...
    assert {api.incidencias.get(i)[0].asignada_a.id for i in (sonido, pantalla, mio, otro)} == {"s1"}
    api.ok("POST", f"/incidencias/{mio}/asignacion", json={})  # ... the admin takes one for herself
    api.ok("POST", f"/incidencias/{otro}/inicio", who="s1")
    waiting = api.arrive_unassigned(creada_en=t0 + timedelta(minutes=4))

    def listed(query: str, who: str = "a1") -> list[str]:
        page = api.ok("GET", f"/incidencias?{query}", who)
        assert page["total"] == len(page["elementos"])
        return ids(page)

    assert listed("") == [sonido, pantalla, mio, otro, waiting]
    assert listed("estado=asignada") == [sonido, pantalla, mio]
    assert listed("estado=en_curso") == [otro]
    assert listed("asignada_a=s1") == [sonido, pantalla, otro]
    assert listed("asignada_a=yo") == [mio]
    assert listed("asignada_a=yo", "s1") == [sonido, pantalla, otro]
    assert listed("asignada_a=nadie") == []
    assert listed("prioridad=alta") == [sonido, otro]
    assert listed("categoria=sonido") == [sonido, mio]
    assert listed("sin_asignar=true") == [waiting]
    assert listed("sin_asignar=true&estado=asignada") == []
    assert listed("estado=asignada&asignada_a=s1&categoria=pantalla&prioridad=baja") == [pantalla]


def test_a_customers_history_lists_every_incident_of_theirs_in_any_state(api):
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    primera = api.arrive(cliente="c1", creada_en=t0)
    ajena = api.arrive(cliente="c2", creada_en=t0 + timedelta(minutes=1))
    segunda = api.arrive(cliente="c1", creada_en=t0 + timedelta(minutes=2))
    api.register("e1")  # takes the waiting ones
    api.ok("POST", f"/incidencias/{primera}/resolucion", "e1", json={"texto": "Hecho"})
    api.from_apertura(primera, "cerrada")

    def history(query: str, who: str = "e1") -> list[str]:
        page = api.ok("GET", f"/incidencias?{query}", who)
        assert page["total"] == len(page["elementos"])
        return ids(page)

    assert history("cliente_id=c1&orden=recientes") == [segunda, primera]
    assert history("cliente_id=c1&estado=cerrada") == [primera]
    assert history("cliente_id=c2", "a1") == [ajena]
    assert history("cliente_id=nadie") == []


def test_list_orders(api):
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    baja = api.arrive(prioridad="baja", creada_en=t0)
    critica = api.arrive(prioridad="critica", creada_en=t0 + timedelta(minutes=1))
    alta_vieja = api.arrive(prioridad="alta", creada_en=t0 + timedelta(minutes=2))
    alta_nueva = api.arrive(prioridad="alta", creada_en=t0 + timedelta(minutes=3))
    media = api.arrive(prioridad="media", creada_en=t0 + timedelta(minutes=4))
    oldest_first = [baja, critica, alta_vieja, alta_nueva, media]
    assert ids(api.ok("GET", "/incidencias")) == oldest_first
    assert ids(api.ok("GET", "/incidencias?orden=antiguedad")) == oldest_first
    assert ids(api.ok("GET", "/incidencias?orden=recientes")) == oldest_first[::-1]
    assert ids(api.ok("GET", "/incidencias?orden=prioridad")) == [critica, alta_vieja, alta_nueva, media, baja]
    # A data change moves it in the priority order.
    api.ok("PATCH", f"/incidencias/{baja}", json={"prioridad": "critica"})
    assert ids(api.ok("GET", "/incidencias?orden=prioridad"))[:2] == [baja, critica]


def test_list_paginates(api):
    t0 = datetime.now(timezone.utc) - timedelta(hours=1)
    created = [api.arrive(creada_en=t0 + timedelta(minutes=n)) for n in range(5)]
    page = api.ok("GET", "/incidencias?por_pagina=2&orden=recientes&estado=abierta")
    assert (page["total"], page["paginas"], page["pagina"], page["por_pagina"]) == (5, 3, 1, 2)
    seen = ids(page)
    while page["siguiente"]:
        assert "estado=abierta" in page["siguiente"] and "orden=recientes" in page["siguiente"]
        page = api.ok("GET", page["siguiente"])
        seen += ids(page)
    assert seen == created[::-1]
    assert api.ok("GET", "/incidencias?pagina=9")["elementos"] == []


@pytest.mark.parametrize("query, field", [
    ("estado=perdida", "estado"), ("prioridad=urgente", "prioridad"), ("orden=alfabetico", "orden"),
    ("sin_asignar=quizas", "sin_asignar"), ("por_pagina=101", "por_pagina"), ("pagina=0", "pagina"),
    ("asignada_a=", "asignada_a"), ("categoria=" + "c" * 51, "categoria"), ("asignada_a=" + "x" * 65, "asignada_a"),
    ("cliente_id=", "cliente_id"), ("cliente_id=" + "c" * 65, "cliente_id"),
])
def test_bad_list_queries_are_422(api, query, field):
    response = api.request("GET", f"/incidencias?{query}")
    assert response.status_code == 422 and response.content_type == PROBLEM
    assert fields_of(response.json) == {field}
    assert response.json["errores"][0]["ubicacion"] == "consulta"


def test_operator_like_query_values_match_nothing(api):
    api.arrive(categoria="sonido")
    # An unknown query parameter is ignored (the whole list) ...
    assert api.ok("GET", "/incidencias?categoria[$ne]=x")["total"] == 1
    # ... and operator-looking values are matched literally.
    assert api.ok("GET", "/incidencias?categoria=%7B%22%24ne%22%3A%22x%22%7D")["total"] == 0
    assert api.ok("GET", "/incidencias?asignada_a=%24ne")["total"] == 0
    assert api.ok("GET", "/incidencias?categoria=%24regex")["total"] == 0


# --- reading one ------------------------------------------------------------------------

def test_get_one_shows_internal_notes(api, team):
    api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"texto": "Proveedor lento", "interna": True})
    body = api.ok("GET", f"/incidencias/{team}", "e2")  # any employee may read
    [nota] = body["comentarios"]
    assert nota["interna"] is True and nota["texto"] == "Proveedor lento"
    assert nota["autor"] == {"id": "e1", "rol": "agente", "nombre": "Eva Soporte"}
    assert body["asignada_a"] == {"id": "e1", "nombre": "Eva Soporte"}
    assert body["cliente"] == {"id": "c1", "nombre": "Ana Pérez"}
    assert "prioridad_rank" not in body and "_rev" not in body


def test_an_unknown_incident_is_404_everywhere(api):
    api.register("e1")
    for method, path, body in (
        ("GET", "/incidencias/nada", None), ("POST", "/incidencias/nada/asignacion", {}),
        ("POST", "/incidencias/nada/inicio", None), ("POST", "/incidencias/nada/resolucion", {"texto": "x"}),
        ("POST", "/incidencias/nada/comentarios", {"texto": "x"}),
        ("PATCH", "/incidencias/nada", {"prioridad": "alta"}),
    ):
        response = api.request(method, path, json=body)
        assert response.status_code == 404 and response.content_type == PROBLEM, path
    assert api.take_events() == []


# --- assignment ---------------------------------------------------------------------------

def test_an_agent_takes_an_unassigned_incident(api):
    api.register("e1")
    api.register("e2")
    incidencia_id = api.arrive_unassigned()
    body = api.ok("POST", f"/incidencias/{incidencia_id}/asignacion", "e2", json={})
    assert body["estado"] == "asignada" and body["version"] == 2
    assert body["asignada_a"] == {"id": "e2", "nombre": "Luis Gómez"}  # name from the replica
    last = body["historial"][-1]
    assert last["de"] == "abierta" and last["a"] == "asignada" and last["por"] == {"id": "e2", "rol": "agente"}
    assert last["cambios"] == {"asignada_a": {"de": None, "a": {"id": "e2", "nombre": "Luis Gómez"}}}
    [event] = api.take_events()
    assert event.tipo == "incidencia.asignada" and event.origen == "incidencias_resolucion"
    assert event.datos["incidencia"] == api.incidencias.get(incidencia_id)[0].to_snapshot(False)


def test_an_agent_may_name_herself(api):
    api.register("e1")
    incidencia_id = api.arrive_unassigned()
    body = api.ok("POST", f"/incidencias/{incidencia_id}/asignacion", "e1", json={"empleado_id": "e1"})
    assert body["asignada_a"]["id"] == "e1"


def test_an_agent_may_not_assign_to_someone_else(api):
    api.register("e1")
    api.register("e2")
    incidencia_id = api.arrive_unassigned()
    before = api.raw(incidencia_id)
    response = api.request("POST", f"/incidencias/{incidencia_id}/asignacion", "e1", json={"empleado_id": "e2"})
    assert response.status_code == 403 and response.content_type == PROBLEM
    assert api.raw(incidencia_id) == before and api.take_events() == []


def test_an_agent_may_not_take_someone_elses_incident(api, team):
    before = api.raw(team)
    response = api.request("POST", f"/incidencias/{team}/asignacion", "e2", json={})
    assert response.status_code == 403
    api.ok("POST", f"/incidencias/{team}/inicio", "e1")
    api.take_events()
    assert api.request("POST", f"/incidencias/{team}/asignacion", "e2", json={}).status_code == 403
    assert api.raw(team)["asignada_a"] == before["asignada_a"] and api.take_events() == []


@pytest.mark.parametrize("manager", ["s1", "a1"])
def test_supervisors_and_admins_assign_to_any_active_employee(api, team, manager):
    body = api.ok("POST", f"/incidencias/{team}/asignacion", manager, json={"empleado_id": "e2"})
    assert body["asignada_a"] == {"id": "e2", "nombre": "Luis Gómez"} and body["version"] == 3
    api.ok("POST", f"/incidencias/{team}/inicio", "e2")
    # From en_curso too, and to a supervisor or admin.
    body = api.ok("POST", f"/incidencias/{team}/asignacion", manager, json={"empleado_id": "s1"})
    assert body["estado"] == "asignada" and body["asignada_a"]["id"] == "s1"
    assert body["historial"][-1]["por"]["id"] == manager
    assert [e.tipo for e in api.take_events()] == ["incidencia.asignada", "incidencia.en_curso",
                                                    "incidencia.asignada"]


@pytest.mark.parametrize("empleado_id", ["e2", "nadie"])
def test_assigning_to_an_inactive_or_unknown_employee_is_422(api, team, empleado_id):
    api.register("e2", activo=False)
    before = api.raw(team)
    api.take_events()
    response = api.request("POST", f"/incidencias/{team}/asignacion", "s1", json={"empleado_id": empleado_id})
    assert response.status_code == 422 and response.content_type == PROBLEM
    assert fields_of(response.json) == {"empleado_id"}
    assert api.raw(team) == before and api.take_events() == []


def test_a_lone_surrogate_in_the_assignment_is_refused_not_500(api, team):
    response = api.request("POST", f"/incidencias/{team}/asignacion", "s1", data='{"empleado_id": "\\ud800"}',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.content_type == PROBLEM


@pytest.mark.parametrize("body, field", [
    ({"empleado_id": ""}, "empleado_id"), ({"empleado_id": {"$ne": ""}}, "empleado_id"),
    ({"empleado_id": 7}, "empleado_id"), ({"empleado_id": "x" * 65}, "empleado_id"),
    ({"empleado": "e2"}, "empleado"),
])
def test_assignment_body_is_validated(api, team, body, field):
    before = api.raw(team)
    response = api.request("POST", f"/incidencias/{team}/asignacion", "s1", json=body)
    assert response.status_code == 422 and fields_of(response.json) == {field}
    assert api.raw(team) == before and api.take_events() == []


def test_assigning_a_resolved_or_final_incident_is_409_with_the_state(api, team):
    api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Hecho"})
    api.take_events()
    response = api.request("POST", f"/incidencias/{team}/asignacion", "s1", json={"empleado_id": "e2"})
    assert response.status_code == 409 and response.content_type == PROBLEM
    assert response.json["estado"] == "resuelta"
    api.from_apertura(team, "cerrada")
    response = api.request("POST", f"/incidencias/{team}/asignacion", "a1", json={"empleado_id": "e2"})
    assert response.status_code == 409 and response.json["estado"] == "cerrada"
    assert api.take_events() == []


# --- inicio and resolucion --------------------------------------------------------------------

def test_the_assignee_starts_and_resolves(api, team):
    body = api.ok("POST", f"/incidencias/{team}/inicio", "e1")
    assert body["estado"] == "en_curso" and body["version"] == 3
    body = api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Cambie las pilas\n"})
    assert body["estado"] == "resuelta" and body["version"] == 4
    assert body["resolucion"]["texto"] == "Cambie las pilas"
    assert body["resolucion"]["por"] == {"id": "e1", "nombre": "Eva Soporte"}
    assert body["resuelta_en"] == body["resolucion"]["en"]
    events = api.take_events()
    assert [e.tipo for e in events] == ["incidencia.en_curso", "incidencia.resuelta"]
    assert events[1].datos["incidencia"]["version"] == 4
    assert events[1].datos["incidencia"]["resolucion"]["texto"] == "Cambie las pilas"


def test_resolving_straight_from_asignada(api, team):
    assert api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Ya"})["estado"] == "resuelta"


@pytest.mark.parametrize("action, body", [("inicio", None), ("resolucion", {"texto": "x"})])
def test_another_agent_may_not_start_or_resolve(api, team, action, body):
    before = api.raw(team)
    response = api.request("POST", f"/incidencias/{team}/{action}", "e2", json=body)
    assert response.status_code == 403 and response.content_type == PROBLEM
    assert api.raw(team) == before and api.take_events() == []


@pytest.mark.parametrize("manager", ["s1", "a1"])
@pytest.mark.parametrize("action, body, estado", [
    ("inicio", None, "en_curso"), ("resolucion", {"texto": "x"}, "resuelta")])
def test_supervisors_and_admins_start_or_resolve_anyones(api, team, manager, action, body, estado):
    assert api.ok("POST", f"/incidencias/{team}/{action}", manager, json=body)["estado"] == estado


def test_an_agent_may_not_start_an_unassigned_incident(api):
    api.register("e1")
    incidencia_id = api.arrive_unassigned()
    assert api.request("POST", f"/incidencias/{incidencia_id}/inicio", "e1").status_code == 403


def bring_to(api: Resolucion, estado: str) -> str:
    """An incident in ``estado``; only the admin a1 (never auto-assigned) and,
    for reabierta, an agent who left are in the replica."""
    incidencia_id = api.arrive()  # nobody takes it: it waits in abierta
    if estado == "reabierta":
        api.register("e1")  # takes it
        api.ok("POST", f"/incidencias/{incidencia_id}/resolucion", "e1", json={"texto": "Hecho"})
        api.register("e1", activo=False)  # and leaves: the reopened incident has nobody to go to
        api.from_apertura(incidencia_id, "reabierta")
    elif estado != "abierta":
        api.ok("POST", f"/incidencias/{incidencia_id}/asignacion", json={})
        if estado == "en_curso":
            api.ok("POST", f"/incidencias/{incidencia_id}/inicio")
        if estado in ("resuelta", "cerrada"):
            api.ok("POST", f"/incidencias/{incidencia_id}/resolucion", json={"texto": "Hecho"})
        if estado == "cerrada":
            api.from_apertura(incidencia_id, "cerrada")
        if estado == "cancelada":
            api.cancel_request(incidencia_id)
    assert api.estado(incidencia_id) == estado
    api.take_events()
    return incidencia_id


@pytest.mark.parametrize("estado, action, body", [
    ("abierta", "inicio", None),
    ("abierta", "resolucion", {"texto": "x"}),
    ("en_curso", "inicio", None),
    ("resuelta", "inicio", None),
    ("resuelta", "resolucion", {"texto": "x"}),
    ("reabierta", "inicio", None),
    ("reabierta", "resolucion", {"texto": "x"}),
    ("cerrada", "inicio", None),
    ("cerrada", "resolucion", {"texto": "x"}),
    ("cancelada", "inicio", None),
    ("cancelada", "resolucion", {"texto": "x"}),
])
def test_forbidden_transitions_are_409_with_the_state(api, estado, action, body):
    incidencia_id = bring_to(api, estado)
    before = api.raw(incidencia_id)
    response = api.request("POST", f"/incidencias/{incidencia_id}/{action}", json=body)
    assert response.status_code == 409 and response.content_type == PROBLEM
    assert response.json["estado"] == estado and response.json["status"] == 409
    assert api.raw(incidencia_id) == before and api.take_events() == []


def test_a_reopened_incident_may_be_assigned_again(api):
    incidencia_id = bring_to(api, "reabierta")
    body = api.ok("POST", f"/incidencias/{incidencia_id}/asignacion", json={})
    assert body["estado"] == "asignada" and body["asignada_a"]["id"] == "a1"
    assert [e.tipo for e in api.take_events()] == ["incidencia.asignada"]


@pytest.mark.parametrize("body, field", [
    (None, "(cuerpo)"), ({}, "texto"), ({"texto": ""}, "texto"), ({"texto": " \n "}, "texto"),
    ({"texto": {"$ne": ""}}, "texto"), ({"texto": "x" * 5001}, "texto"),
    ({"texto": "x", "estado": "cerrada"}, "estado"),
])
def test_resolving_requires_a_text(api, team, body, field):
    response = api.request("POST", f"/incidencias/{team}/resolucion", "e1", data=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and field in fields_of(response.json)
    assert api.estado(team) == "asignada" and api.take_events() == []


def test_resolving_without_any_body_is_422(api, team):
    response = api.request("POST", f"/incidencias/{team}/resolucion", "e1")
    assert response.status_code == 422 and fields_of(response.json) == {"texto"}


# --- comments ------------------------------------------------------------------------------

def test_an_internal_note_publishes_nothing(api, team):
    body = api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201,
                  json={"texto": "NOTA-SECRETA del proveedor", "interna": True})
    assert [c["interna"] for c in body["comentarios"]] == [True]
    assert body["version"] == 2
    assert api.take_events() == []


def test_a_public_comment_publishes_incidencia_comentada_without_internal_notes(api, team):
    api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"texto": "NOTA-SECRETA", "interna": True})
    body = api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"texto": "Le llamamos mañana"})
    publico = next(c for c in body["comentarios"] if not c["interna"])
    [event] = api.take_events()
    assert event.tipo == "incidencia.comentada"
    assert event.datos == {"incidencia_id": team, "comentario": {
        "id": publico["id"], "autor": {"id": "e1", "rol": "agente", "nombre": "Eva Soporte"},
        "texto": "Le llamamos mañana", "interna": False, "creado_en": publico["creado_en"]}}
    # Later snapshots do not carry the note either.
    api.ok("POST", f"/incidencias/{team}/inicio", "e1")
    api.ok("PATCH", f"/incidencias/{team}", "e1", json={"prioridad": "alta"})
    api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Hecho"})
    pending = api.store.pending_events(10_000)
    assert [e.routing_key for e in pending] == ["incidencia.en_curso", "incidencia.actualizada",
                                                 "incidencia.resuelta"]
    for message in pending:
        assert "NOTA-SECRETA" not in message.body
        comentarios = Event.parse(message.body).datos["incidencia"]["comentarios"]
        assert [c["texto"] for c in comentarios] == ["Le llamamos mañana"]


def test_comments_follow_the_same_permissions(api, team):
    assert api.request("POST", f"/incidencias/{team}/comentarios", "e2", json={"texto": "x"}).status_code == 403
    assert api.ok("POST", f"/incidencias/{team}/comentarios", "s1", 201, json={"texto": "x", "interna": True})
    assert api.take_events() == []


@pytest.mark.parametrize("body, field", [
    ({}, "texto"), ({"texto": "  "}, "texto"), ({"texto": "x", "interna": "quizas"}, "interna"),
    ({"texto": "x", "interna": {"$ne": False}}, "interna"), ({"texto": "x" * 5001}, "texto"),
    ({"texto": "x", "id": "mio"}, "id"),
])
def test_bad_comments_are_422(api, team, body, field):
    before = api.raw(team)
    response = api.request("POST", f"/incidencias/{team}/comentarios", "e1", json=body)
    assert response.status_code == 422 and fields_of(response.json) == {field}
    assert api.raw(team) == before and api.take_events() == []


def test_commenting_on_a_final_incident_is_409(api, team):
    api.cancel_request(team)
    api.take_events()
    response = api.request("POST", f"/incidencias/{team}/comentarios", "s1", json={"texto": "x", "interna": True})
    assert response.status_code == 409 and response.json["estado"] == "cancelada"
    assert api.take_events() == []


# --- PATCH ------------------------------------------------------------------------------------

def test_patch_changes_prioridad_and_categoria(api, team):
    body = api.ok("PATCH", f"/incidencias/{team}", "e1", json={"prioridad": "critica", "categoria": " sonido "})
    assert body["prioridad"] == "critica" and body["categoria"] == "sonido" and body["version"] == 3
    assert body["estado"] == "asignada"
    last = body["historial"][-1]
    assert last["de"] == last["a"] == "asignada"
    assert last["cambios"] == {"prioridad": {"de": "media", "a": "critica"},
                               "categoria": {"de": None, "a": "sonido"}}
    [event] = api.take_events()
    assert event.tipo == "incidencia.actualizada" and event.datos["incidencia"]["prioridad"] == "critica"
    body = api.ok("PATCH", f"/incidencias/{team}", "s1", json={"categoria": None})
    assert body["categoria"] is None and body["prioridad"] == "critica" and body["version"] == 4


def test_patch_with_the_current_values_changes_nothing(api, team):
    before = api.raw(team)
    body = api.ok("PATCH", f"/incidencias/{team}", "e1", json={"prioridad": "media"})
    assert body["version"] == 2
    assert api.raw(team) == before and api.take_events() == []


@pytest.mark.parametrize("body, fields", [
    ({}, {"(cuerpo)"}), ({"prioridad": "urgente"}, {"prioridad"}), ({"prioridad": None}, {"prioridad"}),
    ({"categoria": "c" * 51}, {"categoria"}), ({"categoria": {"$ne": ""}}, {"categoria"}),
    ({"titulo": "Otro"}, {"titulo"}),
])
def test_bad_patches_are_422(api, team, body, fields):
    before = api.raw(team)
    response = api.request("PATCH", f"/incidencias/{team}", "e1", json=body)
    assert response.status_code == 422 and response.content_type == PROBLEM
    assert fields_of(response.json) == fields
    assert api.raw(team) == before and api.take_events() == []


def test_patch_by_another_agent_is_403(api, team):
    assert api.request("PATCH", f"/incidencias/{team}", "e2", json={"prioridad": "alta"}).status_code == 403


@pytest.mark.parametrize("final", [False, True])
def test_patch_when_resuelta_or_final_is_409(api, team, final):
    api.ok("POST", f"/incidencias/{team}/resolucion", "e1", json={"texto": "Hecho"})
    if final:
        api.from_apertura(team, "cerrada")
    before = api.raw(team)
    api.take_events()
    response = api.request("PATCH", f"/incidencias/{team}", "s1", json={"prioridad": "alta"})
    assert response.status_code == 409 and response.json["estado"] == ("cerrada" if final else "resuelta")
    assert api.raw(team) == before and api.take_events() == []


# --- mass assignment ---------------------------------------------------------------------------

MASS_ASSIGNMENT = [
    ("estado", "resuelta"), ("version", 99), ("asignada_a", {"id": "e2", "nombre": "X"}),
    ("cliente", {"id": "c2", "nombre": "Otro"}), ("id", "otro"), ("_id", "otro"), ("_rev", 1),
]


@pytest.mark.parametrize("field, value", MASS_ASSIGNMENT)
@pytest.mark.parametrize("method, action, body", [
    ("POST", "/asignacion", {"empleado_id": "e1"}),
    ("POST", "/resolucion", {"texto": "Hecho"}),
    ("POST", "/comentarios", {"texto": "hola"}),
    ("PATCH", "", {"prioridad": "alta"}),
])
def test_mass_assignment_is_rejected_and_changes_nothing(api, team, field, value, method, action, body):
    before = api.raw(team)
    response = api.request(method, f"/incidencias/{team}{action}", "s1", json={**body, field: value})
    assert response.status_code == 422, response.json
    assert field in fields_of(response.json)
    assert api.raw(team) == before and api.take_events() == []


def test_inicio_rejects_unknown_fields_like_every_other_endpoint(api, team):
    response = api.request("POST", f"/incidencias/{team}/inicio", "e1", json={"estado": "resuelta"})
    assert response.status_code == 422
    assert api.estado(team) == "asignada"


# --- statistics ------------------------------------------------------------------------------

def week_rows(now: datetime, counted: datetime | None = None, web: int = 0) -> list[dict[str, Any]]:
    """The eight weeks up to ``now``'s, oldest first, with ``web`` incidents
    in the week of ``counted``."""
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), datetime.min.time(), timezone.utc)
    rows = []
    for n in range(7, -1, -1):
        start = monday - timedelta(weeks=n)
        year, week, _ = start.isocalendar()
        inside = counted is not None and start <= counted < start + timedelta(weeks=1)
        rows.append({"semana": f"{year}-W{week:02d}", "desde": start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                     "web": web if inside else 0, "telefono": 0, "email": 0})
    return rows


def test_statistics_shape_and_counts(api):
    empty = api.ok("GET", "/estadisticas", "a1")
    assert empty.pop("por_canal_y_semana") == week_rows(datetime.now(timezone.utc))
    periodo = empty.pop("periodo")
    assert (periodo["incidencias"], periodo["completo"]) == (0, True)
    desde, hasta = (datetime.fromisoformat(periodo[k]) for k in ("desde", "hasta"))
    assert hasta - desde == timedelta(days=30) and abs(hasta - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert (empty.pop("niveles_de_servicio"), empty.pop("espera_cliente")) == (
        [], {"mediana_s": None, "p90_s": None, "muestras": 0})
    assert empty.pop("satisfaccion") == {"valoraciones": 0, "cerradas": 0, "tasa_respuesta": None, "media": None,
                                         "distribucion": {str(p): 0 for p in range(1, 6)}, "por_agente": [],
                                         "por_categoria": []}
    assert empty == {
        "por_estado": {e: 0 for e in
                       ("abierta", "asignada", "en_curso", "esperando_cliente", "resuelta", "reabierta", "cerrada",
                        "cancelada", "fusionada")},
        "por_prioridad": {"baja": 0, "media": 0, "alta": 0, "critica": 0},
        "carga_por_empleado": [{"id": "a1", "nombre": "Alba Admin", "rol": "admin", "abiertas": 0}],
        "hasta_primera_asignacion": {"mediana_s": None, "p90_s": None, "muestras": 0},
        "hasta_resolucion": {"mediana_s": None, "p90_s": None, "muestras": 0},
        "muestra": 0,
    }

    hour_ago = datetime.now(timezone.utc) - timedelta(hours=1)
    waiting = api.arrive(prioridad="critica", creada_en=hour_ago)  # nobody can take it yet
    api.register("e1")  # ... now e1 does
    api.register("e2")
    first = api.arrive(prioridad="alta", creada_en=hour_ago)  # e2, the least loaded
    second = api.arrive(prioridad="alta", creada_en=hour_ago)  # tie: e1, the smallest id
    third = api.arrive(prioridad="baja", creada_en=hour_ago)  # e2
    assert [api.incidencias.get(i)[0].asignada_a.id for i in (waiting, first, second, third)] == ["e1", "e2", "e1", "e2"]
    api.ok("POST", f"/incidencias/{first}/inicio", "e2")
    api.ok("POST", f"/incidencias/{second}/resolucion", "e1", json={"texto": "Hecho"})
    api.cancel_request(waiting)
    api.register("e2", activo=False)  # e2's work goes to e1; e2 leaves the load table
    assert {api.incidencias.get(i)[0].asignada_a.id for i in (first, third)} == {"e1"}

    stats = api.ok("GET", "/estadisticas", "e1")
    assert stats["por_estado"] == {"abierta": 0, "asignada": 2, "en_curso": 0, "esperando_cliente": 0, "resuelta": 1,
                                   "reabierta": 0, "cerrada": 0, "cancelada": 1, "fusionada": 0}
    assert stats["por_prioridad"] == {"baja": 1, "media": 0, "alta": 2, "critica": 1}
    assert sorted(stats["carga_por_empleado"], key=lambda e: e["id"]) == [
        {"id": "a1", "nombre": "Alba Admin", "rol": "admin", "abiertas": 0},
        {"id": "e1", "nombre": "Eva Soporte", "rol": "agente", "abiertas": 2},
    ]
    assert stats["muestra"] == 4
    assert stats["por_canal_y_semana"] == week_rows(datetime.now(timezone.utc), hour_ago, web=4)
    assignment, resolution = stats["hasta_primera_asignacion"], stats["hasta_resolucion"]
    assert assignment["muestras"] == 4 and resolution["muestras"] == 1
    for value in (assignment["mediana_s"], assignment["p90_s"], resolution["mediana_s"], resolution["p90_s"]):
        assert 3600 <= value < 3600 + 120


def test_statistics_load_counts_only_open_work(api, team):
    api.ok("POST", f"/incidencias/{team}/inicio", "e1")
    second = api.arrive()  # e2 has fewer
    third = api.arrive()  # tie on load: smallest id, e1
    assert api.incidencias.get(second)[0].asignada_a.id == "e2"
    assert api.incidencias.get(third)[0].asignada_a.id == "e1"
    api.ok("POST", f"/incidencias/{second}/resolucion", "e2", json={"texto": "Hecho"})
    carga = {e["id"]: e["abiertas"] for e in api.ok("GET", "/estadisticas")["carga_por_empleado"]}
    assert carga == {"a1": 0, "e1": 2, "e2": 0, "s1": 0}


# --- authentication and roles --------------------------------------------------------------------

ENDPOINTS = [
    ("GET", "/incidencias", None),
    ("GET", "/incidencias/{id}", None),
    ("POST", "/incidencias/{id}/asignacion", {}),
    ("POST", "/incidencias/{id}/inicio", None),
    ("POST", "/incidencias/{id}/resolucion", {"texto": "x"}),
    ("POST", "/incidencias/{id}/comentarios", {"texto": "x"}),
    ("PATCH", "/incidencias/{id}", {"prioridad": "alta"}),
    ("GET", "/estadisticas", None),
]


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_customer_tokens_are_403_everywhere(api, team, method, path, body):
    before = api.raw(team)
    response = api.client.open(path.format(id=team), method=method, json=body,
                               headers=api.issuers.bearer_cliente("c1"))
    assert response.status_code == 403 and response.content_type == PROBLEM
    assert api.raw(team) == before and api.take_events() == []


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_no_token_is_401_everywhere(api, team, method, path, body):
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Token abc"}):
        response = api.client.open(path.format(id=team), method=method, json=body, headers=headers)
        assert response.status_code == 401 and response.content_type == PROBLEM
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.take_events() == []


def test_bad_tokens_are_401(api, team, issuers):  # noqa: F811
    expired = TokenIssuer(issuers.empleados.private_key, "empleados", AUDIENCE, -120).issue("e1", "agente")
    other_key = new_issuer("empleados").issue("e1", "admin")
    for why, token in {**bad_tokens(issuers), "expired staff": expired, "staff, unpublished key": other_key}.items():
        response = api.client.get("/incidencias", headers=bearer(token))
        assert response.status_code == 401, why


def test_a_deactivated_employee_is_refused_at_once(api, team):
    token = api.token("e1")
    assert api.client.get("/incidencias", headers=token).status_code == 200
    api.register("e1", activo=False)
    for method, path, body in ENDPOINTS:
        response = api.client.open(path.format(id=team), method=method, json=body, headers=token)
        assert response.status_code == 401, (method, path)
    # Their incident went to another agent; the others keep working.
    assert api.incidencias.get(team)[0].asignada_a.id == "e2"
    assert api.request("GET", "/incidencias", "e2").status_code == 200


def test_a_reactivated_employee_is_let_back_in(api, team):
    api.register("e1", activo=False)
    assert api.client.get("/incidencias", headers=api.token("e1")).status_code == 401
    api.register("e1", activo=True, tipo="empleado.actualizado")
    assert api.client.get("/incidencias", headers=api.token("e1")).status_code == 200


def test_a_demoted_supervisors_token_loses_the_old_role_at_once(api, team):
    supervisor = api.token("s1")
    assert api.client.post(f"/incidencias/{team}/asignacion", json={"empleado_id": "e2"},
                           headers=supervisor).status_code == 200
    api.handlers.on_empleado(make_event("empleado.actualizado", {
        "id": "s1", "nombre": "Sara", "apellidos": "Jefa", "rol": "agente", "categorias": [], "activo": True,
        "version": 99}, "empleados"))
    response = api.client.post(f"/incidencias/{team}/asignacion", json={"empleado_id": "e1"}, headers=supervisor)
    assert response.status_code == 401 and response.content_type == PROBLEM
    assert api.incidencias.get(team)[0].asignada_a.id == "e2"
    as_agent = api.issuers.bearer_empleado("s1", "agente", "Sara Jefa")
    assert api.client.get("/incidencias", headers=as_agent).status_code == 200


def test_a_late_registration_does_not_undo_a_deactivation(api, team):
    api.register("e1", activo=False)
    stale = make_event("empleado.registrado", {"id": "e1", "nombre": "Eva", "apellidos": "Soporte",
                                               "rol": "agente", "activo": True, "version": 1}, "empleados")
    api.handlers.on_empleado(stale)
    assert api.client.get("/incidencias", headers=api.token("e1")).status_code == 401




# --- Idempotency-Key on every POST ------------------------------------------------------------
# action → (who sends it, the incident it works on: "team" (asignada, e1's) or
# "waiting" (abierta), the status, the body, another body; None: no body, so
# "another request" is another action on the same incident with that key).
KEYED_ACTIONS = {
    "asignacion": ("s1", "team", 200, {"empleado_id": "e2"}, {"empleado_id": "s1"}),
    "inicio": ("e1", "team", 200, None, None),
    "resolucion": ("e1", "team", 200, {"texto": "Cambie las pilas"}, {"texto": "Otra"}),
    "comentarios": ("e1", "team", 201, {"texto": "Le llamamos", "interna": False}, {"texto": "Otro"}),
    "consulta": ("e1", "team", 200, {"pregunta": "¿Qué modelo es?"}, {"pregunta": "¿Y el color?"}),
}
NOTE = ("e1", "team", 201, {"texto": "Proveedor lento", "interna": True}, {"texto": "Otra", "interna": True})


def _comments(api, incidencia_id: str) -> list[dict[str, Any]]:
    return api.raw(incidencia_id)["comentarios"]


@pytest.mark.parametrize("action, spec", [*KEYED_ACTIONS.items(), ("comentarios", NOTE)],
                         ids=[*KEYED_ACTIONS, "nota interna"])
def test_a_retried_staff_request_answers_as_the_first_time_and_happens_once(api, team, action, spec):
    who, _incident, status, body, _other = spec
    headers = {"Idempotency-Key": f"{action}-1"}
    first = api.request("POST", f"/incidencias/{team}/{action}", who, json=body, headers=headers)
    assert first.status_code == status, first.json
    events = api.take_events()
    again = api.request("POST", f"/incidencias/{team}/{action}", who, json=body, headers=headers)
    assert again.status_code == status and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(events) == (0 if body and body.get("interna") else 1) and api.take_events() == []
    assert len(_comments(api, team)) == (1 if action in ("comentarios", "consulta") else 0)


@pytest.mark.parametrize("action", KEYED_ACTIONS)
def test_a_staff_key_reused_for_another_request_is_409_and_changes_nothing(api, team, action):
    who, _incident, status, body, other = KEYED_ACTIONS[action]
    headers = {"Idempotency-Key": "k-1"}
    assert api.request("POST", f"/incidencias/{team}/{action}", who, json=body, headers=headers).status_code == status
    api.take_events()
    before = api.raw(team)
    path, sent = (action, other) if other is not None else ("comentarios", {"texto": "Otro"})
    response = api.request("POST", f"/incidencias/{team}/{path}", who, json=sent, headers=headers)
    assert response.status_code == 409 and response.content_type == PROBLEM
    assert response.json["type"] == "urn:incidencias:problema:idempotencia"
    assert fields_of(response.json) == {"Idempotency-Key"}
    assert api.take_events() == [] and api.raw(team) == before


@pytest.mark.parametrize("action", KEYED_ACTIONS)
@pytest.mark.parametrize("key", ["", "con espacio", "x" * 201, "ñandú"])
def test_an_invalid_key_on_a_staff_request_is_400_naming_the_header(api, team, action, key):
    who, _incident, _status, body, _other = KEYED_ACTIONS[action]
    before = api.raw(team)
    response = api.request("POST", f"/incidencias/{team}/{action}", who, json=body,
                           headers={"Idempotency-Key": key.encode("utf-8").decode("latin-1")})
    assert response.status_code == 400 and response.content_type == PROBLEM
    assert response.json["errores"] == [{"campo": "Idempotency-Key", "mensaje": "No válida",
                                         "ubicacion": "cabeceras"}]
    assert api.take_events() == [] and api.raw(team) == before


def test_two_employees_may_use_the_same_key_on_one_incident(api, team):
    headers = {"Idempotency-Key": "mismo"}
    for who in ("e1", "s1"):
        api.ok("POST", f"/incidencias/{team}/comentarios", who, 201, json={"texto": "hola"}, headers=headers)
    assert len(_comments(api, team)) == 2 and len(api.take_events()) == 2


def test_the_recent_keys_are_never_answered(api, team):
    api.ok("POST", f"/incidencias/{team}/comentarios", "e1", 201, json={"texto": "hola"},
           headers={"Idempotency-Key": "secreta"})
    assert "secreta" not in api.client.get(f"/incidencias/{team}", headers=api.token("e1")).get_data(as_text=True)
    assert "secreta" not in api.client.get("/incidencias", headers=api.token("e1")).get_data(as_text=True)


def test_openapi_documents_the_key_on_every_post_with_its_400_and_409(api):
    spec = api.client.get("/openapi.json").get_json()
    posts = {path: item["post"] for path, item in spec["paths"].items() if "post" in item}
    assert set(posts) == {*(f"/incidencias/{{incidencia_id}}/{a}" for a in KEYED_ACTIONS), "/respuestas",
                          "/respuestas/{respuesta_id}/retirada", "/incidencias/lote",
                          "/incidencias/{incidencia_id}/fusion", "/notificaciones/{notificacion_id}/lectura"}
    for path, operation in posts.items():
        [header] = [p for p in operation.get("parameters", []) if p["in"] == "header"]
        assert (header["name"], header["required"]) == ("Idempotency-Key", False)
        assert {"400", "409"} <= set(operation["responses"]), path
        assert "Idempotency-Key" in operation["responses"]["409"]["description"], path


# --- service levels, questions to the customer, staff's notifications -----------------------
POLITICA = {
    "calendario": {"zona": "Europe/Madrid", "dias": [0, 1, 2, 3, 4], "desde": "09:00", "hasta": "18:00",
                   "pais": "ES", "region": "MD", "cierres": ["2026-12-24"]},
    "por_prioridad": {"alta": {"primera_respuesta_minutos": 120, "resolucion_minutos": 1080}},
    "por_categoria": {"envios": {"alta": {"primera_respuesta_minutos": 60, "resolucion_minutos": 540}}},
}


def test_an_admin_sets_the_service_levels_and_staff_read_them(api, team):
    never = api.ok("GET", "/sla", "e1")
    assert (never["version"], never["por_prioridad"], never["actualizada_en"]) == (0, {}, None)
    for who in ("e1", "s1"):
        refused = api.request("PUT", "/sla", who, json=POLITICA)
        assert refused.status_code == 403 and refused.content_type == PROBLEM
    stored = api.ok("PUT", "/sla", "a1", json=POLITICA)
    assert {k: stored[k] for k in POLITICA} == POLITICA and stored["version"] == 1
    assert api.ok("GET", "/sla", "e2") == stored
    [event] = api.take_events()
    assert (event.tipo, event.datos["version"], event.datos["politica"]) == ("sla.politica_actualizada", 1, POLITICA)
    assert api.ok("PUT", "/sla", "a1", json=POLITICA) == stored and api.take_events() == []  # the same: no change


@pytest.mark.parametrize("cambio, campos", [
    ({"calendario": {**POLITICA["calendario"], "zona": "Marte/Olimpo"}}, {"calendario.zona"}),
    ({"calendario": {**POLITICA["calendario"], "hasta": "08:00"}}, {"calendario.hasta"}),
    ({"calendario": {**POLITICA["calendario"], "pais": "XX"}}, {"calendario.pais"}),
    ({"calendario": {**POLITICA["calendario"], "region": "ZZ"}}, {"calendario.region"}),
    ({"calendario": {**POLITICA["calendario"], "dias": [0, 0, 7]}}, {"calendario.dias", "calendario.dias.2"}),
    ({"calendario": {**POLITICA["calendario"], "dias": [0, 7]}}, {"calendario.dias.1"}),
    ({"calendario": {**POLITICA["calendario"], "desde": "9h"}}, {"calendario.desde"}),
    ({"por_prioridad": {"urgente": POLITICA["por_prioridad"]["alta"]}}, {"por_prioridad.urgente.key"}),
    ({"por_prioridad": {"alta": {"primera_respuesta_minutos": 0, "resolucion_minutos": 10}}},
     {"por_prioridad.alta.value.primera_respuesta_minutos"}),
])
def test_a_bad_policy_is_a_422_naming_each_bad_field_and_changes_nothing(api, cambio, campos):
    response = api.request("PUT", "/sla", "a1", json={**POLITICA, **cambio})
    assert response.status_code == 422 and response.content_type == PROBLEM, response.json
    assert fields_of(response.json) == campos
    assert api.ok("GET", "/sla", "a1")["version"] == 0 and api.take_events() == []


def test_the_staff_view_says_how_an_incident_stands_against_its_service_level(api, team):
    assert api.ok("GET", f"/incidencias/{team}", "e1")["sla"] is None  # opened without targets
    api.ok("PUT", "/sla", "a1", json=POLITICA)
    changed = api.ok("PATCH", f"/incidencias/{team}", "e1", json={"prioridad": "alta"})
    assert set(changed["sla"]) == {"primera_respuesta", "resolucion"}
    primera = changed["sla"]["primera_respuesta"]
    assert (primera["objetivo_minutos"], primera["cumplido_en"]) == (120, None)
    assert primera["estado"] in {"en_plazo", "en_riesgo", "incumplido"}  # depends on today's working hours
    listed = api.ok("GET", "/incidencias?orden=vencimiento", "e1")["elementos"]
    assert [i["id"] for i in listed] == [team]


def test_a_question_waits_on_the_customer_and_only_resolucion_states_take_one(api, team):
    asked = api.ok("POST", f"/incidencias/{team}/consulta", "e1", json={"pregunta": "¿Qué modelo es?"})
    assert asked["estado"] == "esperando_cliente"
    assert [c["texto"] for c in asked["comentarios"]] == ["¿Qué modelo es?"]
    assert [e.tipo for e in api.take_events()] == ["incidencia.esperando_cliente"]
    again = api.request("POST", f"/incidencias/{team}/consulta", "e1", json={"pregunta": "¿Y el color?"})
    assert again.status_code == 409 and again.json["propietario"] == "apertura"
    blank = api.request("POST", f"/incidencias/{team}/consulta", "e1", json={"pregunta": "   "})
    assert blank.status_code == 422 and fields_of(blank.json) == {"pregunta"}
    other = api.request("POST", f"/incidencias/{team}/consulta", "e2", json={"pregunta": "¿Hola?"})
    assert other.status_code == 403


def test_staff_read_their_own_notifications_only(api, team):
    services_ = api.app.extensions["incidencias"]
    services_.notificaciones.add({"id": "n1", "empleado_id": "e1", "incidencia_id": team,
                                  "tipo": "incidencia.sla_en_riesgo", "objetivo": "primera_respuesta",
                                  "mensaje": "Queda poco", "creada_en": "2026-11-01T10:00:00.000000Z",
                                  "leida": False, "clave": "k1"})
    page = api.ok("GET", "/notificaciones?no_leidas=true", "e1")
    assert [n["id"] for n in page["elementos"]] == ["n1"]
    assert api.ok("GET", "/notificaciones", "e2")["elementos"] == []
    assert api.request("POST", "/notificaciones/n1/lectura", "e2").status_code == 404
    assert api.ok("POST", "/notificaciones/n1/lectura", "e1")["leida"] is True
    assert api.ok("GET", "/notificaciones?no_leidas=true", "e1")["elementos"] == []


def test_the_period_report_counts_service_levels_kept_ratings_and_waits(api, team):
    politica = {"calendario": {"zona": "UTC", "dias": [0, 1, 2, 3, 4, 5, 6], "desde": "00:00", "hasta": "23:59",
                               "pais": None, "region": None, "cierres": []},
                "por_prioridad": {"media": {"primera_respuesta_minutos": 600, "resolucion_minutos": 1200}},
                "por_categoria": {}}
    api.ok("PUT", "/sla", "a1", json=politica)
    kept = api.arrive()  # e2 (e1 holds the team's one)
    api.ok("PATCH", f"/incidencias/{kept}", "a1", json={"categoria": "envios"})  # takes the policy's targets
    holder = api.incidencias.get(kept)[0].asignada_a.id
    api.ok("POST", f"/incidencias/{kept}/consulta", holder, json={"pregunta": "¿Qué modelo?"})
    asked = api.incidencias.get(kept)[0]
    answered_at = datetime.now(timezone.utc)
    asked.iniciar(APERTURA, Actor("c1", "cliente"), answered_at)
    api.handlers.routes()["incidencia.en_curso"](apertura_events.snapshot("incidencia.en_curso", asked))
    api.ok("POST", f"/incidencias/{kept}/resolucion", holder, json={"texto": "Hecho"})
    api.from_apertura(kept, "cerrada")
    rated = api.incidencias.get(kept)[0]
    api.handlers.routes()["incidencia.valorada"](make_event("incidencia.valorada", {
        "incidencia_id": kept, "valoracion": {"puntuacion": 4, "comentario": None, "en": "2026-12-01T10:00:00Z"}},
        "incidencias_apertura"))
    assert rated.estado.value == "cerrada"
    figures = api.ok("GET", "/estadisticas", "s1")
    rows = {(r["objetivo"], r["dimension"], r["valor"]): (r["cumplidos"], r["incumplidos"], r["porcentaje"])
            for r in figures["niveles_de_servicio"]}
    assert rows == {(o, d, v): (1, 0, 100.0) for o in ("primera_respuesta", "resolucion")
                    for d, v in (("total", ""), ("prioridad", "media"), ("categoria", "envios"), ("agente", holder))}
    sat = figures["satisfaccion"]
    assert (sat["valoraciones"], sat["cerradas"], sat["tasa_respuesta"], sat["media"]) == (1, 1, 100.0, 4.0)
    assert sat["por_agente"] == [{"id": holder, "nombre": STAFF[holder][1] + " " + STAFF[holder][2],
                                  "valoraciones": 1, "media": 4.0}]
    assert figures["espera_cliente"]["muestras"] == 1
    csv_answer = api.request("GET", "/estadisticas/informe.csv", "s1")
    assert csv_answer.status_code == 200 and csv_answer.mimetype == "text/csv"
    lines = csv_answer.get_data(as_text=True).splitlines()
    assert lines[0] == "seccion,objetivo,dimension,valor,nombre,cumplidos,incumplidos,porcentaje,valoraciones,media"
    assert "nivel_de_servicio,primera_respuesta,total,,,1,0,100.0,," in lines
    assert "satisfaccion,,total,,,,,,1,4.0" in lines
    wrong = api.request("GET", "/estadisticas?desde=2026-12-01T00:00:00Z&hasta=2026-11-01T00:00:00Z", "s1")
    assert wrong.status_code == 422 and fields_of(wrong.json) == {"hasta"}
    naive = api.request("GET", "/estadisticas?desde=2026-12-01T00:00:00", "s1")
    assert naive.status_code == 422 and fields_of(naive.json) == {"desde"}


def test_a_policy_with_several_bad_fields_names_them_all_at_once(api):
    bad = {**POLITICA, "calendario": {**POLITICA["calendario"], "desde": "18:00", "hasta": "09:00", "zona": "X/Y"}}
    response = api.request("PUT", "/sla", "a1", json=bad)
    assert response.status_code == 422 and fields_of(response.json) == {"calendario.zona", "calendario.hasta"}
