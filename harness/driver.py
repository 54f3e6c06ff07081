"""HTTP to the four services of a running system, as its users would use
it: sign up and log in customers, have the admin register staff, open
incidents and act on them, read both incident replicas, and wait, with a
deadline, until a replica shows what is expected."""
from __future__ import annotations

import itertools
import threading
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import httpx

from .polling import wait_until
from .system import ADMIN_EMAIL, ADMIN_PASSWORD

CLIENTE_PASSWORD = "Cliente-pass-2026"
EMPLEADO_PASSWORD = "Empleado-pass-2026"


@dataclass
class Account:
    """Somebody with an account and a token."""

    rol: str
    id: str
    email: str
    password: str
    token: str
    nombre: str = ""

    def __repr__(self) -> str:  # keeps tokens out of assertion messages
        return f"Account({self.rol}, {self.nombre or self.email})"


Who = Account | str  # an account, or a bare token


def token_of(who: Who | None) -> str | None:
    return who.token if isinstance(who, Account) else who


def new_categoria(prefix: str = "cat") -> str:
    """A category nobody else uses: only agents made for it take its incidents."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def incidencia_body(categoria: str | None = None, **fields: Any) -> dict[str, Any]:
    """A valid body for POST /incidencias, with ``fields`` on top."""
    body: dict[str, Any] = {"titulo": "El pedido llegó roto", "descripcion": "La caja venía aplastada",
                            "producto": {"referencia": "SKU-1", "nombre": "Lámpara"}}
    if categoria is not None:
        body["categoria"] = categoria
    return {**body, **fields}


_addresses = itertools.count(1)
_addresses_lock = threading.Lock()


def new_source_address() -> str:
    """A loopback address (all of 127.0.0.0/8 is loopback on Linux) no other
    driver of this process sends from: the services' login throttle counts
    failures per client address."""
    with _addresses_lock:
        n = next(_addresses)
    return f"127.0.{10 + n // 250}.{1 + n % 250}"


class Driver:
    """One HTTP client for the four services (``urls``: name -> base URL),
    optionally sending from the loopback address ``source``. ``patience`` is
    how long the ``wait_*`` methods wait when not told otherwise."""

    def __init__(self, urls: Mapping[str, str], *, source: str | None = None, timeout: float = 15.0,
                 patience: float = 30.0):
        self.urls = dict(urls)
        self.source = source
        self.patience = patience
        transport = httpx.HTTPTransport(local_address=source) if source else None
        self.http = httpx.Client(timeout=timeout, transport=transport)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> "Driver":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- HTTP ------------------------------------------------------------------
    def url(self, service: str, path: str) -> str:
        return f"{self.urls[service]}{path}"

    def call(self, method: str, service: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        """One request; ``token`` goes as a bearer token, ``kwargs`` to httpx."""
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url(service, path), headers=headers, **kwargs)

    # -- accounts ----------------------------------------------------------------
    def login(self, service: str, email: str, password: str) -> str:
        """An access token from ``clientes`` or ``empleados``."""
        response = self.call("POST", service, f"/{service}/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def admin_token(self) -> str:
        """A token of the first admin (the one the system was started with)."""
        return self.login("empleados", ADMIN_EMAIL, ADMIN_PASSWORD)

    def admin(self) -> Account:
        token = self.admin_token()
        me = self.call("GET", "empleados", "/empleados/yo", token)
        assert me.status_code == 200, me.text
        return Account("admin", me.json()["id"], ADMIN_EMAIL, ADMIN_PASSWORD, token, "Admin")

    def new_cliente(self, nombre: str = "Cliente", *, apellidos: str = "Pruebas", email: str | None = None,
                    password: str = CLIENTE_PASSWORD) -> Account:
        """A customer signed up through clientes, and logged in."""
        email = email or f"{nombre.lower()}.{uuid.uuid4().hex[:10]}@example.com"
        created = self.call("POST", "clientes", "/clientes", json={
            "nombre": nombre, "apellidos": apellidos, "email": email, "password": password})
        assert created.status_code == 201, created.text
        token = self.login("clientes", email, password)
        return Account("cliente", created.json()["id"], email, password, token, nombre)

    def new_empleado(self, rol: str = "agente", categorias: list[str] | None = None, nombre: str = "Empleado", *,
                     admin_token: str | None = None, apellidos: str = "Soporte", email: str | None = None,
                     password: str = EMPLEADO_PASSWORD) -> Account:
        """An employee registered by the admin (``admin_token``, or a new login), and logged in."""
        email = email or f"{nombre.lower()}.{uuid.uuid4().hex[:10]}@example.com"
        created = self.call("POST", "empleados", "/empleados", admin_token or self.admin_token(), json={
            "nombre": nombre, "apellidos": apellidos, "email": email, "password": password,
            "rol": rol, "categorias": categorias or []})
        assert created.status_code == 201, created.text
        token = self.login("empleados", email, password)
        return Account(rol, created.json()["id"], email, password, token, nombre)

    def wait_known_by_resolucion(self, admin: Who, *empleados: Account, timeout: float | None = None) -> None:
        """Until resolucion's replica of employees (from empleado.* events)
        holds them: only then does auto-assignment consider them."""
        def known() -> bool:
            response = self.call("GET", "resolucion", "/estadisticas", token_of(admin))
            ids = {e["id"] for e in response.json()["carga_por_empleado"]} if response.status_code == 200 else set()
            return all(e.id in ids for e in empleados)

        self._wait(known, timeout, "resolucion knows the new employees")

    # -- incidents -------------------------------------------------------------------
    def open_incidencia(self, cliente: Who, categoria: str | None = None, *, key: str | None = None,
                        **fields: Any) -> httpx.Response:
        """POST /incidencias as ``cliente`` (with an Idempotency-Key if ``key``), whatever the answer."""
        headers = {"Idempotency-Key": key} if key else {}
        return self.call("POST", "apertura", "/incidencias", token_of(cliente), headers=headers,
                         json=incidencia_body(categoria, **fields))

    def new_incidencia(self, cliente: Who, categoria: str | None = None, **fields: Any) -> dict:
        """An incident opened by ``cliente``: the 201 answer's body."""
        response = self.open_incidencia(cliente, categoria, **fields)
        assert response.status_code == 201, response.text
        return response.json()

    def act(self, staff: Who, action: str, incidencia_id: str, body: dict | None = None) -> dict:
        """POST resolucion's /incidencias/{id}/{action} (inicio, resolucion...), expecting 200."""
        response = self.call("POST", "resolucion", f"/incidencias/{incidencia_id}/{action}", token_of(staff),
                             json=body if body is not None else {})
        assert response.status_code == 200, response.text
        return response.json()

    def customer_view(self, cliente: Who, incidencia_id: str) -> dict:
        """The incident as incidencias_apertura shows it to its customer."""
        response = self.call("GET", "apertura", f"/incidencias/{incidencia_id}", token_of(cliente))
        assert response.status_code == 200, response.text
        return response.json()

    def staff_view(self, staff: Who, incidencia_id: str) -> dict:
        """The incident as incidencias_resolucion shows it to staff."""
        response = self.call("GET", "resolucion", f"/incidencias/{incidencia_id}", token_of(staff))
        assert response.status_code == 200, response.text
        return response.json()

    def wait_customer_sees(self, cliente: Who, incidencia_id: str, estado: str,
                           timeout: float | None = None) -> dict:
        """Until the customer's view shows ``estado``; that view."""
        def seen() -> dict | bool:
            view = self.customer_view(cliente, incidencia_id)
            return view["estado"] == estado and view
        return self._wait(seen, timeout, f"apertura shows {incidencia_id} {estado}")

    def wait_staff_sees(self, staff: Who, incidencia_id: str, estado: str, timeout: float | None = None) -> dict:
        """Until the staff view shows ``estado``; that view."""
        def seen() -> dict | bool:
            view = self.staff_view(staff, incidencia_id)
            return view["estado"] == estado and view
        return self._wait(seen, timeout, f"resolucion shows {incidencia_id} {estado}")

    def list_all(self, service: str, path: str, token: str | None, params: dict | None = None) -> dict[str, dict]:
        """Every element of a paginated list, by id."""
        found: dict[str, dict] = {}
        page = 1
        while True:
            response = self.call("GET", service, path, token=token,
                                 params={**(params or {}), "pagina": page, "por_pagina": 100})
            response.raise_for_status()
            body = response.json()
            for item in body["elementos"]:
                found[item["id"]] = item
            if page >= body["paginas"]:
                return found
            page += 1

    def customer_incidencias(self, clientes: list[Account]) -> dict[str, dict]:
        """Every incident of these customers, as incidencias_apertura holds them."""
        found: dict[str, dict] = {}
        for cliente in clientes:
            found.update(self.list_all("apertura", "/incidencias", cliente.token))
        return found

    def staff_incidencias(self, staff: Who, categoria: str) -> dict[str, dict]:
        """Every incident of a category, as incidencias_resolucion holds them."""
        return self.list_all("resolucion", "/incidencias", token_of(staff), {"categoria": categoria})

    # -- the outboxes ----------------------------------------------------------------
    def pending_events(self) -> dict[str, int | None]:
        """Each service's outbox size, from its readiness check (None if unknown)."""
        sizes: dict[str, int | None] = {}
        for service in self.urls:
            try:
                body = self.call("GET", service, "/salud").json()
                sizes[service] = body["comprobaciones"]["almacenamiento"].get("eventos_pendientes")
            except (httpx.HTTPError, KeyError, ValueError):
                sizes[service] = None
        return sizes

    def settle(self, timeout: float = 60.0) -> None:
        """Until every outbox of the system is empty (everything published)."""
        wait_until(lambda: all(v == 0 for v in self.pending_events().values()), timeout=timeout,
                   interval=0.2, message="every outbox empty")

    def _wait(self, predicate: Callable[[], Any], timeout: float | None, message: str) -> Any:
        return wait_until(predicate, timeout=self.patience if timeout is None else timeout, message=message)
