"""The system under test, started as ``make run`` starts it (every line of
Procfile.dev as its own process) by the harness's launcher, plus the bare
Flask app of the ceiling under the same gunicorn settings.

Everything listens on 127.0.0.1 on free ports, with a data directory and an
exchange of its own (``bench.<random>``), on the storage the harness chose
from the environment; ``dispose`` deletes that exchange's queues and
exchanges (and the databases it made) afterwards. Where the CPU goes while it runs
is ``bench.cpu``'s.
"""
from __future__ import annotations

import os
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from harness import ROOT, System, free_port, wait_until


@dataclass
class BenchSystem(System):
    """``System`` (on SQLite or MongoDB as the harness reads the environment:
    ``MONGO_URL``, or each service's ``*_MONGO_URL``) plus the bare ceiling app."""

    bare: subprocess.Popen | None = None
    bare_port: int = 0

    @classmethod
    def prepare(cls, workdir: Path, mongo_urls: dict[str, str] | None = None, **env: str) -> "BenchSystem":
        return super().prepare(workdir, mongo_urls, **{"EXCHANGE": f"bench.{uuid.uuid4().hex[:8]}", **env})

    def boot(self) -> None:
        self.start()
        self.start_bare()

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
