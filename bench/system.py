"""The system under test, started as ``make run`` starts it (every line of
Procfile.dev as its own process) by the harness's launcher, plus the bare
Flask app of the ceiling under the same gunicorn settings.

Everything listens on 127.0.0.1 on free ports, with a data directory and an
exchange of its own (``bench.<random>``); ``dispose`` deletes that
exchange's queues and exchanges afterwards.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness import ROOT, SERVICE_PACKAGES, System, free_port, wait_until

MONGO_VARIABLES = {
    "clientes": "CLIENTES_MONGO_URL", "apertura": "APERTURA_MONGO_URL",
    "resolucion": "RESOLUCION_MONGO_URL", "empleados": "EMPLEADOS_MONGO_URL",
}


@dataclass
class BenchSystem(System):
    """``System`` with one MongoDB database per service when asked
    (``CLIENTES_MONGO_URL``, ``APERTURA_MONGO_URL``, ``RESOLUCION_MONGO_URL``,
    ``EMPLEADOS_MONGO_URL``), and the bare ceiling app."""

    mongo_urls: dict[str, str] = field(default_factory=dict)
    bare: subprocess.Popen | None = None
    bare_port: int = 0

    @classmethod
    def prepare(cls, workdir: Path, mongo_urls: dict[str, str] | None = None, **env: str) -> "BenchSystem":
        system = super().prepare(workdir, **{"EXCHANGE": f"bench.{uuid.uuid4().hex[:8]}", **env})
        system.mongo_urls = dict(mongo_urls or {})
        return system

    def boot(self) -> None:
        self.start()
        self.start_bare()

    @property
    def storage(self) -> str:
        return "mongodb" if self.mongo_urls else "sqlite"

    def process_env(self, name: str) -> dict[str, str]:
        # Each process with its own service's MONGO_URL; the portal has no storage.
        if not self.mongo_urls or name == "portal":
            return super().process_env(name)
        return {**self.env, "MONGO_URL": self.mongo_urls[name.removesuffix("_worker")]}

    def storage_url(self, name: str) -> str:
        if self.mongo_urls:
            return self.mongo_urls[name]
        return f"sqlite:///{Path(self.env['DATA_DIR']).resolve() / (SERVICE_PACKAGES[name] + '.sqlite3')}"

    # -- the ceiling app ----------------------------------------------------------
    def start_bare(self) -> str:
        self.bare_port = free_port()
        log = self.workdir / "bare.log"
        self.logs["bare"] = log
        self.bare = subprocess.Popen(
            ["gunicorn", "--config", "python:common.gunicorn_config", "bench.bare_app:create_app()"],
            cwd=ROOT, env={**self.env, "PORT": str(self.bare_port)},
            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
        )
        url = f"http://127.0.0.1:{self.bare_port}"
        wait_until(lambda: httpx.get(f"{url}/salud", timeout=2).status_code == 200,
                   timeout=30, interval=0.1, message="bare app ready")
        return url

    def stop(self, name: str | None = None, timeout: float = 20.0) -> None:
        if name is None and self.bare is not None and self.bare.poll() is None:
            os.killpg(self.bare.pid, signal.SIGTERM)
            try:
                self.bare.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.bare.pid, signal.SIGKILL)
        super().stop(name, timeout)

    def sessions(self) -> dict[str, int]:
        """Procfile line (or ``bare``) -> its session id."""
        named = {name: p.pid for name, p in self.processes.items()}
        if self.bare is not None:
            named["bare"] = self.bare.pid
        return named

    def session_ids(self) -> list[int]:
        return list(self.sessions().values())


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
