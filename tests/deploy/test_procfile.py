"""Procfile (Heroku: one app per service, chosen by SERVICE): the web command
line runs exactly as written, with the add-ons' variables, and answers /salud."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import urllib.error
import urllib.request
import uuid

import pytest

from deploy_helpers import REPO, SERVICES, VENV_BIN, free_port, wait_until


def procfile() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def heroku_env(tmp_path, service: str, port: int) -> dict[str, str]:
    """The environment of a dyno: PORT, SERVICE and the add-ons' URLs (not the project's own names)."""
    env = {key: value for key, value in os.environ.items()
           if key not in {"AMQP_URL", "MONGO_URL", "MONGODB_URI", "CLOUDAMQP_URL", "PROMETHEUS_MULTIPROC_DIR"}}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "SERVICE": service,
        "WEB_CONCURRENCY": "2",
        "DATA_DIR": str(tmp_path / "data"),
        "KEYS_DIR": str(tmp_path / "keys"),
        "CLOUDAMQP_URL": os.environ.get("AMQP_URL") or os.environ.get("CLOUDAMQP_URL")
        or "amqp://guest:guest@localhost:5672/",
    })
    if os.environ.get("MONGO_URL"):  # a real MongoDB is available: use it as the add-on would
        base, _, query = os.environ["MONGO_URL"].partition("?")
        scheme, _, rest = base.partition("://")
        host = rest.split("/", 1)[0]
        env["MONGODB_URI"] = f"{scheme}://{host}/procfile_{uuid.uuid4().hex[:10]}" + (f"?{query}" if query else "")
    return env


def test_procfile_declares_web_and_worker_from_service():
    entries = procfile()
    assert set(entries) == {"web", "worker"}
    assert re.fullmatch(
        r'gunicorn --config python:common\.gunicorn_config "\$\{SERVICE:\?[^}]+\}\.app:create_app\(\)"',
        entries["web"]), entries["web"]
    assert re.fullmatch(r'python -m "\$\{SERVICE:\?[^}]+\}\.worker"', entries["worker"]), entries["worker"]
    assert "PORT" not in entries["web"], "gunicorn's configuration reads PORT itself"


@pytest.mark.parametrize("process", ["web", "worker"])
def test_a_missing_service_variable_is_a_clear_error(process):
    env = {key: value for key, value in os.environ.items() if key != "SERVICE"}
    result = subprocess.run(["bash", "-c", procfile()[process]], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0
    assert "set SERVICE to clientes, empleados, incidencias_apertura or incidencias_resolucion" in result.stderr


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_web_process_answers_salud(tmp_path, service):
    port = free_port()
    log = tmp_path / "web.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            ["bash", "-c", procfile()["web"]], cwd=REPO, env=heroku_env(tmp_path, service, port),
            stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

    def ready():
        if process.poll() is not None:
            raise AssertionError(f"the web process exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/salud", timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:  # 503 while RabbitMQ or storage are not ready yet
            return None if error.code == 503 else (error.code, error.read())
        except OSError:
            return None

    try:
        status, body = wait_until(ready, 60, 0.2, what=f"{service} answering /salud on port {port}")
        assert status == 200, body
        assert f'"servicio":"{service}"'.encode() in body.replace(b" ", b"")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/salud/vivo", timeout=2) as response:
            assert response.status == 200
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
    assert process.returncode is not None
