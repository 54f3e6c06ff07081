"""The nginx gateway (deploy/nginx/gateway.conf), run for real: in front of
stub upstreams (the four services and the portal) that record what reaches
them, and in front of the real clientes service under gunicorn."""
from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deploy_helpers import PORTAL, PREFIXES, REPO, VENV_BIN, free_port, request, start_gateway, stop, stop_group, wait_until

class Recorder(BaseHTTPRequestHandler):
    """An upstream that answers 200 with what it received, and remembers it."""

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                 "body": body})
        payload = json.dumps({"upstream": self.server.name, "path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = _answer

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def stubs():
    servers = {}
    for service in [*PREFIXES, PORTAL]:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        server.name, server.seen = service, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers[service] = server
    yield servers
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, stubs):
    port, process = start_gateway(tmp_path_factory.mktemp("nginx"),
                                  {s: server.server_address[1] for s, server in stubs.items()})
    yield port
    stop(process)


@pytest.fixture(autouse=True)
def _forget(request):
    if "stubs" in request.fixturenames:
        for server in request.getfixturevalue("stubs").values():
            server.seen.clear()


def seen(stubs):
    return {service: list(server.seen) for service, server in stubs.items() if server.seen}


@pytest.mark.parametrize("service", sorted(PREFIXES))
def test_each_prefix_reaches_its_service_with_the_mount_point(gateway, stubs, service):
    prefix = PREFIXES[service]
    status, _, body = request(gateway, "GET", f"{prefix}/incidencias?pagina=2&estado=abierta")
    assert status == 200
    assert json.loads(body)["upstream"] == service
    (received,) = seen(stubs)[service]
    assert received["path"] == f"{prefix}/incidencias?pagina=2&estado=abierta"
    assert received["headers"]["SCRIPT_NAME"] == prefix
    assert set(seen(stubs)) == {service}


def test_forwarded_headers_and_correlation_id(gateway, stubs):
    request(gateway, "GET", "/api/apertura/incidencias", headers={"Host": "incidencias.example:8080"})
    headers = stubs["incidencias_apertura"].seen[0]["headers"]
    assert headers["Host"] == "incidencias.example:8080"
    assert headers["X-Forwarded-Host"] == "incidencias.example:8080"
    assert headers["X-Forwarded-For"] == "127.0.0.1"
    assert headers["X-Forwarded-Proto"] == "http"
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Correlation-ID"])

    request(gateway, "GET", "/api/apertura/incidencias", headers={"X-Correlation-ID": "abc-123"})
    assert stubs["incidencias_apertura"].seen[1]["headers"]["X-Correlation-ID"] == "abc-123"


@pytest.mark.parametrize("path", ["/api/clientes/metrics", "/api/resolucion/metrics", "/api/empleados//metrics",
                                  "/api/apertura/%6detrics", "/api/clientes/metrics?x=1", "/metrics", "//metrics"])
def test_metrics_stay_private(gateway, stubs, path):
    status, headers, body = request(gateway, "GET", path)
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 404
    assert seen(stubs) == {}


@pytest.mark.parametrize("path", ["/api/otro/salud", "/api/", "/api/clientesx/salud", "/api/otro/incidencias?x=1"])
def test_unknown_api_paths_are_404_problems(gateway, stubs, path):
    status, headers, body = request(gateway, "GET", path)
    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["title"] == "Not Found"
    assert seen(stubs) == {}


@pytest.mark.parametrize("path", ["/", "/incidencias?estado=abierta&pagina=2", "/incidencias/abc/estado.json",
                                  "/equipo/", "/equipo/incidencias?vista=mias", "/static/portal.css",
                                  "/salud/vivo", "/clientes/yo", "/apiclientes/salud"])
def test_everything_else_reaches_the_portal_at_the_root(gateway, stubs, path):
    status, _, body = request(gateway, "GET", path)
    assert status == 200
    assert json.loads(body)["upstream"] == PORTAL
    (received,) = seen(stubs)[PORTAL]
    assert received["path"] == path
    assert "SCRIPT_NAME" not in received["headers"]  # mounted at /: no prefix
    assert set(seen(stubs)) == {PORTAL}


def test_portal_forms_reach_it_with_their_body_and_headers(gateway, stubs):
    form = b"csrf_token=abc&titulo=L%C3%A1mpara+rota&producto.referencia=LMP-01"
    status, _, _ = request(gateway, "POST", "/incidencias/nueva", body=form,
                           headers={"Content-Type": "application/x-www-form-urlencoded",
                                    "Cookie": "incidencias_sesion=firmada", "Host": "incidencias.example"})
    assert status == 200
    (received,) = stubs[PORTAL].seen
    assert received["method"] == "POST" and received["body"] == form
    assert received["headers"]["Cookie"] == "incidencias_sesion=firmada"
    assert received["headers"]["Host"] == "incidencias.example"
    assert received["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert re.fullmatch(r"[0-9a-f]{32}", received["headers"]["X-Correlation-ID"])


def test_the_scheme_of_a_tls_terminator_in_front_is_kept(gateway, stubs):
    """Behind a TLS terminator (X-Forwarded-Proto: https) the portal must know
    the request was HTTPS (its Secure cookie, its redirects to HTTPS)."""
    request(gateway, "GET", "/entrar", headers={"X-Forwarded-Proto": "https"})
    request(gateway, "GET", "/entrar", headers={"X-Forwarded-Proto": "gopher"})
    request(gateway, "GET", "/entrar")
    protos = [r["headers"]["X-Forwarded-Proto"] for r in stubs[PORTAL].seen]
    assert protos == ["https", "http", "http"]


def test_gateway_liveness(gateway, stubs):
    status, headers, body = request(gateway, "GET", "/salud")
    assert status == 200 and json.loads(body) == {"servicio": "gateway", "estado": "vivo"}
    assert "nginx/" not in headers.get("Server", "")  # no version disclosed
    assert seen(stubs) == {}


def test_a_prefix_without_its_slash_redirects(gateway):
    status, headers, _ = request(gateway, "GET", "/api/clientes")
    assert status == 301 and headers["Location"].endswith("/api/clientes/")


def test_portal_login_posts_are_throttled_and_the_forms_are_not(gateway, stubs):
    """The customers' and the team's login forms share one budget per address."""
    paths = ["/entrar", "/equipo/entrar"]
    forms = [request(gateway, "GET", paths[n % 2])[0] for n in range(30)]
    assert forms == [200] * 30, "showing the login forms is never throttled"
    statuses = [request(gateway, "POST", paths[n % 2], body=b"email=a%40b.c&password=x",
                        headers={"Content-Type": "application/x-www-form-urlencoded"})[0] for n in range(24)]
    assert 2 <= statuses.count(200) <= 12
    assert set(statuses) == {200, 429}
    posts = [r for r in stubs[PORTAL].seen if r["method"] == "POST"]
    assert {r["path"] for r in posts} == set(paths) and len(posts) == statuses.count(200)
    # The refusal is a page a person reads, with the wait.
    status, headers, body = request(gateway, "POST", "/entrar", body=b"email=a%40b.c&password=x",
                                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 429 and headers["Retry-After"] == "5"
    assert headers["Content-Type"].startswith("text/html")
    assert '<html lang="es">' in body.decode() and "espere 5 segundos" in body.decode()


def test_large_bodies_are_refused(gateway, stubs):
    status, _, _ = request(gateway, "POST", "/api/apertura/incidencias", body=b"x" * (2 * 1024 * 1024),
                           headers={"Content-Type": "application/json"})
    assert status == 413
    assert seen(stubs) == {}


def test_login_floods_are_throttled(gateway, stubs):
    statuses = [request(gateway, "POST", "/api/empleados/empleados/login", body=b"{}",
                        headers={"Content-Type": "application/json"})[0] for _ in range(20)]
    assert statuses.count(200) >= 1 and statuses.count(200) <= 12
    assert set(statuses) == {200, 429}
    reached = stubs["empleados"].seen
    assert {r["path"] for r in reached} == {"/api/empleados/empleados/login"}
    assert len(reached) == statuses.count(200)


def test_the_real_service_behind_the_gateway(tmp_path, stubs):
    """clientes under gunicorn: the mount point reaches its links and its documentation."""
    app_port = free_port()
    env = {key: value for key, value in os.environ.items() if key not in {"PROMETHEUS_MULTIPROC_DIR", "MONGO_URL"}}
    env.update(PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}", PORT=str(app_port), WEB_CONCURRENCY="1",
               DATA_DIR=str(tmp_path / "data"), KEYS_DIR=str(tmp_path / "keys"))
    ports = {s: server.server_address[1] for s, server in stubs.items()}
    ports["clientes"] = app_port
    (tmp_path / "nginx").mkdir()
    # First the gateway: it skips where nginx is missing, before anything else runs.
    gateway_port, nginx = start_gateway(tmp_path / "nginx", ports)
    log = tmp_path / "gunicorn.log"
    app = None
    try:
        with log.open("w") as output:
            app = subprocess.Popen(["gunicorn", "--config", "python:common.gunicorn_config",
                                    "clientes.app:create_app()"],
                                   cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)

        def alive():
            assert app.poll() is None, log.read_text()[-3000:]
            return request(gateway_port, "GET", "/api/clientes/salud/vivo")[0] == 200

        wait_until(alive, 60, 0.2, what="clientes behind the gateway")

        status, _, body = request(gateway_port, "GET", "/api/clientes/openapi.json")
        assert status == 200 and "openapi" in json.loads(body)
        status, _, body = request(gateway_port, "GET", "/api/clientes/docs")
        assert status == 200 and b"/api/clientes/openapi.json" in body

        email = f"gw-{uuid.uuid4().hex[:10]}@example.com"
        status, headers, body = request(
            gateway_port, "POST", "/api/clientes/clientes",
            body=json.dumps({"nombre": "Ana", "apellidos": "Gil", "email": email, "password": "Gateway-1234-x"}),
            headers={"Content-Type": "application/json", "X-Correlation-ID": "gateway-test-1"})
        assert status == 201, body
        assert headers["Location"] == f"/api/clientes/clientes/{json.loads(body)['id']}"
        assert headers["X-Correlation-ID"] == "gateway-test-1"

        # The same service straight on its port: no prefix in its links.
        status, _, body = request(app_port, "GET", "/docs")
        assert status == 200 and b"/api/clientes/" not in body
    finally:
        stop(nginx)
        if app is not None:
            stop_group(app)
