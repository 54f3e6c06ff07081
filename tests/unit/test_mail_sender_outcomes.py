"""What the mail sender (common/mail/sender.py) makes of each way a try can
end, on an in-memory outbox, including the ones a real SMTP server hardly
produces (a refusal with no recipient in it, an encoding error, a store
that cannot record a result). The session stands in for smtplib's: it
answers ``send_message`` as a test tells it. The same behaviour against a
real SMTP server is in tests/integration/test_mail_sender.py."""
from __future__ import annotations

import smtplib
from datetime import timedelta

import pytest

from common.clock import utc_now
from common.config import Settings
from common.mail import Mail
from common.mail import sender as sender_module
from common.mail.sender import LEASE_MIN, ConnectionFailed, MailSender, lease_margin
from common.storage import CollectionSpec, StorageUnavailable
from common.storage.memory import MemoryStore

AVISOS = CollectionSpec("avisos")
LATER = "2999-01-01T00:00:00Z"


class Session:
    """An open SMTP session: each ``send_message`` raises the next of
    ``outcomes`` (None: accepted)."""

    def __init__(self, *outcomes: BaseException | None):
        self.outcomes = list(outcomes)
        self.sent: list[str] = []

    def send_message(self, message) -> None:
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome
        self.sent.append(str(message["Message-ID"]))

    def quit(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def store():
    return MemoryStore(outbox=(AVISOS,))


def sender_on(store, session: Session | None, **overrides) -> MailSender:
    settings = Settings(smtp_url="smtp://127.0.0.1:1", mail_from="x@incidencias.test", mail_interval=1,
                        mail_retry_base=2, mail_retry_max=30, **overrides)
    sender = MailSender(store, settings)
    if session is None:
        def unreachable():
            raise ConnectionFailed("cannot connect to 127.0.0.1:1: refused")
        sender._open = unreachable
    else:
        sender._open = lambda: session
    return sender


def store_mails(store, *ids: str) -> None:
    mail = Mail("ana@example.com", "Asunto", "texto", "<p>texto</p>")
    for mail_id in ids:
        store.collection(AVISOS).insert({"id": f"doc-{mail_id}"}, [mail.outbox(mail_id, "c-1")])


def pending(store) -> dict[str, int]:
    """Pending mail id -> its tries so far."""
    return {m.id: m.attempts for m in store.due_mails(LATER, 100)}


def error_of(store, mail_id: str) -> str | None:
    return store._db.mails[mail_id].last_error


@pytest.mark.parametrize("refusal, error", [
    (smtplib.SMTPRecipientsRefused({}), "refused without an SMTP answer"),
    (smtplib.SMTPRecipientsRefused({"ana@example.com": (550, b"5.1.1 no such user")}), "550 5.1.1 no such user"),
    (smtplib.SMTPDataError(554, b"5.7.1 spam"), "554 5.7.1 spam"),
    (smtplib.SMTPDataError(250, b"what?"), "250 what?"),
    (UnicodeEncodeError("ascii", "ñ", 0, 1, "not ascii"), "cannot be sent: UnicodeEncodeError: 'ascii' codec "
                                                          "can't encode character '\\xf1' in position 0: not ascii"),
    (ValueError("bad header"), "cannot be sent: ValueError: bad header"),
    (smtplib.SMTPNotSupportedError("SMTPUTF8 not offered"), "cannot be sent: SMTPUTF8 not offered"),
])
def test_what_makes_a_mail_final_at_once_and_the_next_one_goes(store, refusal, error):
    store_mails(store, "n-1", "n-2")
    session = Session(refusal, None)
    sender_on(store, session).look()
    assert session.sent == ["<n-2@incidencias.test>"]
    assert store.mail_counts() == {"pendiente": 0, "fallido": 1} and error_of(store, "n-1") == error
    assert store._db.mails["n-1"].attempts == 1


@pytest.mark.parametrize("refusal", [
    smtplib.SMTPRecipientsRefused({"ana@example.com": (452, b"4.2.2 mailbox full")}),
    smtplib.SMTPDataError(451, b"4.3.0 later"),
])
def test_a_4xx_answer_charges_that_mail_one_try(store, refusal):
    store_mails(store, "n-1", "n-2")
    session = Session(refusal, None)
    sender = sender_on(store, session)
    assert sender.look() == 1
    assert session.sent == ["<n-2@incidencias.test>"] and pending(store) == {"n-1": 1}
    assert sender.connection_failures == 0


@pytest.mark.parametrize("failure, error", [
    (smtplib.SMTPSenderRefused(530, b"5.7.0 Authentication required", "x@incidencias.test"),
     "the server refuses the sender: 530 5.7.0 Authentication required"),
    (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "x@incidencias.test"),
     "the server refuses the sender: 553 5.7.1 Sender not allowed"),
    (smtplib.SMTPRecipientsRefused({"ana@example.com": (421, b"4.4.2 closing")}), "421 4.4.2 closing"),
    (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"),
     "SMTP session lost: Connection unexpectedly closed"),
    (TimeoutError("timed out"), "SMTP session lost: timed out"),
])
def test_the_server_at_fault_charges_no_mail_and_puts_the_failing_one_behind(store, failure, error):
    store_mails(store, "n-1", "n-2", "n-3")
    session = Session(None, failure)
    sender = sender_on(store, session, mail_max_attempts=1)
    assert sender.look() == 2  # backs off: mail_retry_base, then doubling
    assert session.sent == ["<n-1@incidencias.test>"]
    assert pending(store) == {"n-2": 0, "n-3": 0}
    assert error_of(store, "n-2") == error_of(store, "n-3") == error
    due = {m.id: m.next_attempt_at for m in store.due_mails(LATER)}
    assert due["n-3"] < due["n-2"]  # the one whose try met the failure waits behind the other
    assert sender.connection_failures == 1


def test_a_long_outage_backs_off_and_never_makes_a_mail_final(store, monkeypatch):
    store_mails(store, "n-1")
    sender = sender_on(store, None, mail_max_attempts=1)
    clock = [utc_now()]
    monkeypatch.setattr(sender_module, "utc_now", lambda: clock[0])
    waits = []
    for _ in range(8):  # each look when the loop would make it
        waits.append(sender.look())
        clock[0] += timedelta(seconds=waits[-1])
    assert waits == [2, 4, 8, 16, 30, 30, 30, 30]  # capped by mail_retry_max here, LOOP_BACKOFF_MAX at most
    assert pending(store) == {"n-1": 0} and error_of(store, "n-1") == "cannot connect to 127.0.0.1:1: refused"
    assert sender.connection_failures == 8


class Unrecorded(MemoryStore):
    """A store that cannot record the first mail sent."""

    def mail_sent(self, mail_id: str) -> None:
        if mail_id == "n-1":
            raise StorageUnavailable("memory: down for a moment")
        super().mail_sent(mail_id)


def test_a_result_the_store_cannot_record_is_logged_and_the_sender_goes_on(caplog):
    store = Unrecorded(outbox=(AVISOS,))
    store_mails(store, "n-1", "n-2")
    session = Session()
    sender_on(store, session).look()
    assert session.sent == ["<n-1@incidencias.test>", "<n-2@incidencias.test>"]
    assert pending(store) == {"n-1": 0}  # leased: sent again, with the same Message-ID, once the lease ends
    assert any("cannot record what became of mail n-1" in r.getMessage() for r in caplog.records)


def test_leases():
    sender = MailSender(None, Settings(smtp_url="smtp://127.0.0.1:1", smtp_timeout=10))
    assert (sender.claim, sender.batch) == (5, 50)
    # Every exchange a timeout, then the margin a mail needs left to be started
    # (two timeouts per exchange of one mail, and 15 s), so a claim always sends.
    assert lease_margin(10) == 2 * 4 * 10 + 15
    assert sender.lease_seconds(opening=True) == 10 * (6 + 4 * 5) + lease_margin(10)
    assert sender.lease_seconds(opening=False) == 10 * 4 * 5 + lease_margin(10)
    quick = MailSender(None, Settings(smtp_url="smtp://127.0.0.1:1", smtp_timeout=1), claim=2)
    assert quick.lease_seconds() == LEASE_MIN + lease_margin(1)

