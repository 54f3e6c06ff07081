"""Procfile (Heroku: one app per service, and one for the portal, chosen by
SERVICE): the web command line runs exactly as written, with the add-ons'
variables, and answers /salud. Procfile.dev (make run, and the harness that
starts the whole system for the e2e, fault and security suites): the portal's
line, and scripts/run.py showing the portal first."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from deploy_helpers import API_URL_VARIABLES, PORTAL, PORTAL_PORT, REPO, SERVICES, VENV_BIN, free_port, stop_group, wait_until

# The portal's line of Procfile.dev, exactly as its contract fixes it.
PORTAL_LINE = 'portal: PORT=${PORTAL_PORT:-8000} gunicorn --config python:common.gunicorn_config "portal.app:create_app()"'


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
    # Heroku's router reaches the dyno from outside: every interface, on the PORT it sets.
    assert re.fullmatch(
        r'HOST=0\.0\.0\.0 gunicorn --config python:common\.gunicorn_config '
        r'"\$\{SERVICE:\?[^}]+\}\.app:create_app\(\)"',
        entries["web"]), entries["web"]
    assert re.fullmatch(r'python -m "\$\{SERVICE:\?[^}]+\}\.worker"', entries["worker"]), entries["worker"]
    assert "PORT" not in entries["web"], "gunicorn's configuration reads PORT itself"


@pytest.mark.parametrize("process", ["web", "worker"])
def test_a_missing_service_variable_is_a_clear_error(process):
    env = {key: value for key, value in os.environ.items() if key != "SERVICE"}
    result = subprocess.run(["bash", "-c", procfile()[process]], env=env, capture_output=True, text=True,
                            timeout=30)
    assert result.returncode != 0
    expected = {
        "web": "set SERVICE to clientes, empleados, incidencias_apertura, incidencias_resolucion or portal",
        "worker": "set SERVICE to clientes, empleados, incidencias_apertura or incidencias_resolucion "
                  "(the portal has no worker)",
    }
    assert expected[process] in result.stderr


def start_web(tmp_path, env):
    log = tmp_path / "web.log"
    with log.open("w") as output:
        process = subprocess.Popen(["bash", "-c", procfile()["web"]], cwd=REPO, env=env,
                                   stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    return process, log


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_web_process_answers_salud(tmp_path, service):
    port = free_port()
    process, log = start_web(tmp_path, heroku_env(tmp_path, service, port))

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
        stop_group(process)
    assert process.returncode is not None


def test_the_portal_app_runs_from_the_web_line(tmp_path):
    """SERVICE=portal: the same web line starts the portal, which needs no
    broker or database, only the four APIs' URLs (nothing answers at them
    here, so it is alive and not ready)."""
    port = free_port()
    env = heroku_env(tmp_path, PORTAL, port)
    dead = free_port()
    env.update({variable: f"http://127.0.0.1:{dead}" for variable in API_URL_VARIABLES.values()})
    process, log = start_web(tmp_path, env)

    def alive():
        if process.poll() is not None:
            raise AssertionError(f"the portal exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/salud/vivo", timeout=2) as response:
                return response.status
        except OSError:
            return None

    try:
        assert wait_until(alive, 60, 0.2, what=f"the portal answering /salud/vivo on port {port}") == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/salud", timeout=10)
        assert refused.value.code == 503
    finally:
        stop_group(process)


def gunicorn_settings(**env: str) -> dict[str, object]:
    """The shared gunicorn configuration as a process with ``env`` reads it."""
    program = ("import json, common.gunicorn_config as c\n"
               "print(json.dumps({'bind': c.bind, 'control_socket_disable': c.control_socket_disable,\n"
               "                  'control_socket': getattr(c, 'control_socket', None)}))")
    clean = {key: value for key, value in os.environ.items()
             if key not in {"HOST", "BIND", "PORT", "GUNICORN_CONTROL_SOCKET"}}
    result = subprocess.run([sys.executable, "-c", program], cwd=REPO, env={**clean, **env},
                            capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)


def test_gunicorn_listens_on_loopback_unless_told_otherwise():
    assert gunicorn_settings()["bind"] == "127.0.0.1:8000"
    assert gunicorn_settings(PORT="8123")["bind"] == "127.0.0.1:8123"
    assert gunicorn_settings(HOST="0.0.0.0", PORT="8123")["bind"] == "0.0.0.0:8123"
    assert gunicorn_settings(BIND="[::]:8124", HOST="0.0.0.0", PORT="8123")["bind"] == "[::]:8124"


def test_gunicorn_control_socket_is_off_unless_a_path_is_given(tmp_path):
    """Every master of the machine would share ~/.gunicorn/gunicorn.ctl."""
    assert gunicorn_settings()["control_socket_disable"] is True
    own = str(tmp_path / "clientes.ctl")
    assert gunicorn_settings(GUNICORN_CONTROL_SOCKET=own) == {
        "bind": "127.0.0.1:8000", "control_socket_disable": False, "control_socket": own}


def procfile_dev() -> dict[str, str]:
    entries = {}
    for line in (REPO / "Procfile.dev").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, command = line.split(":", 1)
            entries[name.strip()] = command.strip()
    return entries


def test_procfile_dev_runs_the_portal_on_its_port():
    lines = (REPO / "Procfile.dev").read_text().splitlines()
    assert PORTAL_LINE in lines
    entries = procfile_dev()
    assert f"{PORTAL}_worker" not in entries  # it owns no data: no relay, no consumers
    assert set(entries) == {PORTAL} | {name for api in ("clientes", "apertura", "resolucion", "empleados")
                                       for name in (api, f"{api}_worker")}


def test_the_harness_starts_the_portal_pointed_at_the_apis(tmp_path):
    from harness import System

    system = System.prepare(tmp_path)
    assert system.portal_url == f"http://127.0.0.1:{system.env['PORTAL_PORT']}"
    assert system.web_urls == {**system.urls, PORTAL: system.portal_url}
    assert set(system.urls) == {"clientes", "apertura", "resolucion", "empleados"}  # what Driver talks to
    names = {"clientes": "clientes", "incidencias_apertura": "apertura", "incidencias_resolucion": "resolucion",
             "empleados": "empleados"}
    for service, variable in API_URL_VARIABLES.items():
        assert system.env[variable] == system.urls[names[service]]
    ports = [int(url.rsplit(":", 1)[1]) for url in system.web_urls.values()]
    assert len(set(ports)) == 5


def test_make_run_prints_the_portal_first(monkeypatch, capsys):
    spec = importlib.util.spec_from_file_location("run_script", REPO / "scripts/run.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    import common.messaging
    import honcho.command

    started = []
    monkeypatch.setattr(common.messaging, "check_broker", lambda url: None)
    monkeypatch.setattr(honcho.command, "main", lambda: started.append(list(sys.argv)) or 0)
    monkeypatch.setattr(sys, "argv", ["run.py"])
    monkeypatch.setattr(os, "environ", {"PATH": os.environ.get("PATH", ""), "ADMIN_PASSWORD": "Probando-2026"})
    monkeypatch.chdir(REPO)
    assert script.main() == 0
    urls = re.findall(r"http://127\.0\.0\.1:\d+/?", capsys.readouterr().out)
    assert urls[0] == f"http://127.0.0.1:{PORTAL_PORT}/"
    assert started and started[0][:2] == ["honcho", "start"]
    # The portal is told where the services answer.
    assert os.environ["CLIENTES_URL"] == "http://127.0.0.1:8001"
    assert os.environ["EMPLEADOS_URL"] == "http://127.0.0.1:8004"


def run_script(monkeypatch, env: dict[str, str]) -> tuple[int, dict[str, str]]:
    """scripts/run.py's main with ``env`` as its environment, the broker and honcho stubbed."""
    spec = importlib.util.spec_from_file_location("run_script", REPO / "scripts/run.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    import common.messaging
    import honcho.command

    monkeypatch.setattr(common.messaging, "check_broker", lambda url: None)
    monkeypatch.setattr(honcho.command, "main", lambda: 0)
    monkeypatch.setattr(sys, "argv", ["run.py"])
    environ = {"PATH": os.environ.get("PATH", ""), "ADMIN_PASSWORD": "Probando-2026", **env}
    monkeypatch.setattr(os, "environ", environ)
    monkeypatch.chdir(REPO)
    return script.main(), environ


def test_make_run_listens_on_loopback_unless_told_otherwise(monkeypatch, capsys):
    status, env = run_script(monkeypatch, {})
    assert status == 0 and env["HOST"] == "127.0.0.1"
    assert "every interface" not in capsys.readouterr().out

    status, env = run_script(monkeypatch, {"HOST": "0.0.0.0"})
    out = capsys.readouterr().out
    assert status == 0 and env["HOST"] == "0.0.0.0" and env["CLIENTES_URL"] == "http://127.0.0.1:8001"
    assert "Listening on every interface (HOST=0.0.0.0)" in out

    # One address cannot serve five processes.
    status, _env = run_script(monkeypatch, {"BIND": "0.0.0.0:8000"})
    assert status == 1 and "set HOST" in capsys.readouterr().err
