"""A real SMTP server for a test system: an aiosmtpd server on 127.0.0.1
that keeps every message it accepts, parsed, in memory.

``System`` gives each system one and points its services at it
(``SMTP_URL``). A test waits for a mail with ``wait_for`` (a deadline, never
a sleep). A fault test can stop it and start it again on the same port
(``stop``/``start``), and make it answer every message with a refusal
(``refuse("451 4.3.0 Try again later")`` at DATA, or ``stage="RCPT"`` or
``stage="MAIL"``, the sender at MAIL FROM)
until ``accept()``; every refusal is kept too (``refusals``), so the tries
of a mail can be counted. ``slow(seconds)`` holds every answer to DATA that
long, so that a sender can be killed with a message on the wire: the
message is kept, its answer never reaches the sender.

Optional: ``credentials`` (user, password) offers AUTH and records every
login try (``logins``); ``tls`` (a server ``ssl.SSLContext``) offers
STARTTLS, or with ``implicit_tls`` speaks TLS from the first byte (smtps).
"""
from __future__ import annotations

import logging
import asyncio
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from ssl import SSLContext
from typing import Callable

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from .polling import free_port, wait_until

# aiosmtpd logs every command of every session at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass(frozen=True)
class Refusal:
    """One message (or recipient) the mailbox refused, and how."""

    stage: str  # "MAIL", "RCPT" or "DATA"
    reply: str
    recipients: tuple[str, ...]
    message_id: str | None  # known at DATA only


class _Handler:
    def __init__(self, mailbox: "Mailbox"):
        self.mailbox = mailbox

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        reply = self.mailbox._refusal("MAIL")
        if reply:
            self.mailbox._refused(Refusal("MAIL", reply, (), None))
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.mailbox._refusal("RCPT")
        if reply:
            self.mailbox._refused(Refusal("RCPT", reply, (address,), None))
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        data = envelope.original_content or envelope.content
        # The wire's CRLF line ends as Python's "\n", so a part's content reads as it was composed.
        message = message_from_bytes(data.replace(b"\r\n", b"\n"), policy=policy.default)
        reply = self.mailbox._refusal("DATA")
        if reply:
            self.mailbox._refused(Refusal("DATA", reply, tuple(envelope.rcpt_tos), message.get("Message-ID")))
            return reply
        # Kept first, answered after the delay: as a relay queues a message
        # before it answers, so a sender killed meanwhile sends it again.
        self.mailbox._received(message, tuple(envelope.rcpt_tos))
        delay = self.mailbox._delay
        if delay:
            await asyncio.sleep(delay)
        return "250 OK"


class Mailbox:
    def __init__(self, port: int | None = None, *, credentials: tuple[str, str] | None = None,
                 tls: SSLContext | None = None, implicit_tls: bool = False):
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.credentials = credentials
        self.tls = tls
        self.implicit_tls = implicit_tls
        self._lock = threading.Lock()
        self._messages: list[EmailMessage] = []
        self._envelopes: list[tuple[str, ...]] = []
        self._refusals: list[Refusal] = []
        self._logins: list[str] = []
        self._refuse: tuple[str, str] | None = None  # (stage, reply)
        self._delay = 0.0
        self._controller: Controller | None = None

    # -- running ------------------------------------------------------------------
    @property
    def url(self) -> str:
        """What SMTP_URL says to reach it (no credentials)."""
        return f"{'smtps' if self.implicit_tls else 'smtp'}://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(self) -> "Mailbox":
        """Listen on its port (the same one after a ``stop``); OSError if taken."""
        if self._controller is not None:
            return self
        options: dict = {}
        if self.credentials:
            options.update(authenticator=self._authenticate, auth_require_tls=False)
        if self.tls is not None and not self.implicit_tls:
            options["tls_context"] = self.tls
        controller = Controller(_Handler(self), hostname=self.host, port=self.port,
                                ssl_context=self.tls if self.implicit_tls else None, **options)
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        """Stop listening (a client connecting now is refused)."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> "Mailbox":
        return self.start()

    def __exit__(self, *_exc) -> None:
        self.stop()

    # -- answers --------------------------------------------------------------------
    def refuse(self, reply: str, stage: str = "DATA") -> None:
        """Answer every message ``reply`` (e.g. ``"451 4.3.0 Try later"`` or
        ``"550 5.1.1 No such user"``) at ``stage`` ("DATA", "RCPT" or "MAIL") from now on."""
        if stage not in ("DATA", "RCPT", "MAIL"):
            raise ValueError("stage is DATA, RCPT or MAIL")
        with self._lock:
            self._refuse = (stage, reply)

    def slow(self, seconds: float) -> None:
        """Hold each answer to DATA ``seconds`` (0: answer at once)."""
        self._delay = seconds

    def accept(self) -> None:
        """Accept every message again."""
        with self._lock:
            self._refuse = None

    def _refusal(self, stage: str) -> str | None:
        with self._lock:
            return self._refuse[1] if self._refuse and self._refuse[0] == stage else None

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        user = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?"
        with self._lock:
            self._logins.append(user)
        ok = isinstance(auth_data, LoginPassword) and self.credentials == (
            auth_data.login.decode(), auth_data.password.decode())
        return AuthResult(success=ok, handled=False)  # a failure answers 535

    # -- what arrived ------------------------------------------------------------------
    def _received(self, message: EmailMessage, recipients: tuple[str, ...]) -> None:
        with self._lock:
            self._messages.append(message)
            self._envelopes.append(recipients)

    def _refused(self, refusal: Refusal) -> None:
        with self._lock:
            self._refusals.append(refusal)

    def messages(self) -> list[EmailMessage]:
        """Every message accepted so far, in arrival order."""
        with self._lock:
            return list(self._messages)

    def recipients(self) -> list[tuple[str, ...]]:
        """The envelope recipients (RCPT TO) of each message of ``messages()``."""
        with self._lock:
            return list(self._envelopes)

    def refusals(self) -> list[Refusal]:
        with self._lock:
            return list(self._refusals)

    def logins(self) -> list[str]:
        """The user name of every AUTH try."""
        with self._lock:
            return list(self._logins)

    def for_address(self, address: str) -> list[EmailMessage]:
        """The messages accepted for ``address`` (its envelope recipient, any case)."""
        wanted = address.lower()
        with self._lock:
            return [m for m, rcpts in zip(self._messages, self._envelopes)
                    if wanted in (r.lower() for r in rcpts)]

    def wait_for(self, predicate: Callable[[EmailMessage], object], timeout: float = 10.0,
                 message: str = "a mail") -> EmailMessage:
        """The first accepted message ``predicate`` holds for, waiting up to ``timeout`` seconds."""
        return wait_until(lambda: next((m for m in self.messages() if predicate(m)), None),
                          timeout=timeout, interval=0.02, message=message)

    def clear(self) -> None:
        with self._lock:
            self._messages.clear()
            self._envelopes.clear()
            self._refusals.clear()
            self._logins.clear()


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a message."""
    return message.get_body(preferencelist=("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    """The HTML part of a message."""
    return message.get_body(preferencelist=("html",)).get_content()
