"""The mail sender: a worker part that takes due mails from its service's
mail outbox to an SMTP server.

Several worker processes of one service may each run one. A sender claims
the mails it is about to send (``Store.claim_due_mails``), ``CLAIM`` at a
time, each claim with a lease that outlasts sending them
(``MailSender.lease_seconds``), so no two senders hold one mail; a sender
that dies leaves the mails it held to be sent again once the lease runs
out, with the same ``Message-ID`` (at least once).

A look at the outbox that finds mails opens one SMTP connection and sends
on it up to ``batch`` mails, claim after claim. What becomes of a mail:

- the server accepts it: it leaves the outbox;
- a ``4xx`` answer to it (at RCPT or DATA; 421 aside): it is tried again
  after a growing delay (``mail_retry_base`` doubling up to
  ``mail_retry_max``), and is final (``fallido``) after ``mail_max_attempts``
  such answers;
- a ``5xx`` answer to it: final at once;
- it cannot be built or sent as it is (unreadable, a header that cannot be
  encoded, an answer that is no SMTP answer to a mail): final at once, with
  the error, and the next mail goes on;
- still unsent ``mail_max_age`` seconds after it was stored: final.

When the server is at fault, not a mail (it cannot be reached, its TLS, its
login or the sender at MAIL FROM refused, whatever the code, 421, the
session lost), no mail is charged a try: the mails of the claim not yet
settled go back to the outbox and the loop backs off (doubling from
``mail_retry_base``, at most ``LOOP_BACKOFF_MAX``). The one whose try met
the failure goes back a little behind the others, so a mail the server
hangs up on cannot hold the rest back. A result the store cannot record is
logged and the sender goes on (that mail is sent again after its lease).
Final mails are kept, without their bodies, for operators (``/metrics``
counts them).

``smtp://`` upgrades to TLS with STARTTLS when the server offers it (and
``?starttls=required`` refuses a server that does not); ``smtps://`` is TLS
from the start. Credentials in the URL are never sent without TLS.
"""
from __future__ import annotations

import logging
import re
import smtplib
import ssl
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.charset import QP, Charset
from email.header import Header
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr, parseaddr
from hashlib import sha256
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit

from common.clock import rfc3339, utc_now
from common.config import Settings
from common.storage import MAIL_PENDING, PendingMail, StorageError, Store
from common.storage.doorbell import Listener

from .message import Mail

log = logging.getLogger(__name__)

BATCH = 50  # the most mails one SMTP session sends
CLAIM = 5  # the mails claimed (leased) at a time: what a sender that dies holds back
# Headers the sender sets itself; a mail's own headers cannot replace them.
OWN_HEADERS = {"from", "to", "subject", "date", "message-id", "mime-version", "content-type",
               "content-transfer-encoding", "auto-submitted"}
_ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = re.compile(rf"^{_ATEXT}(\.{_ATEXT})*$")
LOOP_BACKOFF_MAX = 60.0  # longest wait of the loop while the server is down
# A claim's lease: every SMTP exchange it may need taking the whole
# ``smtp_timeout`` (opening a session: connect and greeting, EHLO, STARTTLS,
# EHLO, AUTH, QUIT; each mail: MAIL FROM, RCPT TO, DATA, the message), and
# never less than LEASE_MIN (room for the clocks of two hosts to differ).
SESSION_EXCHANGES = 6
MAIL_EXCHANGES = 4
LEASE_MIN = 60.0
# A mail is started only while this much of its claim's lease is left: its
# exchanges may each take up to two timeouts (smtplib reads a reply one recv
# at a time, and sends RSET after a refusal), then the store write that
# settles it, and the clocks of two hosts may differ. Starting later could let
# another sender claim it while this one still sends it.
SETTLE_MARGIN = 15.0


def lease_margin(smtp_timeout: float) -> float:
    """The lease a mail needs left to be started; every lease adds it on top
    of the time its exchanges may take, so a claim can always start one."""
    return 2 * MAIL_EXCHANGES * smtp_timeout + SETTLE_MARGIN


class ConnectionFailed(Exception):
    """The session cannot go on, and no mail is to blame: it could not be
    opened or was lost, or the server refuses the sender. ``untried``: the
    claimed mails it leaves unsettled; ``broken``: the one whose try met it."""

    def __init__(self, message: str):
        super().__init__(message)
        self.untried: list[PendingMail] = []
        self.broken: PendingMail | None = None


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool = False
    starttls_required: bool = False
    user: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> "SmtpServer":
        """``smtp://[user:pass@]host[:port][?starttls=required]`` or ``smtps://...``."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must be smtp://[user:password@]host[:port] or smtps://...")
        implicit = parts.scheme == "smtps"
        starttls = parse_qs(parts.query).get("starttls", [""])[0]
        if starttls not in ("", "required"):
            raise ValueError("SMTP_URL: starttls can only be 'required'")
        return cls(parts.hostname, parts.port or (465 if implicit else 25), implicit, starttls == "required",
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None)

    def __repr__(self) -> str:  # never the password
        scheme = "smtps" if self.implicit_tls else "smtp"
        return f"{scheme}://{self.user + '@' if self.user else ''}{self.host}:{self.port}"


def mask_address(address: str) -> str:
    """``ana.garcia@example.com`` → ``a***@example.com``: enough to tell mails
    apart in a log, not enough to read the customer's address."""
    local, at, domain = parseaddr(address)[1].rpartition("@")
    if not at:
        return "***"
    return f"{local[:1]}***@{domain}"


def message_id(mail_id: str, mail_from: str) -> str:
    """``<mail id@domain of MAIL_FROM>``, the same for every try of a mail."""
    _local, at, domain = parseaddr(mail_from)[1].rpartition("@")
    domain = domain if at and domain else "localhost"
    left = mail_id if len(mail_id) <= 200 and _DOT_ATOM.match(mail_id) else sha256(mail_id.encode()).hexdigest()[:40]
    return f"<{left}@{domain}>"


def build_message(mail: Mail, mail_id: str, mail_from: str, now: datetime) -> Message:
    """The RFC 5322 message of one try: text then HTML as multipart/alternative, UTF-8.

    Built with the ``email`` package's MIME classes and RFC 2047 headers,
    which cost a fifth of ``EmailMessage``'s header parsing; a mail whose
    own addresses are not ASCII (it needs SMTPUTF8) is built as an
    ``EmailMessage``, which knows how to send those."""
    if not (parseaddr(mail.to)[1].isascii() and parseaddr(mail_from)[1].isascii()):
        message = EmailMessage()
        _set_headers(message, mail, mail_id, mail_from, now, lambda _name, value: value)
        message.set_content(mail.text, charset="utf-8")
        message.add_alternative(mail.html, subtype="html", charset="utf-8")
        return message
    message = MIMEMultipart("alternative")
    _set_headers(message, mail, mail_id, mail_from, now, _encoded)
    message.attach(MIMEText(mail.text, "plain", _UTF8_QP))
    message.attach(MIMEText(mail.html, "html", _UTF8_QP))
    return message


_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable in the source of the mail, unlike base64
_ADDRESS_HEADERS = {"from", "to"}


def _set_headers(message: Message, mail: Mail, mail_id: str, mail_from: str, now: datetime,
                 encode: Callable[[str, str], Any]) -> None:
    """The headers of one try; a value with a line break in it (a header
    smuggled in) makes the mail unsendable (ValueError)."""
    message["From"] = encode("From", _no_line_breaks("From", mail_from))
    message["To"] = encode("To", _no_line_breaks("To", mail.to))
    message["Subject"] = encode("Subject", _no_line_breaks("Subject", mail.subject))
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(mail_id, mail_from)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to it
    for name, value in mail.headers.items():
        if name.lower() not in OWN_HEADERS:
            message[name] = encode(name, _no_line_breaks(name, value))


def _no_line_breaks(name: str, value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError(f"header {name} holds a line break")
    return value


def _encoded(name: str, value: str) -> Any:
    """A header value as the MIME classes need it: ASCII as it is, else
    RFC 2047 encoded (for an address, its display name only)."""
    if value.isascii():
        return value
    if name.lower() in _ADDRESS_HEADERS:
        display, address = parseaddr(value)
        return formataddr((display, address), charset="utf-8")
    return Header(value, "utf-8")


class MailSender:
    """The worker part (``run``/``stop``) that sends ``store``'s due mails:
    at most ``batch`` per SMTP session, claimed ``claim`` at a time."""

    def __init__(self, store: Store, settings: Settings, batch: int = BATCH, claim: int = CLAIM):
        if settings.smtp_url is None:
            raise ValueError("MailSender needs SMTP_URL")
        self.store = store
        self.settings = settings
        self.server = SmtpServer.parse(settings.smtp_url.get_secret_value())
        self.batch = max(1, batch)
        self.claim = max(1, min(claim, self.batch))
        self.service = settings.service_name
        self.stopping = threading.Event()
        self._failures = 0  # looks in a row the server was at fault in: the loop backs off
        self._listener: Listener | None = None

    @property
    def connection_failures(self) -> int:
        """How many looks in a row found the server at fault (0 once a session works)."""
        return self._failures

    # -- the loop ------------------------------------------------------------------
    def stop(self) -> None:
        self.stopping.set()
        listener = self._listener
        if listener is not None:
            listener.wake()

    def run(self) -> None:
        """Look, then wait: ``mail_interval`` while mails wait for a later
        try; with nothing in the outbox and a doorbell to listen on
        (``Store.mail_address``: SQLite), until a write stores a mail, or
        ``mail_idle_interval`` at most, so an idle sender costs nothing."""
        log.info("mail sender: sending through %r", self.server, extra={"service": self.service})
        listener = self._listener = Listener.open(self.store.mail_address())
        try:
            while not self.stopping.is_set():
                try:
                    wait = self.look()
                    idle = listener is not None and wait == self.settings.mail_interval and self._outbox_empty()
                except Exception:  # noqa: BLE001 - a bug must not stop the worker's other parts
                    log.exception("mail sender: unexpected error", extra={"service": self.service})
                    wait, idle = self.settings.mail_interval, False
                if idle:
                    listener.wait(self.settings.mail_idle_interval)
                else:
                    self.stopping.wait(wait)
        finally:
            self._listener = None
            if listener is not None:
                listener.close()

    def _outbox_empty(self) -> bool:
        try:
            return not self.store.mail_counts().get(MAIL_PENDING)
        except StorageError:
            return False

    def retry_delay(self, attempts: int) -> float:
        """The wait after a mail's failed try number ``attempts + 1``:
        ``mail_retry_base`` doubled ``attempts`` times, at most ``mail_retry_max``."""
        return min(self.settings.mail_retry_base * 2 ** min(attempts, 64), self.settings.mail_retry_max)

    def lease_seconds(self, opening: bool = True) -> float:
        """How long a claim keeps its mails from the other senders: each SMTP
        exchange of its mails (and of opening the session, when it comes
        first) taking the whole ``smtp_timeout``, at least ``LEASE_MIN``, and
        the margin a mail needs left to be started (``lease_margin``). With
        the defaults (10 s, 5 mails): 355 s, or 295 s on an open session."""
        exchanges = MAIL_EXCHANGES * self.claim + (SESSION_EXCHANGES if opening else 0)
        timeout = self.settings.smtp_timeout
        return max(LEASE_MIN, timeout * exchanges) + lease_margin(timeout)

    # -- one look ------------------------------------------------------------------
    def look(self) -> float:
        """Claim the due mails and send them on one session, claim after
        claim, up to ``batch``; how long to wait before the next look."""
        interval = self.settings.mail_interval
        smtp: smtplib.SMTP | None = None
        taken = 0
        try:
            due, lease_end = self._claim(opening=True)
            while due:
                taken += len(due)
                more = len(due) == self.claim  # the outbox may hold more due now
                due = self._expire(due)
                if due:
                    if smtp is None:
                        try:
                            smtp = self._open()
                        except ConnectionFailed as exc:
                            exc.untried = due
                            raise
                    if not self._send_claimed(smtp, due, lease_end):
                        return interval
                    self._failures = 0
                if not more or self.stopping.is_set():
                    return interval
                if taken >= self.batch:
                    return 0
                due, lease_end = self._claim(opening=smtp is None)
            return interval
        except ConnectionFailed as exc:
            return self._outage(exc)
        except StorageError as exc:
            log.warning("mail sender: storage unavailable (%s); looking again in %.1fs", exc, interval,
                        extra={"service": self.service})
            return interval
        finally:
            if smtp is not None:
                try:
                    smtp.quit()
                except (smtplib.SMTPException, OSError):
                    smtp.close()

    def _claim(self, opening: bool) -> tuple[list[PendingMail], datetime]:
        now = utc_now()
        lease_end = now + timedelta(seconds=self.lease_seconds(opening))
        return self.store.claim_due_mails(rfc3339(now), rfc3339(lease_end), self.claim), lease_end

    def _expire(self, due: list[PendingMail]) -> list[PendingMail]:
        """``due`` but the mails older than ``mail_max_age``, which are made final untried."""
        young = []
        for pending in due:
            if self._age(pending) >= self.settings.mail_max_age:
                self._final(pending, pending.attempts, None,
                            f"not sent within {self.settings.mail_max_age:g} s (MAIL_MAX_AGE)", "***")
            else:
                young.append(pending)
        return young

    @staticmethod
    def _age(pending: PendingMail) -> float:
        """Seconds since the mail was stored."""
        return (utc_now() - datetime.fromisoformat(pending.created_at)).total_seconds()

    def _outage(self, exc: ConnectionFailed) -> float:
        """The server is at fault: the claimed mails not settled go back,
        untouched but for the error, and the loop backs off."""
        self._failures += 1
        wait = max(self.settings.mail_interval, min(self.retry_delay(self._failures - 1), LOOP_BACKOFF_MAX))
        waiting = len(exc.untried) + (exc.broken is not None)
        log.warning("mail sender: SMTP server unavailable (%s); %d claimed mails wait, looking again in %.1fs",
                    exc, waiting, wait, extra={"service": self.service})
        if self._put_back(exc.untried, wait, str(exc)) and exc.broken is not None:
            self._put_back([exc.broken], wait + self.settings.mail_retry_base, str(exc))
        return wait

    def _put_back(self, mails: list[PendingMail], delay: float, error: str) -> bool:
        """Make ``mails`` due again in ``delay`` seconds, with no try charged;
        False when the store cannot take it (they wait for their lease)."""
        due_at = rfc3339(utc_now() + timedelta(seconds=delay))
        for pending in mails:
            try:
                self.store.mail_retry(pending.id, pending.attempts, due_at, error)
            except StorageError as exc:
                log.warning("mail sender: cannot put mails back (%s); they are due again when their lease ends",
                            exc, extra={"service": self.service})
                return False
        return True

    # -- one claim -------------------------------------------------------------------
    def _send_claimed(self, smtp: smtplib.SMTP, due: list[PendingMail], lease_end: datetime) -> bool:
        """Try each of ``due`` on ``smtp``; False when the session stops
        here (the sender stops, or the lease is nearly over). Raises
        ConnectionFailed (with the mails it leaves) when the server is at fault."""
        for index, pending in enumerate(due):
            if self.stopping.is_set():
                self._put_back(due[index:], 0, "not tried: the sender stopped first")
                return False
            if (lease_end - utc_now()).total_seconds() < lease_margin(self.settings.smtp_timeout):
                log.warning("mail sender: the lease of %d claimed mails is nearly over; they are due again when "
                            "it is", len(due) - index, extra={"service": self.service})
                return False
            try:
                self._send_one(smtp, pending)
            except ConnectionFailed as exc:
                exc.untried, exc.broken = due[index + 1:], pending
                raise
            except StorageError as exc:
                log.warning("mail sender: cannot record what became of mail %s (%s); it is due again when its "
                            "lease ends", pending.id, exc, extra={"service": self.service, "mail_id": pending.id})
        return True

    def _open(self) -> smtplib.SMTP:
        server, timeout = self.server, self.settings.smtp_timeout
        try:
            if server.implicit_tls:
                smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout,
                                        context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(server.host, server.port, timeout=timeout)
        except (OSError, smtplib.SMTPException) as exc:
            raise ConnectionFailed(f"cannot connect to {server.host}:{server.port}: {exc}") from None
        try:
            smtp.ehlo()
            tls = server.implicit_tls
            if not tls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
                tls = True
            if not tls and (server.starttls_required or server.user):
                raise ConnectionFailed("the server does not offer STARTTLS; "
                                       + ("credentials are never sent without TLS" if server.user
                                          else "SMTP_URL requires it"))
            if server.user:
                smtp.login(server.user, server.password or "")
            return smtp
        except ConnectionFailed:
            smtp.close()
            raise
        except (OSError, smtplib.SMTPException) as exc:
            smtp.close()
            raise ConnectionFailed(f"SMTP session with {server.host}:{server.port} failed: {exc}") from None

    def _send_one(self, smtp: smtplib.SMTP, pending: PendingMail) -> None:
        attempts, to = pending.attempts + 1, "***"  # "***": a mail not read
        try:
            mail = Mail.from_json(pending.body)
            to = mask_address(mail.to)
            smtp.send_message(build_message(mail, pending.id, self.settings.mail_from, utc_now()))
        except smtplib.SMTPSenderRefused as exc:  # MAIL FROM: the configuration, whatever the code, not this mail
            raise ConnectionFailed(f"the server refuses the sender: {exc.smtp_code} {_text(exc.smtp_error)}"
                                   ) from None
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()), (0, b""))
            self._answered(pending, code, _text(reply), to)
        except smtplib.SMTPHeloError as exc:
            raise ConnectionFailed(f"SMTP session refused: {exc.smtp_code} {_text(exc.smtp_error)}") from None
        except smtplib.SMTPResponseException as exc:  # DATA or the message refused
            self._answered(pending, exc.smtp_code, _text(exc.smtp_error), to)
        except smtplib.SMTPNotSupportedError as exc:  # e.g. a non-ASCII address, no SMTPUTF8 there
            self._final(pending, attempts, None, f"cannot be sent: {exc}", to)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:  # the session was lost mid-way (SMTPException too)
            raise ConnectionFailed(f"SMTP session lost: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - never sendable as it is: final, and the next mail goes on
            self._final(pending, attempts, None, f"cannot be sent: {type(exc).__name__}: {exc}", to)
        else:
            self.store.mail_sent(pending.id)
            self._log(logging.INFO, pending, to, "enviado", 250, attempts)

    def _answered(self, pending: PendingMail, code: int, reply: str, to: str) -> None:
        """The server answered the mail with ``code``: 4xx later (421, the
        server closing the session, is the server's fault), 5xx final, and so
        is what is no answer to a mail at all (code 0, or no 4xx/5xx)."""
        attempts = pending.attempts + 1
        error = f"{code} {reply}".strip() if code else f"refused without an SMTP answer {reply}".strip()
        if code == 421:
            raise ConnectionFailed(error)
        if 400 <= code < 500:
            self._later(pending, attempts, code, error, to)
        else:
            self._final(pending, attempts, code, error, to)

    def _later(self, pending: PendingMail, attempts: int, code: int | None, error: str, to: str) -> None:
        if attempts >= self.settings.mail_max_attempts:
            self._final(pending, attempts, code, f"{error} (after {attempts} tries)", to)
            return
        if self._age(pending) >= self.settings.mail_max_age:
            self._final(pending, attempts, code, f"{error} (not sent within {self.settings.mail_max_age:g} s)",
                        to)
            return
        delay = self.retry_delay(attempts - 1)
        self.store.mail_retry(pending.id, attempts, rfc3339(utc_now() + timedelta(seconds=delay)), error)
        self._log(logging.WARNING, pending, to, "reintento", code, attempts, delay)

    def _final(self, pending: PendingMail, attempts: int, code: int | None, error: str, to: str) -> None:
        self.store.mail_failed(pending.id, attempts, error)
        self._log(logging.ERROR, pending, to, "fallido", code, attempts)

    def _log(self, level: int, pending: PendingMail, to: str, outcome: str, code: int | None, attempts: int,
             delay: float | None = None) -> None:
        later = f", next try in {delay:.1f}s" if delay is not None else ""
        log.log(level, "mail %s for %s (%s): %s, SMTP %s, try %d%s", pending.id, pending.recipient, to, outcome,
                code if code is not None else "-", attempts, later,
                extra={"service": self.service, "mail_id": pending.id, "recipient": pending.recipient,
                       "outcome": outcome, "smtp_code": code, "attempts": attempts})


def _text(reply: bytes | str) -> str:
    return (reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply))[:300]
