"""The mail sender's reading of SMTP_URL, its retry delays, and what it
writes of a mail where others read it: the masked address of the logs and
the Message-ID (common/mail/sender.py; the sending itself is in
tests/integration/test_mail_sender.py)."""
from __future__ import annotations

import pytest

from common.config import Settings
from common.mail.sender import MailSender, SmtpServer, mask_address, message_id


@pytest.mark.parametrize("url, expected", [
    ("smtp://127.0.0.1", SmtpServer("127.0.0.1", 25)),
    ("smtp://relay.internal:2525?starttls=required", SmtpServer("relay.internal", 2525, starttls_required=True)),
    ("smtp://ana%40example.com:cl%3Ave%2F1@smtp.example.com:587",
     SmtpServer("smtp.example.com", 587, user="ana@example.com", password="cl:ve/1")),
    ("smtps://u:p@smtp.example.com", SmtpServer("smtp.example.com", 465, implicit_tls=True, user="u", password="p")),
])
def test_smtp_url(url, expected):
    assert SmtpServer.parse(url) == expected


@pytest.mark.parametrize("url", ["http://smtp.example.com", "smtp://", "smtp://h?starttls=yes", "smtp.example.com:25"])
def test_smtp_urls_that_are_not(url):
    with pytest.raises(ValueError):
        SmtpServer.parse(url)


def test_the_password_is_never_shown():
    server = SmtpServer.parse("smtp://ana:s3cr3t@smtp.example.com:587")
    assert repr(server) == str(server) == "smtp://ana@smtp.example.com:587"


def test_retry_delays_double_up_to_the_longest():
    sender = MailSender(None, Settings(smtp_url="smtp://127.0.0.1:1", mail_retry_base=2, mail_retry_max=30))
    assert [sender.retry_delay(n) for n in range(6)] + [sender.retry_delay(10_000)] == [2, 4, 8, 16, 30, 30, 30]


def test_a_sender_needs_an_smtp_url():
    with pytest.raises(ValueError):
        MailSender(None, Settings(smtp_url=None))


@pytest.mark.parametrize("address, masked", [
    ("ana.garcia@example.com", "a***@example.com"),
    ("Ana García <ana.garcia@example.com>", "a***@example.com"),
    ("sin-arroba", "***"),
    ("", "***"),
])
def test_the_address_in_the_logs(address, masked):
    assert mask_address(address) == masked


def test_message_ids():
    assert message_id("0f3c.a-1", "Incidencias <no-responder@soporte.example.com>") == "<0f3c.a-1@soporte.example.com>"
    assert message_id("n-1", "sin-dominio") == "<n-1@localhost>"
    # Whatever cannot stand in a Message-ID becomes a stable digest of it.
    odd = message_id("a b<c>", "x@example.com")
    assert odd == message_id("a b<c>", "x@example.com") and odd.endswith("@example.com>")
    assert message_id("..a", "x@example.com") != "<..a@example.com>"
