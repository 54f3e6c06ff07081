"""The one layout of every mail (common/mail/compose.py): the text and the
HTML part say the same things, the HTML escapes what it is given and loads
nothing from outside, and portal links are joined and encoded."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from common.mail import Mail
from common.mail.compose import FOOTER, compose, portal_link


class Parts(HTMLParser):
    """What an HTML part holds: its tags with their attributes, and its visible text."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._skip += tag == "title"

    def handle_endtag(self, tag):
        self._skip -= tag == "title"

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.text.append(data.strip())


def parse(html: str) -> Parts:
    parts = Parts()
    parts.feed(html)
    return parts


def test_a_mail_with_every_part():
    mail = compose("ana@example.com", "Su incidencia está resuelta",
                   ["El equipo propone esta solución:", "Confírmela o reábrala."],
                   links=[("Confirmar la solución", "https://portal.example/incidencias/i-1#cierre"),
                          ("Reabrir la incidencia", "https://portal.example/incidencias/i-1#reapertura")],
                   quote="Cambie la batería.\nReinicie el equipo.")
    assert isinstance(mail, Mail) and mail.to == "ana@example.com" and mail.headers == {}
    assert mail.subject == "Su incidencia está resuelta"
    assert mail.text == (
        "El equipo propone esta solución:\n\n"
        "Confírmela o reábrala.\n\n"
        "> Cambie la batería.\n> Reinicie el equipo.\n\n"
        "Confirmar la solución: https://portal.example/incidencias/i-1#cierre\n\n"
        "Reabrir la incidencia: https://portal.example/incidencias/i-1#reapertura\n\n"
        f"-- \n{FOOTER}\n"
    )
    html = parse(mail.html)
    # The same pieces, in the same order.
    assert html.text == ["El equipo propone esta solución:", "Confírmela o reábrala.", "Cambie la batería.",
                         "Reinicie el equipo.", "Confirmar la solución", "Reabrir la incidencia", FOOTER]
    links = [attrs["href"] for tag, attrs in html.tags if tag == "a"]
    assert links == ["https://portal.example/incidencias/i-1#cierre",
                     "https://portal.example/incidencias/i-1#reapertura"]
    assert [tag for tag, _ in html.tags].count("blockquote") == 1
    assert FOOTER == "Este mensaje lo envía Incidencias automáticamente; no responda a él."


def test_without_links_or_quote():
    mail = compose("ana@example.com", "Aviso", ["Una línea.\nOtra línea."])
    assert mail.text == f"Una línea.\nOtra línea.\n\n-- \n{FOOTER}\n"
    html = parse(mail.html)
    assert html.text == ["Una línea.", "Otra línea.", FOOTER]
    assert not [tag for tag, _ in html.tags if tag in ("a", "blockquote")]
    assert "Una línea.<br>\nOtra línea." in mail.html


def test_the_html_escapes_everything_it_is_given():
    hostile = '<script>alert(1)</script> & "comillas" <img src=x onerror=alert(2)>'
    mail = compose("ana@example.com", "<b>Asunto</b>", [hostile],
                   links=[('Ver "esto" <ya>', 'https://portal.example/x?a=1&b="2"')], quote=hostile)
    html = parse(mail.html)
    assert [tag for tag, _ in html.tags] == ["html", "head", "meta", "meta", "title", "body", "div", "p",
                                            "blockquote", "p", "a", "p"]
    assert html.text[:2] == [hostile, hostile] and html.text[2] == 'Ver "esto" <ya>'
    assert "&lt;script&gt;" in mail.html and "<script" not in mail.html
    assert "<title>&lt;b&gt;Asunto&lt;/b&gt;</title>" in mail.html
    anchor = next(attrs for tag, attrs in html.tags if tag == "a")
    assert anchor["href"] == 'https://portal.example/x?a=1&b="2"'
    assert 'href="https://portal.example/x?a=1&amp;b=&#34;2&#34;"' in mail.html
    # The text part is plain text: nothing to escape there.
    assert mail.text.startswith(hostile + "\n\n> " + hostile)


def test_the_html_loads_nothing_from_outside():
    mail = compose("ana@example.com", "Aviso", ["Hola."], links=[("Abrir", "https://portal.example/")])
    html = parse(mail.html)
    for tag, attrs in html.tags:
        assert tag not in ("img", "link", "script", "style", "iframe", "object")
        assert "src" not in attrs
    assert not re.search(r"url\(|@import", mail.html)
    assert [attrs.get("href") for tag, attrs in html.tags if "href" in attrs] == ["https://portal.example/"]
    assert mail.html.startswith('<!DOCTYPE html>\n<html lang="es">')


@pytest.mark.parametrize("kwargs", [
    {"to": "", "subject": "Aviso", "paragraphs": ["Hola."]},
    {"to": "ana@example.com\r\nBcc: otro@example.com", "subject": "Aviso", "paragraphs": ["Hola."]},
    {"to": "ana@example.com", "subject": "Aviso\nBcc: otro@example.com", "paragraphs": ["Hola."]},
    {"to": "ana@example.com", "subject": "Aviso", "paragraphs": []},
    {"to": "ana@example.com", "subject": "Aviso", "paragraphs": ["  "]},
    {"to": "ana@example.com", "subject": "Aviso", "paragraphs": ["Hola."], "links": [("Abrir", "javascript:alert(1)")]},
    {"to": "ana@example.com", "subject": "Aviso", "paragraphs": ["Hola."], "links": [("", "https://portal.example/")]},
    {"to": "ana@example.com", "subject": "Aviso", "paragraphs": ["Hola."], "links": [("Abrir", "https://x/ y")]},
])
def test_what_cannot_be_a_mail_is_refused(kwargs):
    with pytest.raises(ValueError):
        compose(**kwargs)


def test_the_mail_goes_through_its_json_unchanged():
    mail = compose("ana@example.com", "Aviso ñ", ["Hola."], links=[("Abrir", "https://portal.example/")],
                   quote="«cita»")
    assert Mail.from_json(mail.to_json()) == mail


@pytest.mark.parametrize("base, path, query, expected", [
    ("http://127.0.0.1:8000", "/cuenta/verificar", {"token": "c-1.abc_DEF-123"},
     "http://127.0.0.1:8000/cuenta/verificar?token=c-1.abc_DEF-123"),
    ("https://soporte.example/", "cuenta/olvido", {}, "https://soporte.example/cuenta/olvido"),
    ("https://soporte.example", "/incidencias/i-7#reapertura", {}, "https://soporte.example/incidencias/i-7#reapertura"),
    ("https://soporte.example", "/perfil#avisos", {"a": "b c&d=e"},
     "https://soporte.example/perfil?a=b%20c%26d%3De#avisos"),
    ("https://soporte.example", "/incidencias/a b", {}, "https://soporte.example/incidencias/a%20b"),
])
def test_portal_link(base, path, query, expected):
    assert portal_link(base, path, **query) == expected
