"""A TCP proxy on 127.0.0.1 in front of a server (RabbitMQ), which the test
can blackhole: every connection through it goes silent, in both directions,
without being closed, as when a network path drops packets (a firewall
losing its state, a NAT entry expired, a cable pulled between switches).

Nothing is read and nothing is written while blackholed; bytes pile up in
the kernel's buffers and neither end sees a FIN or a reset, so only a
heartbeat (or a timeout) can tell a client that its connection is dead. A
connection opened meanwhile is accepted (the kernel completes the TCP
handshake) and is just as silent. When forwarding resumes, whatever each end
sent is delivered, and a connection an end has closed meanwhile is closed on
the other side too. A chunk already read when the blackhole starts is still
delivered, like a packet already on the wire.
"""
from __future__ import annotations

import select
import socket
import threading
from contextlib import contextmanager
from typing import Iterator


class TcpProxy:
    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1"):
        self.target = target
        self._listener = socket.create_server((host, 0), backlog=128)
        self.host, self.port = self._listener.getsockname()[:2]
        self._flowing = threading.Event()
        self._flowing.set()
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._thread: threading.Thread | None = None

    def url(self, amqp_url: str) -> str:
        """``amqp_url`` pointed at the proxy instead of at the server."""
        scheme, _, rest = amqp_url.partition("://")
        userinfo, _, location = rest.rpartition("@")
        _, _, path = location.partition("/")
        return f"{scheme}://{userinfo + '@' if userinfo else ''}{self.host}:{self.port}/{path}"

    def start(self) -> "TcpProxy":
        self._thread = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._thread.start()
        return self

    def upstream_ports(self) -> set[int]:
        """The local ports of the proxy's connections to the server (the
        client ports the server lists for the connections through it)."""
        ports = set()
        with self._lock:
            for _client, upstream in self._pairs:
                try:
                    ports.add(upstream.getsockname()[1])
                except OSError:
                    pass
        return ports

    @property
    def blackholed(self) -> bool:
        return not self._flowing.is_set()

    @contextmanager
    def blackhole(self) -> Iterator[None]:
        """Silence every connection for the duration of the block, then forward again."""
        self._flowing.clear()
        try:
            yield
        finally:
            self._flowing.set()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            pair = (client, upstream)
            with self._lock:
                self._pairs.add(pair)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(pair, source, sink), name="proxy-pump",
                                 daemon=True).start()

    def _pump(self, pair, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self._stopping.is_set():
                self._flowing.wait()  # blackholed: nothing read, nothing sent, nothing closed
                readable, _, _ = select.select([source], [], [], 0.2)
                if not readable or not self._flowing.is_set():
                    continue
                data = source.recv(65536)
                if not data:
                    return
                sink.sendall(data)
        except (OSError, ValueError):  # the other direction closed the pair
            return
        finally:
            self._close(pair)

    def _close(self, pair) -> None:
        with self._lock:
            self._pairs.discard(pair)
        for s in pair:
            try:
                s.shutdown(socket.SHUT_RDWR)  # wakes the other direction's select
            except OSError:
                pass
            s.close()

    def stop(self) -> None:
        self._stopping.set()
        self._flowing.set()
        self._listener.close()
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            self._close(pair)
        if self._thread is not None:
            self._thread.join(timeout=5)
