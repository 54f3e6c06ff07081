"""A request the service carried out, whose answer never reached the client
(the connection cut between the two), is sent again with the same
``Idempotency-Key``: nothing happens twice, neither the comment nor the
event, nor the incident, nor the transition.

A TCP proxy the test controls stands in front of one incident service.
While it cuts, it forwards each request whole, waits for the service's
answer to start coming back (the write and its events are committed by
then) and resets the client's connection instead of passing the answer on:
what a client sees when a load balancer times out or the network drops
right after the server did the work. The client then retries through the
same proxy, as a client does. What happened is counted through the APIs
(comments and incidents as each service shows them) and on the exchange
(distinct events, by message id)."""
from __future__ import annotations

import socket
import struct
import threading
import uuid
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from harness import incidencia_body, new_categoria, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.faults]

HEADER_END = b"\r\n\r\n"


def _read_message(sock: socket.socket, buffered: bytes = b"") -> tuple[bytes, bytes] | None:
    """One HTTP/1.1 message (head and a Content-Length body) from ``sock``,
    and what was read past it; None if the peer closed first."""
    data = buffered
    while HEADER_END not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, rest = data.partition(HEADER_END)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        elif name.strip().lower() == b"transfer-encoding":
            raise AssertionError("the proxy forwards Content-Length bodies only")
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            return None
        rest += chunk
    return head + HEADER_END + rest[:length], rest[length:]


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset: the client learns nothing of the answer."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class CuttingProxy:
    """In front of the HTTP service at ``target`` (its base URL). Each
    request goes to the service on a connection of its own; ``cut(n)``
    makes the next ``n`` requests lose their answers."""

    def __init__(self, target: str):
        parts = urlsplit(target)
        self.target = (parts.hostname, parts.port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._lock = threading.Lock()
        self._to_cut = 0
        self.forwarded = 0
        self.answers_lost = 0
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="cutting-proxy", daemon=True).start()

    def cut(self, n: int) -> None:
        with self._lock:
            self._to_cut = n

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._open.add(client)
            threading.Thread(target=self._serve, args=(client,), name="cutting-proxy-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        buffered = b""
        try:
            while True:
                read = _read_message(client, buffered)
                if read is None:
                    return
                request, buffered = read
                with socket.create_connection(self.target, timeout=30) as upstream:
                    upstream.sendall(request)
                    with self._lock:
                        self.forwarded += 1
                        cut = self._to_cut > 0
                        self._to_cut -= cut
                    if cut:
                        # The first byte of the answer: the service has done the work.
                        assert upstream.recv(1), "the service closed without answering"
                        with self._lock:
                            self.answers_lost += 1
                        _reset(client)
                        return
                    answer = _read_message(upstream)
                    assert answer is not None, "the service closed without answering"
                    client.sendall(answer[0])
        except OSError:
            return
        finally:
            with self._lock:
                self._open.discard(client)
            try:
                client.close()
            except OSError:
                pass

    def stop(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in list(self._open):
                try:
                    sock.close()
                except OSError:
                    pass


@pytest.fixture
def proxies(world):
    """One cutting proxy per incident service."""
    made = {name: CuttingProxy(world.system.urls[name]) for name in ("apertura", "resolucion")}
    yield made
    for proxy in made.values():
        proxy.stop()


@dataclass
class Retried:
    """What a client that retries until it gets an answer saw."""

    response: httpx.Response
    attempts: int
    dropped: int


def send_until_answered(client: httpx.Client, method: str, path: str, token: str, key: str,
                        json: dict | None = None, attempts: int = 5) -> Retried:
    """The same request, with the same key, until an answer arrives."""
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    dropped = 0
    for attempt in range(1, attempts + 1):
        try:
            response = client.request(method, path, headers=headers, json=json if json is not None else {})
        except httpx.TransportError:
            dropped += 1
            continue
        return Retried(response, attempt, dropped)
    raise AssertionError(f"{method} {path}: no answer in {attempts} attempts")


def events_about(tap, routing_key: str, match) -> list[str]:
    """The distinct events (message ids) of ``routing_key`` on the exchange that ``match``."""
    return [s.message_id for s in tap.snapshot().values()
            if s.routing_key == routing_key and match(s.envelope or {})]


def comment_events(tap, texto: str) -> list[str]:
    return events_about(tap, "incidencia.comentada",
                        lambda e: ((e.get("datos") or {}).get("comentario") or {}).get("texto") == texto)


def snapshot_events(tap, routing_key: str, incidencia_id: str) -> list[str]:
    return events_about(tap, routing_key,
                        lambda e: ((e.get("datos") or {}).get("incidencia") or {}).get("id") == incidencia_id)


def texts(view: dict, texto: str) -> int:
    return sum(1 for c in view["comentarios"] if c["texto"] == texto)


def test_a_customers_requests_retried_after_a_lost_answer_happen_once(world, tap, proxies, figures, alive):
    [cliente] = world.clientes(1, "Reintento")
    categoria = new_categoria("faults")
    api, admin = world.api, world.api.admin_token()
    apertura = proxies["apertura"]
    with httpx.Client(base_url=apertura.url, timeout=30) as client:
        # Opening: the answer lost twice, then delivered.
        apertura.cut(2)
        opened = send_until_answered(client, "POST", "/incidencias", cliente.token, uuid.uuid4().hex,
                                     incidencia_body(categoria, titulo="Reintento tras un corte"))
        assert (opened.response.status_code, opened.dropped) == (201, 2), opened.response.text
        assert opened.response.headers["Idempotent-Replayed"] == "true"
        incidencia_id = opened.response.json()["id"]
        # A comment: the answer lost once.
        texto = f"Comentario reintentado {uuid.uuid4().hex[:8]}"
        apertura.cut(1)
        commented = send_until_answered(client, "POST", f"/incidencias/{incidencia_id}/comentarios", cliente.token,
                                        uuid.uuid4().hex, {"texto": texto})
        assert (commented.response.status_code, commented.dropped) == (201, 1), commented.response.text
        # A cancellation request: the answer lost once.
        apertura.cut(1)
        cancelled = send_until_answered(client, "POST", f"/incidencias/{incidencia_id}/cancelacion", cliente.token,
                                        uuid.uuid4().hex, {"motivo": "Ya no la necesito"})
        assert (cancelled.response.status_code, cancelled.dropped) == (202, 1), cancelled.response.text
    assert apertura.answers_lost == 4

    mine = [i for i in api.customer_incidencias([cliente]).values() if i["titulo"] == "Reintento tras un corte"]
    assert [i["id"] for i in mine] == [incidencia_id]
    assert texts(api.customer_view(cliente, incidencia_id), texto) == 1
    staff_view = api.wait_staff_sees(admin, incidencia_id, "cancelada", timeout=30)
    assert texts(staff_view, texto) == 1
    wait_until(lambda: comment_events(tap, texto) and snapshot_events(tap, "incidencia.cancelada", incidencia_id),
               timeout=30, interval=0.2, message="the events reached the exchange")
    tap.wait_quiet()
    published = {
        "incidencia.abierta": snapshot_events(tap, "incidencia.abierta", incidencia_id),
        "incidencia.comentada": comment_events(tap, texto),
        "incidencia.cancelacion_solicitada": events_about(
            tap, "incidencia.cancelacion_solicitada",
            lambda e: (e.get("datos") or {}).get("incidencia_id") == incidencia_id),
    }
    assert {tipo: len(ids) for tipo, ids in published.items()} == dict.fromkeys(published, 1), published
    writes = (opened, commented, cancelled)
    present = (len(mine) == 1, texts(api.customer_view(cliente, incidencia_id), texto) == 1,
               staff_view["estado"] == "cancelada")
    comments = {"apertura": texts(api.customer_view(cliente, incidencia_id), texto),
                "resolucion": texts(staff_view, texto)}
    figures.record("customer_retry_after_lost_answer",
                   fault="apertura's answer cut after the write (TCP reset), retried with the same Idempotency-Key: "
                         "an opening twice, a comment and a cancellation request once each",
                   figures={"writes": write_classes(writes, present),
                            "requests": {"made": sum(w.attempts for w in writes)},
                            "answers_lost": apertura.answers_lost,
                            "incidents": {"created": len(mine), "duplicated": len(mine) - 1},
                            "comments": {**comments, "duplicated": duplicated(comments.values())},
                            "events": event_figures(published)})


def test_staff_requests_retried_after_a_lost_answer_happen_once(world, tap, proxies, figures, alive):
    [cliente] = world.clientes(1, "Reintento")
    categoria = new_categoria("faults")
    api, admin = world.api, world.api.admin_token()
    incidencia_id = api.new_incidencia(cliente, categoria)["id"]
    api.wait_staff_sees(admin, incidencia_id, "asignada", timeout=30)
    resolucion = proxies["resolucion"]
    texto = f"Respuesta reintentada {uuid.uuid4().hex[:8]}"
    nota = f"Nota reintentada {uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=resolucion.url, timeout=30) as client:
        resolucion.cut(1)
        started = send_until_answered(client, "POST", f"/incidencias/{incidencia_id}/inicio", admin,
                                      uuid.uuid4().hex)
        resolucion.cut(2)
        commented = send_until_answered(client, "POST", f"/incidencias/{incidencia_id}/comentarios", admin,
                                        uuid.uuid4().hex, {"texto": texto, "interna": False})
        resolucion.cut(1)
        noted = send_until_answered(client, "POST", f"/incidencias/{incidencia_id}/comentarios", admin,
                                    uuid.uuid4().hex, {"texto": nota, "interna": True})
    assert [(r.response.status_code, r.dropped) for r in (started, commented, noted)] == [(200, 1), (201, 2), (201, 1)]
    assert resolucion.answers_lost == 4

    view = api.staff_view(admin, incidencia_id)
    assert (view["estado"], texts(view, texto), texts(view, nota)) == ("en_curso", 1, 1)
    assert [h["a"] for h in view["historial"]].count("en_curso") == 1
    customer = wait_until(lambda: (v := api.customer_view(cliente, incidencia_id))["estado"] == "en_curso"
                          and texts(v, texto) and v, timeout=30, interval=0.2,
                          message="apertura applied the start and the comment")
    assert texts(customer, texto) == 1 and texts(customer, nota) == 0
    wait_until(lambda: comment_events(tap, texto), timeout=30, interval=0.2, message="the comment's event")
    tap.wait_quiet()
    published = {"incidencia.en_curso": snapshot_events(tap, "incidencia.en_curso", incidencia_id),
                 "incidencia.comentada": comment_events(tap, texto)}
    assert {tipo: len(ids) for tipo, ids in published.items()} == dict.fromkeys(published, 1), published
    assert comment_events(tap, nota) == []  # an internal note never leaves resolucion
    writes = (started, commented, noted)
    present = ([h["a"] for h in view["historial"]].count("en_curso") == 1, texts(view, texto) == 1,
               texts(view, nota) == 1)
    comments = {"resolucion": texts(view, texto) + texts(view, nota), "apertura": texts(customer, texto)}
    figures.record("staff_retry_after_lost_answer",
                   fault="resolucion's answer cut after the write (TCP reset), retried with the same "
                         "Idempotency-Key: a start once, a comment twice, an internal note once",
                   figures={"writes": write_classes(writes, present),
                            "requests": {"made": sum(w.attempts for w in writes)},
                            "answers_lost": resolucion.answers_lost,
                            "comments": {**comments,
                                         "duplicated": duplicated([texts(view, texto), texts(view, nota),
                                                                   texts(customer, texto)])},
                            "events": event_figures(published)})


def write_classes(writes, present) -> dict[str, int]:
    """The checker's classes (tests/faults/checker.py) for these few writes:
    answered 2xx or not, found afterwards or not."""
    acknowledged = [200 <= w.response.status_code < 300 for w in writes]
    return {"attempted": len(writes), "acknowledged": sum(acknowledged),
            "lost": sum(a and not p for a, p in zip(acknowledged, present)),
            "refused": sum(not a and not p for a, p in zip(acknowledged, present)),
            "indeterminate": sum(not a and p for a, p in zip(acknowledged, present))}


def duplicated(counts) -> int:
    return sum(max(0, n - 1) for n in counts)


def event_figures(published: dict[str, list]) -> dict[str, int]:
    return {"published": sum(len(ids) for ids in published.values()),
            "duplicated": duplicated(len(ids) for ids in published.values())}
