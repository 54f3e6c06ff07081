"""The portal's pages against the whole system: the four services under
gunicorn with their workers, the real RabbitMQ and SQLite, started by the
harness as `make run` starts them (on free ports). The portal is the Flask
application ``portal.app.create_app`` pointed at them and driven through
Flask's test client, one client (one cookie jar) per person: each test reads
the HTML a browser without JavaScript would get and posts the forms with
their CSRF token. Nothing is faked.
"""
from __future__ import annotations

import base64
import html
import itertools
import json
import re
import uuid
import zlib

import httpx
import pytest

from harness import Driver, System, new_categoria, procfile_lines, wait_until
from harness.system import ADMIN_EMAIL, ADMIN_PASSWORD
from portal.app import create_app
from portal.config import PortalSettings

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
       "form-action 'self'; base-uri 'none'")
PASSWORD = "Lampara-2026"
_addresses = itertools.count(1)


class ServicesOnly(System):
    """The system without the portal's own Procfile line: the portal under
    test is the application object the tests drive."""

    def boot(self) -> None:
        self.start([name for name in procfile_lines() if name != "portal"])


@pytest.fixture(scope="module")
def system(tmp_path_factory):
    instance = ServicesOnly.launch(tmp_path_factory.mktemp("portal-system"))
    try:
        yield instance
    finally:
        instance.dispose()


def settings_for(urls: dict, keys_dir, **overrides) -> PortalSettings:
    return PortalSettings(clientes_url=urls["clientes"], apertura_url=urls["apertura"],
                          resolucion_url=urls["resolucion"], empleados_url=urls["empleados"],
                          keys_dir=keys_dir, environment="test", **overrides)


@pytest.fixture(scope="module")
def app(system, tmp_path_factory):
    return create_app(settings_for(system.urls, tmp_path_factory.mktemp("portal-keys")))


class LosingAnswers(httpx.BaseTransport):
    """The portal's own HTTP transport to the running services, told to lose
    what happens to one request (``lose``): ``"503"`` and ``"timeout"`` send
    it on (the service applies it) and then replace its answer by a 503 or a
    read timeout, as a proxy or a worker dying after the commit would;
    ``"unsent"`` cuts the connection before the request leaves (nothing
    applied). The services, and everything else sent, are real."""

    def __init__(self):
        self.real = httpx.HTTPTransport()
        self.armed: dict[tuple[str, str], str] = {}

    def lose(self, method: str, path: str, how: str) -> None:
        self.armed[(method, path)] = how

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        how = self.armed.pop((request.method, request.url.path), None)
        if how == "unsent":
            raise httpx.ConnectError("connection cut before sending", request=request)
        response = self.real.handle_request(request)
        if how is None:
            return response
        response.read()
        response.close()
        assert 200 <= response.status_code < 300, response.text  # the first request was applied
        if how == "timeout":
            raise httpx.ReadTimeout("answer lost", request=request)
        return httpx.Response(503, json={"type": "about:blank", "title": "No disponible", "status": 503,
                                         "detail": "No disponible"}, request=request)

    def close(self) -> None:
        self.real.close()


@pytest.fixture(scope="module")
def lossy(system, tmp_path_factory):
    """A portal whose API answers can be lost (``LosingAnswers``), and that transport."""
    network = LosingAnswers()
    portal = create_app(settings_for(system.urls, tmp_path_factory.mktemp("portal-keys")), transport=network)
    try:
        yield portal, network
    finally:
        network.close()


@pytest.fixture
def api(system):
    with Driver(system.urls, patience=20) as driver:
        yield driver


class Browser:
    """One person's browser without JavaScript: a cookie jar, the last page
    read, and forms posted with the CSRF token of the page they are on. Each
    browser comes from an address of its own (the services throttle failed
    logins per address, which the portal passes on)."""

    def __init__(self, app):
        n = next(_addresses)
        self.address = f"127.0.{200 + n // 250}.{1 + n % 250}"
        self.client = app.test_client()
        self.client.environ_base["REMOTE_ADDR"] = self.address
        self.page = ""

    def get(self, path: str, **kwargs):
        response = self.client.get(path, **kwargs)
        if response.mimetype == "text/html" and not response.location:
            self.page = response.get_data(as_text=True)
        return response

    def token(self) -> str:
        match = re.search(r'name="csrf_token" value="([^"]+)"', self.page)
        assert match, "the page has no form"
        return match.group(1)

    def post(self, path: str, data: dict | None = None, *, page: str | None = None, **kwargs):
        """POST ``data`` from ``page`` (read first when given) as its form would."""
        if page is not None:
            self.get(page)
        response = self.client.post(path, data={"csrf_token": self.token(), **(data or {})}, **kwargs)
        if response.mimetype == "text/html" and not response.location:
            self.page = response.get_data(as_text=True)
        return response

    def session(self) -> dict:
        """The signed session cookie's content (it is signed, not encrypted)."""
        cookie = self.client.get_cookie("incidencias_sesion")
        if cookie is None:
            return {}
        payload = cookie.value.split(".")[1 if cookie.value.startswith(".") else 0]
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        return json.loads(zlib.decompress(raw) if cookie.value.startswith(".") else raw)


def text_of(page: str, element_id: str) -> str:
    """The text inside the element with ``element_id`` (tags dropped)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{re.escape(element_id)}"[^>]*>(.*?)</\1>', page, re.S)
    assert match, f"no #{element_id} on the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", match.group(2))).split())


def customer(app, nombre="Ana") -> tuple[Browser, str]:
    """A customer registered through /registro (signed in); their email."""
    browser = Browser(app)
    email = f"{nombre.lower()}.{uuid.uuid4().hex[:10]}@example.com"
    response = browser.post("/registro", {"nombre": nombre, "apellidos": "García", "email": email,
                                          "password": PASSWORD, "fecha_nacimiento": "1990-07-26"}, page="/registro")
    assert response.status_code == 302 and response.headers["Location"] == "/incidencias", response.text
    return browser, email


def staff(app, email: str, password: str) -> Browser:
    browser = Browser(app)
    response = browser.post("/equipo/entrar", {"email": email, "password": password}, page="/equipo/entrar")
    assert response.status_code == 302, browser.page
    assert response.headers["Location"] == "/equipo/incidencias?vista=mias"
    return browser


def open_incident(browser: Browser, categoria: str | None, titulo="La lámpara llegó rota", **fields) -> str:
    """An incident opened through /incidencias/nueva; its id."""
    browser.get("/incidencias/nueva")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', browser.page).group(1)
    data = {"idempotency_key": key, "producto.referencia": "LMP-01", "producto.nombre": "Lámpara de pie",
            "pedido": "P-1001", "titulo": titulo, "descripcion": "La caja venía aplastada",
            "categoria": categoria or "", "prioridad": "alta", **fields}
    response = browser.post("/incidencias/nueva", data)
    assert response.status_code == 302, browser.page
    return response.headers["Location"].rsplit("/", 1)[1]


def wait_page(browser: Browser, path: str, condition, message: str, timeout: float = 20) -> str:
    def ready():
        response = browser.get(path)
        return response.status_code == 200 and condition(browser.page) and browser.page
    return wait_until(ready, timeout=timeout, interval=0.2, message=message)


# -- the whole story -------------------------------------------------------------------------------
def test_a_customer_and_an_agent_work_an_incident_from_opening_to_closing(app, api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Ines", apellidos="Ruiz")
    api.wait_known_by_resolucion(api.admin_token(), agente)

    ana, _email = customer(app)
    assert "Todavía no ha abierto ninguna incidencia" in ana.get("/incidencias").get_data(as_text=True)
    incidencia_id = open_incident(ana, categoria)
    page = ana.get(f"/incidencias/{incidencia_id}").get_data(as_text=True)
    assert '<div class="aviso aviso-ok" role="status"><p>Incidencia abierta</p></div>' in page
    assert "<h1>La lámpara llegó rota</h1>" in page
    wait_page(ana, f"/incidencias/{incidencia_id}", lambda p: text_of(p, "asignada-a") == "Ines Ruiz",
              "the customer sees the assignee")
    assert "Asignada a Ines Ruiz" in text_of(ana.page, "historial")
    assert re.search(r'<main id="contenido"[^>]*data-version="2"', ana.page)

    ines = staff(app, agente.email, agente.password)
    queue = ines.get("/equipo/incidencias?vista=mias").get_data(as_text=True)
    assert f'<tr data-incidencia-id="{incidencia_id}" data-version="2">' in queue
    assert 'aria-current="page">Mis incidencias</a>' in queue
    page = ines.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert ">Empezar</button>" in page and ">Proponer solución</button>" in page and ">Tomar</button>" not in page
    assert 'name="empleado_id"' not in page  # only supervisors and admins assign
    assert text_of(page, "cliente") == "Ana García"

    assert ines.post(f"/equipo/incidencias/{incidencia_id}/inicio").status_code == 302
    assert ines.post(f"/equipo/incidencias/{incidencia_id}/comentarios",
                     {"texto": "Transportista con roturas repetidas", "interna": "si"}).status_code == 302
    assert ines.post(f"/equipo/incidencias/{incidencia_id}/comentarios",
                     {"texto": "Lo revisamos hoy mismo"}).status_code == 302
    page = ines.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert re.search(r'<li class="comentario nota-interna[^"]*">\s*<p class="marca-interna">'
                     r'Nota interna: nunca se muestra al cliente</p>', page)
    assert page.count('class="comentario nota-interna') == 1
    assert ines.post(f"/equipo/incidencias/{incidencia_id}/resolucion",
                     {"texto": "Le enviamos una lámpara nueva"}).status_code == 302

    def resolved():
        state = ana.get(f"/incidencias/{incidencia_id}/estado.json")
        assert state.headers["Cache-Control"] == "no-store"
        return state.json["estado"] == "resuelta" and state.json
    state = wait_until(resolved, timeout=20, interval=0.2, message="the customer's page turns resuelta")
    assert state["version"] >= 4 and state["comentarios"] == 1

    page = ana.get(f"/incidencias/{incidencia_id}").get_data(as_text=True)
    assert '<span id="estado" class="estado estado-resuelta" data-estado="resuelta">Resuelta</span>' in page
    assert "Le enviamos una lámpara nueva" in text_of(page, "solucion")
    assert "Lo revisamos hoy mismo" in text_of(page, "comentarios")
    assert "Transportista" not in page and "nota-interna" not in page
    assert ">Confirmar la solución</button>" in page and ">Rechazar la solución</button>" in page
    assert ">Cancelar la incidencia</button>" not in page
    assert re.findall(r'<span class="hito-texto">([^<]+)</span>', page) == [
        "Abierta", "Asignada a Ines Ruiz", "En curso", "Solución propuesta"]
    assert int(text_of(page, "no-leidas")) >= 2

    response = ana.post(f"/incidencias/{incidencia_id}/cierre")
    assert response.status_code == 302 and response.headers["Location"] == f"/incidencias/{incidencia_id}"
    page = ana.get(f"/incidencias/{incidencia_id}").get_data(as_text=True)
    assert 'data-estado="cerrada"' in page and "Ha confirmado la solución" in page
    assert 'name="texto"' not in page and ">Cancelar la incidencia</button>" not in page
    assert re.findall(r'<span class="hito-texto">([^<]+)</span>', page)[-1] == "Cerrada"

    notificaciones = ana.get("/notificaciones").get_data(as_text=True)
    assert "ha sido asignada a Ines Ruiz" in notificaciones and 'class="notificacion no-leida"' in notificaciones
    response = ana.post("/notificaciones/lectura")
    assert response.status_code == 302
    page = ana.get("/notificaciones").get_data(as_text=True)
    assert text_of(page, "no-leidas") == "0" and 'class="notificacion no-leida"' not in page


def test_a_double_submit_of_the_new_incident_form_opens_one_incident(app):
    ana, _email = customer(app)
    ana.get("/incidencias/nueva")
    key = re.search(r'name="idempotency_key" value="([^"]+)"', ana.page).group(1)
    data = {"idempotency_key": key, "producto.referencia": "LMP-01", "producto.nombre": "Lámpara",
            "titulo": "Dos clics", "descripcion": "Pulsé dos veces", "categoria": "", "prioridad": "media"}
    first = ana.post("/incidencias/nueva", data)
    second = ana.post("/incidencias/nueva", data)
    assert first.status_code == second.status_code == 302
    assert first.headers["Location"] == second.headers["Location"]
    page = ana.get("/incidencias").get_data(as_text=True)
    assert page.count("<tr data-incidencia-id=") == 1


def form_keys(page: str) -> dict[str, str]:
    """Each POST form's action (without its #fragment) → the Idempotency-Key rendered into it."""
    keys = {}
    for action, inner in re.findall(r'<form method="post" action="([^"#]+)[^"]*"[^>]*>(.*?)</form>', page, re.S):
        found = re.search(r'name="idempotency_key" value="([^"]+)"', inner)
        if found:
            keys[html.unescape(action)] = found.group(1)
    return keys


def test_every_action_form_carries_a_key_of_its_own_and_a_double_submit_acts_once(app, api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Dora", apellidos="Doble")
    api.wait_known_by_resolucion(api.admin_token(), agente)
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, categoria)
    page = f"/incidencias/{incidencia_id}"
    keys = form_keys(ana.get(page).get_data(as_text=True))
    assert {f"{page}/comentarios", f"{page}/cancelacion"} <= set(keys)
    assert len(set(keys.values())) == len(keys)
    assert form_keys(ana.get(page).get_data(as_text=True))[f"{page}/comentarios"] != keys[f"{page}/comentarios"]
    sent = {"texto": "Lo envié dos veces", "idempotency_key": keys[f"{page}/comentarios"]}
    first, second = ana.post(f"{page}/comentarios", sent), ana.post(f"{page}/comentarios", sent)
    assert first.status_code == second.status_code == 302
    token = ana.session()["token"]
    assert [c["texto"] for c in api.customer_view(token, incidencia_id)["comentarios"]] == ["Lo envié dos veces"]
    # The same key with something else typed: nothing more happens, and the page says why.
    response = ana.post(f"{page}/comentarios", {**sent, "texto": "Otra cosa"})
    assert response.status_code == 409 and "Este formulario ya se había enviado" in ana.page
    assert len(api.customer_view(token, incidencia_id)["comentarios"]) == 1

    dora = staff(app, agente.email, agente.password)
    equipo = f"/equipo/incidencias/{incidencia_id}"
    wait_page(dora, equipo, lambda p: ">Empezar</button>" in p, "the agent may start the incident")
    keys = form_keys(dora.page)
    assert {f"{equipo}/inicio", f"{equipo}/comentarios", f"{equipo}/resolucion"} <= set(keys)
    assert f"{equipo}/datos" not in keys  # a PATCH: sending it again changes nothing anyway
    note = {"texto": "Nota enviada dos veces", "interna": "si", "idempotency_key": keys[f"{equipo}/comentarios"]}
    started = {"idempotency_key": keys[f"{equipo}/inicio"]}
    for path, sent in ((f"{equipo}/comentarios", note), (f"{equipo}/inicio", started)):
        assert [dora.post(path, sent).status_code for _ in range(2)] == [302, 302], path
    view = api.staff_view(agente, incidencia_id)
    assert [c["texto"] for c in view["comentarios"] if c["interna"]] == ["Nota enviada dos veces"]
    assert [h["a"] for h in view["historial"]].count("en_curso") == 1


def test_a_double_submit_of_the_registration_form_opens_one_account(app, api):
    browser = Browser(app)
    browser.get("/registro")
    [key] = form_keys(browser.page).values()
    email = f"doble.{uuid.uuid4().hex[:10]}@example.com"
    data = {"nombre": "Doble", "apellidos": "Clic", "email": email, "password": PASSWORD, "idempotency_key": key}
    first = browser.post("/registro", data)
    assert first.status_code == 302
    other = Browser(app)
    other.get("/registro")
    second = other.post("/registro", data)  # the same form sent again: the same account, signed in
    assert second.status_code == 302 and second.headers["Location"] == "/incidencias"
    assert browser.session()["id"] == other.session()["id"]


SILENCE = "no ha respondido, así que no sabemos si se ha hecho lo que pedía"


def test_a_form_shown_again_after_a_lost_answer_keeps_its_key_and_a_new_one_after_a_refusal(lossy, api):
    app, network = lossy
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, new_categoria())
    page = f"/incidencias/{incidencia_id}"
    comentarios = f"{page}/comentarios"
    token = ana.session()["token"]

    def texts():
        return [c["texto"] for c in api.customer_view(token, incidencia_id)["comentarios"]]

    # A 503 after the comment was saved: the same form again, with its key and its text.
    key = form_keys(ana.get(page).get_data(as_text=True))[comentarios]
    network.lose("POST", comentarios, "503")
    response = ana.post(comentarios, {"texto": "Sin respuesta", "idempotency_key": key})
    assert response.status_code == 503 and SILENCE in ana.page
    shown = form_keys(ana.page)
    assert shown[comentarios] == key and shown[f"{page}/cancelacion"] != key
    assert ">Sin respuesta</textarea>" in ana.page and texts() == ["Sin respuesta"]
    assert ana.post(comentarios, {"texto": "Sin respuesta", "idempotency_key": key}).status_code == 302
    assert texts() == ["Sin respuesta"]

    # A timeout after it was saved, then something else typed: refused (key reused), and a new key.
    key = form_keys(ana.get(page).get_data(as_text=True))[comentarios]
    network.lose("POST", comentarios, "timeout")
    assert ana.post(comentarios, {"texto": "Primera versión", "idempotency_key": key}).status_code == 503
    assert form_keys(ana.page)[comentarios] == key
    response = ana.post(comentarios, {"texto": "Segunda versión", "idempotency_key": key})
    assert response.status_code == 409 and "Este formulario ya se había enviado con otros datos" in ana.page
    fresh = form_keys(ana.page)[comentarios]
    assert fresh != key and ">Segunda versión</textarea>" in ana.page
    assert ana.post(comentarios, {"texto": "Segunda versión", "idempotency_key": fresh}).status_code == 302
    assert texts() == ["Sin respuesta", "Primera versión", "Segunda versión"]

    # A validation refusal wrote nothing: the text corrected next is a request of its own.
    key = form_keys(ana.get(page).get_data(as_text=True))[comentarios]
    response = ana.post(comentarios, {"texto": "   ", "idempotency_key": key})
    assert response.status_code == 422 and form_keys(ana.page)[comentarios] != key


def test_the_new_incident_form_after_a_lost_answer_opens_one_incident(lossy):
    app, network = lossy
    ana, _email = customer(app)
    ana.get("/incidencias/nueva")
    key = form_keys(ana.page)["/incidencias/nueva"]  # besides it: the reminder's "send the link again"
    data = {"idempotency_key": key, "producto.referencia": "LMP-01", "producto.nombre": "Lámpara",
            "titulo": "Sin respuesta al abrirla", "descripcion": "La caja venía aplastada", "categoria": "",
            "prioridad": "media"}
    network.lose("POST", "/incidencias", "timeout")
    response = ana.post("/incidencias/nueva", data)
    assert response.status_code == 503 and SILENCE in ana.page
    assert form_keys(ana.page)["/incidencias/nueva"] == key and 'value="Sin respuesta al abrirla"' in ana.page
    assert ana.post("/incidencias/nueva", data).status_code == 302
    assert ana.get("/incidencias").get_data(as_text=True).count("<tr data-incidencia-id=") == 1


def test_a_deactivation_whose_request_was_cut_is_shown_again_with_its_key(lossy, api):
    app, network = lossy
    empleado = api.new_empleado("agente", [new_categoria()], nombre="Cortada")
    admin = staff(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = f"/equipo/empleados/{empleado.id}"
    key = form_keys(admin.get(page).get_data(as_text=True))[f"{page}/baja"]
    network.lose("POST", f"/empleados/{empleado.id}/baja", "unsent")
    response = admin.post(f"{page}/baja", {"confirmacion": "si", "idempotency_key": key})
    assert response.status_code == 503
    assert "El servicio de cuentas del equipo " + SILENCE in admin.page
    assert form_keys(admin.page)[f"{page}/baja"] == key
    assert admin.post(f"{page}/baja", {"confirmacion": "si", "idempotency_key": key}).status_code == 302
    assert "De baja" in text_of(admin.get(page).get_data(as_text=True), "activo")


def test_the_customers_list_filters_by_state_and_reports_its_versions(app):
    ana, _email = customer(app)
    first = open_incident(ana, None, titulo="Primera")
    second = open_incident(ana, None, titulo="Segunda")
    page = ana.get("/incidencias").get_data(as_text=True)
    rows = re.findall(r'<tr data-incidencia-id="([^"]+)" data-version="(\d+)">', page)
    assert [r[0] for r in rows] == [second, first]  # newest first
    assert '<select id="estado" name="estado">' in page and ">Filtrar</button>" in page
    live = ana.get("/incidencias/estado.json").json
    assert [i["id"] for i in live["incidencias"]] == [second, first] and live["total"] == 2
    assert "Todavía no ha abierto" not in page
    empty = ana.get("/incidencias?estado=cerrada").get_data(as_text=True)
    assert "<tr data-incidencia-id=" not in empty and "No tiene incidencias en estado «Cerrada»" in empty


def test_the_customer_searches_their_list_and_a_bad_search_is_told_next_to_the_box(app, api):
    word = f"modelo{uuid.uuid4().hex[:8]}"
    ana, _email = customer(app)
    lampara = open_incident(ana, None, titulo=f"Lámpara {word}", descripcion="Llegó sin bombilla")
    open_incident(ana, None, titulo="Silla", descripcion=f"Del mismo pedido que la {word}")
    page = ana.get(f"/incidencias?q=LAMPARA+{word}").get_data(as_text=True)
    assert re.findall(r'<tr data-incidencia-id="([^"]+)"', page) == [lampara]
    assert f'value="LAMPARA {word}"' in page and 'role="search"' in page
    assert ana.get(f"/incidencias/estado.json?q=lampara+{word}").json["total"] == 1
    none = ana.get(f"/incidencias?q={word}+paraguas").get_data(as_text=True)
    assert "<tr data-incidencia-id=" not in none and f"Ninguna de sus incidencias dice «{word} paraguas»" in none
    bad = ana.get("/incidencias?q=lampara*")
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "<tr data-incidencia-id=" not in page
    assert text_of(page, "q-error") == "Escriba solo palabras: la búsqueda no admite *"
    assert 'aria-invalid="true" aria-describedby="q-ayuda q-error"' in page


def test_the_customers_list_pages_twenty_at_a_time(app, api):
    ana, _email = customer(app)
    token = ana.session()["token"]
    opened = [api.new_incidencia(token, None, titulo=f"Incidencia {n}")["id"] for n in range(21)]
    first = ana.get("/incidencias").get_data(as_text=True)
    rows = re.findall(r'<tr data-incidencia-id="([^"]+)"', first)
    assert rows == opened[::-1][:20]
    assert '<a href="/incidencias?pagina=2" rel="next">Siguiente</a>' in first and ">Anterior</a>" not in first
    second = ana.get("/incidencias?pagina=2").get_data(as_text=True)
    assert re.findall(r'<tr data-incidencia-id="([^"]+)"', second) == [opened[0]]
    assert '<a href="/incidencias?pagina=1" rel="prev">Anterior</a>' in second and ">Siguiente</a>" not in second
    assert "Página 2 de 2" in second


# -- errors next to the fields -----------------------------------------------------------------------
def test_problems_are_shown_next_to_the_fields_they_name_keeping_what_was_typed(app):
    ana, _email = customer(app)
    ana.get("/incidencias/nueva")
    response = ana.post("/incidencias/nueva", {
        "idempotency_key": "k-" + uuid.uuid4().hex, "producto.referencia": "", "producto.nombre": "Lámpara",
        "titulo": "Un título con <b>marcas</b>", "descripcion": "", "categoria": "", "prioridad": "alta"})
    assert response.status_code == 422
    page = ana.page
    assert re.search(r'<input id="producto-referencia" name="producto.referencia" type="text" value=""'
                     r'[^>]*aria-invalid="true" aria-describedby="producto-referencia-error">\s*'
                     r'<p class="error-campo" id="producto-referencia-error">Este campo es obligatorio.</p>', page)
    assert 'id="descripcion-error"' in page and 'id="titulo-error"' not in page
    assert 'value="Un título con &lt;b&gt;marcas&lt;/b&gt;"' in page
    assert 'value="Lámpara"' in page and '<option value="alta" selected>' in page


def test_registration_errors_next_to_email_and_password_and_a_taken_email(app):
    browser = Browser(app)
    response = browser.post("/registro", {"nombre": "Ana", "apellidos": "García", "email": "no-es-un-email",
                                          "password": "corta"}, page="/registro")
    assert response.status_code == 422
    assert 'id="email-error">No es un email válido.</p>' in browser.page
    assert 'id="password-error">La contraseña debe tener' in browser.page
    assert 'value="no-es-un-email"' in browser.page and 'value="Ana"' in browser.page
    assert 'type="password" required' in browser.page and "corta" not in browser.page  # never typed back

    _ana, email = customer(app)
    response = browser.post("/registro", {"nombre": "Ana", "apellidos": "Otra", "email": email,
                                          "password": PASSWORD}, page="/registro")
    assert response.status_code == 409 and 'id="email-error"' in browser.page


def test_a_refused_action_is_shown_plainly_and_a_reopening_needs_a_reason(app):
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, new_categoria())
    response = ana.post(f"/incidencias/{incidencia_id}/cierre", page=f"/incidencias/{incidencia_id}")
    assert response.status_code == 409
    assert re.search(r'<div class="aviso aviso-error" role="alert">\s*<p>No se ha podido hacer: la incidencia está '
                     r'ahora «(Abierta|Asignada)» y esa acción ya no es posible', ana.page)
    response = ana.post(f"/incidencias/{incidencia_id}/comentarios", {"texto": "   "})
    assert response.status_code == 422 and 'id="texto-error">Este campo es obligatorio.</p>' in ana.page
    response = ana.post(f"/incidencias/{incidencia_id}/cancelacion", {"motivo": "Ya no la necesito"})
    assert response.status_code == 302
    page = wait_page(ana, f"/incidencias/{incidencia_id}", lambda p: 'data-estado="cancelada"' in p,
                     "the cancellation applied")
    assert "Cancelada: Ya no la necesito" in text_of(page, "historial")
    assert ">Cancelar la incidencia</button>" not in page and 'name="texto"' not in page


# -- security ------------------------------------------------------------------------------------------
def test_a_title_with_a_script_is_shown_as_text_everywhere(app, api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Xavi")
    api.wait_known_by_resolucion(api.admin_token(), agente)
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, categoria, titulo="<script>alert(1)</script>",
                                  descripcion='"><img src=x onerror=alert(2)>')
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    for page in (ana.get("/incidencias").get_data(as_text=True),
                 ana.get(f"/incidencias/{incidencia_id}").get_data(as_text=True)):
        assert escaped in page and "<script>alert" not in page and "<img src=x" not in page
    xavi = staff(app, agente.email, agente.password)
    page = wait_page(xavi, "/equipo/incidencias?vista=mias", lambda p: incidencia_id in p, "in the agent's queue")
    assert escaped in page and "<script>alert" not in page
    page = xavi.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert f"<h1>{escaped}</h1>" in page


def test_every_post_needs_the_csrf_token_of_the_session(app):
    ana, _email = customer(app)
    other, _ = customer(app, "Otra")
    before = ana.get("/incidencias").get_data(as_text=True).count("<tr data-incidencia-id=")
    data = {"producto.referencia": "X", "producto.nombre": "X", "titulo": "X", "descripcion": "X"}
    for token in (None, other.token(), "not-a-token"):
        sent = dict(data, **({"csrf_token": token} if token else {}))
        response = ana.client.post("/incidencias/nueva", data=sent)
        assert response.status_code == 400
        assert "La página ha caducado; vuelva a intentarlo" in response.get_data(as_text=True)
        assert "Traceback" not in response.get_data(as_text=True)
    assert ana.get("/incidencias").get_data(as_text=True).count("<tr data-incidencia-id=") == before
    assert ana.client.post("/salir").status_code == 400  # logging out is a POST with its token too


def test_security_headers_the_session_cookie_and_no_token_in_any_page(app):
    browser = Browser(app)
    first = browser.get("/")
    assert first.headers["Content-Security-Policy"] == CSP
    assert first.headers["Referrer-Policy"] == "same-origin"
    assert first.headers["X-Content-Type-Options"] == "nosniff"
    assert first.headers["X-Frame-Options"] == "DENY"
    ana, _email = customer(app)
    cookie = ana.client.get_cookie("incidencias_sesion")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    token = ana.session()["token"]
    assert token.count(".") == 2 and ana.session()["area"] == "cliente" and ana.session()["rol"] == "cliente"
    incidencia_id = open_incident(ana, None)
    for path in ("/incidencias", f"/incidencias/{incidencia_id}", "/incidencias/nueva", "/notificaciones",
                 "/perfil", "/perfil/baja"):
        response = ana.get(path)
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert token not in page and token.split(".")[1] not in page, path
        assert " style=" not in page and "<style" not in page, path
        assert all(re.match(r'<script src="/static/portal\.js\?v=\w+" defer>', s)
                   for s in re.findall(r"<script[^>]*>", page)), path
        assert '<html lang="es">' in page and page.count("<h1") == 1 and '<main id="contenido"' in page
        assert '<a class="saltar" href="#contenido">Saltar al contenido</a>' in page
    for path in ("/static/portal.css", "/static/portal.js"):
        response = ana.get(path)
        assert response.status_code == 200 and response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_session_of_one_area_never_opens_the_other(app):
    ana, _email = customer(app)
    response = ana.get("/equipo/incidencias?vista=mias")
    assert response.status_code == 302 and response.headers["Location"].startswith("/equipo/entrar")
    admin = staff(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    for path in ("/incidencias", "/perfil", "/notificaciones"):
        response = admin.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/entrar"), path
    anonymous = Browser(app)
    response = anonymous.get("/incidencias?estado=abierta")
    assert response.status_code == 302 and response.headers["Location"] == \
        "/entrar?siguiente=/incidencias?estado%3Dabierta"


def test_login_errors_the_throttle_wait_and_going_back_where_one_was(app):
    _ana, email = customer(app)
    browser = Browser(app)
    browser.get("/entrar?siguiente=/perfil")
    assert 'name="siguiente" value="/perfil"' in browser.page
    response = browser.post("/entrar", {"email": email, "password": "Incorrecta-2026", "siguiente": "/perfil"})
    assert response.status_code == 401
    assert re.search(r'role="alert">\s*<p>El email o la contraseña no son correctos</p>', browser.page)
    assert f'value="{email}"' in browser.page
    for _ in range(6):
        response = browser.post("/entrar", {"email": email, "password": "Incorrecta-2026"})
    assert response.status_code == 429
    assert re.search(r"Demasiados intentos; espere \d+ segundos", browser.page)
    elsewhere = Browser(app)  # another address, another customer: not throttled
    other, other_email = customer(app, "Berta")
    response = elsewhere.post("/entrar", {"email": other_email, "password": PASSWORD, "siguiente": "/perfil"},
                              page="/entrar")
    assert response.status_code == 302 and response.headers["Location"] == "/perfil"
    response = Browser(app).post("/entrar", {"email": other_email, "password": PASSWORD,
                                             "siguiente": "https://evil.example/"}, page="/entrar")
    assert response.headers["Location"] == "/incidencias"
    assert other.session()["nombre"] == "Berta García"


def test_logout_ends_the_session(app):
    ana, _email = customer(app)
    response = ana.post("/salir", page="/incidencias")
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert "token" not in ana.session()
    assert ana.get("/incidencias").status_code == 302



def test_a_correlation_id_the_services_would_refuse_is_replaced_not_a_500(app):
    """The header travels to the APIs: anything but their ASCII rule would
    break every call of the page (httpx refuses non-ASCII headers)."""
    ana, _email = customer(app)
    for header in ("ñññññññññ", "x" * 101, "bad value <script>"):
        response = ana.get("/incidencias", headers={"X-Correlation-ID": header})
        assert response.status_code == 200, header
        assert 'id="lista-incidencias"' in response.get_data(as_text=True) or "Todavía no ha abierto" in ana.page


def test_an_id_in_the_url_names_that_resource_and_nothing_else(app):
    """A path segment of the page is one path segment of the API call: a
    crafted ``..`` or query string never reaches another resource."""
    admin = staff(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    for path in ("/equipo/empleados/%3Frol%3Dadmin", "/equipo/empleados/.", "/equipo/incidencias/..",
                 "/equipo/incidencias/."):
        assert admin.get(path).status_code == 404, path
    ana, _email = customer(app)
    for path in ("/incidencias/%3Festado%3Dabierta", "/incidencias/.", "/incidencias/.."):
        assert ana.get(path).status_code == 404, path


# -- the team ----------------------------------------------------------------------------------------------
def test_only_the_actions_a_person_may_do_are_offered_and_a_forced_one_is_refused_plainly(app, api):
    categoria = new_categoria()
    admin_token = api.admin_token()
    duena = api.new_empleado("agente", [categoria], nombre="Dora", admin_token=admin_token)
    otra = api.new_empleado("agente", [new_categoria()], nombre="Olga", admin_token=admin_token)
    jefa = api.new_empleado("supervisor", [new_categoria()], nombre="Sara", admin_token=admin_token)
    api.wait_known_by_resolucion(admin_token, duena, otra, jefa)
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, categoria)
    api.wait_customer_sees(ana.session()["token"], incidencia_id, "asignada")

    olga = staff(app, otra.email, otra.password)
    page = olga.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    for button in ("Tomar", "Empezar", "Asignar", "Proponer solución", "Añadir comentario", "Guardar cambios"):
        assert f">{button}</button>" not in page, button
    assert "Solo quien la tiene asignada, o un supervisor, puede actuar sobre ella" in page
    response = olga.post(f"/equipo/incidencias/{incidencia_id}/inicio")
    assert response.status_code == 403
    assert re.search(r'role="alert">\s*<p>No tiene permiso para hacer esto\. Solo puede actuar sobre las '
                     r'incidencias asignadas a usted</p>', olga.page)
    assert 'name="asignada_a"' not in olga.get("/equipo/incidencias?vista=todas").get_data(as_text=True)

    sara = staff(app, jefa.email, jefa.password)
    page = sara.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert '<select id="empleado_id" name="empleado_id">' in page and ">Tomar</button>" in page
    assert f'<option value="{duena.id}" selected>' in page and f'<option value="{otra.id}">' in page
    assert 'name="asignada_a"' in sara.get("/equipo/incidencias?vista=todas").get_data(as_text=True)
    response = sara.post(f"/equipo/incidencias/{incidencia_id}/asignacion", {"empleado_id": otra.id})
    assert response.status_code == 302
    page = olga.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert text_of(page, "asignada-a") == "Olga Soporte" and ">Empezar</button>" in page
    response = sara.post(f"/equipo/incidencias/{incidencia_id}/datos", {"prioridad": "critica", "categoria": ""})
    assert response.status_code == 302
    page = sara.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert "Prioridad cambiada de Alta a Crítica" in text_of(page, "historial")
    assert olga.get("/equipo/empleados").status_code == 403
    assert sara.get("/equipo/empleados/nuevo").status_code == 403


def test_the_queues_and_a_supervisor_taking_an_incident_over(app, api):
    categoria = new_categoria()
    admin_token = api.admin_token()
    agente = api.new_empleado("agente", [categoria], nombre="Tomas", admin_token=admin_token)
    jefe = api.new_empleado("supervisor", [new_categoria()], nombre="Simon", admin_token=admin_token)
    api.wait_known_by_resolucion(admin_token, agente, jefe)
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, categoria)
    tomas = staff(app, agente.email, agente.password)
    page = wait_page(tomas, f"/equipo/incidencias?vista=mias&categoria={categoria}", lambda p: incidencia_id in p,
                     "in the agent's queue")
    assert '<select id="orden" name="orden">' in page and ">Filtrar</button>" in page
    live = tomas.get(f"/equipo/incidencias/estado.json?vista=mias&categoria={categoria}").json
    assert [i["id"] for i in live["incidencias"]] == [incidencia_id]
    page = tomas.get(f"/equipo/incidencias?vista=sin_asignar&categoria={categoria}").get_data(as_text=True)
    assert 'aria-current="page">Sin asignar</a>' in page and incidencia_id not in page

    simon = staff(app, jefe.email, jefe.password)
    simon.get(f"/equipo/incidencias?vista=todas&categoria={categoria}&asignada_a={agente.id}")
    assert f'data-incidencia-id="{incidencia_id}"' in simon.page and 'aria-current="page">Todas</a>' in simon.page
    response = simon.post(f"/equipo/incidencias/{incidencia_id}/asignacion",
                          page=f"/equipo/incidencias/{incidencia_id}")
    assert response.status_code == 302
    page = simon.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert text_of(page, "asignada-a") == "Simon Soporte" and "Ha tomado la incidencia" in page
    assert f'data-incidencia-id="{incidencia_id}"' not in tomas.get(
        f"/equipo/incidencias?vista=mias&categoria={categoria}").get_data(as_text=True)
    assert tomas.get(f"/equipo/incidencias/{incidencia_id}/estado.json").json["estado"] == "asignada"


def test_an_agent_finds_an_incident_by_a_word_of_its_internal_note(app, api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Tomas")
    api.wait_known_by_resolucion(api.admin_token(), agente)
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, categoria, descripcion="El interruptor está suelto")
    tomas = staff(app, agente.email, agente.password)
    queue = f"/equipo/incidencias?vista=mias&categoria={categoria}"
    wait_page(tomas, queue, lambda p: incidencia_id in p, "in the agent's queue")
    word = f"proveedor{uuid.uuid4().hex[:8]}"
    tomas.get(f"/equipo/incidencias/{incidencia_id}")
    response = tomas.post(f"/equipo/incidencias/{incidencia_id}/comentarios",
                          {"texto": f"Avisar al {word}", "interna": "si"}, page=f"/equipo/incidencias/{incidencia_id}")
    assert response.status_code == 302, tomas.page
    page = tomas.get(f"{queue}&q=interruptor+{word}").get_data(as_text=True)
    assert re.findall(r'<tr data-incidencia-id="([^"]+)"', page) == [incidencia_id]
    assert '<option value="relevancia" selected>Relevancia</option>' in page
    assert "relevancia" not in tomas.get(queue).get_data(as_text=True)  # an order of searches only
    # The customer never finds it by the note's word.
    assert "<tr data-incidencia-id=" not in ana.get(f"/incidencias?q={word}").get_data(as_text=True)
    bad = tomas.get(f"{queue}&q=%22{word}%22")
    assert bad.status_code == 400
    assert text_of(bad.get_data(as_text=True), "q-error") == 'Escriba solo palabras: la búsqueda no admite "'


def test_the_statistics_are_charts_with_their_numbers_as_tables(app):
    admin = staff(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    page = admin.get("/equipo/estadisticas").get_data(as_text=True)
    svgs = re.findall(r'<svg id="([\w-]+)" class="grafico-svg" role="img" aria-labelledby="([\w-]+) ([\w-]+)"', page)
    assert [s[0] for s in svgs] == ["grafico-estado", "grafico-prioridad", "grafico-carga"]
    for svg_id, title_id, _desc in svgs:
        assert f'<title id="{title_id}">' in page
    assert page.count('<table class="solo-lectores">') == 3
    assert "Mediana" in page and "Percentil 90" in page
    weeks = re.findall(r'<tr data-semana="(\d{4}-W\d{2})">', page)
    assert len(weeks) == 8 and weeks == sorted(weeks)  # the channel table: the last 8 weeks, the latest last
    assert '<th scope="col">Teléfono</th>' in page and "Por teléfono" in page


def test_an_agent_finds_a_caller_by_phone_and_sees_everything_they_reported(app, api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Rosa", apellidos="Mar")
    api.wait_known_by_resolucion(api.admin_token(), agente)
    lola = api.new_cliente("Lola", apellidos="Flores")
    digits = f"6{uuid.uuid4().int % 10**8:08d}"
    telefono = f"+34 {digits[:3]} {digits[3:5]} {digits[5:7]} {digits[7:]}"
    assert api.call("PATCH", "clientes", "/clientes/yo", lola.token, json={"telefono": telefono}).status_code == 200
    primera = api.new_incidencia(lola, categoria, titulo="La tostadora no calienta")["id"]
    segunda = api.new_incidencia(lola, categoria, titulo="Falta el cable")["id"]
    for incidencia_id in (primera, segunda):
        api.wait_customer_sees(lola, incidencia_id, "asignada")

    rosa = staff(app, agente.email, agente.password)
    found = rosa.get("/equipo/clientes", query_string={"q": f"{digits[:3]}-{digits[3:]}"}).get_data(as_text=True)
    assert re.findall(r'<tr data-cliente-id="([^"]+)">', found) == [lola.id]  # the call's number, written otherwise
    assert 'aria-current="page">Clientes</a>' in found
    page = rosa.get(f"/equipo/clientes/{lola.id}").get_data(as_text=True)
    assert "<h1>Lola Flores</h1>" in page and text_of(page, "cliente-telefono") == telefono
    assert [text_of(page, f"cliente-{grupo}") for grupo in ("abiertas", "resueltas", "cerradas", "canceladas")] == [
        "2", "0", "0", "0"]
    assert re.findall(r'<tr data-incidencia-id="([^"]+)">', page) == [segunda, primera]  # the newest first
    incidencia = rosa.get(f"/equipo/incidencias/{primera}").get_data(as_text=True)
    assert f'<a href="/equipo/clientes/{lola.id}">Lola Flores</a>' in incidencia
    assert "0 clientes" in rosa.get("/equipo/clientes", query_string={"q": "+34 000 00 00 01"}).get_data(as_text=True)
    assert rosa.get("/equipo/clientes/no-existe").status_code == 404
    assert customer(app)[0].get("/equipo/clientes").status_code == 302  # a customer's session never opens it


def test_an_agent_opens_an_incident_for_a_caller_who_then_sees_it_and_is_notified(app, api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Nuria", apellidos="Llamadas")
    api.wait_known_by_resolucion(api.admin_token(), agente)
    pepe = api.new_cliente("Pepe", apellidos="Llama")
    nuria = staff(app, agente.email, agente.password)
    form = f"/equipo/clientes/{pepe.id}/incidencias/nueva"
    page = nuria.get(f"/equipo/clientes/{pepe.id}").get_data(as_text=True)
    assert f'id="abrir-por-telefono" class="boton boton-principal" href="{form}"' in page
    # apertura learns of a new customer from cliente.registrado: until then it is "not found" there.
    wait_until(lambda: api.call("POST", "apertura", f"/clientes/{pepe.id}/incidencias", agente.token,
                                json={}).status_code == 422, timeout=20, interval=0.1,
               message="apertura knows the customer")
    nuria.get(form)
    assert 'aria-current="page">Clientes</a>' in nuria.page
    key = re.search(r'name="idempotency_key" value="([^"]+)"', nuria.page).group(1)
    data = {"idempotency_key": key, "producto.referencia": "CAF-9", "producto.nombre": "Cafetera",
            "pedido": "P-77", "titulo": "", "descripcion": "Pierde agua por debajo", "categoria": categoria,
            "prioridad": "alta"}
    response = nuria.post(form, data)
    assert response.status_code == 422
    assert 'id="titulo-error">Este campo es obligatorio.</p>' in nuria.page and 'value="Cafetera"' in nuria.page
    response = nuria.post(form, {**data, "titulo": "La cafetera pierde agua"})
    assert response.status_code == 302 and response.headers["Location"] == f"/equipo/clientes/{pepe.id}"
    assert "Incidencia «La cafetera pierde agua» abierta por teléfono" in nuria.get(
        response.headers["Location"]).get_data(as_text=True)

    [mine] = api.list_all("apertura", "/incidencias", pepe.token).values()
    assert (mine["titulo"], mine["canal"], mine["producto"]["pedido"]) == ("La cafetera pierde agua", "telefono", "P-77")
    assert mine["historial"][0]["por"] == {"id": agente.id, "rol": "agente"}
    seen = api.wait_customer_sees(pepe, mine["id"], "asignada")
    assert seen["asignada_a"]["id"] == agente.id
    wait_until(lambda: [n["incidencia_id"] for n in api.list_all("apertura", "/notificaciones", pepe.token).values()]
               == [mine["id"]], timeout=20, interval=0.1, message="the customer is told it was assigned")
    assert customer(app)[0].get(form).status_code == 302  # a customer's session never opens it


def test_a_supervisor_writes_a_canned_reply_an_agent_sends_it_filled_in_and_it_is_retired(app, api):
    categoria = new_categoria()
    admin_token = api.admin_token()
    agente = api.new_empleado("agente", [categoria], nombre="Rita", apellidos="Plantillas", admin_token=admin_token)
    jefa = api.new_empleado("supervisor", [new_categoria()], nombre="Julia", admin_token=admin_token)
    api.wait_known_by_resolucion(admin_token, agente, jefa)
    titulo = f"Reembolso {uuid.uuid4().hex[:6]}"
    julia = staff(app, jefa.email, jefa.password)
    assert 'aria-current="page">Respuestas</a>' in julia.get("/equipo/respuestas").get_data(as_text=True)
    julia.get("/equipo/respuestas/nueva")
    response = julia.post("/equipo/respuestas/nueva", {"titulo": titulo, "texto": "Hola {cliente}, pedido {pedido}",
                                                       "categoria": ""})
    assert response.status_code == 422
    assert re.search(r'id="texto-error">Marcadores desconocidos: \{pedido\}\. Se admiten', julia.page)
    response = julia.post("/equipo/respuestas/nueva", {
        "titulo": titulo, "texto": "Hola {cliente}: sobre «{titulo}», le devolvemos el importe. {agente}",
        "categoria": ""})
    assert response.status_code == 302 and response.headers["Location"] == "/equipo/respuestas"
    listed = julia.get("/equipo/respuestas").get_data(as_text=True)
    [respuesta_id] = re.findall(rf'<tr data-respuesta-id="([^"]+)">\s*<td data-etiqueta="Título"><a href="[^"]+" '
                                rf'class="titulo-fila">{titulo}</a>', listed)

    ana, _email = customer(app)
    incidencia_id = open_incident(ana, categoria, titulo="El paquete no llegó")
    api.wait_customer_sees(ana.session()["token"], incidencia_id, "asignada")
    rita = staff(app, agente.email, agente.password)
    page = rita.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert f'<option value="{respuesta_id}">{titulo}</option>' in page and ">Respuestas</a>" not in page
    assert rita.post(f"/equipo/incidencias/{incidencia_id}/comentarios",
                     {"texto": "", "respuesta_id": respuesta_id}).status_code == 302
    page = rita.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert "Hola Ana García: sobre «El paquete no llegó», le devolvemos el importe. Rita Plantillas" in page
    assert rita.get("/equipo/respuestas").status_code == 403

    assert julia.post(f"/equipo/respuestas/{respuesta_id}/retirada", page=f"/equipo/respuestas/{respuesta_id}"
                      ).status_code == 302
    assert "Retirada" in text_of(julia.get("/equipo/respuestas").get_data(as_text=True), "lista-respuestas")
    page = rita.get(f"/equipo/incidencias/{incidencia_id}").get_data(as_text=True)
    assert f'<option value="{respuesta_id}">' not in page


def test_an_agent_tags_an_incident_finds_it_by_the_tag_and_the_customer_never_sees_it(app, api):
    categoria = new_categoria()
    agente = api.new_empleado("agente", [categoria], nombre="Tomas", apellidos="Etiquetas")
    api.wait_known_by_resolucion(api.admin_token(), agente)
    ana, _email = customer(app)
    incidencia_id = open_incident(ana, categoria, titulo="Llegó mojado")
    api.wait_customer_sees(ana.session()["token"], incidencia_id, "asignada")
    tomas = staff(app, agente.email, agente.password)
    page = f"/equipo/incidencias/{incidencia_id}"
    assert tomas.post(f"{page}/etiquetas", {"etiqueta": "a/b"}, page=page).status_code == 422
    assert 'id="etiqueta-error">Una etiqueta no lleva «/».</p>' in tomas.page
    assert tomas.post(f"{page}/etiquetas", {"etiqueta": "-mal"}).status_code == 422
    assert 'id="etiqueta-error">Una etiqueta tiene de 1 a 30 letras' in tomas.page
    tag = f"humedad-{uuid.uuid4().hex[:6]}"
    response = tomas.post(f"{page}/etiquetas", {"etiqueta": tag.replace("-", " ").upper()})
    assert response.status_code == 302
    shown = tomas.get(page).get_data(as_text=True)
    assert text_of(shown, "etiquetas") == f"{tag} ×"
    queue = tomas.get("/equipo/incidencias", query_string={"vista": "todas", "etiqueta": tag}).get_data(as_text=True)
    assert re.findall(r'<tr data-incidencia-id="([^"]+)"', queue) == [incidencia_id]
    assert f'<option value="{tag}" selected>{tag} (1)</option>' in queue
    assert tag not in ana.get(f"/incidencias/{incidencia_id}").get_data(as_text=True)
    assert tomas.post(f"{page}/etiquetas/{tag}/retirada", page=page).status_code == 302
    assert "Sin etiquetas." in tomas.get(page).get_data(as_text=True)


def test_a_supervisor_changes_the_priority_of_the_incidents_ticked_and_is_told_which_were_refused(app, api):
    categoria = new_categoria()
    admin_token = api.admin_token()
    agente = api.new_empleado("agente", [categoria], nombre="Lola", apellidos="Lotes", admin_token=admin_token)
    jefe = api.new_empleado("supervisor", [new_categoria()], nombre="Luis", apellidos="Jefe", admin_token=admin_token)
    api.wait_known_by_resolucion(admin_token, agente, jefe)
    ana, _email = customer(app)
    ids = [open_incident(ana, categoria, titulo=f"Caja {n}") for n in range(3)]
    for incidencia_id in ids:
        api.wait_customer_sees(ana.session()["token"], incidencia_id, "asignada")
    api.act(agente, "resolucion", ids[2], {"texto": "Ya está"})
    luis = staff(app, jefe.email, jefe.password)
    queue = f"/equipo/incidencias?vista=todas&categoria={categoria}"
    page = luis.get(queue).get_data(as_text=True)
    assert page.count('<input type="checkbox" name="incidencias"') == 3 and 'id="form-lote"' in page
    response = luis.post("/equipo/incidencias/lote", {"incidencias": ids, "accion": "prioridad",
                                                      "prioridad": "critica", "volver": queue}, page=queue)
    assert response.status_code == 302 and response.headers["Location"] == queue
    page = luis.get(queue).get_data(as_text=True)
    assert "Aplicado a 2 de 3." in page and f"No se pudo en {ids[2][:8]}: " in page
    seen = api.list_all("resolucion", "/incidencias", jefe.token, {"categoria": categoria})
    assert [seen[i]["prioridad"] for i in ids] == ["critica", "critica", "alta"]
    agentes = staff(app, agente.email, agente.password)
    assert 'id="form-lote"' not in agentes.get(queue.replace("todas", "mias")).get_data(as_text=True)
    assert agentes.post("/equipo/incidencias/lote", {"incidencias": ids[:1], "accion": "prioridad",
                                                     "prioridad": "baja"}, page=queue).status_code == 403


def test_a_supervisor_merges_a_duplicate_the_customer_then_follows_in_the_other(app, api):
    categoria = new_categoria()
    admin_token = api.admin_token()
    agente = api.new_empleado("agente", [categoria], nombre="Dani", apellidos="Dobles", admin_token=admin_token)
    jefe = api.new_empleado("supervisor", [new_categoria()], nombre="Berta", apellidos="Jefa", admin_token=admin_token)
    api.wait_known_by_resolucion(admin_token, agente, jefe)
    ana, _email = customer(app)
    destino = open_incident(ana, categoria, titulo="La lámpara no enciende")
    duplicada = open_incident(ana, categoria, titulo="La lámpara sigue sin encender")
    for incidencia_id in (destino, duplicada):
        api.wait_customer_sees(ana.session()["token"], incidencia_id, "asignada")
    berta = staff(app, jefe.email, jefe.password)
    page = berta.get(f"/equipo/incidencias/{duplicada}").get_data(as_text=True)
    assert f'<option value="{destino}">La lámpara no enciende (asignada)</option>' in page
    response = berta.post(f"/equipo/incidencias/{duplicada}/fusion", {"destino_id": destino},
                          page=f"/equipo/incidencias/{duplicada}")
    assert response.status_code == 302 and response.headers["Location"] == f"/equipo/incidencias/{destino}"
    page = berta.get(f"/equipo/incidencias/{destino}").get_data(as_text=True)
    assert "«La lámpara sigue sin encender» se ha unido a esta incidencia" in page
    assert "Se le unió «La lámpara sigue sin encender»" in page
    # The customer: the duplicate points to the other, and they were told so.
    seen = wait_page(ana, f"/incidencias/{duplicada}", lambda p: 'id="fusionada-en"' in p, "the merge reaches apertura")
    assert f'href="/incidencias/{destino}">Siga allí</a>' in seen and "Unida a otra" in seen
    notes = ana.get("/notificaciones").get_data(as_text=True)
    assert "trata lo mismo que «La lámpara no enciende»: las hemos unido" in notes
    # An agent has no such form; merging into the same one again is refused next to the field.
    dani = staff(app, agente.email, agente.password)
    assert 'name="destino_id"' not in dani.get(f"/equipo/incidencias/{destino}").get_data(as_text=True)
    refused = berta.post(f"/equipo/incidencias/{destino}/fusion", {"destino_id": destino},
                         page=f"/equipo/incidencias/{destino}")
    assert refused.status_code == 422 and "Una incidencia no se fusiona consigo misma" in berta.page


def test_the_admin_registers_changes_and_deactivates_an_employee_whose_session_ends(app, api):
    admin = staff(app, ADMIN_EMAIL, ADMIN_PASSWORD)
    assert ">Dar de alta</a>" in admin.get("/equipo/empleados").get_data(as_text=True)
    email = f"nuevo.{uuid.uuid4().hex[:8]}@example.com"
    response = admin.post("/equipo/empleados/nuevo", {"nombre": "Nuria", "apellidos": "Vidal", "email": email,
                                                      "password": "corta", "rol": "agente",
                                                      "categorias": "Envios, devoluciones"},
                          page="/equipo/empleados/nuevo")
    assert response.status_code == 422 and 'id="password-error"' in admin.page
    assert 'value="Envios, devoluciones"' in admin.page
    response = admin.post("/equipo/empleados/nuevo", {"nombre": "Nuria", "apellidos": "Vidal", "email": email,
                                                      "password": "Soporte-2026", "rol": "agente",
                                                      "categorias": "Envios, devoluciones"})
    assert response.status_code == 302 and response.headers["Location"] == "/equipo/empleados"
    page = admin.get("/equipo/empleados").get_data(as_text=True)
    empleado_id = re.search(r'<tr data-empleado-id="([^"]+)">\s*<td[^>]*><a [^>]*>Nuria Vidal</a>', page).group(1)
    assert "Envíos, Devoluciones" in page

    nuria = staff(app, email, "Soporte-2026")
    assert nuria.get("/equipo/incidencias?vista=mias").status_code == 200

    response = admin.post(f"/equipo/empleados/{empleado_id}", {"rol": "supervisor", "categorias": "garantia"},
                          page=f"/equipo/empleados/{empleado_id}")
    assert response.status_code == 302
    page = admin.get(f"/equipo/empleados/{empleado_id}").get_data(as_text=True)
    assert text_of(page, "rol-actual") == "Supervisor" and 'value="garantia"' in page
    response = admin.post(f"/equipo/empleados/{empleado_id}/baja", {})
    assert response.status_code == 422 and 'id="confirmacion-error"' in admin.page
    response = admin.post(f"/equipo/empleados/{empleado_id}/baja", {"confirmacion": "si"})
    assert response.status_code == 302
    assert "De baja" in text_of(admin.get(f"/equipo/empleados/{empleado_id}").get_data(as_text=True), "activo")

    # her token was refused by the services (another role, then deactivated): her session is over
    response = nuria.get("/equipo/incidencias?vista=mias")
    assert response.status_code == 302
    assert response.headers["Location"] == "/equipo/entrar?siguiente=/equipo/incidencias?vista%3Dmias"
    page = nuria.get(response.headers["Location"]).get_data(as_text=True)
    assert 'name="siguiente" value="/equipo/incidencias?vista=mias"' in page
    assert '<div class="aviso aviso-info" role="status"><p>Su sesión ha terminado; vuelva a entrar</p></div>' in page
    assert "token" not in nuria.session()


# -- the customer's account -------------------------------------------------------------------------------
def test_the_profile_the_password_and_deleting_the_account(app):
    ana, email = customer(app)
    page = ana.get("/perfil").get_data(as_text=True)
    assert f'value="{email}"' in page and 'value="1990-07-26"' in page
    response = ana.post("/perfil", {"nombre": "Anabel", "apellidos": "García", "email": email,
                                    "fecha_nacimiento": ""})
    assert response.status_code == 302
    page = ana.get("/perfil").get_data(as_text=True)
    assert '<span class="persona">Anabel García</span>' in page and 'id="fecha_nacimiento"' in page
    response = ana.post("/perfil", {"nombre": "", "apellidos": "García", "email": "mal"})
    assert response.status_code == 422 and 'id="nombre-error"' in ana.page and 'id="email-error"' in ana.page
    assert 'value="mal"' in ana.page

    response = ana.post("/perfil/password", {"password_actual": "Incorrecta-2026", "password": "Nueva-clave-2026"})
    assert response.status_code == 422 and 'id="password_actual-error">La contraseña actual no es correcta' in ana.page
    response = ana.post("/perfil/password", {"password_actual": PASSWORD, "password": "Nueva-clave-2026"})
    assert response.status_code == 302

    response = ana.post("/perfil/baja", {}, page="/perfil/baja")
    assert response.status_code == 422
    assert re.search(r'<input id="confirmacion" name="confirmacion" type="checkbox" value="si" aria-invalid="true" '
                     r'aria-describedby="confirmacion-error">\s*<label for="confirmacion">Entiendo que se borrarán '
                     r'mis datos</label>\s*<p class="error-campo" id="confirmacion-error">', ana.page)
    response = ana.post("/perfil/baja", {"confirmacion": "si"})
    assert response.status_code == 302 and response.headers["Location"] == "/entrar"
    assert "Su cuenta se ha borrado" in ana.get("/entrar").get_data(as_text=True)
    assert ana.get("/incidencias").status_code == 302
    again = Browser(app)
    response = again.post("/entrar", {"email": email, "password": "Nueva-clave-2026"}, page="/entrar")
    assert response.status_code == 401


def test_health(app):
    client = app.test_client()
    assert client.get("/salud/vivo").json == {"servicio": "portal", "estado": "vivo"}
    ready = client.get("/salud")
    assert ready.status_code == 200 and ready.json["estado"] == "listo"
    assert set(ready.json["comprobaciones"]) == {"clientes", "apertura", "resolucion", "empleados"}
