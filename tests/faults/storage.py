"""Storage faults: a service's SQLite file held locked or made read-only,
and a port in front of a database that can be closed and opened."""
from __future__ import annotations

import socket
import sqlite3
import subprocess
import threading
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from harness import free_port


class SQLiteLock:
    """The database's write lock, held by a connection of the test (as a long
    maintenance transaction would hold it)."""

    def __init__(self, path: Path):
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("BEGIN IMMEDIATE")
        self.held = True

    def release(self) -> None:
        if self.held:
            self.held = False
            try:
                self.conn.execute("ROLLBACK")
            finally:
                self.conn.close()


@contextmanager
def sqlite_locked(path: Path) -> Iterator[SQLiteLock]:
    lock = SQLiteLock(path)
    try:
        yield lock
    finally:
        lock.release()


def chattr_works(directory: Path) -> bool:
    probe = directory / f".chattr-{uuid.uuid4().hex[:6]}"
    probe.write_text("x")
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True).returncode != 0:
            return False
        subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=True)
        return True
    except FileNotFoundError:
        return False
    finally:
        probe.unlink(missing_ok=True)


@contextmanager
def sqlite_read_only(path: Path) -> Iterator[None]:
    """Make the database and its WAL immutable (even root cannot write them).
    The shared-memory index stays writable: it is mapped into every process,
    and an immutable mapping would crash them instead of failing their writes."""
    files = [str(p) for p in (path, Path(f"{path}-wal")) if p.exists()]
    try:
        subprocess.run(["chattr", "+i", *files], check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["chattr", "-i", *files], check=False, capture_output=True)


class Gate:
    """A port on 127.0.0.1 that refuses connections until ``open()``, then
    forwards each one to ``target`` (a database behind a switch)."""

    def __init__(self, target_host: str, target_port: int):
        self.port = free_port()
        self.target = (target_host, target_port)
        self._listener = None
        self._sockets: list = []
        self._lock = threading.Lock()

    def open(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.close()
                except OSError:
                    pass

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for s in sockets:
            try:
                s.close()
            except OSError:
                pass
