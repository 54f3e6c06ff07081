"""incidencias_apertura over HTTP: what the customer sees of a merge made in
resolucion. The duplicate ends in ``fusionada`` pointing to the incident
that goes on, which holds its public comments; the customer is told once,
in the portal and by e-mail, with a link to where it goes on.

The same application and fakes as ``test_apertura_api`` (its ``api``
fixture): real tokens, a real SQLite file, what resolucion publishes built
with the domain as resolucion builds it and handed to the worker's handlers."""
from __future__ import annotations

from datetime import datetime, timezone

from common.mail import Mail
from common.messaging import make_event
from incidencias_dominio import RESOLUCION, Actor
from tests.integration.test_apertura_api import RESOLUCION_ORIGIN, api  # noqa: F401 - fixture
from tests.integration.test_apertura_telefono import known_customer
from tests.integration.token_issuers import issuers  # noqa: F401 - fixture
from tests.services.mailbox import FAR_FUTURE

SUPERVISOR = Actor("s1", "supervisor", "Sara Jefa")


def merged_in_resolucion(api, duplicada: str, destino: str) -> None:
    """Both halves of a merge as resolucion makes and publishes them."""
    origen, _ = api.incidencias.get(duplicada)
    otra, _ = api.incidencias.get(destino)
    when = datetime.now(timezone.utc)
    tipo_destino = otra.recibir_fusion(RESOLUCION, origen, SUPERVISOR, when)
    tipo_origen = origen.fusionar_en(RESOLUCION, otra, SUPERVISOR, when)
    for tipo, incidencia in ((tipo_destino, otra), (tipo_origen, origen)):
        event = make_event(tipo, {"incidencia": incidencia.to_snapshot(False)}, RESOLUCION_ORIGIN)
        api.handlers.routes()[event.tipo](event)


def test_the_customer_sees_the_duplicate_merged_and_is_told_once_where_it_goes_on(api):
    known_customer(api, "c1")
    destino = api.open(titulo="La radio no enciende")["id"]
    duplicada = api.open(titulo="La radio sigue muerta")["id"]
    for incidencia_id in (destino, duplicada):
        api.from_resolucion(incidencia_id, "asignada")
    api.request("POST", f"/incidencias/{duplicada}/comentarios", json={"texto": "Compré otra pila y nada"})
    api.employee_comment(duplicada, "k1", "Lo miramos")
    api.take_events()
    before = api.request("GET", "/notificaciones").json["total"]
    pending = {m.id for m in api.store.due_mails(FAR_FUTURE, 100)}

    merged_in_resolucion(api, duplicada, destino)

    gone = api.request("GET", f"/incidencias/{duplicada}").json
    assert (gone["estado"], gone["fusionada_en"]) == ("fusionada", destino)
    kept = api.request("GET", f"/incidencias/{destino}").json
    assert kept["fusionadas"] == [duplicada]
    # In the order they were written (the employee's, built in the past, first).
    assert [c["texto"] for c in kept["comentarios"]] == ["Lo miramos", "Compré otra pila y nada"]
    notes = api.request("GET", "/notificaciones").json
    assert notes["total"] == before + 1
    assert (notes["elementos"][0]["incidencia_id"], notes["elementos"][0]["tipo"], notes["elementos"][0]["mensaje"]) == (
        duplicada, "incidencia.fusionada", "Su incidencia «La radio sigue muerta» trata lo mismo que «La radio no "
        "enciende»: las hemos unido y seguimos allí, con sus comentarios.")
    [mail] = [m for m in api.store.due_mails(FAR_FUTURE, 100) if m.id not in pending]
    sent = Mail.from_json(mail.body)
    assert sent.subject == "Su incidencia «La radio sigue muerta» sigue en otra"
    assert f"/incidencias/{destino}" in sent.text
    # No more can happen to the duplicate: the customer's actions are 409s.
    assert api.request("POST", f"/incidencias/{duplicada}/comentarios", json={"texto": "¿Hola?"}).status_code == 409


def test_a_redelivered_merge_changes_and_tells_nothing_twice(api):
    known_customer(api, "c1")
    destino, duplicada = api.open()["id"], api.open()["id"]
    for incidencia_id in (destino, duplicada):
        api.from_resolucion(incidencia_id, "asignada")
    merged_in_resolucion(api, duplicada, destino)
    total = api.request("GET", "/notificaciones").json["total"]
    for incidencia_id in (destino, duplicada):
        incidencia, _ = api.incidencias.get(incidencia_id)
        tipo = "incidencia.fusionada" if incidencia_id == duplicada else "incidencia.actualizada"
        event = make_event(tipo, {"incidencia": incidencia.to_snapshot(False)}, RESOLUCION_ORIGIN)
        api.handlers.routes()[event.tipo](event)
    assert api.request("GET", "/notificaciones").json["total"] == total
