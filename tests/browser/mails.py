"""The mails a test system sends, as a person reads them: the links they
carry. Every system started by harness/ has its own SMTP server
(``system.mailbox``, an aiosmtpd server keeping what it accepts), and its
services' PORTAL_URL is the system's portal, so a link taken from a mail
opens in the browser as it is."""
from __future__ import annotations

import re
from email.message import EmailMessage
from urllib.parse import urlsplit

from harness import System, wait_until
from harness.mailbox import text_of

LINK = re.compile(r"https?://[^\s<>\"')]+")
MAIL_TIMEOUT = 30.0  # seconds: the service's outbox, its sender's next look, SMTP


def mails_to(system: System, address: str) -> list[EmailMessage]:
    assert system.mailbox is not None, "the system has no mailbox of its own (SMTP_URL was given)"
    return system.mailbox.for_address(address)


def links_to(system: System, address: str, path: str) -> list[str]:
    """Every link to ``path`` (exactly, before its ``?`` or ``#``) in the mails sent to ``address``, oldest first."""
    wanted = re.compile(rf"^https?://[^/]+{re.escape(path)}(?=$|[?#])")
    return [url for message in mails_to(system, address) for url in LINK.findall(text_of(message))
            if wanted.match(url)]


def link_in_mail(system: System, address: str, path: str, *, fragment: str | None = None) -> str:
    """The newest link to ``path`` (ending in ``#fragment`` when given) mailed to ``address``, once one has arrived."""

    def newest() -> str | None:
        found = [u for u in links_to(system, address, path)
                 if fragment is None or urlsplit(u).fragment == fragment]
        return found[-1] if found else None

    return wait_until(newest, timeout=MAIL_TIMEOUT, interval=0.1,
                      message=f"a mail to {address} with a link to {path}" + (f"#{fragment}" if fragment else ""))
