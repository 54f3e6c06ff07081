"""The agent's desk through the APIs alone, against the processes `make run`
starts: a call from an existing customer found by the number they call
from, the incident opened for them, tagged, answered with a canned reply
the server fills in, found again by words typed without accents, and a
second call about the same thing merged into it; the customer sees it as their own, opened by phone,
with the answer and the mail of its assignment, and never the tag. And a
caller with no account, registered on the call, who chooses their password
from the mail."""
from __future__ import annotations

import uuid
from urllib.parse import parse_qs, urlsplit

from harness import wait_until
from harness.mailbox import text_of

INCIDENCIA = {"titulo": "La tostadora no calienta", "descripcion": "Lo cuenta por teléfono: no enciende",
              "producto": {"referencia": "TOS-2", "nombre": "Tostadora"}, "pedido": "P-2026-77"}


def test_an_agent_takes_a_call_tags_it_and_answers_with_a_canned_reply(api, system):
    categoria = f"desk-{uuid.uuid4().hex[:8]}"
    admin = api.admin()
    agente = api.new_empleado("agente", [categoria], nombre="Carmen", apellidos="Centralita", admin_token=admin.token)
    api.wait_known_by_resolucion(admin, agente)
    cliente = api.new_cliente("Tomasa", apellidos="Llamadora")
    digits = f"6{uuid.uuid4().int % 10**8:08d}"
    assert api.call("PATCH", "clientes", "/clientes/yo", cliente.token,
                    json={"telefono": f"+34 {digits[:3]} {digits[3:6]} {digits[6:]}"}).status_code == 200

    # The call: the number as the phone shows it finds her.
    found = api.call("GET", "clientes", "/clientes", agente.token, params={"q": f"{digits[:3]}-{digits[3:]}"})
    assert [c["id"] for c in found.json()["elementos"]] == [cliente.id]
    serie = f"Serié{uuid.uuid4().hex[:8]}"  # a word of its own, with an accent to type without
    llamada = {**INCIDENCIA, "descripcion": f"{INCIDENCIA['descripcion']}; la garantía cubre la {serie}",
               "categoria": categoria}
    opened = wait_until(lambda: (r := api.call("POST", "apertura", f"/clientes/{cliente.id}/incidencias", agente.token,
                                               json=llamada)).status_code == 201 and r,
                        timeout=20, interval=0.1, message="apertura opens it once it knows the customer")
    incidencia_id = opened.json()["id"]
    assigned = wait_until(lambda: (v := api.call("GET", "resolucion", f"/incidencias/{incidencia_id}",
                                                 agente.token).json()).get("estado") == "asignada" and v,
                          timeout=20, interval=0.1, message="resolucion assigns it")
    assert (assigned["canal"], assigned["asignada_a"]["id"]) == ("telefono", agente.id)
    assert assigned["historial"][0]["por"] == {"id": agente.id, "rol": "agente"}

    tagged = api.call("PUT", "resolucion", f"/incidencias/{incidencia_id}/etiquetas/Llamada%20urgente", agente.token)
    assert tagged.status_code == 200 and tagged.json()["etiquetas"] == ["llamada-urgente"]
    respuesta = api.call("POST", "resolucion", "/respuestas", admin.token, json={
        "titulo": f"Revisión {categoria}", "texto": "Hola {cliente}: revisamos «{titulo}» hoy. {agente}"}).json()
    answered = api.call("POST", "resolucion", f"/incidencias/{incidencia_id}/comentarios", agente.token,
                        json={"respuesta_id": respuesta["id"]})
    sent = "Hola Tomasa Llamadora: revisamos «La tostadora no calienta» hoy. Carmen Centralita"
    assert answered.status_code == 201 and answered.json()["comentarios"][-1]["texto"] == sent
    listed = api.call("GET", "resolucion", "/incidencias", agente.token, params={"etiqueta": "LLAMADA-URGENTE"})
    assert [i["id"] for i in listed.json()["elementos"]] == [incidencia_id]
    # Found again later by words of its description, typed without accents.
    searched = api.call("GET", "resolucion", "/incidencias", agente.token,
                        params={"q": f"garantia {serie.lower().replace('é', 'e')}"})
    assert [i["id"] for i in searched.json()["elementos"]] == [incidencia_id]

    # The customer: hers, by phone, the answer as it was sent, no tag anywhere.
    view = wait_until(lambda: (v := api.customer_view(cliente, incidencia_id))["comentarios"] and v,
                      timeout=20, interval=0.1, message="the answer reaches apertura")
    assert (view["canal"], [c["texto"] for c in view["comentarios"]]) == ("telefono", [sent])
    assert "etiquetas" not in view and "llamada-urgente" not in str(view)
    assert api.call("GET", "resolucion", "/etiquetas", cliente.token).status_code == 403
    theirs = api.call("GET", "apertura", "/incidencias", cliente.token, params={"q": serie.upper()})
    assert [i["id"] for i in theirs.json()["elementos"]] == [incidencia_id]
    system.mailbox.wait_for(lambda m: str(m["To"]).lower() == cliente.email.lower()
                            and str(m["Subject"]) == "Su incidencia «La tostadora no calienta» ha sido asignada",
                            timeout=30, message="the assignment mail, as for an incident she opened")

    # She calls again about the same toaster; the second incident is merged into the first.
    again = api.call("POST", "apertura", f"/clientes/{cliente.id}/incidencias", agente.token,
                     json={**llamada, "titulo": "Otra vez la tostadora", "descripcion": "Llama de nuevo"}).json()
    wait_until(lambda: api.call("GET", "resolucion", f"/incidencias/{again['id']}", agente.token).json().get(
        "estado") == "asignada", timeout=20, interval=0.1, message="the second call assigned")
    assert api.call("POST", "apertura", f"/incidencias/{again['id']}/comentarios", cliente.token,
                    json={"texto": "Sigue igual que ayer"}).status_code == 201
    wait_until(lambda: api.call("GET", "resolucion", f"/incidencias/{again['id']}", agente.token).json()[
        "comentarios"], timeout=20, interval=0.1, message="her comment reaches resolucion")
    jefa = api.new_empleado("supervisor", [], nombre="Sonia", apellidos="Jefa", admin_token=admin.token)
    api.wait_known_by_resolucion(admin, jefa)
    merged = api.call("POST", "resolucion", f"/incidencias/{again['id']}/fusion", jefa.token,
                      json={"destino_id": incidencia_id})
    assert merged.status_code == 200 and (merged.json()["estado"], merged.json()["fusionada_en"]) == (
        "fusionada", incidencia_id)
    gone = wait_until(lambda: (v := api.customer_view(cliente, again["id"]))["estado"] == "fusionada" and v,
                      timeout=20, interval=0.1, message="the merge reaches apertura")
    assert gone["fusionada_en"] == incidencia_id
    kept = wait_until(lambda: (v := api.customer_view(cliente, incidencia_id))["fusionadas"] and v,
                      timeout=20, interval=0.1, message="the comments copied reach apertura")
    assert [c["texto"] for c in kept["comentarios"]] == [sent, "Sigue igual que ayer"]
    system.mailbox.wait_for(lambda m: str(m["To"]).lower() == cliente.email.lower()
                            and str(m["Subject"]) == "Su incidencia «Otra vez la tostadora» sigue en otra",
                            timeout=30, message="the mail telling her where it goes on")


def test_a_caller_with_no_account_is_registered_and_chooses_a_password_from_the_mail(api, system):
    admin = api.admin()
    agente = api.new_empleado("agente", [], nombre="Pilar", apellidos="Altas", admin_token=admin.token)
    email = f"sin.cuenta.{uuid.uuid4().hex[:8]}@example.com"
    invited = api.call("POST", "clientes", "/clientes/invitacion", agente.token,
                       json={"nombre": "Sin", "apellidos": "Cuenta", "email": email, "telefono": "600 000 111"})
    assert invited.status_code == 201 and invited.json()["invitacion_pendiente"] is True
    mail = system.mailbox.wait_for(lambda m: str(m["To"]).lower() == email, timeout=30, message="the invitation")
    [link] = [w for w in text_of(mail).split() if "/cuenta/invitacion?token=" in w]
    token = parse_qs(urlsplit(link).query)["token"][0]
    accepted = api.call("POST", "clientes", "/clientes/invitacion/aceptacion",
                        json={"token": token, "password": "Tostadora-2026"})
    assert accepted.status_code == 200 and accepted.json()["email_verificado"] is True
    assert api.login("clientes", email, "Tostadora-2026")
