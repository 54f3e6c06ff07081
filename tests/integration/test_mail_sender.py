"""The mail sender (common/mail/sender.py) against a real SMTP server (an
aiosmtpd server: ``harness.mailbox.Mailbox``) and a real SQLite store: the
message as it arrives, retries after 4xx answers with the same Message-ID,
final failures that are not retried, outages and a refused sender that
charge no mail a try, mails that cannot be sent that hold no other back,
two senders on one outbox sending each mail once, credentials never sent
without TLS (and sent over STARTTLS and smtps), and the mail outbox gauges
of /metrics."""
from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import sqlite3
import ssl
import threading
from collections import Counter
from email.utils import parsedate_to_datetime

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from common.config import Settings
from common.http.metrics import MailOutboxGauge
from common.mail import Mail
from common.mail.compose import compose
from common.mail.sender import MailSender
from common.storage import CollectionSpec, OutboxMail, StorageUnavailable, open_store
from common.worker import mail_sender_for
from harness.mailbox import Mailbox, html_of, text_of
from harness.polling import wait_until

AVISOS = CollectionSpec("avisos")
MAIL_FROM = "Incidencias <no-responder@incidencias.test>"


@pytest.fixture
def store(tmp_path):
    instance = open_store(f"sqlite:///{tmp_path / 'mails.sqlite3'}")
    yield instance
    instance.close()


@pytest.fixture
def mailbox():
    with Mailbox() as box:
        yield box


class Senders:
    """Starts senders, each in its own thread (``sender-1``, ``sender-2``...);
    every one is stopped (and must stop promptly) by ``stop_all``."""

    def __init__(self) -> None:
        self.started: list[tuple[MailSender, threading.Thread]] = []

    def __call__(self, store, url: str, batch: int | None = None, claim: int | None = None,
                 **overrides) -> MailSender:
        options = dict(mail_interval=0.05, mail_retry_base=0.05, mail_retry_max=0.2, mail_max_attempts=5,
                       smtp_timeout=5)
        settings = Settings(service_name="pruebas", smtp_url=url, mail_from=MAIL_FROM, **{**options, **overrides})
        sizes = {name: value for name, value in (("batch", batch), ("claim", claim)) if value is not None}
        sender = MailSender(store, settings, **sizes)
        thread = threading.Thread(target=sender.run, daemon=True, name=f"sender-{len(self.started) + 1}")
        thread.start()
        self.started.append((sender, thread))
        return sender

    def stop_all(self) -> None:
        for sender, _thread in self.started:
            sender.stop()
        for _sender, thread in self.started:
            thread.join(5)
            assert not thread.is_alive(), "the sender did not stop"


@pytest.fixture
def senders():
    started = Senders()
    yield started
    started.stop_all()


def store_mail(store, mail_id: str, to: str = "ana.garcia@example.com", recipient: str = "c-1", **kwargs) -> Mail:
    mail = compose(to, kwargs.pop("subject", "Su incidencia está resuelta"),
                   ["El equipo propone una solución.", "Confírmela en el portal."],
                   links=[("Confirmar", "https://portal.example/incidencias/i-1#cierre")],
                   quote="Cambie la batería, señora.", **kwargs)
    store.collection(AVISOS).insert({"id": f"doc-{mail_id}"}, [mail.outbox(mail_id, recipient)])
    return mail


def rows(store) -> dict[str, dict]:
    """The mail outbox as the SQLite file holds it: id -> state, attempts, last_error."""
    with sqlite3.connect(store.path) as conn:
        return {row[0]: {"state": row[1], "attempts": row[2], "error": row[3]} for row in
                conn.execute("SELECT id, state, attempts, last_error FROM mail_outbox")}


def bodies(store) -> dict[str, str]:
    with sqlite3.connect(store.path) as conn:
        return dict(conn.execute("SELECT id, body FROM mail_outbox"))


def test_the_message_as_it_arrives(store, mailbox, senders, caplog):
    caplog.set_level(logging.INFO, logger="common.mail.sender")
    mail = store_mail(store, "n-1")
    mail = Mail(mail.to, mail.subject, mail.text, mail.html, {"X-Incidencia": "i-1", "From": "otro@example.com"})
    store.collection(AVISOS).insert({"id": "doc-n-2"}, [mail.outbox("n-2", "c-1")])
    senders(store, mailbox.url)

    wait_until(lambda: len(mailbox.messages()) == 2, timeout=10, message="both mails")
    first, second = sorted(mailbox.messages(), key=lambda m: m["Message-ID"])
    assert first["Message-ID"] == "<n-1@incidencias.test>" and second["Message-ID"] == "<n-2@incidencias.test>"
    assert first["From"] == MAIL_FROM and first["To"] == "ana.garcia@example.com"
    assert first["Subject"] == "Su incidencia está resuelta"
    assert first["Auto-Submitted"] == "auto-generated"
    sent_at = parsedate_to_datetime(first["Date"])
    assert abs((dt.datetime.now(dt.timezone.utc) - sent_at).total_seconds()) < 60
    assert first.get_content_type() == "multipart/alternative"
    assert [part.get_content_type() for part in first.iter_parts()] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in first.iter_parts()] == ["utf-8", "utf-8"]
    assert text_of(first) == mail.text and html_of(first) == mail.html
    assert mailbox.recipients() == [("ana.garcia@example.com",)] * 2
    # A mail's own headers travel, but never instead of the sender's.
    assert second["X-Incidencia"] == "i-1" and second.get_all("From") == [MAIL_FROM]

    wait_until(lambda: rows(store) == {}, timeout=5, message="the outbox emptied")
    assert store.mail_counts() == {"pendiente": 0, "fallido": 0}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "mail n-1 for c-1 (a***@example.com): enviado, SMTP 250, try 1" in logged
    assert "ana.garcia" not in logged and "batería" not in logged


def test_a_4xx_answer_is_tried_again_with_the_same_message_id(store, mailbox, senders):
    mailbox.refuse("451 4.3.0 Pruebe más tarde")
    store_mail(store, "n-1")
    senders(store, mailbox.url)

    wait_until(lambda: len(mailbox.refusals()) >= 2, timeout=10, message="two refused tries")
    mailbox.accept()
    delivered = mailbox.wait_for(lambda m: True, timeout=10)
    refusals = mailbox.refusals()
    assert {r.message_id for r in refusals} == {delivered["Message-ID"]} == {"<n-1@incidencias.test>"}
    assert all(r.stage == "DATA" and r.reply.startswith("451") for r in refusals)
    assert 2 <= len(refusals) <= 4 and len(mailbox.messages()) == 1
    wait_until(lambda: rows(store) == {}, timeout=5, message="the outbox emptied")


def test_out_of_tries_after_4xx_answers_the_mail_is_final(store, mailbox, senders):
    mailbox.refuse("452 4.2.2 Buzón lleno", stage="RCPT")
    store_mail(store, "n-1")
    senders(store, mailbox.url, mail_max_attempts=3)

    wait_until(lambda: store.mail_counts()["fallido"] == 1, timeout=10, message="the mail final")
    assert len(mailbox.refusals()) == 3
    row = rows(store)["n-1"]
    assert row["state"] == "fallido" and row["attempts"] == 3
    assert row["error"].startswith("452 4.2.2") and row["error"].endswith("(after 3 tries)")


@pytest.mark.parametrize("stage", ["DATA", "RCPT"])
def test_a_5xx_answer_is_final_at_once(store, mailbox, senders, stage):
    mailbox.refuse("550 5.1.1 No existe ese buzón", stage=stage)
    store_mail(store, "n-1")
    senders(store, mailbox.url)

    wait_until(lambda: store.mail_counts() == {"pendiente": 0, "fallido": 1}, timeout=10, message="final")
    assert rows(store)["n-1"] == {"state": "fallido", "attempts": 1, "error": "550 5.1.1 No existe ese buzón"}
    assert bodies(store) == {"n-1": ""}  # what was kept of it: no text
    # The sender goes on (a later mail is sent) and never tries the final one again.
    mailbox.accept()
    store_mail(store, "n-2")
    mailbox.wait_for(lambda m: m["Message-ID"] == "<n-2@incidencias.test>", timeout=10)
    # Received is not yet recorded as sent: the answer is still on its way back.
    wait_until(lambda: store.mail_counts() == {"pendiente": 0, "fallido": 1}, timeout=10, message="n-2 sent")
    assert len(mailbox.refusals()) == 1 and len(mailbox.messages()) == 1


def test_a_long_outage_charges_no_try_and_the_mails_go_when_the_server_is_back(store, mailbox, senders, caplog):
    mailbox.stop()
    store_mail(store, "n-1")
    store_mail(store, "n-2", to="luis@example.com", recipient="c-2")
    sender = senders(store, mailbox.url, mail_max_attempts=1)

    # Many more looks at a server that is down than a mail has tries: none is charged one.
    wait_until(lambda: sender.connection_failures >= 4, timeout=15, message="four looks at a server that is down")
    assert set(rows(store)) == {"n-1", "n-2"}
    assert all(r["state"] == "pendiente" and r["attempts"] == 0 and "cannot connect" in r["error"]
               for r in rows(store).values())
    mailbox.start()  # the same port
    wait_until(lambda: len(mailbox.messages()) == 2, timeout=15, message="both mails after the outage")
    assert {m["Message-ID"] for m in mailbox.messages()} == {"<n-1@incidencias.test>", "<n-2@incidencias.test>"}
    wait_until(lambda: rows(store) == {}, timeout=5, message="the outbox emptied")
    assert sender.connection_failures == 0
    assert any("SMTP server unavailable" in r.getMessage() for r in caplog.records)


def test_a_mail_older_than_its_longest_wait_is_final_untried(store, mailbox, senders):
    mailbox.stop()
    store_mail(store, "n-1")
    senders(store, mailbox.url, mail_max_age=0.5)

    wait_until(lambda: store.mail_counts() == {"pendiente": 0, "fallido": 1}, timeout=10, message="final")
    assert rows(store)["n-1"] == {"state": "fallido", "attempts": 0,
                                  "error": "not sent within 0.5 s (MAIL_MAX_AGE)"}


def test_a_refused_sender_is_the_configuration_and_makes_no_mail_final(store, mailbox, senders):
    mailbox.refuse("553 5.7.1 Remitente no autorizado", stage="MAIL")
    store_mail(store, "n-1")
    store_mail(store, "n-2", to="luis@example.com", recipient="c-2")
    senders(store, mailbox.url, mail_max_attempts=1)

    wait_until(lambda: len(mailbox.refusals()) >= 3, timeout=10, message="three refused MAIL FROM")
    assert {r.stage for r in mailbox.refusals()} == {"MAIL"}
    assert all(r["state"] == "pendiente" and r["attempts"] == 0 and "553 5.7.1" in r["error"]
               for r in rows(store).values()), rows(store)
    mailbox.accept()
    wait_until(lambda: len(mailbox.messages()) == 2, timeout=10, message="both mails once the sender is allowed")
    wait_until(lambda: rows(store) == {}, timeout=5, message="the outbox emptied")


def test_a_mail_that_cannot_be_sent_is_final_and_the_next_one_goes(store, mailbox, senders):
    avisos = store.collection(AVISOS)
    avisos.insert({"id": "doc-n-1"}, [OutboxMail("n-1", "c-1", "esto no es un correo")])
    broken = Mail("ana.garcia@example.com", "Hola\r\nBcc: otro@example.com", "texto", "<p>texto</p>")
    avisos.insert({"id": "doc-n-2"}, [broken.outbox("n-2", "c-1")])
    store_mail(store, "n-3")
    senders(store, mailbox.url)

    mailbox.wait_for(lambda m: m["Message-ID"] == "<n-3@incidencias.test>", timeout=10)
    wait_until(lambda: store.mail_counts() == {"pendiente": 0, "fallido": 2}, timeout=5, message="two final")
    failed = rows(store)
    assert failed["n-1"]["attempts"] == 1 and failed["n-1"]["error"].startswith("cannot be sent: JSONDecodeError")
    assert failed["n-2"]["attempts"] == 1 and failed["n-2"]["error"].startswith("cannot be sent: ValueError")
    assert len(mailbox.messages()) == 1 and mailbox.refusals() == []


def test_two_senders_on_one_outbox_send_every_mail_once(store, mailbox, senders, caplog):
    caplog.set_level(logging.INFO, logger="common.mail.sender")
    other = open_store(f"sqlite:///{store.path}")  # as a second worker process of the service opens it
    try:
        sent = {f"n-{n}" for n in range(40)}
        for mail_id in sorted(sent):
            store_mail(store, mail_id)
        mailbox.slow(0.01)
        senders(store, mailbox.url, batch=4, claim=2)
        senders(other, mailbox.url, batch=4, claim=2)

        wait_until(lambda: rows(store) == {}, timeout=30, message="the outbox emptied")
        senders.stop_all()  # nothing on the wire any more
        arrived = Counter(m["Message-ID"] for m in mailbox.messages())
        assert arrived == Counter({f"<{mail_id}@incidencias.test>": 1 for mail_id in sent})
        by_sender = Counter(r.threadName for r in caplog.records if ": enviado, " in r.getMessage())
        assert set(by_sender) == {"sender-1", "sender-2"} and sum(by_sender.values()) == 40, by_sender
    finally:
        other.close()


@pytest.mark.parametrize("url", ["smtp://usuario:clave@127.0.0.1:{port}",
                                 "smtp://127.0.0.1:{port}?starttls=required"])
def test_no_credentials_or_mail_without_tls(store, senders, url):
    with Mailbox(credentials=("usuario", "clave")) as box:  # offers AUTH in the clear, would accept it
        store_mail(store, "n-1")
        sender = senders(store, url.format(port=box.port), mail_max_attempts=1)
        wait_until(lambda: sender.connection_failures >= 2, timeout=10, message="two refused sessions")
        assert rows(store)["n-1"]["state"] == "pendiente" and rows(store)["n-1"]["attempts"] == 0
        assert "does not offer STARTTLS" in rows(store)["n-1"]["error"]
        assert box.logins() == [] and box.messages() == []


@pytest.fixture
def tls_server(tmp_path, monkeypatch):
    """A server TLS context for 127.0.0.1 signed by a CA of the test's own,
    which the client trusts (SSL_CERT_FILE: what the default context reads)."""
    now = dt.datetime.now(dt.timezone.utc)

    def certificate(subject, issuer, key, signing_key, ca: bool):
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(hours=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if not ca:
            builder = builder.add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        return builder.sign(signing_key, hashes.SHA256())

    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pruebas CA")])
    ca = certificate(ca_name, ca_name, ca_key, ca_key, ca=True)
    leaf = certificate(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]), ca_name, key, ca_key,
                       ca=False)
    ca_file, cert_file, key_file = tmp_path / "ca.pem", tmp_path / "cert.pem", tmp_path / "key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "smtps"])
def test_credentials_go_over_tls(store, senders, tls_server, implicit_tls):
    with Mailbox(credentials=("usuario", "cl@ve"), tls=tls_server, implicit_tls=implicit_tls) as box:
        store_mail(store, "n-1")
        scheme = "smtps" if implicit_tls else "smtp"
        senders(store, f"{scheme}://usuario:cl%40ve@127.0.0.1:{box.port}")
        box.wait_for(lambda m: m["Message-ID"] == "<n-1@incidencias.test>", timeout=10)
        assert box.logins() == ["usuario"]


def test_a_wrong_password_is_retried_not_final(store, senders, tls_server):
    with Mailbox(credentials=("usuario", "clave"), tls=tls_server) as box:
        store_mail(store, "n-1")
        sender = senders(store, f"smtp://usuario:otra@127.0.0.1:{box.port}", mail_max_attempts=1)
        wait_until(lambda: sender.connection_failures >= 2, timeout=10, message="two refused logins")
        assert rows(store)["n-1"]["state"] == "pendiente" and rows(store)["n-1"]["attempts"] == 0
        assert "535" in rows(store)["n-1"]["error"]
        assert box.messages() == []


def test_stop_is_immediate_while_idle(store, mailbox):
    settings = Settings(service_name="pruebas", smtp_url=mailbox.url, mail_interval=300)
    sender = MailSender(store, settings)
    thread = threading.Thread(target=sender.run, daemon=True)
    thread.start()
    wait_until(lambda: thread.is_alive(), timeout=5)
    sender.stop()
    thread.join(2)
    assert not thread.is_alive()


def test_without_smtp_url_no_sender_and_one_warning(store, caplog):
    settings = Settings(service_name="pruebas", smtp_url=None)
    assert mail_sender_for(settings, store) == []
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "pruebas worker: SMTP_URL is not set; mails wait in the outbox until it is"]
    assert [type(p) for p in mail_sender_for(Settings(smtp_url="smtp://127.0.0.1:1"), store)] == [MailSender]


def samples(gauge: MailOutboxGauge) -> dict[str, list]:
    return {family.name: [(s.labels, s.value) for s in family.samples] for family in gauge.collect()}


def test_the_outbox_gauges(store, mailbox, senders):
    mailbox.refuse("550 5.7.1 Rechazado")
    store_mail(store, "n-1")
    senders(store, mailbox.url)
    wait_until(lambda: store.mail_counts()["fallido"] == 1, timeout=10, message="one final mail")
    mailbox.stop()
    store_mail(store, "n-2")
    store_mail(store, "n-3")
    assert store.mail_counts() == {"pendiente": 2, "fallido": 1}
    assert samples(MailOutboxGauge(store, "pruebas")) == {
        "mails_pending": [({"service": "pruebas"}, 2)],
        "mails_failed": [({"service": "pruebas"}, 1)],
        "mail_outbox_check_ok": [({"service": "pruebas"}, 1)],
    }


class Unavailable:
    def mail_counts(self):
        raise StorageUnavailable("sqlite: database is locked")


def test_the_gauges_when_the_store_cannot_be_read():
    assert samples(MailOutboxGauge(Unavailable(), "pruebas")) == {
        "mails_pending": [], "mails_failed": [], "mail_outbox_check_ok": [({"service": "pruebas"}, 0)],
    }


def test_the_metrics_page_shows_the_gauges(tmp_path, monkeypatch):
    from empleados.app import create_app
    from empleados.config import EmpleadosSettings

    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    app = create_app(EmpleadosSettings(data_dir=tmp_path / "data", keys_dir=tmp_path / "keys"))
    try:
        text = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        app.extensions["incidencias"].store.close()
    assert 'mails_pending{service="empleados"} 0.0' in text
    assert 'mails_failed{service="empleados"} 0.0' in text
    assert 'mail_outbox_check_ok{service="empleados"} 1.0' in text
