"""Outgoing e-mail: the composed message (``Mail``), its one layout
(``compose``), the sender that takes mails from a store's mail outbox to an
SMTP server, and a local mail catcher for development."""
from .message import Mail

__all__ = ["Mail"]
