"""An e-mail as a service decides it: who it is for and what it says, in
plain text and in HTML. It is stored as JSON in the mail outbox (inside the
write that decided it) and becomes an RFC 5322 message only when sent, with
a ``Message-ID`` made from the outbox id, so every try of one mail carries
the same id."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from common.storage import OutboxMail


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, body: str) -> "Mail":
        data = json.loads(body)
        return cls(data["to"], data["subject"], data["text"], data["html"], dict(data.get("headers") or {}))

    def outbox(self, mail_id: str, recipient: str) -> OutboxMail:
        """This mail as the outbox stores it, for ``recipient`` (an account id)."""
        return OutboxMail(mail_id, recipient, self.to_json())
