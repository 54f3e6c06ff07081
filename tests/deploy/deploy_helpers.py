"""Shared facts and helpers of the deployment tests (tests/deploy/)."""
from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness import polling

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

# The services, their packages and local ports (the project's convention).
SERVICES = {
    "clientes": 8001,
    "incidencias_apertura": 8002,
    "incidencias_resolucion": 8003,
    "empleados": 8004,
}
# The portal: a web process without a worker, published by the gateway at /.
PORTAL = "portal"
PORTAL_PORT = 8000
# Its settings that point at each service.
API_URL_VARIABLES = {
    "clientes": "CLIENTES_URL",
    "incidencias_apertura": "APERTURA_URL",
    "incidencias_resolucion": "RESOLUCION_URL",
    "empleados": "EMPLEADOS_URL",
}
# Gateway prefix of each service.
PREFIXES = {
    "clientes": "/api/clientes",
    "incidencias_apertura": "/api/apertura",
    "incidencias_resolucion": "/api/resolucion",
    "empleados": "/api/empleados",
}
# Top-level directories that are not part of the running system.
NOT_RUNTIME = {"tests", "scripts", "docs", "deploy", "provision", "var", "htmlcov", "bench", "harness"}


def runtime_packages() -> list[str]:
    """Top-level Python packages the services need at run time."""
    found = []
    for path in sorted(REPO.iterdir()):
        if (path.is_dir() and not path.name.startswith((".", "_")) and path.name not in NOT_RUNTIME
                and any(path.glob("*.py"))):
            found.append(path.name)
    return found


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader with YAML 1.2 booleans: `on:` (GitHub Actions,
    Travis) stays the string "on" instead of becoming True."""


Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


def parse_yaml(text: str):
    return yaml.load(text, Loader=Yaml12Loader)  # noqa: S506 - a safe loader


def load_yaml(relative: str):
    return parse_yaml((REPO / relative).read_text())


def tool(name: str) -> str:
    """A command-line tool from the project's virtual environment, else PATH."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    assert found, f"{name} is not installed (pip install -r requirements-dev.txt)"
    return found


def tool_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(args, **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("cwd", REPO)
    kwargs.setdefault("env", tool_env())
    return subprocess.run(args, capture_output=True, text=True, timeout=kwargs.pop("timeout", 240), **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(probe, deadline_s: float, interval: float = 0.1, what: str = "condition"):
    """Poll probe() until it returns a true value; fail at the deadline.

    An AssertionError from the probe (a process died) fails at once; other
    errors (connection refused, ...) are retried."""
    return polling.wait_until(probe, deadline_s, interval, what, give_up_on=(AssertionError,))


_INTERPOLATION = re.compile(r"\$\$|\$\{(?P<braced>[^}]*)\}|\$(?P<named>[A-Za-z_][A-Za-z0-9_]*)")


class MissingVariable(Exception):
    pass


def interpolate(value, env: dict[str, str]):
    """Docker Compose's variable interpolation over a loaded file (strings only)."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        if match.group("named"):
            return env.get(match.group("named"), "")
        expression = match.group("braced")
        found = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?$", expression, re.S)
        if not found:
            raise ValueError(f"invalid interpolation ${{{expression}}}")
        name, operator, argument = found.groups()
        current = env.get(name)
        if operator is None:
            return current or ""
        empty_counts = operator.startswith(":")
        unset = current is None or (empty_counts and current == "")
        kind = operator[-1]
        if kind == "-":
            return argument if unset else current
        if kind == "?":
            if unset:
                raise MissingVariable(f"{name}: {argument}")
            return current
        return "" if unset else argument  # "+"

    return _INTERPOLATION.sub(replace, value)


def compose_variables(document) -> set[str]:
    """Names of the variables a loaded Compose file interpolates."""
    if isinstance(document, dict):
        return set().union(*(compose_variables(item) for item in document.values())) if document else set()
    if isinstance(document, list):
        return set().union(*(compose_variables(item) for item in document)) if document else set()
    names = set()
    if isinstance(document, str):
        for match in _INTERPOLATION.finditer(document):
            if match.group("named"):
                names.add(match.group("named"))
            elif match.group("braced") is not None:
                names.add(re.match(r"[A-Za-z_][A-Za-z0-9_]*", match.group("braced")).group(0))
    return names


# --- nginx with the repository's gateway configuration ---------------------------

UPSTREAM_NAMES = {service: "incidencias_" + prefix.rsplit("/", 1)[1] for service, prefix in PREFIXES.items()}
UPSTREAM_NAMES[PORTAL] = "incidencias_portal"


def nginx_binary() -> str:
    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx")
                                           if os.path.exists(p)), None)
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (apt-get install nginx-light)")
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    return found


def start_gateway(tmp_path, upstream_ports: dict[str, int]):
    """nginx with the repository's gateway.conf, listening on a free loopback
    port. ``upstream_ports``: service (or ``portal``) -> the port it answers
    on; an upstream left out points at a port where nothing listens."""
    binary = nginx_binary()
    port = free_port()
    upstream_ports = {**{name: free_port() for name in UPSTREAM_NAMES}, **upstream_ports}
    gateway = (REPO / "deploy/nginx/gateway.conf").read_text()
    assert gateway.count("listen 80 default_server;") == 1
    (tmp_path / "gateway.conf").write_text(
        gateway.replace("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;"))
    upstreams = "".join(f"upstream {UPSTREAM_NAMES[s]} {{ server 127.0.0.1:{p}; keepalive 4; }}\n"
                        for s, p in upstream_ports.items())
    temp = {name: tmp_path / name for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi")}
    (tmp_path / "nginx.conf").write_text(f"""
daemon off;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log warn;
{"user root root;" if os.geteuid() == 0 else ""}
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {temp["body"]};
    proxy_temp_path {temp["proxy"]};
    fastcgi_temp_path {temp["fastcgi"]};
    uwsgi_temp_path {temp["uwsgi"]};
    scgi_temp_path {temp["scgi"]};
    {upstreams}
    include {tmp_path}/gateway.conf;
}}
""")
    check = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([binary, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up():
        assert process.poll() is None, (tmp_path / "error.log").read_text()
        return request(port, "GET", "/salud")[0] == 200

    try:
        wait_until(up, 20, what="nginx answering")
    except BaseException:
        stop(process)
        raise
    return port, process


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def stop_group(process):
    """Stop a service started in its own process group (gunicorn and its
    workers): SIGTERM, then SIGKILL if it has not gone within 30 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


