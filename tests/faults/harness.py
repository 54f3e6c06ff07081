"""The system under faults: the e2e harness's processes, plus what a fault
run needs on top: per-process environment, killing a gunicorn worker or a
whole process, holding a service's SQLite file locked or read-only, a tap
that sees every message published to the system's exchange, HTTP clients
for accounts and reads, and a bounded load generator."""
from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import httpx
import pika
from pika.exceptions import AMQPError

from common.messaging import Topology
from tests.e2e.system import ADMIN_EMAIL, ADMIN_PASSWORD, ROOT, System, procfile_lines
from tests.helpers import wait_until

from .broker import AMQP_URL

log = logging.getLogger(__name__)

SERVICE_NAMES = {
    "clientes": "clientes", "apertura": "incidencias_apertura",
    "resolucion": "incidencias_resolucion", "empleados": "empleados",
}


# -- processes -----------------------------------------------------------------

class FaultSystem(System):
    """``System`` with per-process environment overrides and fault helpers."""

    def start(self, names: list[str] | None = None, env: dict[str, str] | None = None, wait: bool = True) -> None:
        lines = procfile_lines()
        for name in names or list(lines):
            log_path = self.workdir / f"{name}.log"
            self.logs[name] = log_path
            self.processes[name] = subprocess.Popen(
                ["bash", "-c", lines[name]], cwd=ROOT, env={**self.env, **(env or {})},
                stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
            )
        if wait:
            self.wait_ready()

    def restart(self, name: str, env: dict[str, str] | None = None, wait: bool = True) -> None:
        if name in self.processes:
            self.stop(name)
        self.start([name], env, wait)

    @property
    def exchange(self) -> str:
        return self.env["EXCHANGE"]

    def db_path(self, name: str) -> Path:
        return Path(self.env["DATA_DIR"]) / f"{SERVICE_NAMES[name]}.sqlite3"

    def pid(self, name: str) -> int:
        return self.processes[name].pid

    def children(self, name: str) -> list[int]:
        """The processes whose parent is ``name``'s (gunicorn's workers, for a web process)."""
        parent = self.pid(name)
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
        return sorted(found)

    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Signal every process of ``name`` (its process group) at once."""
        os.killpg(self.pid(name), signum)

    def wait_exit(self, name: str, timeout: float) -> int:
        process = self.processes.pop(name)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
            raise AssertionError(f"{name} did not exit within {timeout}s of its signal") from None

    def log_text(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace") if name in self.logs else ""


def start_system(workdir: Path, **env: str) -> FaultSystem:
    """The whole system on free ports; started again on other ports if one of
    them was taken meanwhile (other systems start on this machine too)."""
    for attempt in range(3):
        directory = workdir / f"system{attempt}"
        directory.mkdir(parents=True, exist_ok=True)
        system = FaultSystem.prepare(directory, **env)
        try:
            system.start()
            return system
        except BaseException:
            collided = any("Address already in use" in system.log_text(name) for name in system.logs)
            for name in list(system.processes):
                system.stop(name)
            try:  # its workers may have declared their queues already
                system.delete_broker_objects()
            except Exception:  # noqa: BLE001 - a leftover must not hide why it did not start
                pass
            if not collided or attempt == 2:
                raise
    raise AssertionError("unreachable")


def amqp_ports(pid: int) -> set[int]:
    """The local ports of ``pid``'s TCP connections to RabbitMQ (port 5672)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == 5672:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def wchan(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        return ""


def waiting_for_sqlite_lock(pid: int) -> bool:
    """Whether a thread of ``pid`` sleeps in SQLite's busy handler (waiting
    for a write lock someone else holds): a request or a message in hand."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if "nanosleep" in (task / "wchan").read_text():
                return True
        except OSError:
            continue
    return False


# -- storage faults --------------------------------------------------------------

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


# -- HTTP ------------------------------------------------------------------------

class Api:
    """HTTP clients for the system: accounts, and both replicas' views."""

    def __init__(self, system: FaultSystem, timeout: float = 15.0):
        self.system = system
        self.http = httpx.Client(timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def url(self, service: str, path: str) -> str:
        return f"{self.system.urls[service]}{path}"

    def call(self, method: str, service: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url(service, path), headers=headers, **kwargs)

    def new_cliente(self, nombre: str = "Carga") -> dict:
        email = f"{nombre.lower()}.{uuid.uuid4().hex[:8]}@example.com"
        password = "Cliente-pass-2026"
        created = self.call("POST", "clientes", "/clientes", json={
            "nombre": nombre, "apellidos": "Fallos", "email": email, "password": password})
        assert created.status_code == 201, created.text
        token = self.call("POST", "clientes", "/clientes/login", json={"email": email, "password": password})
        assert token.status_code == 200, token.text
        return {**created.json(), "token": token.json()["access_token"]}

    def admin_token(self) -> str:
        response = self.call("POST", "empleados", "/empleados/login",
                             json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def new_empleado(self, rol: str, categorias: list[str], nombre: str = "Agente") -> dict:
        email = f"{nombre.lower()}.{uuid.uuid4().hex[:8]}@example.com"
        password = "Empleado-pass-2026"
        created = self.call("POST", "empleados", "/empleados", token=self.admin_token(), json={
            "nombre": nombre, "apellidos": "Fallos", "email": email, "password": password,
            "rol": rol, "categorias": categorias})
        assert created.status_code == 201, created.text
        token = self.call("POST", "empleados", "/empleados/login", json={"email": email, "password": password})
        assert token.status_code == 200, token.text
        return {**created.json(), "token": token.json()["access_token"]}

    def open_incident(self, cliente: dict, categoria: str, key: str | None = None, **extra) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.call("POST", "apertura", "/incidencias", token=cliente["token"], headers=headers,
                         json=incident_body(categoria, **extra))

    def _pages(self, service: str, path: str, token: str, params: dict) -> dict[str, dict]:
        found: dict[str, dict] = {}
        page = 1
        while True:
            response = self.call("GET", service, path, token=token,
                                 params={**params, "pagina": page, "por_pagina": 100})
            response.raise_for_status()
            body = response.json()
            for item in body["elementos"]:
                found[item["id"]] = item
            if page >= body["paginas"]:
                return found
            page += 1

    def customer_view(self, clientes: list[dict]) -> dict[str, dict]:
        """Every incident of these customers, as incidencias_apertura holds them."""
        found: dict[str, dict] = {}
        for cliente in clientes:
            found.update(self._pages("apertura", "/incidencias", cliente["token"], {}))
        return found

    def staff_view(self, token: str, categoria: str) -> dict[str, dict]:
        """Every incident of a category, as incidencias_resolucion holds them."""
        return self._pages("resolucion", "/incidencias", token, {"categoria": categoria})

    def pending_events(self) -> dict[str, int | None]:
        """Each service's outbox size, from its readiness check."""
        sizes = {}
        for service in self.system.urls:
            try:
                body = self.call("GET", service, "/salud").json()
                sizes[service] = body["comprobaciones"]["almacenamiento"].get("eventos_pendientes")
            except (httpx.HTTPError, KeyError, ValueError):
                sizes[service] = None
        return sizes


def incident_body(categoria: str, n: int = 0, **extra) -> dict:
    return {"titulo": f"Fallo {n}: llegó roto", "descripcion": "Prueba bajo fallos",
            "producto": {"referencia": f"SKU-{n}", "nombre": "Lámpara"}, "categoria": categoria,
            "prioridad": "media", **extra}


def new_category() -> str:
    return f"faults-{uuid.uuid4().hex[:8]}"


# -- the tap -------------------------------------------------------------------------

@dataclass
class Seen:
    message_id: str
    routing_key: str
    origin: str | None
    body: bytes
    copies: int = 1

    @property
    def envelope(self) -> dict | None:
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def snapshot(self) -> dict | None:
        envelope = self.envelope or {}
        datos = envelope.get("datos") if isinstance(envelope.get("datos"), dict) else {}
        snapshot = datos.get("incidencia")
        return snapshot if isinstance(snapshot, dict) else None


class Tap:
    """A queue bound to the system's exchange with ``#``: a copy of every
    message published there, counted by message id (publisher duplicates
    show up as extra copies). It reconnects across broker faults."""

    def __init__(self, exchange: str):
        self.exchange = exchange
        self.queue = f"{exchange}.faults.tap.{uuid.uuid4().hex[:6]}"
        self.seen: dict[str, Seen] = {}
        self.anonymous: list[Seen] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def _params(self) -> pika.URLParameters:
        params = pika.URLParameters(AMQP_URL)
        params.heartbeat = 30
        params.connection_attempts = 1
        params.socket_timeout = 5
        params.client_properties = {"connection_name": f"faults.tap.{self.exchange}"}
        return params

    def start(self) -> "Tap":
        conn = pika.BlockingConnection(self._params())
        try:
            channel = conn.channel()
            Topology(self.exchange).declare_exchanges(channel)
            channel.queue_declare(self.queue, durable=True, arguments={"x-queue-type": "quorum"})
            channel.queue_bind(self.queue, self.exchange, routing_key="#")
        finally:
            conn.close()
        self._thread = threading.Thread(target=self._run, name="tap", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stopping.is_set():
            conn = None
            try:
                conn = pika.BlockingConnection(self._params())
                channel = conn.channel()
                channel.basic_qos(prefetch_count=200)
                for method, properties, body in channel.consume(self.queue, inactivity_timeout=0.2):
                    if self._stopping.is_set():
                        break
                    if method is None:
                        continue
                    self._record(method, properties, body)
                    channel.basic_ack(method.delivery_tag)
            except (AMQPError, OSError):
                self._stopping.wait(0.5)
            finally:
                if conn is not None and conn.is_open:
                    try:
                        conn.close()
                    except AMQPError:
                        pass

    def _record(self, method, properties, body: bytes) -> None:
        message_id = properties.message_id
        with self._lock:
            if not message_id:
                self.anonymous.append(Seen("", method.routing_key, properties.app_id, body))
                return
            known = self.seen.get(message_id)
            if known is None:
                self.seen[message_id] = Seen(message_id, method.routing_key, properties.app_id, body)
            elif not method.redelivered:
                # A redelivery to the tap itself (its connection dropped before
                # the ack) is not a second publication.
                known.copies += 1

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            conn = pika.BlockingConnection(self._params())
            conn.channel().queue_delete(self.queue)
            conn.close()
        except AMQPError:
            pass

    def snapshot(self) -> dict[str, Seen]:
        with self._lock:
            return {k: Seen(v.message_id, v.routing_key, v.origin, v.body, v.copies) for k, v in self.seen.items()}

    def ids_for(self, incidencia_id: str, tipo: str | None = None) -> list[str]:
        return [s.message_id for s in self.snapshot().values()
                if (s.snapshot or {}).get("id") == incidencia_id and (tipo is None or s.routing_key == tipo)]

    def wait_quiet(self, quiet: float = 1.0, timeout: float = 30.0) -> None:
        """Until no new copy arrived for ``quiet`` seconds."""
        def total() -> int:
            with self._lock:
                return sum(s.copies for s in self.seen.values()) + len(self.anonymous)

        deadline = time.monotonic() + timeout
        last, since = total(), time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = total()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return


# -- load --------------------------------------------------------------------------

@dataclass
class Attempt:
    started: float
    latency: float
    status: int | None
    error: str | None = None


@dataclass
class Request:
    """One incident a customer wants opened: one Idempotency-Key, one or more attempts."""

    n: int
    key: str
    cliente: dict
    scheduled: float
    attempts: list[Attempt] = field(default_factory=list)
    incidencia_id: str | None = None

    @property
    def status(self) -> int | None:
        return self.attempts[-1].status if self.attempts else None

    @property
    def answered(self) -> bool:
        return self.status == 201


class Load:
    """Customers opening incidents at a steady rate: bounded in count and in
    time, only against 127.0.0.1. With ``retry_for`` a request that got no
    answer (or a 5xx) is retried with the same Idempotency-Key."""

    def __init__(self, api: Api, clientes: list[dict], categoria: str, *, rate: float, duration: float,
                 max_requests: int, timeout: float = 10.0, retry_for: float = 0.0, concurrency: int = 8):
        assert api.system.urls["apertura"].startswith("http://127.0.0.1:")
        self.url = api.url("apertura", "/incidencias")
        self.clientes = clientes
        self.categoria = categoria
        self.rate = rate
        self.duration = duration
        self.max_requests = max_requests
        self.timeout = timeout
        self.retry_for = retry_for
        self.requests: list[Request] = []
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load")
        self._http = httpx.Client(timeout=timeout, limits=httpx.Limits(max_connections=concurrency))
        self._stopping = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "Load":
        self._scheduler = threading.Thread(target=self._schedule, name="load-scheduler", daemon=True)
        self._scheduler.start()
        return self

    def _schedule(self) -> None:
        start = time.monotonic()
        for n in range(self.max_requests):
            due = start + n / self.rate
            if due - start > self.duration or self._stopping.is_set():
                break
            delay = due - time.monotonic()
            if delay > 0 and self._stopping.wait(delay):  # pacing the steady rate
                break
            request = Request(n, f"faults-{uuid.uuid4().hex}", self.clientes[n % len(self.clientes)], due)
            with self._lock:
                self.requests.append(request)
            self._pool.submit(self._send, request)

    def _send(self, request: Request) -> None:
        deadline = time.monotonic() + self.retry_for
        body = incident_body(self.categoria, request.n)
        while True:
            started = time.monotonic()
            try:
                response = self._http.post(self.url, json=body, headers={
                    "Authorization": f"Bearer {request.cliente['token']}", "Idempotency-Key": request.key})
                attempt = Attempt(started, time.monotonic() - started, response.status_code)
                if response.status_code == 201:
                    request.incidencia_id = response.json()["id"]
            except httpx.HTTPError as exc:
                attempt = Attempt(started, time.monotonic() - started, None, f"{type(exc).__name__}: {exc}")
            request.attempts.append(attempt)
            retryable = attempt.status is None or attempt.status >= 500
            if attempt.status == 201 or not retryable or time.monotonic() >= deadline:
                return
            time.sleep(0.05)

    def join(self, timeout: float = 120.0) -> list[Request]:
        if self._scheduler is not None:
            self._scheduler.join(timeout)
        self._pool.shutdown(wait=True)
        self._http.close()
        return list(self.requests)

    def stop(self) -> None:
        self._stopping.set()

    def run(self, timeout: float = 120.0) -> list[Request]:
        return self.start().join(timeout)


def settle(api: Api, timeout: float = 60.0) -> None:
    """Until every outbox of the system is empty (everything published)."""
    wait_until(lambda: all(v == 0 for v in api.pending_events().values()), timeout=timeout,
               interval=0.2, message="every outbox empty")


# -- a port that can be closed and opened ----------------------------------------------

class Gate:
    """A port on 127.0.0.1 that refuses connections until ``open()``, then
    forwards each one to ``target`` (a database behind a switch)."""

    def __init__(self, target_host: str, target_port: int):
        from tests.helpers import free_port

        self.port = free_port()
        self.target = (target_host, target_port)
        self._listener = None
        self._sockets: list = []
        self._lock = threading.Lock()

    def open(self) -> None:
        import socket

        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener) -> None:
        import socket

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
