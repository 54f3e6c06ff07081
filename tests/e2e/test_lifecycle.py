"""The incident lifecycle across both incident services, over HTTP, against
the processes `make run` starts and the real RabbitMQ (nothing faked)."""
from __future__ import annotations

import uuid

from harness import new_categoria, wait_until


def assert_converged(api, cliente, empleado, incidencia_id):
    def same():
        mine = api.customer_view(cliente, incidencia_id)
        staff = api.staff_view(empleado, incidencia_id)
        public = [{k: c[k] for k in ("id", "texto")} for c in staff["comentarios"] if not c["interna"]]
        return (mine["estado"], mine["version"], mine["asignada_a"], [
            {k: c[k] for k in ("id", "texto")} for c in mine["comentarios"]]) == (
            staff["estado"], staff["version"], staff["asignada_a"], public)

    wait_until(same, timeout=20, message="both replicas converge")


def test_the_whole_story_open_assign_work_resolve_reopen_resolve_close(api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Ines")
    cliente = api.new_cliente("Sofia")

    opened = api.new_incidencia(cliente, categoria, prioridad="alta")
    assert opened["estado"] == "abierta" and opened["version"] == 1
    incidencia_id = opened["id"]

    asignada = api.wait_customer_sees(cliente, incidencia_id, "asignada")
    assert asignada["asignada_a"]["id"] == agente.id
    mine = api.call("GET", "resolucion", "/incidencias", token=agente.token,
                    params={"asignada_a": "yo", "categoria": categoria}).json()
    assert [i["id"] for i in mine["elementos"]] == [incidencia_id]

    assert api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/inicio",
                    token=agente.token).status_code == 200
    api.wait_customer_sees(cliente, incidencia_id, "en_curso")

    note = api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/comentarios", token=agente.token,
                    json={"texto": "NOTA-INTERNA: proveedor con historial de roturas", "interna": True})
    assert note.status_code == 201
    public = api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/comentarios", token=agente.token,
                      json={"texto": "Le enviamos otra lámpara"})
    assert public.status_code == 201
    reply = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/comentarios", token=cliente.token,
                     json={"texto": "Gracias"})
    assert reply.status_code == 201

    resolved = api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/resolucion", token=agente.token,
                        json={"texto": "Reenvío gratuito"})
    assert resolved.status_code == 200 and resolved.json()["estado"] == "resuelta"
    api.wait_customer_sees(cliente, incidencia_id, "resuelta")

    reopen = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/reapertura", token=cliente.token,
                      json={"motivo": "La nueva también llegó rota"})
    assert reopen.status_code == 200 and reopen.json()["estado"] == "reabierta"
    back = api.wait_staff_sees(agente, incidencia_id, "asignada")
    assert back["asignada_a"]["id"] == agente.id  # back to the same employee

    assert api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/resolucion", token=agente.token,
                    json={"texto": "Reembolso"}).status_code == 200
    api.wait_customer_sees(cliente, incidencia_id, "resuelta")
    closed = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/cierre", token=cliente.token)
    assert closed.status_code == 200 and closed.json()["estado"] == "cerrada"
    final = api.wait_staff_sees(agente, incidencia_id, "cerrada")
    assert [h["a"] for h in final["historial"]] == [
        "abierta", "asignada", "en_curso", "resuelta", "reabierta", "asignada", "resuelta", "cerrada"]
    assert_converged(api, cliente, agente, incidencia_id)

    # Internal notes never reach the customer side.
    mine = api.customer_view(cliente, incidencia_id)
    assert "NOTA-INTERNA" not in str(mine)
    # Every step the customer is told of, newest first, once each: the close and the
    # reopening too (apertura's consumer notifies them as it does resolucion's events);
    # not the customer's own comment nor the internal note.
    story = ["incidencia.cerrada", "incidencia.resuelta", "incidencia.asignada", "incidencia.reabierta",
             "incidencia.resuelta", "incidencia.comentada", "incidencia.en_curso", "incidencia.asignada"]

    def told() -> list[str]:
        notes = api.call("GET", "apertura", "/notificaciones", token=cliente.token).json()
        assert "NOTA-INTERNA" not in str(notes)
        return [n["tipo"] for n in notes["elementos"] if n["incidencia_id"] == incidencia_id]

    wait_until(lambda: len(told()) >= len(story), timeout=20, message="the customer is told of every step")
    assert told() == story


def test_idempotency_key_returns_the_first_incident(api):
    cliente = api.new_cliente("Pablo")
    headers = {"Idempotency-Key": f"key-{uuid.uuid4().hex}"}
    body = {"titulo": "No enciende", "descripcion": "Nada", "producto": {"referencia": "R", "nombre": "Radio"}}
    first = api.call("POST", "apertura", "/incidencias", token=cliente.token, json=body, headers=dict(headers))
    again = api.call("POST", "apertura", "/incidencias", token=cliente.token, json=body, headers=dict(headers))
    assert first.status_code == 201 and again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    listed = api.call("GET", "apertura", "/incidencias", token=cliente.token).json()
    assert listed["total"] == 1
    other = api.call("POST", "apertura", "/incidencias", token=cliente.token, headers=dict(headers),
                     json={**body, "titulo": "Otra cosa"})
    assert other.status_code == 409


def test_only_the_owner_of_the_state_changes_it(api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria])
    cliente = api.new_cliente("Olga")
    incidencia_id = api.new_incidencia(cliente, categoria)["id"]
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
    # The customer cannot close what resolucion owns.
    refused = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/cierre", token=cliente.token)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["estado"] == "asignada"
    assert api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/resolucion", token=agente.token,
                    json={"texto": "Hecho"}).status_code == 200
    # Now apertura owns it: resolucion cannot change it any more.
    again = api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/inicio", token=agente.token)
    assert again.status_code == 409 and again.json()["estado"] == "resuelta"
    patch = api.call("PATCH", "resolucion", f"/incidencias/{incidencia_id}", token=agente.token,
                     json={"prioridad": "critica"})
    assert patch.status_code == 409


def test_cancellation_is_requested_and_applied_by_resolucion(api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria])
    cliente = api.new_cliente("Raul")
    incidencia_id = api.new_incidencia(cliente, categoria)["id"]
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
    requested = api.call("POST", "apertura", f"/incidencias/{incidencia_id}/cancelacion", token=cliente.token,
                         json={"motivo": "Ya no lo necesito"})
    assert requested.status_code == 202
    assert requested.json()["cancelacion_solicitada_en"]
    api.wait_customer_sees(cliente, incidencia_id, "cancelada")
    api.wait_staff_sees(agente, incidencia_id, "cancelada")
    assert_converged(api, cliente, agente, incidencia_id)


def test_a_customer_never_sees_another_customers_incident(api):
    ana, bea = api.new_cliente("Ana"), api.new_cliente("Bea")
    incidencia_id = api.new_incidencia(ana, new_categoria())["id"]
    for method, path in [("GET", ""), ("POST", "/cierre"), ("POST", "/cancelacion")]:
        response = api.call(method, "apertura", f"/incidencias/{incidencia_id}{path}", token=bea.token,
                            json={} if method == "POST" else None)
        assert response.status_code == 404, (path, response.text)
    assert api.call("GET", "apertura", "/incidencias", token=bea.token).json()["total"] == 0


def test_a_deactivated_employees_incidents_are_reassigned(api):
    categoria = new_categoria()
    first = api.new_empleado("agente", [categoria], nombre="Primero")
    cliente = api.new_cliente("Teo")
    incidencia_id = api.new_incidencia(cliente, categoria)["id"]
    assert api.wait_customer_sees(cliente, incidencia_id, "asignada")["asignada_a"]["id"] == first.id
    second = api.new_empleado("agente", [categoria], nombre="Segundo")
    baja = api.call("POST", "empleados", f"/empleados/{first.id}/baja", token=api.admin_token())
    assert baja.status_code == 200 and baja.json()["activo"] is False, baja.text
    wait_until(lambda: api.customer_view(cliente, incidencia_id)["asignada_a"]["id"] == second.id,
               timeout=20, message="reassigned to the second agent")
    # The deactivated employee's token stops working at once where incidents live.
    wait_until(lambda: api.call("GET", "resolucion", "/incidencias", token=first.token).status_code == 401,
               timeout=20)


def test_a_deleted_customer_loses_access_and_their_incidents_are_cancelled(api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria])
    cliente = api.new_cliente("Ursula")
    incidencia_id = api.new_incidencia(cliente, categoria)["id"]
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
    assert api.call("DELETE", "clientes", "/clientes/yo", token=cliente.token).status_code == 204
    wait_until(lambda: api.call("GET", "apertura", "/incidencias", token=cliente.token).status_code == 401,
               timeout=20, message="token refused by apertura")
    staff = api.wait_staff_sees(agente, incidencia_id, "cancelada")
    assert staff["cliente"]["nombre"] == "Cliente eliminado"
    assert "Ursula" not in str(staff)


def test_incidents_wait_for_an_employee_and_are_assigned_when_one_registers(api):
    categoria = new_categoria()
    cliente = api.new_cliente("Vera")
    # Other tests' agents exist, so this one may be assigned at once to a
    # generalist; what matters is that it never stays abierta while someone
    # could take it.
    incidencia_id = api.new_incidencia(cliente, categoria)["id"]
    api.new_empleado("agente", [categoria])
    api.wait_customer_sees(cliente, incidencia_id, "asignada")
