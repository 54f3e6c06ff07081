"""incidencias_apertura's e-mails to the customer, against the in-memory
store: every notification it creates is stored with its mail in the same
write (unless the customer gets none), a piece of news mails once however
often it arrives (the close and the reopening this side publishes itself
too, from its own consumer), an internal note never reaches a mail, erasure cancels
what was not sent; and what its replica of customers keeps from
``cliente.*`` (the address, the preference, since when sessions count),
with the token rule that follows from it. The mails' wording is in
tests/unit/test_incident_mails.py."""
from __future__ import annotations

from typing import Any

import pytest

from common.mail import Mail
from common.messaging import Event, PermanentError, make_event
from common.tokens import Principal
from cuentas.cuenta import inicio_de_sesiones
from cuentas.personal import PersonalReplica
from incidencias_replica.sla import PoliticaSlaStore
from incidencias_apertura import services
from incidencias_apertura.bootstrap import Components
from incidencias_apertura.config import AperturaSettings
from incidencias_apertura.handlers import AperturaHandlers
from incidencias_apertura.repository import OUTBOX, ClienteReplica, IncidenciaRepository, NotificacionRepository
from incidencias_dominio import Actor, Comentario, Incidencia, format_instant
from incidencias_resolucion import events as resolucion_events
from tests.services.incident_helpers import EVA_ACTOR, avanzar

pytestmark = pytest.mark.outbox(*OUTBOX)
PORTAL = "https://portal.example"
LATER = "2999-01-01T00:00:00Z"  # every stored mail is due by then
TITULO = "La radio no enciende"


class Apertura:
    """apertura's repositories and its event handlers on the test's store."""

    def __init__(self, store, clock):
        self.store, self.clock = store, clock
        self.incidencias = IncidenciaRepository(store)
        self.notificaciones = NotificacionRepository(store)
        self.clientes = ClienteReplica(store)
        self.components = Components(settings=AperturaSettings(portal_url=PORTAL), store=store, verifier=None,
                                     incidencias=self.incidencias, clientes=self.clientes,
                                     notificaciones=self.notificaciones, personal=PersonalReplica(store),
                                     politicas=PoliticaSlaStore(store))
        self.handlers = AperturaHandlers(self.components)

    def cliente(self, cliente_id: str = "c1", tipo: str = "cliente.registrado", **datos: Any) -> Event:
        """clientes' event about the customer arrives (a microsecond after the last one)."""
        self.clock.advance(microseconds=1)
        event = make_event(tipo, {"id": cliente_id, "nombre": "Ana", "apellidos": "Pérez", **datos}, "clientes")
        self.handlers.on_cliente(event)
        return event

    def abrir(self, cliente_id: str = "c1") -> Incidencia:
        return services.abrir_incidencia(self.incidencias, {"id": cliente_id, "nombre": "Ana Pérez"}, {
            "titulo": TITULO, "descripcion": "Desde ayer no da señal de vida.", "prioridad": "media",
            "producto": {"referencia": "RAD-100", "nombre": "Radio portátil"}})[0]

    def desde_resolucion(self, incidencia_id: str, *pasos: str) -> list[Event]:
        """resolucion takes ``pasos``; each snapshot event reaches the handler."""
        delivered = []
        for paso in pasos:
            self.clock.advance(minutes=1)
            incidencia = self.incidencias.get(incidencia_id)[0]
            event = resolucion_events.snapshot(avanzar(incidencia, paso, self.clock.now), incidencia)
            self.handlers.on_snapshot(event)
            delivered.append(event)
        return delivered

    def comentario_del_equipo(self, incidencia_id: str, texto: str = "Pruebe con pilas nuevas",
                              interna: bool = False, comentario_id: str = "ec1") -> Event:
        comentario = Comentario(comentario_id, EVA_ACTOR, texto, interna, self.clock.now).to_dict()
        return make_event("incidencia.comentada", {"incidencia_id": incidencia_id, "comentario": comentario},
                          "incidencias_resolucion")

    def publicados(self) -> list[Event]:
        """What this side published since the last look (its outbox, then marked published)."""
        pending = self.store.pending_events(100_000)
        self.store.mark_published(m.id for m in pending)
        return [Event.parse(m.body) for m in pending]

    def consumir(self, delivered: list[Event]) -> None:
        """The consumer gets ``delivered``: the ones its queue binds reach their handler."""
        routes = self.handlers.routes()
        for event in delivered:
            if event.tipo in routes:
                routes[event.tipo](event)

    def mails(self) -> list[tuple[str, str, Mail]]:
        """The stored mails not sent yet: (id, recipient, mail), oldest first."""
        return [(m.id, m.recipient, Mail.from_json(m.body)) for m in self.store.due_mails(LATER, 1000)]

    def notas(self, cliente_id: str = "c1") -> list[dict[str, Any]]:
        return self.notificaciones.list(cliente_id, False, 0, 100)


@pytest.fixture
def ap(store, clock) -> Apertura:
    return Apertura(store, clock)


def token(cliente_id: str, iat: int, rol: str = "cliente", issuer: str = "clientes") -> Principal:
    return Principal(cliente_id, rol, issuer, claims={"iat": iat, "exp": iat + 900})


# -- every notification, mailed ---------------------------------------------------------------------

@pytest.mark.parametrize("pasos", [("asignada",), ("asignada", "en_curso"), ("asignada", "resuelta"),
                                   ("cancelada",), ("actualizada",)])
def test_each_notification_is_stored_with_its_mail_under_the_notification_id(ap, pasos):
    ap.cliente(email="ana@example.com")
    opened = ap.abrir()
    delivered = ap.desde_resolucion(opened.id, *pasos)
    notas = sorted(ap.notas(), key=lambda n: n["creada_en"])
    assert [n["id"] for n in notas] == [e.id for e in delivered]
    mails = ap.mails()
    assert [(mail_id, recipient, mail.to) for mail_id, recipient, mail in mails] == [
        (e.id, "c1", "ana@example.com") for e in delivered]
    assert all(TITULO in mail.subject and nota["mensaje"] in mail.text for (_, _, mail), nota in zip(mails, notas))
    assert all(f"{PORTAL}/incidencias/{opened.id}" in mail.text for _, _, mail in mails)


def test_a_public_comment_of_the_team_is_mailed_with_its_text_and_author(ap):
    ap.cliente(email="ana@example.com")
    opened = ap.abrir()
    ap.desde_resolucion(opened.id, "asignada")
    event = ap.comentario_del_equipo(opened.id)
    ap.handlers.on_comment(event)
    [_asignada, (mail_id, recipient, mail)] = ap.mails()
    assert (mail_id, recipient, mail.subject) == (event.id, "c1", f"Nuevo comentario en su incidencia «{TITULO}»")
    assert "Eva Soporte ha escrito:" in mail.text and "> Pruebe con pilas nuevas" in mail.text


def test_the_customers_own_comment_mails_nothing(ap):
    ap.cliente(email="ana@example.com")
    opened = ap.abrir()
    comentario = Comentario("cc1", Actor("c1", "cliente", "Ana Pérez"), "Gracias", False, ap.clock.now).to_dict()
    ap.handlers.on_comment(make_event("incidencia.comentada", {"incidencia_id": opened.id, "comentario": comentario},
                                      "incidencias_resolucion"))
    assert ap.notas() == [] and ap.mails() == []


def test_a_piece_of_news_mails_once_redelivered_or_replayed_under_a_new_event_id(ap):
    ap.cliente(email="ana@example.com")
    opened = ap.abrir()
    [asignada] = ap.desde_resolucion(opened.id, "asignada")
    ap.handlers.on_snapshot(asignada)  # redelivered
    ap.handlers.on_snapshot(make_event(asignada.tipo, asignada.datos, asignada.origen))  # replayed
    comentario = ap.comentario_del_equipo(opened.id)
    for event in (comentario, comentario, ap.comentario_del_equipo(opened.id)):
        ap.handlers.on_comment(event)
    assert [m[0] for m in ap.mails()] == [asignada.id, comentario.id]
    assert len(ap.notas()) == 2


# -- what this side does itself: the close and the reopening ------------------------------------------

ANA = Actor("c1", "cliente", "Ana Pérez")


def resuelta(ap) -> Incidencia:
    ap.cliente(email="ana@example.com")
    opened = ap.abrir()
    ap.desde_resolucion(opened.id, "asignada", "resuelta")
    ap.publicados()  # incidencia.abierta: not bound by its own consumer
    return opened


def test_the_customers_close_is_notified_and_mailed_once_by_the_consumer(ap):
    opened = resuelta(ap)
    ap.clock.advance(minutes=1)
    services.cerrar(ap.incidencias, ANA, opened.id)
    assert len(ap.notas()) == 2  # the use case records the event; the consumer tells the customer
    stored = ap.incidencias.collection.get(opened.id)
    [cerrada] = ap.publicados()
    ap.consumir([cerrada])
    assert ap.incidencias.collection.get(opened.id) == stored  # its own snapshot: nothing to apply
    [nota, *_] = ap.notas()
    assert (nota["id"], nota["tipo"], nota["mensaje"], nota["clave"]) == (
        cerrada.id, "incidencia.cerrada",
        f"Ha confirmado la solución de su incidencia «{TITULO}»: la incidencia está cerrada.",
        f"{opened.id}:incidencia.cerrada:v4")
    [*_, (mail_id, recipient, mail)] = ap.mails()
    assert (mail_id, recipient, mail.to, mail.subject) == (
        cerrada.id, "c1", "ana@example.com", f"Su incidencia «{TITULO}» se ha cerrado")
    assert nota["mensaje"] in mail.text
    assert f"Abrir una nueva incidencia: {PORTAL}/incidencias/nueva" in mail.text
    # Redelivered, and replayed under a new id: nothing more.
    ap.consumir([cerrada, make_event(cerrada.tipo, cerrada.datos, cerrada.origen)])
    assert len(ap.notas()) == 3 and len(ap.mails()) == 3


def test_the_automatic_close_is_notified_once_saying_after_how_many_days(ap):
    opened = resuelta(ap)
    ap.clock.advance(days=8)
    assert services.cerrar_vencidas(ap.incidencias, dias=7) == 1
    [cerrada] = ap.publicados()
    ap.consumir([cerrada, cerrada])
    assert services.cerrar_vencidas(ap.incidencias, dias=7) == 0 and ap.publicados() == []
    ap.consumir([make_event(cerrada.tipo, cerrada.datos, cerrada.origen)])
    [nota, *_] = ap.notas()
    assert (len(ap.notas()), nota["id"], nota["mensaje"]) == (
        3, cerrada.id,
        f"Su incidencia «{TITULO}» se ha cerrado automáticamente al no recibir respuesta en 7 días.")
    assert [m[0] for m in ap.mails()][-1] == cerrada.id and len(ap.mails()) == 3
    mail = ap.mails()[-1][2]
    assert "Si la solución propuesta no le sirvió o el problema vuelve a aparecer" in mail.text
    assert f"{PORTAL}/incidencias/nueva" in mail.text


def test_the_reopening_is_confirmed_once_with_the_customers_reason(ap):
    opened = resuelta(ap)
    ap.clock.advance(minutes=1)
    services.reabrir(ap.incidencias, ANA, opened.id, "Sigue sin encender")
    [reabierta] = ap.publicados()
    ap.consumir([reabierta, reabierta, make_event(reabierta.tipo, reabierta.datos, reabierta.origen)])
    [nota, *_] = ap.notas()
    assert (len(ap.notas()), nota["id"], nota["mensaje"]) == (
        3, reabierta.id, f"Ha reabierto su incidencia «{TITULO}»: el equipo volverá a revisarla.")
    [*_, (mail_id, _recipient, mail)] = ap.mails()
    assert (mail_id, mail.subject, len(ap.mails())) == (reabierta.id, f"Su incidencia «{TITULO}» se ha reabierto", 3)
    assert "El motivo que nos indicó:\n\n> Sigue sin encender\n" in mail.text
    # resolucion gives it back to the employee: that is news of its own.
    [asignada] = ap.desde_resolucion(opened.id, "asignada")
    assert [n["id"] for n in ap.notas()][:2] == [asignada.id, reabierta.id]


def test_the_close_that_erasure_makes_notifies_nobody(ap):
    opened = resuelta(ap)
    ap.cliente(tipo="cliente.eliminado", eliminado=True, email=None)
    assert ap.incidencias.get(opened.id)[0].estado.value == "cerrada"
    ap.consumir(ap.publicados())
    assert ap.notas() == [] and ap.mails() == []


# -- who gets no mail -------------------------------------------------------------------------------

def test_a_customer_who_turned_mails_off_keeps_the_notification_without_a_mail(ap):
    ap.cliente(email="ana@example.com", avisos_por_correo=False)
    opened = ap.abrir()
    [asignada] = ap.desde_resolucion(opened.id, "asignada")
    assert [n["id"] for n in ap.notas()] == [asignada.id] and ap.mails() == []
    ap.cliente(tipo="cliente.actualizado", email="ana@example.com", avisos_por_correo=True)
    [en_curso] = ap.desde_resolucion(opened.id, "en_curso")
    assert [m[0] for m in ap.mails()] == [en_curso.id] and len(ap.notas()) == 2


@pytest.mark.parametrize("conocido", [True, False], ids=["event-without-email", "customer-never-heard-of"])
def test_without_a_known_address_the_notification_is_kept_without_a_mail(ap, conocido):
    if conocido:
        ap.cliente()  # an event older than the e-mail fields
    opened = ap.abrir()
    [asignada] = ap.desde_resolucion(opened.id, "asignada")
    assert [n["id"] for n in ap.notas()] == [asignada.id] and ap.mails() == []


def test_an_internal_note_can_never_produce_a_notification_or_a_mail(ap):
    ap.cliente(email="ana@example.com")
    opened = ap.abrir()
    ap.desde_resolucion(opened.id, "asignada")
    before = ap.mails()
    event = ap.comentario_del_equipo(opened.id, "NOTA INTERNA: cliente conflictivo", interna=True)
    with pytest.raises(PermanentError):
        ap.handlers.on_comment(event)  # refused when decoded
    nota = Comentario("n1", EVA_ACTOR, "NOTA INTERNA: cliente conflictivo", True, ap.clock.now)
    with pytest.raises(PermanentError):  # and by the use case, were a handler ever to let it through
        services.replicar_comentario(ap.incidencias, ap.notificaciones, ap.clientes, PORTAL, event, opened.id, nota)
    assert ap.mails() == before and len(ap.notas()) == 1
    assert ap.incidencias.get(opened.id)[0].comentarios == []
    assert not any("NOTA INTERNA" in m.text or "NOTA INTERNA" in m.html for _, _, m in ap.mails())


# -- erasure ----------------------------------------------------------------------------------------

def test_erasure_cancels_the_customers_pending_mails_and_forgets_the_address(ap, monkeypatch):
    ap.cliente(email="ana@example.com")
    ap.cliente("c2", email="bruno@example.com")
    mine, theirs = ap.abrir(), ap.abrir("c2")
    ap.desde_resolucion(mine.id, "asignada", "en_curso")
    [suya] = ap.desde_resolucion(theirs.id, "asignada")
    cancelled: list[tuple[str, int]] = []
    cancel_mails = ap.store.cancel_mails
    monkeypatch.setattr(ap.store, "cancel_mails", lambda r: cancelled.append((r, cancel_mails(r))) or cancelled[-1][1])
    ap.cliente(tipo="cliente.eliminado", eliminado=True, email=None)
    assert [(m[0], m[1]) for m in ap.mails()] == [(suya.id, "c2")]
    # Deleting the notifications took their mails; then every mail left for the customer goes too.
    assert cancelled == [("c1", 0)]
    assert ap.notas() == []
    stored = ap.clientes.get("c1")
    assert (stored["email"], "avisos_por_correo" in stored, "sesiones_desde" in stored) == (None, False, False)
    # A late cliente.actualizado brings nothing back; later news mails nobody.
    ap.cliente(tipo="cliente.actualizado", email="ana@example.com")
    assert ap.clientes.get("c1")["email"] is None
    ap.desde_resolucion(mine.id, "resuelta")
    assert [m[0] for m in ap.mails()] == [suya.id] and ap.notas() == []


# -- the replica of customers -----------------------------------------------------------------------

def test_the_replica_keeps_the_address_the_preference_and_the_start_of_sessions(ap):
    desde = "2026-11-01T09:30:00.000000Z"
    ap.cliente(email="ana@example.com", avisos_por_correo=False, sesiones_desde=desde)
    stored = ap.clientes.get("c1")
    assert {k: stored[k] for k in ("nombre", "apellidos", "email", "avisos_por_correo", "sesiones_desde")} == {
        "nombre": "Ana", "apellidos": "Pérez", "email": "ana@example.com", "avisos_por_correo": False,
        "sesiones_desde": desde}


def test_fields_an_old_event_lacks_mean_no_address_mails_on_and_no_start_of_sessions(ap):
    ap.cliente()
    stored = ap.clientes.get("c1")
    assert (stored["email"], stored["avisos_por_correo"], stored["sesiones_desde"]) == (None, True, None)
    ap.cliente(tipo="cliente.actualizado", email="ana@example.com", avisos_por_correo=None)
    assert ap.clientes.get("c1")["avisos_por_correo"] is True


@pytest.mark.parametrize("datos", [{"email": 42}, {"avisos_por_correo": "no"}, {"sesiones_desde": "ayer"},
                                   {"sesiones_desde": "2026-11-01T09:30:00"}, {"sesiones_desde": 1}])
def test_a_customer_event_with_a_malformed_field_is_a_permanent_error(ap, datos):
    with pytest.raises(PermanentError):
        ap.cliente(**datos)
    assert ap.clientes.get("c1") is None


def test_an_older_customer_event_arriving_late_changes_nothing(ap):
    older = make_event("cliente.actualizado", {"id": "c1", "nombre": "Ana", "email": "vieja@example.com"}, "clientes")
    ap.clock.advance(seconds=1)
    ap.cliente(tipo="cliente.actualizado", email="nueva@example.com")
    ap.handlers.on_cliente(older)
    assert ap.clientes.get("c1")["email"] == "nueva@example.com"


# -- sessions ---------------------------------------------------------------------------------------

def test_a_customer_token_issued_before_the_start_of_sessions_is_refused(ap, clock):
    clock.advance(milliseconds=400)  # a password changed at 10:00:00.4: its sessions count from 10:00:00
    seconds = int(clock.now.timestamp())
    ap.cliente(sesiones_desde=inicio_de_sesiones(format_instant(clock.now)))
    revoked = ap.components.is_revoked
    assert revoked(token("c1", seconds - 3600)) and revoked(token("c1", seconds - 1))
    # iat has whole seconds: a token of the very second of the change (the new login) still counts.
    assert not revoked(token("c1", seconds)) and not revoked(token("c1", seconds + 60))
    assert not revoked(token("c2", seconds - 3600))  # unknown here: clientes' signature vouches for it
    assert not revoked(token("c1", seconds - 3600, rol="agente", issuer="empleados"))  # not a customer token


def test_without_a_start_of_sessions_every_token_of_the_customer_counts(ap, clock):
    ap.cliente(email="ana@example.com")
    assert not ap.components.is_revoked(token("c1", int(clock.now.timestamp()) - 86400))
    ap.cliente(tipo="cliente.eliminado", eliminado=True)
    assert ap.components.is_revoked(token("c1", int(clock.now.timestamp())))
