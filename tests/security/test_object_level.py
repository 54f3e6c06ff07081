"""Object-level authorization: two customers and two agents, and every
endpoint that takes an id, called by the one it does not belong to.

A customer asking for another customer's object gets 404, exactly as for an
id that does not exist (nothing tells them it exists); staff outside their
role get 403. After each attack the object is read back from both replicas:
nothing changed. Each action's attack targets an object in the state where
its owner's same request succeeds (the last step of each test proves it),
so a refusal cannot be a state conflict in disguise.
"""
from __future__ import annotations

import uuid

import pytest

from .world import problem
from .permissions import live_keys, path_parameters

pytestmark = [pytest.mark.security, pytest.mark.slow]

UNKNOWN = "00000000000000000000000000000000"

# Every endpoint that takes an id, and the test of this module that attacks
# it with somebody else's id. A new one fails the first test below until it
# is added here and attacked.
COVERED = {
    ("clientes", "GET", "/clientes/{cliente_id}"): "test_a_customer_cannot_read_another_customers_account",
    ("empleados", "GET", "/empleados/{empleado_id}"): "test_an_agent_cannot_read_or_change_another_employee",
    ("empleados", "PATCH", "/empleados/{empleado_id}"): "test_an_agent_cannot_read_or_change_another_employee",
    ("empleados", "POST", "/empleados/{empleado_id}/baja"): "test_an_agent_cannot_read_or_change_another_employee",
    ("apertura", "GET", "/incidencias/{incidencia_id}"): "test_a_customer_cannot_read_another_customers_incident",
    ("apertura", "POST", "/incidencias/{incidencia_id}/comentarios"):
        "test_a_customer_cannot_act_on_another_customers_incident",
    ("apertura", "POST", "/incidencias/{incidencia_id}/cierre"):
        "test_a_customer_cannot_act_on_another_customers_incident",
    ("apertura", "POST", "/incidencias/{incidencia_id}/reapertura"):
        "test_a_customer_cannot_act_on_another_customers_incident",
    ("apertura", "POST", "/incidencias/{incidencia_id}/cancelacion"):
        "test_a_customer_cannot_act_on_another_customers_incident",
    ("apertura", "POST", "/incidencias/{incidencia_id}/valoracion"):
        "test_a_customer_cannot_act_on_another_customers_incident",
    ("apertura", "POST", "/notificaciones/{notificacion_id}/lectura"):
        "test_a_customer_cannot_read_nor_mark_another_customers_notification",
    # Reading is every employee's (the shared queue); the test asserts it.
    ("resolucion", "GET", "/incidencias/{incidencia_id}"): "test_an_agent_cannot_change_another_agents_incident",
    ("resolucion", "PATCH", "/incidencias/{incidencia_id}"): "test_an_agent_cannot_change_another_agents_incident",
    ("resolucion", "POST", "/incidencias/{incidencia_id}/asignacion"):
        "test_an_agent_cannot_change_another_agents_incident",
    ("resolucion", "POST", "/incidencias/{incidencia_id}/inicio"): "test_an_agent_cannot_move_another_agents_incident",
    ("resolucion", "POST", "/incidencias/{incidencia_id}/resolucion"):
        "test_an_agent_cannot_move_another_agents_incident",
    ("resolucion", "POST", "/incidencias/{incidencia_id}/consulta"):
        "test_an_agent_cannot_move_another_agents_incident",
    ("resolucion", "POST", "/incidencias/{incidencia_id}/comentarios"):
        "test_an_agent_cannot_change_another_agents_incident",
    ("resolucion", "PUT", "/incidencias/{incidencia_id}/etiquetas/{etiqueta}"):
        "test_an_agent_cannot_tag_another_agents_incident_and_no_customer_sees_a_tag",
    ("resolucion", "DELETE", "/incidencias/{incidencia_id}/etiquetas/{etiqueta}"):
        "test_an_agent_cannot_tag_another_agents_incident_and_no_customer_sees_a_tag",
    # Only managers merge; what they must not do is join two customers' incidents.
    ("resolucion", "POST", "/incidencias/{incidencia_id}/fusion"):
        "test_no_one_merges_one_customers_incident_into_anothers",
    # Canned replies are the team's: every employee reads them, managers change them.
    ("resolucion", "GET", "/respuestas/{respuesta_id}"): "test_an_agent_reads_a_canned_reply_but_cannot_change_it",
    ("resolucion", "PATCH", "/respuestas/{respuesta_id}"): "test_an_agent_reads_a_canned_reply_but_cannot_change_it",
    ("resolucion", "POST", "/respuestas/{respuesta_id}/retirada"):
        "test_an_agent_reads_a_canned_reply_but_cannot_change_it",
    ("apertura", "POST", "/clientes/{cliente_id}/incidencias"):
        "test_a_customer_cannot_open_an_incident_in_another_customers_name",
    # Staff notifications are each one employee's, managers' included.
    ("resolucion", "POST", "/notificaciones/{notificacion_id}/lectura"):
        "test_an_employee_cannot_read_nor_mark_another_employees_notification",
}


def test_every_endpoint_that_takes_an_id_is_in_this_matrix(openapi):
    with_ids = {key for key in live_keys(openapi) if path_parameters(key[2])}
    assert with_ids == set(COVERED), {"not attacked": sorted(with_ids - set(COVERED)),
                                      "no longer served": sorted(set(COVERED) - with_ids)}
    assert all(callable(globals().get(name)) for name in COVERED.values())


def _same_404(attacks, name, response, unknown_response):
    """Rejected as 404 with the very body an unknown id gets."""
    rejected = attacks.expect(name, response, 404)
    if rejected:
        body, other = problem(response), problem(unknown_response)
        assert unknown_response.status_code == 404
        assert (body["type"], body["title"], body["detail"]) == (other["type"], other["title"], other["detail"]), (
            "a foreign id must look exactly like an unknown one", body, other)


# -- apertura: a customer and another customer's incidents -------------------------

def test_a_customer_cannot_read_another_customers_incident(world, client, attacks):
    rec = attacks("object_level")
    target = world.incidents["leer"]
    before = world.settled_state(target)
    unknown = client.call("GET", "apertura", f"/incidencias/{UNKNOWN}", world.c2.token)
    _same_404(rec, "c2 GET c1's incident", client.call("GET", "apertura", f"/incidencias/{target}", world.c2.token),
              unknown)
    # The lists hold only the caller's incidents, whatever the query says.
    for params in ({}, {"cliente": world.c1.id}, {"cliente.id": world.c1.id}, {"cliente_id": world.c1.id},
                   {"estado": "asignada", "por_pagina": 100}):
        listed = client.call("GET", "apertura", "/incidencias", world.c2.token, params=params)
        ids = {i["id"] for i in listed.json()["elementos"]}
        rec.record(f"c2 lists incidents with {params or 'no filter'}", listed.status_code == 200
                   and ids <= {world.incidents["de_c2"]} and target not in ids, f"{listed.status_code} {ids}")
    assert world.state_of(target) == before
    assert client.call("GET", "apertura", f"/incidencias/{target}", world.c1.token).status_code == 200
    rec.check()


@pytest.mark.parametrize("action, body, incident, owner_status", [
    ("comentarios", {"texto": "Soy otro cliente"}, "leer", 201),
    ("cierre", {}, "cerrar", 200),
    ("reapertura", {"motivo": "No me convence"}, "reabrir", 200),
    ("cancelacion", {"motivo": "Ya no lo quiero"}, "cancelar", 202),
    ("valoracion", {"puntuacion": 1, "comentario": "Soy otro cliente"}, "valorar", 201),
])
def test_a_customer_cannot_act_on_another_customers_incident(world, client, attacks, action, body, incident,
                                                             owner_status):
    rec = attacks("object_level")
    target = world.incidents[incident]
    before = world.settled_state(target)
    unknown = client.call("POST", "apertura", f"/incidencias/{UNKNOWN}/{action}", world.c2.token, json=body)
    response = client.call("POST", "apertura", f"/incidencias/{target}/{action}", world.c2.token, json=body)
    _same_404(rec, f"c2 POST {action} on c1's incident", response, unknown)
    assert world.state_of(target) == before, "the refused request changed the incident"
    owner = client.call("POST", "apertura", f"/incidencias/{target}/{action}", world.c1.token, json=body)
    assert owner.status_code == owner_status, owner.text
    rec.check()


def test_a_customer_cannot_read_nor_mark_another_customers_notification(world, client, attacks):
    rec = attacks("object_level")
    target = world.notifications[0]
    unknown = client.call("POST", "apertura", f"/notificaciones/{UNKNOWN}/lectura", world.c2.token, json={})
    response = client.call("POST", "apertura", f"/notificaciones/{target}/lectura", world.c2.token, json={})
    _same_404(rec, "c2 marks c1's notification read", response, unknown)
    listed = client.call("GET", "apertura", "/notificaciones", world.c2.token, params={"por_pagina": 100})
    rec.record("c2 lists notifications", listed.status_code == 200
               and target not in {n["id"] for n in listed.json()["elementos"]})
    mine = client.call("GET", "apertura", "/notificaciones", world.c1.token, params={"por_pagina": 100}).json()
    assert next(n for n in mine["elementos"] if n["id"] == target)["leida"] is False
    # c2 marking all of *their* notifications read leaves c1's unread.
    assert client.call("POST", "apertura", "/notificaciones/lectura", world.c2.token, json={}).status_code == 200
    mine = client.call("GET", "apertura", "/notificaciones", world.c1.token, params={"por_pagina": 100}).json()
    rec.record("c2 marks all read, c1's stay unread",
               next(n for n in mine["elementos"] if n["id"] == target)["leida"] is False)
    owner = client.call("POST", "apertura", f"/notificaciones/{target}/lectura", world.c1.token, json={})
    assert owner.status_code == 200 and owner.json()["leida"] is True
    rec.check()


# -- resolucion: an employee and another employee's notifications ---------------------

def test_an_employee_cannot_read_nor_mark_another_employees_notification(world, client, attacks):
    rec = attacks("object_level")
    target = world.staff_notification  # a1's

    def a1_unread() -> bool:
        mine = client.call("GET", "resolucion", "/notificaciones", world.a1.token, params={"por_pagina": 100})
        assert mine.status_code == 200, mine.text
        return next(n for n in mine.json()["elementos"] if n["id"] == target)["leida"] is False

    assert a1_unread()
    for who, name in ((world.a2, "a2"), (world.supervisor, "supervisor"), (world.admin, "admin")):
        unknown = client.call("POST", "resolucion", f"/notificaciones/{UNKNOWN}/lectura", who.token, json={})
        response = client.call("POST", "resolucion", f"/notificaciones/{target}/lectura", who.token, json={})
        _same_404(rec, f"{name} marks a1's notification read", response, unknown)
        for params in ({"por_pagina": 100}, {"no_leidas": "true"}, {"empleado_id": world.a1.id}):
            listed = client.call("GET", "resolucion", "/notificaciones", who.token, params=params)
            rec.record(f"{name} lists notifications with {params}", listed.status_code == 200
                       and target not in {n["id"] for n in listed.json()["elementos"]}, listed.text[:300])
    rec.record("a1's notification stays unread", a1_unread())
    rec.expect("c1 lists staff notifications", client.call("GET", "resolucion", "/notificaciones", world.c1.token),
               403)
    owner = client.call("POST", "resolucion", f"/notificaciones/{target}/lectura", world.a1.token, json={})
    assert owner.status_code == 200 and owner.json()["leida"] is True, owner.text
    rec.check()


# -- clientes: a customer and another customer's account ------------------------------

def test_a_customer_cannot_read_another_customers_account(world, client, attacks):
    rec = attacks("object_level")
    unknown = client.call("GET", "clientes", f"/clientes/{UNKNOWN}", world.c2.token)
    _same_404(rec, "c2 GET c1's account", client.call("GET", "clientes", f"/clientes/{world.c1.id}",
                                                     world.c2.token), unknown)
    for method in ("PATCH", "DELETE", "PUT"):
        response = client.call(method, "clientes", f"/clientes/{world.c1.id}", world.c2.token, json={"nombre": "X"})
        rec.expect(f"c2 {method} c1's account by id", response, 405)
    assert client.call("GET", "clientes", f"/clientes/{world.c1.id}", world.c1.token).status_code == 200
    assert client.call("GET", "clientes", f"/clientes/{world.c1.id}", world.a2.token).status_code == 200
    rec.check()


def test_a_new_account_with_a_deleted_customers_email_inherits_nothing(world, client, attacks):
    rec = attacks("object_level")
    gone = world.client.new_cliente("Borrada")
    incidencia_id = world.client.new_incidencia(gone, world.categoria_of(world.a1))["id"]
    assert client.call("DELETE", "clientes", "/clientes/yo", gone.token).status_code == 204
    again = client.call("POST", "clientes", "/clientes", json={
        "nombre": "Nueva", "apellidos": "Persona", "email": gone.email, "password": gone.password})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != gone.id
    token = client.call("POST", "clientes", "/clientes/login",
                        json={"email": gone.email, "password": gone.password}).json()["access_token"]
    rec.expect("a new account with an erased email reads the old incident",
               client.call("GET", "apertura", f"/incidencias/{incidencia_id}", token), 404)
    mine = client.call("GET", "apertura", "/incidencias", token).json()
    rec.record("a new account with an erased email lists the old incidents", mine["total"] == 0)
    rec.expect("a new account reads the erased one", client.call("GET", "clientes", f"/clientes/{gone.id}", token),
               404)
    rec.check()


# -- resolucion: an agent and another agent's incidents --------------------------------

def test_an_agent_cannot_change_another_agents_incident(world, client, attacks):
    rec = attacks("object_level")
    target = world.incidents["leer"]
    before = world.settled_state(target)
    cases = [
        ("PATCH", "", {"prioridad": "critica"}),
        ("POST", "/comentarios", {"texto": "Me meto"}),
        ("POST", "/comentarios", {"texto": "Nota", "interna": True}),
        ("POST", "/resolucion", {"texto": "Resuelto por otro"}),
        ("POST", "/consulta", {"pregunta": "¿Me lo cuenta a mí?"}),
        ("POST", "/inicio", {}),
        ("POST", "/asignacion", {}),
        ("POST", "/asignacion", {"empleado_id": world.a2.id}),
        ("POST", "/asignacion", {"empleado_id": world.a1.id}),
    ]
    for method, action, body in cases:
        response = client.call(method, "resolucion", f"/incidencias/{target}{action}", world.a2.token, json=body)
        rec.expect(f"a2 {method} {action or '(patch)'} {sorted(body)} on a1's incident", response, 403)
    assert world.state_of(target) == before, "the refused requests changed the incident"
    # Reading is every employee's: the queue is shared.
    assert client.call("GET", "resolucion", f"/incidencias/{target}", world.a2.token).status_code == 200
    # The owner may do what the other agent may not.
    owner = client.call("PATCH", "resolucion", f"/incidencias/{target}", world.a1.token, json={"prioridad": "alta"})
    assert owner.status_code == 200, owner.text
    rec.check()


@pytest.mark.parametrize("action, body, incident, estado", [
    ("inicio", {}, "iniciar", "en_curso"),
    ("resolucion", {"texto": "Hecho"}, "resolver", "resuelta"),
    ("consulta", {"pregunta": "¿Qué modelo es?"}, "consultar", "esperando_cliente"),
])
def test_an_agent_cannot_move_another_agents_incident(world, client, attacks, action, body, incident, estado):
    rec = attacks("object_level")
    target = world.incidents[incident]
    before = world.settled_state(target)
    for attacker in (world.a2,):
        response = client.call("POST", "resolucion", f"/incidencias/{target}/{action}", attacker.token, json=body)
        rec.expect(f"a2 POST {action} on a1's incident", response, 403)
    assert world.state_of(target) == before
    owner = client.call("POST", "resolucion", f"/incidencias/{target}/{action}", world.a1.token, json=body)
    assert owner.status_code == 200 and owner.json()["estado"] == estado, owner.text
    rec.check()


def test_reassignment_moves_the_right_to_act_with_it(world, client, attacks):
    rec = attacks("object_level")
    target = world.incidents["tomar"]
    moved = client.call("POST", "resolucion", f"/incidencias/{target}/asignacion", world.supervisor.token,
                        json={"empleado_id": world.a2.id})
    assert moved.status_code == 200 and moved.json()["asignada_a"]["id"] == world.a2.id, moved.text
    before = world.settled_state(target)
    for method, action, body in [("PATCH", "", {"prioridad": "baja"}), ("POST", "/inicio", {}),
                                 ("POST", "/comentarios", {"texto": "Sigo yo"}), ("POST", "/asignacion", {}),
                                 ("POST", "/consulta", {"pregunta": "¿Sigue igual?"})]:
        response = client.call(method, "resolucion", f"/incidencias/{target}{action}", world.a1.token, json=body)
        rec.expect(f"a1 {method} {action or '(patch)'} after losing the incident", response, 403)
    assert world.state_of(target) == before
    assert client.call("POST", "resolucion", f"/incidencias/{target}/inicio", world.a2.token,
                       json={}).status_code == 200
    rec.check()


def test_an_agent_cannot_act_on_the_other_customers_incident_either(world, client, attacks):
    """The symmetric pair: a1 against a2's incident of c2."""
    rec = attacks("object_level")
    target = world.incidents["de_c2"]
    before = world.settled_state(target, world.c2)
    for method, action, body in [("PATCH", "", {"categoria": "otra"}), ("POST", "/inicio", {}),
                                 ("POST", "/resolucion", {"texto": "x"}), ("POST", "/asignacion", {}),
                                 ("POST", "/consulta", {"pregunta": "¿Qué modelo es?"})]:
        response = client.call(method, "resolucion", f"/incidencias/{target}{action}", world.a1.token, json=body)
        rec.expect(f"a1 {method} {action or '(patch)'} on a2's incident", response, 403)
    unknown = client.call("GET", "apertura", f"/incidencias/{UNKNOWN}", world.c1.token)
    _same_404(rec, "c1 GET c2's incident", client.call("GET", "apertura", f"/incidencias/{target}", world.c1.token),
              unknown)
    assert world.state_of(target, world.c2) == before
    rec.check()


# -- empleados: an agent and other employees --------------------------------------------

def test_an_agent_cannot_read_or_change_another_employee(world, client, attacks):
    rec = attacks("object_level")
    target = world.a1
    before = client.call("GET", "empleados", f"/empleados/{target.id}", world.admin.token).json()
    cases = [
        (world.a2, "GET", "", None),
        (world.a2, "GET", "", None, UNKNOWN),
        (world.a2, "PATCH", "", {"nombre": "Intrusa"}),
        (world.a2, "PATCH", "", {"categorias": []}),
        (world.a2, "POST", "/baja", {}),
        (world.supervisor, "PATCH", "", {"nombre": "Intrusa"}),
        (world.supervisor, "PATCH", "", {"rol": "admin"}),
        (world.supervisor, "POST", "/baja", {}),
    ]
    for attacker, method, action, body, *other in cases:
        empleado_id = other[0] if other else target.id
        response = client.call(method, "empleados", f"/empleados/{empleado_id}{action}", attacker.token,
                               **({"json": body} if body is not None else {}))
        what = "an unknown employee" if other else "a1"
        rec.expect(f"{attacker.rol} {method} {action or ''} {sorted(body or {})} on {what}", response, 403)
    # Nobody but the admin may set someone else's password, not even the admin.
    response = client.call("PATCH", "empleados", f"/empleados/{target.id}", world.admin.token,
                           json={"password": "Otra-clave-segura-9", "password_actual": "no-la-se-1"})
    rec.expect("admin sets a1's password", response, 403)
    after = client.call("GET", "empleados", f"/empleados/{target.id}", world.admin.token).json()
    assert after == before
    assert client.call("GET", "empleados", f"/empleados/{target.id}", world.supervisor.token).status_code == 200
    assert client.call("GET", "empleados", f"/empleados/{target.id}", target.token).status_code == 200
    rec.check()


def test_an_agent_cannot_tag_another_agents_incident_and_no_customer_sees_a_tag(world, client, attacks):
    rec = attacks("object_level")
    target = world.incidents["leer"]
    before = world.settled_state(target)
    for method in ("PUT", "DELETE"):
        response = client.call(method, "resolucion", f"/incidencias/{target}/etiquetas/intrusa", world.a2.token)
        rec.expect(f"a2 {method} a tag on a1's incident", response, 403)
    assert world.state_of(target) == before, "the refused requests changed the incident"
    owner = client.call("PUT", "resolucion", f"/incidencias/{target}/etiquetas/seguimiento", world.a1.token)
    assert owner.status_code == 200 and "seguimiento" in owner.json()["etiquetas"], owner.text
    seen = client.call("GET", "apertura", f"/incidencias/{target}", world.c1.token).json()
    rec.record("the customer's view of a tagged incident has no tags", "etiquetas" not in seen, str(sorted(seen)))
    customer = client.call("GET", "resolucion", "/etiquetas", world.c1.token)
    rec.expect("c1 GET the tags in use", customer, 403)
    assert client.call("DELETE", "resolucion", f"/incidencias/{target}/etiquetas/seguimiento",
                       world.a1.token).status_code == 200
    rec.check()


def test_an_agent_reads_a_canned_reply_but_cannot_change_it(world, client, attacks):
    rec = attacks("object_level")
    path = f"/respuestas/{world.respuesta}"
    before = client.call("GET", "resolucion", path, world.supervisor.token).json()
    assert client.call("GET", "resolucion", path, world.a1.token).json() == before
    rec.expect("a1 PATCH a canned reply", client.call("PATCH", "resolucion", path, world.a1.token,
                                                      json={"texto": "Otra cosa"}), 403)
    rec.expect("a1 retires a canned reply", client.call("POST", "resolucion", f"{path}/retirada", world.a1.token,
                                                        json={}), 403)
    assert client.call("GET", "resolucion", path, world.supervisor.token).json() == before
    owner = client.call("PATCH", "resolucion", path, world.supervisor.token, json={"titulo": before["titulo"]})
    assert owner.status_code == 200, owner.text
    rec.check()


def test_a_customer_cannot_open_an_incident_in_another_customers_name(world, client, attacks):
    rec = attacks("object_level")
    body = {"titulo": "En nombre de otro", "descripcion": "Soy c2", "producto": {"referencia": "R", "nombre": "Radio"}}
    count = lambda: client.call("GET", "apertura", "/incidencias", world.c1.token).json()["total"]  # noqa: E731
    before = count()
    response = client.call("POST", "apertura", f"/clientes/{world.c1.id}/incidencias", world.c2.token, json=body)
    rec.expect("c2 opens an incident in c1's name", response, 403)
    assert count() == before
    by_phone = client.call("POST", "apertura", f"/clientes/{world.c1.id}/incidencias", world.a1.token, json=body)
    assert by_phone.status_code == 201 and by_phone.json()["canal"] == "telefono", by_phone.text
    rec.check()


def test_a_customer_search_finds_only_their_own_incidents_and_never_by_an_internal_note(world, client, attacks):
    rec = attacks("object_level")
    titulo, nota = f"Tostadora{uuid.uuid4().hex[:8]}", f"sospecha{uuid.uuid4().hex[:8]}"
    target = client.new_incidencia(world.c2, world.categoria_of(world.a2), titulo=f"La {titulo} no tuesta")["id"]
    client.wait_customer_sees(world.c2, target, "asignada")
    written = client.call("POST", "resolucion", f"/incidencias/{target}/comentarios", world.a2.token,
                          json={"texto": f"Posible {nota} de fraude", "interna": True})
    assert written.status_code == 201, written.text

    def found(service: str, who, words: str) -> list[str]:
        response = client.call("GET", service, "/incidencias", who.token, params={"q": words})
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["elementos"]]

    assert found("resolucion", world.a2, nota) == [target]  # staff find it by the note
    assert found("apertura", world.c2, titulo) == [target]  # its customer by its title
    for who, words, what in ((world.c1, titulo, "another customer's incident by its title"),
                             (world.c1, nota, "another customer's incident by its internal note"),
                             (world.c2, nota, "their own incident by its internal note")):
        seen = found("apertura", who, words)
        rec.record(f"{'c1' if who is world.c1 else 'c2'} searches {what}", seen == [], str(seen))
    rec.expect("c1 searches the staff's list", client.call("GET", "resolucion", "/incidencias", world.c1.token,
                                                           params={"q": titulo}), 403)
    rec.check()


def test_no_one_merges_one_customers_incident_into_anothers(world, client, attacks):
    rec = attacks("object_level")
    theirs, mine = world.incidents["de_c2"], world.incidents["leer"]
    before = world.settled_state(theirs, world.c2), world.settled_state(mine)
    for who, name in ((world.supervisor, "supervisor"), (world.admin, "admin")):
        for origen, destino in ((theirs, mine), (mine, theirs)):
            response = client.call("POST", "resolucion", f"/incidencias/{origen}/fusion", who.token,
                                   json={"destino_id": destino})
            rec.expect(f"{name} merges {'c2' if origen == theirs else 'c1'}'s incident into the other customer's",
                       response, 422)
    assert (world.state_of(theirs, world.c2), world.state_of(mine)) == before, "the refused merges changed one"
    rec.check()
