"""The whole system started the way `make run` starts it: every line of
Procfile.dev as its own process (gunicorn web servers with several workers,
and the workers), on free ports on 127.0.0.1, with a data directory, a key
directory and a RabbitMQ exchange of its own. The portal is one of the web
processes: it gets its own port and the four APIs' addresses.

``urls`` holds the four APIs (what ``Driver`` talks to); ``portal_url`` the
portal; ``web_urls`` all five.

Storage: SQLite files in the data directory, unless MongoDB is asked for.
``CLIENTES_MONGO_URL``, ``APERTURA_MONGO_URL``, ``RESOLUCION_MONGO_URL`` and
``EMPLEADOS_MONGO_URL`` give each service its database; with ``MONGO_URL``
(or ``MONGODB_URI``) alone, each launch gets a database per service of its
own on that server (``<database>_<run>_<service>``), dropped by ``dispose``.
Each service's web and worker processes are started with their service's
URL as ``MONGO_URL``; the portal has no storage.

Mail: every system has its own SMTP server, ``mailbox`` (``harness.mailbox``:
it keeps what the services send, in memory), started with the first process
and stopped by ``dispose``; the services' ``SMTP_URL`` points at it and their
``PORTAL_URL`` at the system's portal, so the links in the mails work. Given
an ``SMTP_URL`` of its own, a system has no mailbox.

``System.launch`` starts it (again on other ports when one was taken in the
meantime); ``dispose`` stops every process and removes the exchange's
queues and exchanges from the shared broker (and the databases it made). In
between, single processes can be signalled, stopped, waited for and started
again with other environment variables.
"""
from __future__ import annotations

import errno
import logging
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import urlsplit, urlunsplit

import httpx
import pika

from . import processes
from .mailbox import Mailbox
from .polling import free_port, wait_until

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
# The API processes of Procfile.dev and the variable that sets each one's port.
PORT_VARIABLES = {
    "clientes": "CLIENTES_PORT", "apertura": "APERTURA_PORT",
    "resolucion": "RESOLUCION_PORT", "empleados": "EMPLEADOS_PORT",
}
# Where the portal calls each API (its settings).
API_URL_VARIABLES = {
    "clientes": "CLIENTES_URL", "apertura": "APERTURA_URL",
    "resolucion": "RESOLUCION_URL", "empleados": "EMPLEADOS_URL",
}
# The portal: its Procfile.dev line and the variable that sets its port.
PORTAL = "portal"
PORTAL_PORT_VARIABLE = "PORTAL_PORT"
# Procfile.dev's name of a service -> the service's package (its SQLite file, its queues).
SERVICE_PACKAGES = {
    "clientes": "clientes", "apertura": "incidencias_apertura",
    "resolucion": "incidencias_resolucion", "empleados": "empleados",
}
# What the workers declare, ``<exchange>.<package>.<consumer>``: deleted at the
# end when the broker's own list of queues cannot be read (no rabbitmqctl).
WORKER_QUEUES = {
    "clientes": ("empleados",),
    "incidencias_apertura": ("incidencias", "clientes"),
    "incidencias_resolucion": ("incidencias", "empleados", "clientes"),
}
# The variable that gives each service its own MongoDB database.
MONGO_VARIABLES = {
    "clientes": "CLIENTES_MONGO_URL", "apertura": "APERTURA_MONGO_URL",
    "resolucion": "RESOLUCION_MONGO_URL", "empleados": "EMPLEADOS_MONGO_URL",
}
# One server for all of them (what the services themselves read: common/config.py).
SHARED_MONGO_VARIABLES = ("MONGO_URL", "MONGODB_URI")
ADMIN_EMAIL = "admin@e2e.test"
ADMIN_PASSWORD = "Gestion-e2e-2026"
DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
# What a web server logs when its port was taken between choosing and binding it.
PORT_TAKEN = ("Address already in use", "Connection in use")


def procfile_lines() -> dict[str, str]:
    """Procfile.dev's process name -> its command."""
    lines = {}
    for raw in (ROOT / "Procfile.dev").read_text().splitlines():
        match = re.match(r"^([\w-]+):\s*(.+)$", raw)
        if match:
            lines[match.group(1)] = match.group(2)
    return lines


class ProcessDied(RuntimeError):
    """A process of the system exited while it should be running."""


class NoSQLiteFile(LookupError):
    """The system runs on MongoDB: a service has no SQLite file to act on."""


def database_url(url: str, database: str) -> str:
    """``url`` (``mongodb://`` or ``mongodb+srv://``) naming ``database``
    instead of its own. A URL with credentials keeps authenticating where its
    account is defined (its own database, or admin) through ``authSource``."""
    parts = urlsplit(url)
    query = parts.query
    if parts.username is not None and "authsource=" not in query.lower():
        source = f"authSource={parts.path.strip('/') or 'admin'}"
        query = f"{query}&{source}" if query else source
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", query, ""))


def mongo_databases(env: Mapping[str, str], run: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """Each service's MongoDB URL for a system started with ``env`` (empty:
    SQLite), and the services whose database was made for this run ``run``
    (to drop at the end). A service's own ``*_MONGO_URL`` first; otherwise a
    database of its own, ``<database>_<run>_<service>``, on the server of
    ``MONGO_URL``."""
    urls = {name: env[variable] for name, variable in MONGO_VARIABLES.items() if env.get(variable)}
    shared = next((env[v] for v in SHARED_MONGO_VARIABLES if env.get(v)), None)
    if not urls and not shared:
        return {}, ()
    missing = [name for name in MONGO_VARIABLES if name not in urls]
    if missing and not shared:
        raise ValueError(f"set {', '.join(MONGO_VARIABLES[n] for n in missing)} too, or MONGO_URL: "
                         "every service on MongoDB or none")
    base = (urlsplit(shared).path.strip("/") if shared else "") or "incidencias"
    for name in missing:
        urls[name] = database_url(shared, f"{base[:30]}_{run}_{name}")
    return urls, tuple(missing)


@dataclass
class System:
    workdir: Path
    env: dict[str, str]
    urls: dict[str, str]
    portal_url: str = ""
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)
    # Procfile.dev's name of a service -> its MongoDB URL (empty: SQLite).
    mongo_urls: dict[str, str] = field(default_factory=dict)
    # The services whose database this system made, and drops at dispose.
    made_databases: tuple[str, ...] = ()
    # The SMTP server the services send to (None: the environment named another).
    mailbox: Mailbox | None = None
    mailbox_started: bool = False  # once; after that only a test stops or starts it
    mailbox_port_taken: bool = False

    # -- starting ------------------------------------------------------------
    @classmethod
    def prepare(cls, workdir: Path, mongo_urls: Mapping[str, str] | None = None, **overrides: str) -> "System":
        """Ports, directories and environment chosen; nothing started yet.
        The storage comes from the environment (see the module's docstring)
        unless ``mongo_urls`` names each service's database."""
        ports = {name: free_port() for name in PORT_VARIABLES}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        portal_port = free_port()
        mailbox = None if "SMTP_URL" in overrides else Mailbox()
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(ROOT),
            "DATA_DIR": str(workdir / "data"),
            "KEYS_DIR": str(workdir / "keys"),
            "EXCHANGE": f"e2e.{uuid.uuid4().hex[:8]}",
            "WEB_CONCURRENCY": "2",
            "CLIENTES_JWKS_URL": f"{urls['clientes']}/.well-known/jwks.json",
            "EMPLEADOS_JWKS_URL": f"{urls['empleados']}/.well-known/jwks.json",
            "ADMIN_EMAIL": ADMIN_EMAIL,
            "ADMIN_PASSWORD": ADMIN_PASSWORD,
            "LOG_LEVEL": "INFO",
            **{PORT_VARIABLES[name]: str(port) for name, port in ports.items()},
            **{API_URL_VARIABLES[name]: url for name, url in urls.items()},
            PORTAL_PORT_VARIABLE: str(portal_port),
            "PORTAL_URL": f"http://127.0.0.1:{portal_port}",
            # Quick looks and retries: a test waits seconds, not minutes, for a mail after an outage;
            # a short SMTP timeout keeps a sender's claims short (the minimum, 60 s), so the mails a
            # killed worker held are sent again within a minute.
            "MAIL_INTERVAL": "0.2", "MAIL_RETRY_BASE": "0.5", "MAIL_RETRY_MAX": "5", "SMTP_TIMEOUT": "2",
            **({"SMTP_URL": mailbox.url} if mailbox else {}),
            **overrides,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        if mongo_urls:
            databases, made = dict(mongo_urls), ()
        else:
            databases, made = mongo_databases(env, uuid.uuid4().hex[:8])
        # The MongoDB variables stay as they were (they say what the run is on,
        # harness/provenance.py); each service's processes get their own
        # database as MONGO_URL on top (process_env).
        return cls(workdir, env, urls, portal_url=f"http://127.0.0.1:{env[PORTAL_PORT_VARIABLE]}",
                   mongo_urls=databases, made_databases=made, mailbox=mailbox)

    @property
    def web_urls(self) -> dict[str, str]:
        """Every web process of Procfile.dev -> its base URL: the four APIs and the portal."""
        return {**self.urls, PORTAL: self.portal_url}

    @classmethod
    def launch(cls, workdir: Path, attempts: int = 3, **overrides) -> "System":
        """A system prepared in ``workdir/system<n>`` and started with ``boot``;
        prepared and started again on other ports when a port was taken in
        the meantime (other systems start on this machine too)."""
        for attempt in range(1, attempts + 1):
            directory = workdir / f"system{attempt}"
            directory.mkdir(parents=True, exist_ok=True)
            system = cls.prepare(directory, **overrides)
            try:
                system.boot()
                return system
            except BaseException:
                collided = system.port_taken()
                system.dispose()
                if not collided or attempt == attempts:
                    raise
                log.warning("a port of the system was taken meanwhile; starting again on other ports")
        raise AssertionError("unreachable")

    def boot(self) -> None:
        """Everything ``launch`` starts: every line of Procfile.dev."""
        self.start()

    def process_env(self, name: str) -> dict[str, str]:
        """The environment process ``name`` starts with: a service's web and
        worker processes with the service's MongoDB URL, when it has one."""
        env = dict(self.env)
        url = self.mongo_urls.get(name.removesuffix("_worker"))
        if url:
            env["MONGO_URL"] = url
        return env

    def start(self, names: list[str] | None = None, env: dict[str, str] | None = None, wait: bool = True) -> None:
        """Start these Procfile.dev lines (all of them by default), with ``env``
        on top of their environment; with ``wait``, until every web process
        started so far answers its readiness check. The first call starts the
        mailbox too."""
        self.start_mailbox()
        lines = procfile_lines()
        for name in names or list(lines):
            self._spawn(name, name, lines[name], env)
        if wait:
            self.wait_ready()

    def start_another(self, name: str, copy: str, env: dict[str, str] | None = None) -> None:
        """One more process of Procfile.dev's line ``name`` (a second worker
        of a service, competing on its queues), known here as ``copy``."""
        self._spawn(copy, name, procfile_lines()[name], env)

    def _spawn(self, label: str, name: str, command: str, env: dict[str, str] | None) -> None:
        log_path = self.workdir / f"{label}.log"
        self.logs[label] = log_path
        self.processes[label] = subprocess.Popen(
            ["bash", "-c", command], cwd=ROOT, env={**self.process_env(name), **(env or {})},
            stdout=log_path.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )

    def start_mailbox(self) -> None:
        """The system's SMTP server, once (a test that stops it starts it again itself)."""
        if self.mailbox is None or self.mailbox_started:
            return
        try:
            self.mailbox.start()
        except OSError as exc:
            self.mailbox_port_taken = exc.errno == errno.EADDRINUSE
            raise
        self.mailbox_started = True

    def restart(self, name: str, env: dict[str, str] | None = None, wait: bool = True) -> None:
        if name in self.processes:
            self.stop(name)
        self.start([name], env, wait)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until every web process started so far is ready: each API's
        ``/salud``; the portal's ``/salud`` (it reaches the four APIs) when
        every API runs, else its ``/salud/vivo`` (an API stopped on purpose
        keeps the portal not ready)."""
        for name, url in self.web_urls.items():
            if name not in self.processes:
                continue
            path = "/salud"
            if name == PORTAL and not all(api in self.processes for api in self.urls):
                path = "/salud/vivo"

            def ready(url: str = url, path: str = path) -> bool:
                self.check_alive()
                return httpx.get(f"{url}{path}", timeout=5).status_code == 200

            wait_until(ready, timeout=timeout, interval=0.1, message=f"{name} ready", give_up_on=(ProcessDied,))

    # -- watching ----------------------------------------------------------------
    def check_alive(self) -> None:
        """Raise ProcessDied if a started process has exited."""
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise ProcessDied(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def log_text(self, name: str) -> str:
        return self.logs[name].read_text(errors="replace") if name in self.logs else ""

    def tail(self, name: str, lines: int = 40) -> str:
        return "\n".join(self.log_text(name).splitlines()[-lines:])

    def port_taken(self) -> bool:
        """Whether a web server (or the mailbox) could not bind its port."""
        return self.mailbox_port_taken or any(
            marker in self.log_text(name) for name in self.logs for marker in PORT_TAKEN)

    def pid(self, name: str) -> int:
        """The process ``name`` (also its process group and session)."""
        return self.processes[name].pid

    def children(self, name: str) -> list[int]:
        """The live processes whose parent is ``name``'s (gunicorn's workers, for a web process)."""
        parent = self.pid(name)
        return sorted(p.pid for p in processes.table().values() if p.ppid == parent and p.state != "Z")

    @property
    def exchange(self) -> str:
        return self.env["EXCHANGE"]

    @property
    def amqp_url(self) -> str:
        return self.env.get("AMQP_URL") or self.env.get("CLOUDAMQP_URL") or DEFAULT_AMQP_URL

    @property
    def storage(self) -> str:
        """What the services run on: ``mongodb`` or ``sqlite``."""
        return "mongodb" if self.mongo_urls else "sqlite"

    def storage_url(self, name: str) -> str:
        """Service ``name``'s storage URL, as its processes open it (``common.storage.open_store``)."""
        if self.mongo_urls:
            return self.mongo_urls[name]
        return f"sqlite:///{self.db_path(name).resolve()}"

    def db_path(self, name: str) -> Path:
        """The SQLite file of service ``name`` (NoSQLiteFile on MongoDB)."""
        if self.mongo_urls:
            raise NoSQLiteFile(f"{name} runs on MongoDB here; there is no SQLite file to act on")
        return Path(self.env["DATA_DIR"]) / f"{SERVICE_PACKAGES[name]}.sqlite3"

    # -- stopping ------------------------------------------------------------------
    def kill(self, name: str, signum: int = signal.SIGKILL) -> None:
        """Signal every process of ``name`` (its process group) at once."""
        os.killpg(self.pid(name), signum)

    def wait_exit(self, name: str, timeout: float) -> int:
        """Until ``name`` (signalled before) exits; its exit status."""
        process = self.processes.pop(name)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
            raise AssertionError(f"{name} did not exit within {timeout}s of its signal") from None

    def stop(self, name: str | None = None, timeout: float = 20.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``: one process, or all of them."""
        for proc_name in [name] if name else list(self.processes):
            process = self.processes.pop(proc_name)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)

    def dispose(self, wait_for_broker: float = 0.0) -> None:
        """Stop every process, then remove the system's queues and exchanges
        (best effort: the broker may be the thing that failed)."""
        self.stop()
        if self.mailbox is not None:
            self.mailbox.stop()
        try:
            self.delete_broker_objects(wait_for_broker)
        except Exception as exc:  # noqa: BLE001 - leftovers are reported, never fatal
            print(f"could not delete the broker objects of {self.exchange}: {exc}")
        self.drop_databases()

    def drop_databases(self) -> None:
        """Drop the MongoDB databases this system made (best effort, reported)."""
        if not self.made_databases:
            return
        from pymongo import MongoClient

        for name in self.made_databases:
            try:
                with MongoClient(self.mongo_urls[name], serverSelectionTimeoutMS=5000) as client:
                    client.drop_database(client.get_default_database().name)
            except Exception as exc:  # noqa: BLE001 - leftovers are reported, never fatal
                print(f"could not drop the MongoDB database of {name}: {exc}")

    def delete_broker_objects(self, wait_for_broker: float = 0.0) -> None:
        """Remove this system's queues and exchanges: quorum queues left behind
        by every run would pile up on the shared broker. Waits up to
        ``wait_for_broker`` seconds for a broker that is down (restarting)."""
        exchange = self.exchange
        connection = self._connect(wait_for_broker)
        try:
            channel = connection.channel()
            for queue in sorted(self._queues()):
                try:
                    channel.queue_delete(queue)
                except pika.exceptions.ChannelClosedByBroker:
                    channel = connection.channel()
            for name in (exchange, f"{exchange}.dlx", f"{exchange}.unrouted"):
                try:
                    channel.exchange_delete(name)
                except pika.exceptions.ChannelClosedByBroker:
                    channel = connection.channel()
        finally:
            connection.close()

    def _connect(self, wait: float) -> pika.BlockingConnection:
        params = pika.URLParameters(self.amqp_url)
        params.client_properties = {"connection_name": f"{self.exchange}.cleanup"}
        deadline = time.monotonic() + wait
        while True:
            try:
                return pika.BlockingConnection(params)
            except pika.exceptions.AMQPError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(2)  # the broker may be restarting: try again until the deadline

    def _queues(self) -> set[str]:
        """Every queue named after this system's exchange, as the broker lists
        them; the ones the workers declare when the list cannot be read."""
        prefix = f"{self.exchange}."
        try:
            listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True,
                                    text=True, timeout=60)
            if listed.returncode == 0:
                return {q.strip() for q in listed.stdout.splitlines() if q.strip().startswith(prefix)}
        except (OSError, subprocess.TimeoutExpired):
            pass
        queues = {f"{prefix}unrouted"}
        for package, consumers in WORKER_QUEUES.items():
            for consumer in consumers:
                queues |= {f"{prefix}{package}.{consumer}", f"{prefix}{package}.{consumer}.dlq"}
        return queues
