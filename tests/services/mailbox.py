"""The mails account use cases stored in a store's mail outbox, read as the
sender would (``due_mails``), and the link tokens they carry."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from common.mail import Mail
from common.storage import Store

FAR_FUTURE = "2999-01-01T00:00:00.000000Z"
_URL = re.compile(r"https?://\S+")


@dataclass(frozen=True)
class Stored:
    recipient: str
    mail: Mail

    def links(self) -> list[str]:
        """The URLs of the text part, in order."""
        return _URL.findall(self.mail.text)

    def token(self, path: str) -> str:
        """The ``token`` of the one link to ``path``."""
        [url] = [u for u in self.links() if urlsplit(u).path == path]
        return parse_qs(urlsplit(url).query)["token"][0]


class Mailbox:
    def __init__(self, store: Store):
        self.store = store

    def pending(self) -> list[Stored]:
        return [Stored(m.recipient, Mail.from_json(m.body)) for m in self.store.due_mails(FAR_FUTURE, 1000)]

    def take(self) -> list[Stored]:
        """What is pending, then marked sent: the next call sees only newer mails."""
        mails = self.pending()
        for mail in self.store.due_mails(FAR_FUTURE, 1000):
            self.store.mail_sent(mail.id)
        return mails
