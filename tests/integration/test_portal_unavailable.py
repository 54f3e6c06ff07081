"""What the portal shows when a service cannot be used: the friendly 503 page
naming it, or the end of the session on a 401.

What stands in for the services, and why: a running system cannot be made
to time out, refuse connections or answer 401 on demand for one request, so
each service address here is one of these, on 127.0.0.1:

- a port nobody listens on (connection refused: the service is down);
- a socket that accepts connections and never answers (a hung service:
  the portal's timeout);
- a small HTTP server answering every request with one fixed status and a
  problem+json body (a service that answers 503, or refuses the token).

No account service runs, so the signed-in session is written directly
into the test client's signed cookie (``session_transaction``), holding what
a login puts there. The portal itself is the real application.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import free_port
from portal.app import create_app
from portal.config import PortalSettings


@pytest.fixture
def closed_url():
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def silent_url():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def answering(status: int):
    """A server that answers every request with ``status`` and a problem document."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            body = json.dumps({"type": "about:blank", "title": "No", "status": status, "detail": "No"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/problem+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PATCH = do_DELETE = _answer

        def log_message(self, *_args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def refusing_url():
    server = answering(401)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def unavailable_url():
    server = answering(503)
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def portal(tmp_path, closed_url, **urls):
    settings = PortalSettings(**{f"{name}_url": urls.get(name, closed_url)
                                 for name in ("clientes", "apertura", "resolucion", "empleados")},
                              keys_dir=tmp_path, environment="test", portal_api_timeout=0.5)
    return create_app(settings)


def signed_in(app, area="cliente", rol="cliente", expira=None):
    client = app.test_client()
    with client.session_transaction() as session:
        session.update(area=area, rol=rol, token="header.payload.signature", id="p1", nombre="Ana García",
                       expira=expira if expira is not None else time.time() + 3600)
    return client


def test_a_service_that_is_down_is_a_friendly_page_naming_it(tmp_path, closed_url):
    client = signed_in(portal(tmp_path, closed_url))
    response = client.get("/incidencias")
    page = response.get_data(as_text=True)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert "<h1>El servicio de incidencias no está disponible ahora</h1>" in page
    assert "Traceback" not in page and "ConnectError" not in page
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    live = client.get("/incidencias/abc/estado.json")
    assert live.status_code == 503 and live.json == {"error": "no-disponible", "servicio": "apertura"}


def test_a_hung_service_times_out_into_the_same_page(tmp_path, closed_url, silent_url):
    client = signed_in(portal(tmp_path, closed_url, apertura=silent_url))
    started = time.monotonic()
    response = client.get("/incidencias")
    assert response.status_code == 503 and time.monotonic() - started < 3
    assert "El servicio de incidencias no está disponible ahora" in response.get_data(as_text=True)


def test_a_service_answering_503_names_that_service(tmp_path, closed_url, unavailable_url):
    client = signed_in(portal(tmp_path, closed_url, resolucion=unavailable_url), area="equipo", rol="agente")
    response = client.get("/equipo/estadisticas")
    assert response.status_code == 503
    assert "El servicio de gestión de incidencias no está disponible ahora" in response.get_data(as_text=True)


def test_logging_in_while_the_accounts_service_is_down(tmp_path, closed_url):
    client = portal(tmp_path, closed_url).test_client()
    page = client.get("/entrar").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post("/entrar", data={"csrf_token": token, "email": "ana@example.com", "password": "x"})
    assert response.status_code == 503
    assert "El servicio de cuentas de clientes no está disponible ahora" in response.get_data(as_text=True)


def test_a_401_from_a_service_ends_the_session(tmp_path, closed_url, refusing_url):
    app = portal(tmp_path, closed_url, apertura=refusing_url, resolucion=refusing_url)
    client = signed_in(app)
    response = client.get("/incidencias")
    assert response.status_code == 302 and response.headers["Location"] == "/entrar?siguiente=/incidencias"
    page = client.get("/entrar").get_data(as_text=True)
    assert "Su sesión ha terminado; vuelva a entrar" in page
    with client.session_transaction() as session:
        assert "token" not in session
    team = signed_in(app, area="equipo", rol="agente")
    response = team.get("/equipo/incidencias/abc/estado.json")
    assert response.status_code == 401  # the script then reloads the page into the login
    assert team.get("/equipo/incidencias").headers["Location"].startswith("/equipo/entrar")


def test_an_expired_session_ends_without_asking_anyone(tmp_path, closed_url):
    app = portal(tmp_path, closed_url)
    polling = signed_in(app, expira=time.time() - 1)
    response = polling.get("/incidencias/abc/estado.json")
    assert response.status_code == 401 and response.json == {"error": "sesion-terminada"}
    assert "Su sesión ha terminado" in polling.get("/entrar").get_data(as_text=True)
    assert app.test_client().get("/equipo/incidencias/estado.json").status_code == 401  # never a redirect
    client = signed_in(app, area="equipo", rol="admin", expira=time.time() - 1)
    response = client.get("/equipo/estadisticas")
    assert response.status_code == 302
    assert response.headers["Location"] == "/equipo/entrar?siguiente=/equipo/estadisticas"
    assert "Su sesión ha terminado; vuelva a entrar" in client.get("/equipo/entrar").get_data(as_text=True)


def test_pages_a_person_may_not_see_and_pages_that_do_not_exist(tmp_path, closed_url):
    app = portal(tmp_path, closed_url)
    response = signed_in(app, area="equipo", rol="supervisor").get("/equipo/empleados")
    assert response.status_code == 403 and "No tiene acceso a esta página" in response.get_data(as_text=True)
    response = app.test_client().get("/no-existe")
    assert response.status_code == 404 and "No encontramos esa página" in response.get_data(as_text=True)


def test_readiness_names_the_services_that_do_not_answer(tmp_path, closed_url):
    client = portal(tmp_path, closed_url).test_client()
    assert client.get("/salud/vivo").status_code == 200
    ready = client.get("/salud")
    assert ready.status_code == 503 and ready.json["estado"] == "no listo"
    assert ready.json["comprobaciones"]["apertura"] == {"estado": "no disponible"}
