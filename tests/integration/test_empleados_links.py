"""empleados' account links end to end through Flask's test client: the
invitation an admin sends when registering an employee without a password,
its acceptance, and the password reset with the sessions it ends.

What is real: the application from ``empleados.app.create_app`` on an SQLite
store in a temporary directory, its token issuer, and the mail outbox, read
as the sender reads it (``store.due_mails``); each link is taken out of the
stored mail and followed through the API."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from common.mail import Mail
from common.messaging import Event
from common.passwords import hash_password
from empleados.app import create_app
from empleados.config import EmpleadosSettings
from empleados.domain import Empleado

PORTAL = "https://portal.example.com"
ADMIN_PASSWORD = "Direccion-2026"
ELEGIDA = "Elegida-por-mi-2026"
FAR_FUTURE = "2999-01-01T00:00:00.000000Z"
PROBLEM = "application/problem+json"


class Service:
    def __init__(self, app):
        self.app, self.client = app, app.test_client()
        state = app.extensions["incidencias"]
        self.store, self.repo, self.issuer = state.store, state.empleados, state.issuer
        self.admin = Empleado.nuevo("adm0001", "Ada", "Jefa", "ada@example.com", hash_password(ADMIN_PASSWORD),
                                    "admin", [], "2026-01-01T00:00:00.000Z")
        self.repo.add(self.admin)

    def token(self, empleado: Empleado, seconds_ago: int = 0) -> dict[str, str]:
        now = int(time.time()) - seconds_ago
        token = jwt.encode({"sub": empleado.id, "rol": empleado.rol, "iss": self.issuer.issuer,
                            "aud": self.issuer.audience, "iat": now, "nbf": now, "exp": now + 600},
                           self.issuer.private_key, algorithm="EdDSA", headers={"kid": self.issuer.jwk["kid"]})
        return {"Authorization": f"Bearer {token}"}

    def login(self, email: str, password: str):
        return self.client.post("/empleados/login", json={"email": email, "password": password})

    def take_mails(self) -> list[tuple[str, Mail]]:
        pending = self.store.due_mails(FAR_FUTURE, 100)
        for mail in pending:
            self.store.mail_sent(mail.id)
        return [(m.recipient, Mail.from_json(m.body)) for m in pending]

    def events(self, tipo: str) -> list[Event]:
        return [e for e in (Event.parse(m.body) for m in self.store.pending_events(1000)) if e.tipo == tipo]


@pytest.fixture
def svc(tmp_path) -> Service:
    app = create_app(EmpleadosSettings(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys", mongo_url=None,
                                       jwt_private_key=None, environment="test", admin_email=None,
                                       admin_password=None, portal_url=PORTAL))
    yield Service(app)
    app.extensions["incidencias"].store.close()


def token_in(mail: Mail, path: str) -> str:
    urls = [w for w in mail.text.split() if w.startswith(f"{PORTAL}{path}?")]
    assert len(urls) == 1, mail.text
    assert urls[0] in mail.html
    return parse_qs(urlsplit(urls[0]).query)["token"][0]


def invite(svc: Service, **fields) -> dict:
    body = {"nombre": "Luis", "apellidos": "Gómez", "email": "luis@example.com", "rol": "agente",
            "categorias": ["envios"], **fields}
    response = svc.client.post("/empleados", json=body, headers=svc.token(svc.admin))
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def assert_link_refused(response) -> None:
    assert response.status_code == 400 and response.mimetype == PROBLEM
    body = response.get_json()
    assert (body["type"], body["title"], body["detail"]) == (
        "urn:incidencias:problema:enlace-no-valido", "Enlace no válido", "El enlace no es válido o ha caducado")
    assert [e["campo"] for e in body["errores"]] == ["token"]


def test_an_invitation_is_mailed_and_the_invitee_chooses_the_password(svc):
    body = invite(svc)
    assert body["invitacion_pendiente"] is True and body["activo"] is True
    assert svc.login("luis@example.com", ELEGIDA).status_code == 401  # no password yet: none logs in
    [(recipient, mail)] = svc.take_mails()
    assert (recipient, mail.to, mail.subject) == (body["id"], "luis@example.com",
                                                  "Invitación al equipo de Incidencias")
    assert f"{PORTAL}/equipo/olvido" in mail.text
    token = token_in(mail, "/equipo/invitacion")
    weak = svc.client.post("/empleados/invitacion/aceptacion", json={"token": token, "password": "luis-2026-abc"})
    assert weak.status_code == 422  # holds the e-mail's local part
    accepted = svc.client.post("/empleados/invitacion/aceptacion", json={"token": token, "password": ELEGIDA})
    assert accepted.status_code == 200
    assert (accepted.get_json()["id"], accepted.get_json()["invitacion_pendiente"]) == (body["id"], False)
    assert svc.login("luis@example.com", ELEGIDA).status_code == 200
    assert_link_refused(svc.client.post("/empleados/invitacion/aceptacion",
                                        json={"token": token, "password": "Otra-elegida-2026"}))
    [event] = svc.events("empleado.actualizado")
    assert event.datos["email"] == "luis@example.com" and event.datos["version"] == 2


def test_a_password_sent_with_the_registration_is_no_invitation(svc):
    body = invite(svc, password="Soporte-2026x")
    assert body["invitacion_pendiente"] is False and svc.take_mails() == []
    assert svc.login("luis@example.com", "Soporte-2026x").status_code == 200


def test_the_reset_mails_a_link_ends_earlier_sessions_and_answers_unknown_emails_the_same(svc):
    before = svc.token(svc.admin, seconds_ago=5)
    assert svc.client.get("/empleados/yo", headers=before).status_code == 200
    unknown = svc.client.post("/empleados/password/solicitud", json={"email": "nadie@example.com"})
    known = svc.client.post("/empleados/password/solicitud", json={"email": "ADA@example.com"})
    assert (unknown.status_code, known.status_code) == (202, 202) and unknown.get_data() == known.get_data()
    [(recipient, mail)] = svc.take_mails()
    assert (recipient, mail.to, mail.subject) == (svc.admin.id, "ada@example.com", "Restablezca su contraseña")
    token = token_in(mail, "/equipo/restablecer")
    reset = svc.client.post("/empleados/password/restablecimiento", json={"token": token, "password": ELEGIDA})
    assert reset.status_code == 204
    assert svc.client.get("/empleados/yo", headers=before).status_code == 401
    assert svc.login("ada@example.com", ADMIN_PASSWORD).status_code == 401
    fresh = svc.login("ada@example.com", ELEGIDA)
    assert fresh.status_code == 200
    me = {"Authorization": f"Bearer {fresh.get_json()['access_token']}"}
    assert svc.client.get("/empleados/yo", headers=me).status_code == 200
    assert_link_refused(svc.client.post("/empleados/password/restablecimiento",
                                        json={"token": token, "password": "Tercera-clave-2026"}))
    [event] = svc.events("empleado.actualizado")
    assert event.datos["sesiones_desde"] and event.datos["id"] == svc.admin.id


def test_an_invitation_token_is_no_reset_token(svc):
    invite(svc)
    token = token_in(svc.take_mails()[0][1], "/equipo/invitacion")
    assert_link_refused(svc.client.post("/empleados/password/restablecimiento",
                                        json={"token": token, "password": ELEGIDA}))


def test_openapi_documents_the_new_endpoints_as_public(svc):
    paths = svc.client.get("/openapi.json").get_json()["paths"]
    for path in ("/empleados/invitacion/aceptacion", "/empleados/password/solicitud",
                 "/empleados/password/restablecimiento"):
        assert "security" not in paths[path]["post"], path
    headers = [p["name"] for p in paths["/empleados/password/solicitud"]["post"].get("parameters", [])]
    assert "Idempotency-Key" not in headers
    assert {"202", "429"} <= set(paths["/empleados/password/solicitud"]["post"]["responses"])
    assert "204" in paths["/empleados/password/restablecimiento"]["post"]["responses"]
