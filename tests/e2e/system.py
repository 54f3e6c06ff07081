"""Start the whole system the way `make run` does: every line of Procfile.dev
as its own process (gunicorn web servers with several workers, and the
workers), on free ports, with a data directory and an exchange of its own."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.helpers import free_port, wait_until

ROOT = Path(__file__).resolve().parents[2]
PORT_VARIABLES = {
    "clientes": "CLIENTES_PORT", "apertura": "APERTURA_PORT",
    "resolucion": "RESOLUCION_PORT", "empleados": "EMPLEADOS_PORT",
}
ADMIN_EMAIL = "admin@e2e.test"
ADMIN_PASSWORD = "Gestion-e2e-2026"


def procfile_lines() -> dict[str, str]:
    lines = {}
    for raw in (ROOT / "Procfile.dev").read_text().splitlines():
        match = re.match(r"^([\w-]+):\s*(.+)$", raw)
        if match:
            lines[match.group(1)] = match.group(2)
    return lines


@dataclass
class System:
    workdir: Path
    env: dict[str, str]
    urls: dict[str, str]
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def prepare(cls, workdir: Path, **overrides: str) -> "System":
        ports = {name: free_port() for name in PORT_VARIABLES}
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
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
            **overrides,
        }
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        env.pop("MONGO_URL", None)
        return cls(workdir, env, urls)

    def start(self, names: list[str] | None = None) -> None:
        lines = procfile_lines()
        for name in names or list(lines):
            log = self.workdir / f"{name}.log"
            self.logs[name] = log
            self.processes[name] = subprocess.Popen(
                ["bash", "-c", lines[name]], cwd=ROOT, env=self.env,
                stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60.0) -> None:
        for name, url in self.urls.items():
            if name not in self.processes:
                continue

            def ready() -> bool:
                self.check_alive()
                return httpx.get(f"{url}/salud", timeout=5).status_code == 200

            wait_until(ready, timeout=timeout, interval=0.1, message=f"{name} ready")

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise RuntimeError(f"{name} exited with {process.returncode}:\n{self.tail(name)}")

    def tail(self, name: str, lines: int = 40) -> str:
        text = self.logs[name].read_text(errors="replace") if name in self.logs else ""
        return "\n".join(text.splitlines()[-lines:])

    def signal(self, name: str, signum: int) -> None:
        os.killpg(self.processes[name].pid, signum)

    def delete_broker_objects(self) -> None:
        """Remove this system's queues and exchanges: quorum queues left behind
        by every test run would pile up on the shared broker."""
        import pika

        exchange = self.env["EXCHANGE"]
        listed = subprocess.run(["rabbitmqctl", "-q", "list_queues", "name"], capture_output=True,
                                text=True, timeout=60)
        queues = [q.strip() for q in listed.stdout.splitlines() if q.strip().startswith(f"{exchange}.")]
        connection = pika.BlockingConnection(pika.URLParameters(self.env.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")))
        channel = connection.channel()
        for queue in queues:
            channel.queue_delete(queue)
        for name in (exchange, f"{exchange}.dlx", f"{exchange}.unrouted"):
            channel.exchange_delete(name)
        connection.close()

    def stop(self, name: str | None = None, timeout: float = 20.0) -> None:
        for proc_name in [name] if name else list(self.processes):
            process = self.processes.pop(proc_name)
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)
