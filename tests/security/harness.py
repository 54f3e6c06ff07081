"""The running system the security tests attack, and the people in it.

Every request goes over HTTP to the processes `make run` starts (the e2e
harness in ``tests/e2e/system.py``). Each client is bound to a loopback
source address of its own (127.0.0.0/8 is all loopback on Linux): the login
throttle counts failures per client address, so a test that spends one
address's allowance never locks out another test's logins.
"""
from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.system import ADMIN_EMAIL, ADMIN_PASSWORD, System
from tests.helpers import wait_until

SERVICES = ("clientes", "empleados", "apertura", "resolucion")
CLIENTE_PASSWORD = "Cliente-pass-2026"
EMPLEADO_PASSWORD = "Empleado-pass-2026"
ROLES = (None, "cliente", "agente", "supervisor", "admin")  # None: anonymous
# The address a reverse proxy in front of the services connects from: the
# system is started trusting it (FORWARDED_ALLOW_IPS), as the VM's nginx is.
PROXY_ADDRESS = "127.0.0.66"

_addresses = itertools.count(1)
_addresses_lock = threading.Lock()


def new_source_address() -> str:
    """A loopback address no other client of this run uses."""
    with _addresses_lock:
        n = next(_addresses)
    return f"127.0.{10 + n // 250}.{1 + n % 250}"


class Client:
    """HTTP to the four services from one loopback source address."""

    def __init__(self, urls: dict[str, str], source: str | None = None, timeout: float = 20):
        self.urls = urls
        self.source = source or new_source_address()
        self.http = httpx.Client(timeout=timeout, transport=httpx.HTTPTransport(local_address=self.source))

    def url(self, service: str, path: str) -> str:
        return f"{self.urls[service]}{path}"

    def call(self, method: str, service: str, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url(service, path), headers=headers, **kwargs)

    def close(self) -> None:
        self.http.close()


@dataclass
class Actor:
    """Somebody with an account and a token."""

    rol: str
    id: str
    email: str
    password: str
    token: str
    nombre: str = ""

    def __repr__(self) -> str:  # keeps tokens out of assertion messages
        return f"Actor({self.rol}, {self.nombre or self.email})"


@dataclass
class World:
    """Two customers and two agents (plus a supervisor and the first admin),
    with incidents in the states the attacks need, all made through the
    public APIs."""

    system: System
    client: Client
    categoria: str
    admin: Actor
    supervisor: Actor
    a1: Actor
    a2: Actor
    c1: Actor
    c2: Actor
    incidents: dict[str, str] = field(default_factory=dict)
    notifications: list[str] = field(default_factory=list)

    # -- accounts ------------------------------------------------------------
    def login(self, service: str, email: str, password: str) -> str:
        response = self.client.call("POST", service, f"/{service}/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def new_cliente(self, nombre: str = "Cliente") -> Actor:
        return new_cliente(self.client, nombre)

    def new_empleado(self, rol: str, categorias: list[str] | None = None, nombre: str = "Empleado") -> Actor:
        return new_empleado(self.client, self.admin.token, rol, categorias, nombre)

    def wait_known_by_resolucion(self, *empleados: Actor) -> None:
        """Until resolucion's replica of employees (from empleado.* events)
        holds them: only then does auto-assignment consider them."""
        def known():
            response = self.client.call("GET", "resolucion", "/estadisticas", self.admin.token)
            ids = {e["id"] for e in response.json()["carga_por_empleado"]} if response.status_code == 200 else set()
            return all(e.id in ids for e in empleados)
        wait_until(known, timeout=30, message="resolucion knows the new employees")

    # -- incidents -----------------------------------------------------------
    def open_incident(self, cliente: Actor, categoria: str, **extra: Any) -> dict:
        body = {"titulo": "Llegó roto", "descripcion": "La caja venía aplastada",
                "producto": {"referencia": "SKU-1", "nombre": "Lámpara"}, "categoria": categoria, **extra}
        response = self.client.call("POST", "apertura", "/incidencias", cliente.token, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def customer_view(self, cliente: Actor, incidencia_id: str) -> dict:
        response = self.client.call("GET", "apertura", f"/incidencias/{incidencia_id}", cliente.token)
        assert response.status_code == 200, response.text
        return response.json()

    def staff_view(self, incidencia_id: str) -> dict:
        response = self.client.call("GET", "resolucion", f"/incidencias/{incidencia_id}", self.admin.token)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_staff_sees(self, incidencia_id: str, estado: str, timeout: float = 30) -> dict:
        def seen():
            response = self.client.call("GET", "resolucion", f"/incidencias/{incidencia_id}", self.admin.token)
            return response.status_code == 200 and response.json()["estado"] == estado and response.json()
        return wait_until(seen, timeout=timeout, message=f"resolucion sees {incidencia_id} {estado}")

    def wait_customer_sees(self, cliente: Actor, incidencia_id: str, estado: str, timeout: float = 30) -> dict:
        def seen():
            view = self.customer_view(cliente, incidencia_id)
            return view["estado"] == estado and view
        return wait_until(seen, timeout=timeout, message=f"apertura sees {incidencia_id} {estado}")

    def act(self, actor: Actor, action: str, incidencia_id: str, body: dict | None = None) -> dict:
        response = self.client.call("POST", "resolucion", f"/incidencias/{incidencia_id}/{action}", actor.token,
                                    json=body if body is not None else {})
        assert response.status_code == 200, response.text
        return response.json()

    def incident_in(self, estado: str, cliente: Actor | None = None, agente: Actor | None = None) -> str:
        """A new incident of ``cliente`` (c1) assigned to ``agente`` (a1), in ``estado``."""
        cliente, agente = cliente or self.c1, agente or self.a1
        categoria = self.categoria_of(agente)
        incidencia_id = self.open_incident(cliente, categoria)["id"]
        view = self.wait_staff_sees(incidencia_id, "asignada")
        assert view["asignada_a"]["id"] == agente.id, view["asignada_a"]
        if estado in ("en_curso",):
            self.act(agente, "inicio", incidencia_id)
        if estado in ("resuelta", "cerrada", "reabierta"):
            self.act(agente, "resolucion", incidencia_id, {"texto": "Le enviamos otra"})
            self.wait_customer_sees(cliente, incidencia_id, "resuelta")
        if estado == "cerrada":
            response = self.client.call("POST", "apertura", f"/incidencias/{incidencia_id}/cierre", cliente.token,
                                        json={})
            assert response.status_code == 200, response.text
            self.wait_staff_sees(incidencia_id, "cerrada")
        if estado != "abierta":
            self.wait_customer_sees(cliente, incidencia_id, estado)
        return incidencia_id

    def categoria_of(self, agente: Actor) -> str:
        return f"{self.categoria}-{'a1' if agente is self.a1 else 'a2'}"

    def settled_state(self, incidencia_id: str, cliente: Actor | None = None) -> dict:
        """``state_of`` once both replicas hold the same version (earlier
        changes may still be on their way from one to the other)."""
        def settled():
            state = self.state_of(incidencia_id, cliente)
            return state["apertura"]["version"] == state["resolucion"]["version"] and state
        return wait_until(settled, timeout=30, message=f"replicas of {incidencia_id} agree")

    def state_of(self, incidencia_id: str, cliente: Actor | None = None) -> dict:
        """What an attack must not change, as both replicas hold it."""
        staff = self.staff_view(incidencia_id)
        mine = self.customer_view(cliente or self.c1, incidencia_id)
        keep = ("estado", "version", "asignada_a", "cliente", "prioridad", "categoria", "resolucion",
                "motivo_reapertura")
        return {
            "resolucion": {**{k: staff.get(k) for k in keep}, "comentarios": len(staff["comentarios"])},
            "apertura": {**{k: mine.get(k) for k in keep}, "comentarios": len(mine["comentarios"]),
                         "cancelacion_solicitada_en": mine.get("cancelacion_solicitada_en")},
        }


def new_cliente(client: Client, nombre: str = "Cliente") -> Actor:
    email = f"{nombre.lower()}.{uuid.uuid4().hex[:10]}@example.com"
    created = client.call("POST", "clientes", "/clientes", json={
        "nombre": nombre, "apellidos": "Pruebas", "email": email, "password": CLIENTE_PASSWORD})
    assert created.status_code == 201, created.text
    token = client.call("POST", "clientes", "/clientes/login", json={"email": email, "password": CLIENTE_PASSWORD})
    assert token.status_code == 200, token.text
    return Actor("cliente", created.json()["id"], email, CLIENTE_PASSWORD, token.json()["access_token"], nombre)


def new_empleado(client: Client, admin_token: str, rol: str, categorias: list[str] | None = None,
                 nombre: str = "Empleado") -> Actor:
    email = f"{nombre.lower()}.{uuid.uuid4().hex[:10]}@example.com"
    created = client.call("POST", "empleados", "/empleados", admin_token, json={
        "nombre": nombre, "apellidos": "Soporte", "email": email, "password": EMPLEADO_PASSWORD,
        "rol": rol, "categorias": categorias or []})
    assert created.status_code == 201, created.text
    token = client.call("POST", "empleados", "/empleados/login", json={"email": email, "password": EMPLEADO_PASSWORD})
    assert token.status_code == 200, token.text
    return Actor(rol, created.json()["id"], email, EMPLEADO_PASSWORD, token.json()["access_token"], nombre)


def admin_actor(client: Client) -> Actor:
    response = client.call("POST", "empleados", "/empleados/login",
                           json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    me = client.call("GET", "empleados", "/empleados/yo", token)
    assert me.status_code == 200, me.text
    return Actor("admin", me.json()["id"], ADMIN_EMAIL, ADMIN_PASSWORD, token, "Admin")


def build_world(system: System) -> World:
    client = Client(system.urls, source="127.0.0.1")
    categoria = f"sec-{uuid.uuid4().hex[:6]}"
    admin = admin_actor(client)
    world = World(
        system=system, client=client, categoria=categoria, admin=admin,
        supervisor=new_empleado(client, admin.token, "supervisor", nombre="Sara"),
        a1=new_empleado(client, admin.token, "agente", [f"{categoria}-a1"], nombre="Alba"),
        a2=new_empleado(client, admin.token, "agente", [f"{categoria}-a2"], nombre="Bruno"),
        c1=new_cliente(client, "Carla"), c2=new_cliente(client, "Dario"),
    )
    world.wait_known_by_resolucion(world.supervisor, world.a1, world.a2)
    # Incidents: c1's are a1's, c2's are a2's. Each state-changing attack
    # has an incident of its own in the state where the owner's action
    # would succeed, so a refusal cannot be a state conflict in disguise.
    wanted = {
        "leer": "asignada", "tomar": "asignada", "iniciar": "asignada", "resolver": "en_curso",
        "cancelar": "asignada", "cerrar": "resuelta", "reabrir": "resuelta", "cerrada": "cerrada",
    }
    for name, estado in wanted.items():
        world.incidents[name] = world.incident_in(estado)
    world.incidents["de_c2"] = world.incident_in("asignada", world.c2, world.a2)

    def notifications():
        response = client.call("GET", "apertura", "/notificaciones", world.c1.token, params={"por_pagina": 100})
        items = response.json()["elementos"] if response.status_code == 200 else []
        return len(items) >= 3 and items
    world.notifications = [n["id"] for n in wait_until(notifications, timeout=30, message="c1's notifications")]
    return world


def signing_key_pem(system: System, issuer: str) -> bytes:
    """The issuer's private key as the running service holds it (KEYS_DIR):
    forging tokens with the real key isolates each claim being attacked."""
    return (Path(system.env["KEYS_DIR"]) / f"{issuer}.pem").read_bytes()


def problem(response: httpx.Response) -> dict:
    """The problem+json body of an error answer (fails if it is not one)."""
    assert response.headers.get("content-type", "").startswith("application/problem+json"), (
        response.status_code, response.headers.get("content-type"), response.text[:300])
    return json.loads(response.text)
