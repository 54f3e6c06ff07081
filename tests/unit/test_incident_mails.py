"""What the incident services' e-mails say (incidencias_apertura/correos.py,
incidencias_resolucion/correos.py) and to whom. Pure: incidents built with
the domain, mails composed with common.mail.compose, nothing stored or sent."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from incidencias_apertura.correos import correo_de_notificacion
from incidencias_apertura.notificaciones import direccion_de_avisos, plazo_legible, texto_notificacion
from incidencias_dominio import APERTURA, RESOLUCION, SISTEMA, Actor, Comentario, EmpleadoRef, Incidencia
from incidencias_replica.correos import direccion
from incidencias_resolucion.correos import correo_de_asignacion, id_de_correo

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=timezone.utc)
PORTAL = "https://portal.example"
EVA = Actor("e1", "agente", "Eva Soporte")
ANA = Actor("c1", "cliente", "Ana Pérez")


def incidencia(titulo: str = "La radio no enciende", categoria: str | None = "envios",
               prioridad: str = "critica") -> Incidencia:
    return Incidencia.abrir("i1", {"id": "c1", "nombre": "Ana Pérez"}, {"referencia": "RAD-100", "nombre": "Radio"},
                            titulo, "Desde ayer no da señal de vida.", categoria, prioridad, T0)


def asignada(**kwargs) -> Incidencia:
    i = incidencia(**kwargs)
    i.asignar(RESOLUCION, EmpleadoRef("e1", "Eva Soporte"), SISTEMA, T0)
    return i


def resuelta() -> Incidencia:
    i = asignada()
    i.resolver(RESOLUCION, "Cambie las pilas", EVA, T0)
    return i


def correo(tipo: str, i: Incidencia, comentario: Comentario | None = None, autocierre_dias: float | None = None):
    return correo_de_notificacion(tipo, i, texto_notificacion(tipo, i, autocierre_dias), "ana@example.com", PORTAL,
                                  comentario)


def links(mail) -> list[str]:
    return [line for line in mail.text.splitlines() if "https://" in line]


INCIDENT = f"Ver la incidencia: {PORTAL}/incidencias/i1"
PREFERENCES = f"Preferencias de avisos por correo: {PORTAL}/perfil#avisos"


# -- the customer's mails ---------------------------------------------------------------------------

@pytest.mark.parametrize("tipo, asunto", [
    ("incidencia.asignada", "Su incidencia «La radio no enciende» ha sido asignada"),
    ("incidencia.en_curso", "Su incidencia «La radio no enciende» está en curso"),
    ("incidencia.cancelada", "Su incidencia «La radio no enciende» ha sido cancelada"),
    ("incidencia.actualizada", "Su incidencia «La radio no enciende» ha cambiado"),
])
def test_each_notification_mail_has_the_title_the_sentence_the_incident_and_the_preferences(tipo, asunto):
    i = asignada()
    mail = correo(tipo, i)
    assert (mail.to, mail.subject) == ("ana@example.com", asunto)
    assert mail.text.startswith(texto_notificacion(tipo, i) + "\n\n")
    assert links(mail) == [INCIDENT, PREFERENCES]
    assert f'href="{PORTAL}/incidencias/i1"' in mail.html and f'href="{PORTAL}/perfil#avisos"' in mail.html
    assert "<blockquote" not in mail.html


def test_a_data_change_says_the_priority_and_category_now():
    mail = correo("incidencia.actualizada", asignada())
    assert "Prioridad: crítica. Categoría: envios." in mail.text
    assert "Categoría: sin categoría." in correo("incidencia.actualizada", asignada(categoria=None)).text


def test_a_cancellation_says_why_when_there_is_a_reason():
    i = asignada()
    i.cancelar(RESOLUCION, ANA, T0, "Ya no la necesito")
    assert "Motivo: Ya no la necesito" in correo("incidencia.cancelada", i).text


def test_a_proposed_solution_is_quoted_with_the_links_to_confirm_and_reopen():
    i = asignada()
    i.resolver(RESOLUCION, "Cambie las pilas.\nSi sigue igual, pulse reset.", EVA, T0)
    mail = correo("incidencia.resuelta", i)
    assert mail.subject == "Solución propuesta para su incidencia «La radio no enciende»"
    assert "La solución propuesta:\n\n> Cambie las pilas.\n> Si sigue igual, pulse reset.\n" in mail.text
    assert links(mail) == [INCIDENT, f"Confirmar la solución: {PORTAL}/incidencias/i1#cierre",
                           f"Reabrir la incidencia: {PORTAL}/incidencias/i1#reapertura", PREFERENCES]
    assert f'href="{PORTAL}/incidencias/i1#cierre"' in mail.html
    assert f'href="{PORTAL}/incidencias/i1#reapertura"' in mail.html
    assert "Cambie las pilas.<br>\nSi sigue igual, pulse reset.</blockquote>" in mail.html


NEW_INCIDENT = f"Abrir una nueva incidencia: {PORTAL}/incidencias/nueva"


def test_a_close_by_the_customer_says_so_and_how_to_open_a_new_incident():
    i = resuelta()
    i.cerrar(APERTURA, ANA, T0)
    mail = correo("incidencia.cerrada", i, autocierre_dias=7)
    assert mail.subject == "Su incidencia «La radio no enciende» se ha cerrado"
    assert mail.text.startswith("Ha confirmado la solución de su incidencia «La radio no enciende»: la incidencia "
                                "está cerrada.\n\nSi el problema vuelve a aparecer, puede abrir una nueva "
                                "incidencia.\n\n")
    assert links(mail) == [INCIDENT, NEW_INCIDENT, PREFERENCES]
    assert f'href="{PORTAL}/incidencias/nueva"' in mail.html and "<blockquote" not in mail.html


@pytest.mark.parametrize("dias, plazo", [(7, "en 7 días."), (1, "en 1 día."), (1.5, "en 1,5 días."),
                                         (None, "a la solución propuesta.")])
def test_an_automatic_close_says_it_was_automatic_and_after_how_long_when_known(dias, plazo):
    i = resuelta()
    i.cerrar(APERTURA, SISTEMA, T0, automatico=True)
    mail = correo("incidencia.cerrada", i, autocierre_dias=dias)
    assert mail.subject == "Su incidencia «La radio no enciende» se ha cerrado"
    assert mail.text.startswith("Su incidencia «La radio no enciende» se ha cerrado automáticamente al no recibir "
                                f"respuesta {plazo}\n\nSi la solución propuesta no le sirvió o el problema vuelve a "
                                "aparecer, puede abrir una nueva incidencia.\n\n")
    assert links(mail) == [INCIDENT, NEW_INCIDENT, PREFERENCES]


def test_a_close_whose_history_names_no_closer_says_only_that_it_closed():
    i = resuelta()
    i.cerrar(APERTURA, SISTEMA, T0)  # not the auto-close, not the customer
    assert texto_notificacion("incidencia.cerrada", i, 7) == "Su incidencia «La radio no enciende» se ha cerrado."
    assert links(correo("incidencia.cerrada", i)) == [INCIDENT, NEW_INCIDENT, PREFERENCES]


@pytest.mark.parametrize("dias, legible", [(7, "7 días"), (7.0, "7 días"), (1, "1 día"), (0.5, "0,5 días"),
                                           (2.25, "2,25 días"), (0.001, None), (0, None), (-3, None), (None, None)])
def test_how_the_days_before_an_automatic_close_read(dias, legible):
    assert plazo_legible(dias) == legible


def test_a_reopening_confirms_the_team_will_look_again_and_quotes_the_customers_reason():
    i = resuelta()
    i.reabrir(APERTURA, "Sigue sin <encender>\ncon pilas nuevas", ANA, T0)
    mail = correo("incidencia.reabierta", i)
    assert mail.subject == "Su incidencia «La radio no enciende» se ha reabierto"
    assert mail.text.startswith("Ha reabierto su incidencia «La radio no enciende»: el equipo volverá a revisarla."
                                "\n\nEl motivo que nos indicó:\n\n> Sigue sin <encender>\n> con pilas nuevas\n\n")
    assert "Sigue sin &lt;encender&gt;<br>\ncon pilas nuevas</blockquote>" in mail.html
    assert links(mail) == [INCIDENT, PREFERENCES]
    assert "Cambie las pilas" not in mail.text


def test_a_reopening_whose_snapshot_carries_no_reason_quotes_nothing():
    snapshot = {**resuelta().to_snapshot(incluir_internas=False), "estado": "reabierta", "motivo_reapertura": None}
    mail = correo("incidencia.reabierta", Incidencia.from_snapshot(snapshot))
    assert "El motivo" not in mail.text and "<blockquote" not in mail.html
    assert links(mail) == [INCIDENT, PREFERENCES]


def test_a_comment_of_the_team_is_quoted_with_who_wrote_it():
    comentario = Comentario("k1", EVA, "Pruebe con pilas nuevas", False, T0)
    mail = correo("incidencia.comentada", asignada(), comentario)
    assert mail.subject == "Nuevo comentario en su incidencia «La radio no enciende»"
    assert "Eva Soporte ha escrito:\n\n> Pruebe con pilas nuevas\n" in mail.text
    sin_nombre = Comentario("k2", Actor("e9", "agente"), "Hecho", False, T0)
    assert "El equipo de atención al cliente ha escrito:" in correo("incidencia.comentada", asignada(),
                                                                    sin_nombre).text


def test_an_internal_note_is_refused_and_so_is_a_tipo_never_notified():
    nota = Comentario("k1", EVA, "NOTA INTERNA", True, T0)
    with pytest.raises(ValueError):
        correo_de_notificacion("incidencia.comentada", asignada(), "x", "ana@example.com", PORTAL, nota)
    with pytest.raises(ValueError):
        correo_de_notificacion("incidencia.abierta", asignada(), "x", "ana@example.com", PORTAL)


def test_the_customers_and_the_teams_text_is_escaped_in_html_and_the_subject_is_one_line():
    i = asignada(titulo='<script>alert("x")</script>\r\nBcc: otro@example.com')
    i.resolver(RESOLUCION, "Use <b>esto</b> & aquello", EVA, T0)
    mail = correo("incidencia.resuelta", i)
    assert "\n" not in mail.subject and "\r" not in mail.subject
    assert mail.subject == 'Solución propuesta para su incidencia «<script>alert("x")</script> Bcc: otro@example.com»'
    assert "<script>" not in mail.html and "&lt;script&gt;" in mail.html
    assert "Use &lt;b&gt;esto&lt;/b&gt; &amp; aquello" in mail.html and "> Use <b>esto</b> & aquello" in mail.text


@pytest.mark.parametrize("cliente, esperado", [
    ({"email": "ana@example.com", "avisos_por_correo": True}, "ana@example.com"),
    ({"email": "ana@example.com"}, "ana@example.com"),  # an event older than the preference: on
    ({"email": "ana@example.com", "avisos_por_correo": None}, "ana@example.com"),
    ({"email": "ana@example.com", "avisos_por_correo": False}, None),
    ({"email": None, "avisos_por_correo": True}, None),
    ({"nombre": "Ana"}, None),  # an event older than the address
    ({"email": None, "eliminado": True}, None),
    (None, None),  # never heard of
])
def test_whom_a_notification_is_mailed_to(cliente, esperado):
    assert direccion_de_avisos(cliente) == esperado


@pytest.mark.parametrize("valor, esperado", [("ana@example.com", "ana@example.com"), ("", None), (None, None),
                                             ("ana", None), ("ana@example.com\r\nBcc: x@y", None), (7, None)])
def test_what_counts_as_an_address(valor, esperado):
    assert direccion(valor) == esperado


# -- the employee's mail ----------------------------------------------------------------------------

def test_the_assignment_mail_has_title_priority_category_and_the_console_link_but_not_the_customer():
    """The customer's name stays out: a staff mail outlives the customer's erasure."""
    i = asignada()
    mail = correo_de_asignacion(i, "eva@example.com", PORTAL)
    assert (mail.to, mail.subject) == ("eva@example.com", "Incidencia asignada: «La radio no enciende»")
    assert mail.text.startswith("Se le ha asignado la incidencia «La radio no enciende».\n\nPrioridad: crítica\n\n"
                                "Categoría: envios\n\nAbrir la incidencia en la consola: ")
    assert not any("Ana" in part or "Pérez" in part for part in (mail.text, mail.html, mail.subject))
    assert links(mail) == [f"Abrir la incidencia en la consola: {PORTAL}/equipo/incidencias/i1"]
    assert "Desde ayer" not in mail.text and "<blockquote" not in mail.html
    assert id_de_correo(i) == "i1:asignada:v2"


def test_a_reopened_incident_given_back_says_so_and_quotes_the_customers_reason():
    i = asignada(categoria=None, prioridad="baja")
    i.resolver(RESOLUCION, "Cambie las pilas", EVA, T0)
    i.reabrir(APERTURA, "Sigue sin <encender>", ANA, T0)
    i.asignar(RESOLUCION, EmpleadoRef("e1", "Eva Soporte"), SISTEMA, T0)
    mail = correo_de_asignacion(i, "eva@example.com", PORTAL)
    assert mail.text.startswith("Se le ha asignado de nuevo la incidencia «La radio no enciende»: "
                                "el cliente la ha reabierto.\n\nPrioridad: baja\n\nCategoría: sin categoría\n\n")
    assert "El motivo que dio el cliente:\n\n> Sigue sin <encender>\n" in mail.text
    assert "Sigue sin &lt;encender&gt;" in mail.html
    assert "Cambie las pilas" not in mail.text
    assert id_de_correo(i) == "i1:asignada:v5"


def test_an_internal_note_on_the_incident_never_reaches_the_assignment_mail():
    i = asignada()
    i.comentar("k1", EVA, "NOTA INTERNA", True, T0)
    i.comentar("k2", EVA, "Comentario público", False, T0)
    mail = correo_de_asignacion(i, "eva@example.com", PORTAL)
    assert not any(t in mail.text or t in mail.html for t in ("NOTA INTERNA", "Comentario público"))
