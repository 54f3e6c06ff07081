"""The system under test, started as ``make run`` starts it (every line of
Procfile.dev as its own process) through the end-to-end tests' ``System``,
plus the bare Flask app of the ceiling under the same gunicorn settings.

Everything listens on 127.0.0.1 on free ports, with a data directory and an
exchange of its own; ``cleanup_broker`` deletes that exchange's queues and
exchanges afterwards.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pika

from common.messaging.broker import connect
from tests.e2e.system import ROOT, System, procfile_lines
from tests.helpers import free_port, wait_until

SERVICE_OF = {
    "clientes": "clientes", "apertura": "incidencias_apertura",
    "resolucion": "incidencias_resolucion", "empleados": "empleados",
}
# Queues the workers declare: <exchange>.<service>.<consumer>
CONSUMERS = {
    "clientes": ("empleados",),
    "incidencias_apertura": ("incidencias", "clientes"),
    "incidencias_resolucion": ("incidencias", "empleados", "clientes"),
}
MONGO_VARIABLES = {
    "clientes": "CLIENTES_MONGO_URL", "apertura": "APERTURA_MONGO_URL",
    "resolucion": "RESOLUCION_MONGO_URL", "empleados": "EMPLEADOS_MONGO_URL",
}


class BenchSystem(System):
    """``System`` with one MongoDB database per service when asked
    (``CLIENTES_MONGO_URL``, ``APERTURA_MONGO_URL``, ``RESOLUCION_MONGO_URL``,
    ``EMPLEADOS_MONGO_URL``), and the bare ceiling app."""

    mongo_urls: dict[str, str] = {}
    bare: subprocess.Popen | None = None
    bare_port: int = 0

    @classmethod
    def create(cls, workdir: Path, mongo_urls: dict[str, str] | None = None, **env: str) -> "BenchSystem":
        system = cls.prepare(workdir, EXCHANGE=f"bench.{uuid.uuid4().hex[:8]}", **env)
        system.mongo_urls = dict(mongo_urls or {})
        return system

    @property
    def storage(self) -> str:
        return "mongodb" if self.mongo_urls else "sqlite"

    def start(self, names: list[str] | None = None) -> None:
        if not self.mongo_urls:
            return super().start(names)
        # As System.start, but each process with its own service's MONGO_URL.
        shared = self.env
        try:
            for name in names or list(procfile_lines()):
                self.env = {**shared, "MONGO_URL": self.mongo_urls[name.removesuffix("_worker")]}
                log = self.workdir / f"{name}.log"
                self.logs[name] = log
                self.processes[name] = subprocess.Popen(
                    ["bash", "-c", procfile_lines()[name]], cwd=ROOT, env=self.env,
                    stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
                )
        finally:
            self.env = shared
        self.wait_ready()

    def storage_url(self, name: str) -> str:
        if self.mongo_urls:
            return self.mongo_urls[name]
        return f"sqlite:///{Path(self.env['DATA_DIR']).resolve() / (SERVICE_OF[name] + '.sqlite3')}"

    # -- the ceiling app ----------------------------------------------------------
    def start_bare(self) -> str:
        self.bare_port = free_port()
        log = self.workdir / "bare.log"
        self.bare = subprocess.Popen(
            ["gunicorn", "--config", "python:common.gunicorn_config", "bench.bare_app:create_app()"],
            cwd=ROOT, env={**self.env, "PORT": str(self.bare_port)},
            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{self.bare_port}"
        wait_until(lambda: httpx.get(f"{url}/salud", timeout=2).status_code == 200,
                   timeout=30, interval=0.1, message="bare app ready")
        return url

    def stop_all(self) -> None:
        if self.bare is not None and self.bare.poll() is None:
            os.killpg(self.bare.pid, signal.SIGTERM)
            try:
                self.bare.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.bare.pid, signal.SIGKILL)
        self.stop()

    def sessions(self) -> dict[str, int]:
        """Procfile line (or ``bare``) -> its session id."""
        named = {name: p.pid for name, p in self.processes.items()}
        if self.bare is not None:
            named["bare"] = self.bare.pid
        return named

    def session_ids(self) -> list[int]:
        pids = [p.pid for p in self.processes.values()]
        if self.bare is not None:
            pids.append(self.bare.pid)
        return pids

    def pids_of(self, name: str) -> list[int]:
        """Every process of one Procfile line (the gunicorn master and its workers)."""
        return processes_in_session(self.processes[name].pid)

    # -- the broker -----------------------------------------------------------------
    @property
    def exchange(self) -> str:
        return self.env["EXCHANGE"]

    @property
    def amqp_url(self) -> str:
        return self.env.get("AMQP_URL") or self.env.get("CLOUDAMQP_URL") or "amqp://guest:guest@localhost:5672/"

    def queue_depths(self) -> dict[str, int]:
        """Ready messages in the incident services' queues."""
        depths = {}
        connection = connect(self.amqp_url, "bench.depths")
        try:
            for service, consumers in CONSUMERS.items():
                for consumer in consumers:
                    queue = f"{self.exchange}.{service}.{consumer}"
                    channel = connection.channel()
                    try:
                        depths[queue] = channel.queue_declare(queue, passive=True).method.message_count
                        channel.close()
                    except pika.exceptions.ChannelClosedByBroker:
                        depths[queue] = 0
        finally:
            connection.close()
        return depths

    def cleanup_broker(self) -> None:
        """Delete the queues and exchanges this run's exchange name made."""
        ex = self.exchange
        queues = [f"{ex}.unrouted"]
        for service, consumers in CONSUMERS.items():
            for consumer in consumers:
                queues += [f"{ex}.{service}.{consumer}", f"{ex}.{service}.{consumer}.dlq"]
        for attempt in range(150):  # up to 5 minutes: a fault test may have stopped the broker
            try:
                connection = connect(self.amqp_url, "bench.cleanup")
                break
            except Exception:  # noqa: BLE001 - the broker may be restarting: wait for it
                time.sleep(2)
        else:
            print(f"  could not reach RabbitMQ to delete {ex}.* (delete them by hand)")
            return
        try:
            for queue in queues:
                channel = connection.channel()
                try:
                    channel.queue_delete(queue)
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:
                    pass
            for exchange in (ex, f"{ex}.dlx", f"{ex}.unrouted"):
                channel = connection.channel()
                try:
                    channel.exchange_delete(exchange)
                    channel.close()
                except pika.exceptions.ChannelClosedByBroker:
                    pass
        finally:
            connection.close()


def processes_in_session(sid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # field 6 of stat: session id
            found.append(int(entry))
    return sorted(found)


def session_cpu(sids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of the live processes of each session."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals = {sid: 0 for sid in sids}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        sid = int(fields[3])
        if sid in totals:
            totals[sid] += int(fields[11]) + int(fields[12])  # utime, stime
    return {sid: value / ticks for sid, value in totals.items()}


def broker_cpu() -> float:
    """CPU seconds of the local RabbitMQ (its Erlang VM, ``beam.smp``)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() != "beam.smp":
                continue
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / ticks


def session_cpu_seconds(sids: list[int]) -> float:
    return sum(session_cpu(sids).values())


def machine_cpu() -> tuple[float, float]:
    """(busy, total) seconds of all cores since boot, from /proc/stat."""
    ticks = os.sysconf("SC_CLK_TCK")
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values) - idle) / ticks, sum(values) / ticks


class CpuMeter:
    """Where the CPU went during a phase: the system under test, the load
    generator (this process), the local RabbitMQ and everything else on the
    machine."""

    def __init__(self, system: BenchSystem):
        self.system = system

    def __enter__(self) -> "CpuMeter":
        self.start = (time.monotonic(), session_cpu(self.system.session_ids()),
                      time.process_time(), machine_cpu(), broker_cpu())
        return self

    def __exit__(self, *_exc) -> None:
        wall0, sut0, gen0, (busy0, total0), broker0 = self.start
        broker = broker_cpu() - broker0
        busy1, total1 = machine_cpu()
        wall = time.monotonic() - wall0
        cores = os.cpu_count() or 1
        now = session_cpu(self.system.session_ids())
        by_name = {name: now.get(sid, 0.0) - sut0.get(sid, 0.0) for name, sid in self.system.sessions().items()}
        sut = sum(by_name.values())
        gen = time.process_time() - gen0
        busy = busy1 - busy0
        self.seconds = {**by_name, "load_generator": gen, "rabbitmq": broker}
        self.result = {
            "wall_s": round(wall, 2),
            "machine_busy_pct": round(100 * busy / max(total1 - total0, 1e-9), 1),
            "system_under_test_cores": round(sut / wall, 2),
            "load_generator_cores": round(gen / wall, 2),
            "broker_cores": round(broker / wall, 2),
            "others_cores": round(max(busy - sut - gen - broker, 0) / wall, 2),
            "cores": cores,
            "by_process_cores": {name: round(v / wall, 3) for name, v in by_name.items()},
        }
