"""A wake-up call from the processes that write events (or mails) to the one
that relays them (or sends them).

Without it the outbox relay would have to poll its outbox (every
``RELAY_INTERVAL`` while busy, backing off when idle); an event written just
after a poll waits for the next one, and a burst goes out together. With
the embedded SQLite storage every writer of a service runs on the relay's
machine, so after a commit that added outbox rows the writer sends one byte
on a local datagram socket the relay listens on, and the relay publishes at
once. The outbox stays the only source of truth: a ring lost (no relay
listening yet, a full socket buffer) costs one idle interval of the relay
(``RELAY_IDLE_INTERVAL``), never an event.

The mail sender has a doorbell of its own, rung by a commit that stored
mails (``<file>.mail.sock``): an idle sender waits for it instead of
looking at its outbox every second.

The address is a socket file next to the database (``<file>.relay.sock``), or,
when that path is too long for a socket address, a Linux abstract socket
named after the database's path.
"""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import select
import socket
from pathlib import Path

log = logging.getLogger(__name__)

_MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on the BSDs


def address_for(database: Path, purpose: str = "relay") -> str | bytes:
    """Where the part that ``purpose`` names (``relay``: the outbox relay;
    ``mail``: the mail sender) listens for the writes of ``database``."""
    path = f"{database.resolve()}.{purpose}.sock"
    if len(os.fsencode(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(os.fsencode(database.resolve())).hexdigest()[:32]
    return f"\0incidencias-{purpose}-".encode() + digest.encode()


class Bell:
    """The writers' side: ring after a commit. Never raises, never blocks."""

    def __init__(self, address: str | bytes):
        self.address = address
        self._socket: socket.socket | None = None
        self._pid: int | None = None

    def ring(self) -> None:
        try:
            if self._pid != os.getpid():  # opened lazily, and again after a fork
                self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                self._socket.setblocking(False)
                self._pid = os.getpid()
            self._socket.sendto(b"!", self.address)
        except OSError:
            pass  # nobody listening, or the buffer is full: the relay polls anyway


class Listener:
    """The relay's side: wait for a ring or until ``timeout``.

    Only one process can listen on an address: a second relay of the same
    service (or one that finds the address taken) just polls."""

    def __init__(self, address: str | bytes):
        self.address = address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)
        try:
            self._bind()
        except OSError:
            self._socket.close()
            raise

    def _bind(self) -> None:
        try:
            self._socket.bind(self.address)
            return
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE or not isinstance(self.address, str):
                raise
        # A socket file left by a relay that died: take it over unless someone answers on it.
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            probe.connect(self.address)
        except ConnectionRefusedError:
            os.unlink(self.address)
            self._socket.bind(self.address)
            return
        finally:
            probe.close()
        raise OSError(errno.EADDRINUSE, f"another relay listens on {self.address}")

    @classmethod
    def open(cls, address: str | bytes | None) -> "Listener | None":
        if address is None:
            return None
        try:
            return cls(address)
        except OSError as exc:
            log.info("not listening for writes on %r (%s); polling only", address, exc)
            return None

    def wait(self, timeout: float) -> bool:
        """True if rung (every ring pending is taken), False on timeout."""
        ready, _, _ = select.select([self._socket], [], [], max(timeout, 0.0))
        if not ready:
            return False
        while True:
            try:
                self._socket.recv(64)
            except (BlockingIOError, InterruptedError):
                return True

    def wake(self) -> None:
        """Ring from within (to stop a relay waiting here)."""
        Bell(self.address).ring()

    def close(self) -> None:
        self._socket.close()
        if isinstance(self.address, str):
            try:
                os.unlink(self.address)
            except OSError:
                pass
