"""clientes' account links end to end through Flask's test client: the
verification mailed at registration, its resend, the password reset, the
e-mail change, the e-mail preference, and the sessions a password change
ends.

What is real: the application from ``clientes.app.create_app`` on an SQLite
store in a temporary directory, its token issuer, and the mail outbox, read
as the sender reads it (``store.due_mails``): each test takes the link out
of the stored mail and follows it through the API, as the portal page the
link opens would. Nothing is sent over SMTP here (the sender has its own
tests)."""
from __future__ import annotations

import threading
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest

from clientes import services
from clientes.app import create_app
from clientes.config import ClientesSettings
from clientes.repository import CLIENTES, ClienteRepository, ConcurrentUpdate
from common.mail import Mail
from common.messaging import Event
from cuentas.enlaces import EnlaceNoValido

PASSWORD = "clave-segura-2024"
NUEVA = "otra-clave-2025"
PORTAL = "https://portal.example.com"
PROBLEM = "application/problem+json"
FAR_FUTURE = "2999-01-01T00:00:00.000000Z"
LINK_REFUSED = {"type": "urn:incidencias:problema:enlace-no-valido", "title": "Enlace no válido", "status": 400,
                "detail": "El enlace no es válido o ha caducado",
                "errores": [{"campo": "token", "mensaje": "El enlace no es válido o ha caducado",
                             "ubicacion": "cuerpo"}]}


@pytest.fixture
def make_app(tmp_path):
    built = []

    def make(**overrides: Any):
        values = dict(data_dir=tmp_path, keys_dir=tmp_path, portal_url=PORTAL,
                      empleados_jwks_url="http://127.0.0.1:9/unused", mongo_url=None, environment="test")
        app = create_app(ClientesSettings(**{**values, **overrides}))
        built.append(app)
        return app

    yield make
    for app in built:
        app.extensions["incidencias"].store.close()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


def store(app):
    return app.extensions["incidencias"].store


def take_mails(app) -> list[tuple[str, Mail]]:
    """The mails waiting in the outbox, as (recipient, mail), then marked sent."""
    pending = store(app).due_mails(FAR_FUTURE, 100)
    for mail in pending:
        store(app).mail_sent(mail.id)
    return [(m.recipient, Mail.from_json(m.body)) for m in pending]


def token_in(mail: Mail, path: str) -> str:
    """The token of the link to ``PORTAL + path`` in both parts of the mail."""
    urls = [w for w in mail.text.split() if w.startswith(f"{PORTAL}{path}?")]
    assert len(urls) == 1, mail.text
    assert urls[0].replace("&", "&amp;") in mail.html
    return parse_qs(urlsplit(urls[0]).query)["token"][0]


def events(app, tipo: str) -> list[Event]:
    parsed = [Event.parse(m.body) for m in store(app).pending_events(1000)]
    return [e for e in parsed if e.tipo == tipo]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(client, email: str = "ana@example.com") -> dict[str, Any]:
    response = client.post("/clientes", json={"nombre": "Ana", "apellidos": "Pérez", "email": email,
                                              "password": PASSWORD})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.get_json()


def login(client, email: str = "ana@example.com", password: str = PASSWORD):
    return client.post("/clientes/login", json={"email": email, "password": password})


def session(client, email: str = "ana@example.com", password: str = PASSWORD) -> dict[str, str]:
    response = login(client, email, password)
    assert response.status_code == 200, response.get_data(as_text=True)
    return bearer(response.get_json()["access_token"])


def issued_earlier(app, cliente_id: str, seconds: int) -> dict[str, str]:
    """A customer token signed by the app's own key, issued ``seconds`` ago."""
    issuer = app.extensions["incidencias"].issuer
    now = int(time.time()) - seconds
    token = jwt.encode({"sub": cliente_id, "rol": "cliente", "iss": issuer.issuer, "aud": issuer.audience,
                        "iat": now, "nbf": now, "exp": now + 600}, issuer.private_key, algorithm="EdDSA",
                       headers={"kid": issuer.jwk["kid"]})
    return bearer(token)


def assert_link_refused(response) -> None:
    assert response.status_code == 400 and response.mimetype == PROBLEM
    assert response.get_json() == LINK_REFUSED


# -- verification --------------------------------------------------------------------------

def test_registration_mails_a_verification_link_that_works_once_through_the_api(app, client):
    body = register(client)
    assert (body["email_verificado"], body["email_pendiente"], body["avisos_por_correo"]) == (False, None, True)
    [(recipient, mail)] = take_mails(app)
    assert (recipient, mail.to, mail.subject) == (body["id"], "ana@example.com", "Confirme su email")
    token = token_in(mail, "/cuenta/verificar")
    assert token not in str(store(app).collection(CLIENTES).get(body["id"]))
    verified = client.post("/clientes/verificacion", json={"token": token})
    assert (verified.status_code, verified.get_json()) == (200, {"email_verificado": True})
    assert client.get("/clientes/yo", headers=session(client)).get_json()["email_verificado"] is True
    assert_link_refused(client.post("/clientes/verificacion", json={"token": token}))


@pytest.mark.parametrize("token", ["", "x", "0" * 32 + ".secreto", "no.es.un.token", "a" * 201])
def test_a_wrong_token_is_the_same_400(app, client, token):
    register(client)
    response = client.post("/clientes/verificacion", json={"token": token})
    if token and len(token) <= 200:
        assert_link_refused(response)
    else:  # not even the shape of a token: the schema names the field
        assert response.status_code == 422 and {e["campo"] for e in response.get_json()["errores"]} == {"token"}


def test_a_retried_verification_with_its_key_is_answered_as_the_first(app, client):
    register(client)
    token = token_in(take_mails(app)[0][1], "/cuenta/verificar")
    key = {"Idempotency-Key": "verificar-1"}
    first = client.post("/clientes/verificacion", json={"token": token}, headers=key)
    again = client.post("/clientes/verificacion", json={"token": token}, headers=key)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.get_json() == {"email_verificado": True} and again.headers["Idempotent-Replayed"] == "true"


def test_the_resend_is_throttled_and_refused_once_verified(app, client):
    body = register(client)
    take_mails(app)
    me = session(client)
    soon = client.post("/clientes/yo/verificacion/reenvio", headers=me)
    assert soon.status_code == 429 and soon.mimetype == PROBLEM
    assert 1 <= int(soon.headers["Retry-After"]) <= 60 and take_mails(app) == []
    # A minute later (the registration's mail moved back in time):
    collection = store(app).collection(CLIENTES)
    doc = collection.get(body["id"])
    doc["envios"]["verificacion"] = ["2020-01-01T00:00:00.000000Z"]
    assert collection.replace(doc) is not None
    resent = client.post("/clientes/yo/verificacion/reenvio", headers=me)
    assert (resent.status_code, resent.get_json()) == (202, {})
    [(recipient, mail)] = take_mails(app)
    assert (recipient, mail.to, mail.subject) == (body["id"], "ana@example.com", "Confirme su email")
    assert client.post("/clientes/verificacion",
                       json={"token": token_in(mail, "/cuenta/verificar")}).status_code == 200
    done = client.post("/clientes/yo/verificacion/reenvio", headers=me)
    assert done.status_code == 409 and done.get_json()["type"].endswith("email-ya-verificado")
    assert client.post("/clientes/yo/verificacion/reenvio").status_code == 401  # a token is needed


# -- the password reset ----------------------------------------------------------------------

def test_a_reset_request_answers_the_same_whether_or_not_the_email_has_an_account(app, client):
    register(client)
    take_mails(app)
    unknown = client.post("/clientes/password/solicitud", json={"email": "nadie@example.com"})
    known = client.post("/clientes/password/solicitud", json={"email": "ANA@example.com"})
    assert (unknown.status_code, known.status_code) == (202, 202)
    assert unknown.get_data() == known.get_data() and known.get_json() == {}
    assert unknown.headers.get("Idempotent-Replayed") is known.headers.get("Idempotent-Replayed") is None
    [(_, mail)] = take_mails(app)
    assert (mail.to, mail.subject) == ("ana@example.com", "Restablezca su contraseña")
    assert f"{PORTAL}/cuenta/olvido" in mail.text


def test_a_reset_sets_the_password_and_ends_the_sessions_opened_before(app, client):
    body = register(client)
    take_mails(app)
    before = issued_earlier(app, body["id"], 5)
    assert client.get("/clientes/yo", headers=before).status_code == 200
    assert client.post("/clientes/password/solicitud", json={"email": "ana@example.com"}).status_code == 202
    token = token_in(take_mails(app)[0][1], "/cuenta/restablecer")
    weak = client.post("/clientes/password/restablecimiento", json={"token": token, "password": "corta1"})
    assert weak.status_code == 422 and {e["campo"] for e in weak.get_json()["errores"]} == {"password"}
    reset = client.post("/clientes/password/restablecimiento", json={"token": token, "password": NUEVA})
    assert reset.status_code == 204 and reset.get_data() == b""
    refused = client.get("/clientes/yo", headers=before)
    assert refused.status_code == 401 and refused.mimetype == PROBLEM
    assert login(client).status_code == 401
    after = session(client, password=NUEVA)
    assert client.get("/clientes/yo", headers=after).get_json()["email_verificado"] is True
    assert_link_refused(client.post("/clientes/password/restablecimiento",
                                    json={"token": token, "password": "y-otra-clave-3"}))
    [event] = events(app, "cliente.actualizado")
    assert event.datos["sesiones_desde"] and event.datos["email"] == "ana@example.com"


class ReadTogether(ClienteRepository):
    """The accounts of one request whose first read of an account waits for
    the other request's (``barrier``): both redeem the link on the same
    revision, and both then race to save. Every save that meets a newer
    revision is counted in ``conflicts``."""

    def __init__(self, store, barrier: threading.Barrier, conflicts: list[str]):
        super().__init__(store)
        self.barrier, self.conflicts, self.first = barrier, conflicts, True

    def get(self, cuenta_id, idempotency=None):
        cuenta = super().get(cuenta_id, idempotency)
        if self.first:
            self.first = False
            self.barrier.wait(timeout=30)
        return cuenta

    def save(self, cuenta, *events, **kwargs):
        try:
            super().save(cuenta, *events, **kwargs)
        except ConcurrentUpdate:
            self.conflicts.append(cuenta.id)
            raise


def test_two_requests_redeeming_one_reset_link_at_once_succeed_once(app, client):
    """Two threads, each its own SQLite connection, both past the read
    before either saves: the store's revision check lets one write; the
    other reads the account again, finds the link used and is refused."""
    body = register(client)
    take_mails(app)
    assert client.post("/clientes/password/solicitud", json={"email": "ana@example.com"}).status_code == 202
    token = token_in(take_mails(app)[0][1], "/cuenta/restablecer")
    barrier, conflicts = threading.Barrier(2), []
    outcomes: dict[str, Any] = {}

    def redeem(password: str) -> None:
        try:
            services.restablecer_password(ReadTogether(store(app), barrier, conflicts), token, password)
            outcomes[password] = "ok"
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test asserts
            outcomes[password] = exc
        finally:
            store(app).close()  # this thread's connection

    threads = [threading.Thread(target=redeem, args=(password,)) for password in (NUEVA, "y-otra-clave-3")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    [winner] = [password for password, outcome in outcomes.items() if outcome == "ok"]
    [refused] = [outcome for outcome in outcomes.values() if outcome != "ok"]
    assert isinstance(refused, EnlaceNoValido) and refused.slug == "enlace-no-valido"
    assert conflicts == [body["id"]]
    assert session(client, password=winner)
    assert len(events(app, "cliente.actualizado")) == 1


def test_reset_requests_are_throttled_per_client_address(make_app):
    app = make_app(login_max_failures=1)  # four requests per address and window
    client = app.test_client()
    for _ in range(4):
        assert client.post("/clientes/password/solicitud", json={"email": "nadie@example.com"}).status_code == 202
    refused = client.post("/clientes/password/solicitud", json={"email": "otra@example.com"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    elsewhere = client.post("/clientes/password/solicitud", json={"email": "nadie@example.com"},
                            environ_base={"REMOTE_ADDR": "10.0.0.7"})
    assert elsewhere.status_code == 202


def test_a_password_change_ends_earlier_sessions_too(app, client):
    body = register(client)
    before = issued_earlier(app, body["id"], 3)
    me = session(client)
    changed = client.patch("/clientes/yo", headers=me, json={"password": NUEVA, "password_actual": PASSWORD})
    assert changed.status_code == 200
    assert client.get("/clientes/yo", headers=before).status_code == 401
    assert client.get("/clientes/yo", headers=session(client, password=NUEVA)).status_code == 200


# -- the e-mail change ----------------------------------------------------------------------

def test_a_new_email_takes_effect_through_the_link_mailed_to_it(app, client):
    body = register(client)
    take_mails(app)
    me = session(client)
    asked = client.patch("/clientes/yo", headers=me, json={"email": "Ana.Nueva@Example.com"})
    assert asked.status_code == 200
    assert (asked.get_json()["email"], asked.get_json()["email_pendiente"]) == ("ana@example.com",
                                                                              "ana.nueva@example.com")
    [(r1, confirm), (r2, notice)] = take_mails(app)
    assert (r1, confirm.to, confirm.subject) == (body["id"], "ana.nueva@example.com", "Confirme su nuevo email")
    assert (r2, notice.to, notice.subject) == (body["id"], "ana@example.com",
                                               "Se ha pedido cambiar el email de su cuenta")
    assert events(app, "cliente.actualizado") == []
    token = token_in(confirm, "/cuenta/confirmar-email")
    confirmed = client.post("/clientes/email/confirmacion", json={"token": token})
    assert confirmed.status_code == 200
    answer = confirmed.get_json()
    assert (answer["email"], answer["email_pendiente"], answer["email_verificado"]) == (
        "ana.nueva@example.com", None, True)
    assert login(client).status_code == 401
    assert login(client, "ana.nueva@example.com").status_code == 200
    [event] = events(app, "cliente.actualizado")
    assert event.datos["email"] == "ana.nueva@example.com"
    assert_link_refused(client.post("/clientes/email/confirmacion", json={"token": token}))


def test_a_new_email_taken_by_another_account_is_409(app, client):
    register(client)
    register(client, "bob@example.com")
    response = client.patch("/clientes/yo", headers=session(client), json={"email": "BOB@example.com"})
    assert response.status_code == 409 and {e["campo"] for e in response.get_json()["errores"]} == {"email"}


# -- preferences, erasure --------------------------------------------------------------------

def test_notification_mails_are_turned_off_in_the_profile_and_published(app, client):
    register(client)
    me = session(client)
    off = client.patch("/clientes/yo", headers=me, json={"avisos_por_correo": False})
    assert off.status_code == 200 and off.get_json()["avisos_por_correo"] is False
    [event] = events(app, "cliente.actualizado")
    assert event.datos["avisos_por_correo"] is False
    bad = client.patch("/clientes/yo", headers=me, json={"avisos_por_correo": "no"})
    assert bad.status_code == 422 and {e["campo"] for e in bad.get_json()["errores"]} == {"avisos_por_correo"}


def test_erasure_deletes_the_mails_not_sent_yet(app, client):
    ana = register(client)
    bob = register(client, "bob@example.com")
    assert client.delete("/clientes/yo", headers=session(client)).status_code == 204
    assert [recipient for recipient, _ in take_mails(app)] == [bob["id"]]
    assert ana["id"] != bob["id"]
