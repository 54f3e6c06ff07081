"""A local mail catcher for development: an SMTP server that accepts every
message, keeps it as a ``.eml`` file (any mail program opens it) and prints
one line per message. ``make run`` points the services at it.

    python -m common.mail.catcher [--host 127.0.0.1] [--port 1025] [--dir var/mail]

Nothing leaves the machine: no message is relayed anywhere.
"""
from __future__ import annotations

import argparse
import logging
import itertools
import sys
import threading
from datetime import datetime
from email import message_from_bytes, policy
from pathlib import Path

from aiosmtpd.controller import Controller

# aiosmtpd logs every command of every session at INFO.
logging.getLogger("mail.log").setLevel(logging.WARNING)


class SaveToFiles:
    """The aiosmtpd handler: every message accepted into a file of ``directory``."""

    def __init__(self, directory: Path, out=None):
        self.directory = directory
        self.out = out or sys.stdout
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope) -> str:
        now = datetime.now()
        data = envelope.original_content or envelope.content
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{now:%Y%m%d-%H%M%S}-{next(self._numbers):04d}.eml"
            path.write_bytes(data)
        message = message_from_bytes(data, policy=policy.default)
        to = message.get("To") or ", ".join(envelope.rcpt_tos)
        print(f"{now:%H:%M:%S} mail to {to}: {message.get('Subject', '(sin asunto)')} -> {path}",
              file=self.out, flush=True)
        return "250 OK"


class Catcher:
    """The catcher on ``host:port``, in a thread of its own (``start``/``stop``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1025, directory: Path = Path("var/mail")):
        self.host, self.port, self.directory = host, port, Path(directory)
        self._controller = Controller(SaveToFiles(self.directory), hostname=host, port=port)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> None:
        """Listen (raises OSError when the port is taken)."""
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m common.mail.catcher", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", default="var/mail", type=Path, help="where the .eml files go")
    args = parser.parse_args(argv)
    catcher = Catcher(args.host, args.port, args.dir)
    try:
        catcher.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(f"Mail catcher on {catcher.url}: every message into {args.dir.resolve()}/ (Ctrl-C stops it)",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
