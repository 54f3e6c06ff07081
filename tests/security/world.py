"""The people and incidents the security tests attack, made through the
public APIs of the running system (``harness``: the processes `make run`
starts, driven over HTTP). Staff notifications are the one exception: only
resolucion's sweep of the service levels writes them, once a target is
nearly run out in business time, so the one the attacks need is written
into resolucion's store directly (``add_staff_notification``).

Each driver sends from a loopback source address of its own (127.0.0.0/8
is all loopback on Linux): the login throttle counts failures per client
address, so a test that spends one address's allowance never locks out
another test's logins.
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import parse_qs, urlsplit

import httpx

from harness import Account, Driver, System, new_source_address, wait_until
from harness.mailbox import text_of

ROLES = (None, "cliente", "agente", "supervisor", "admin")  # None: anonymous
# The address a reverse proxy in front of the services connects from: the
# system is started trusting it (FORWARDED_ALLOW_IPS), as the VM's nginx is.
PROXY_ADDRESS = "127.0.0.66"


def new_client(urls: Mapping[str, str], source: str | None = None) -> Driver:
    """A driver sending from ``source``, or from a loopback address no other client of this run uses."""
    return Driver(urls, source=source or new_source_address(), timeout=20)


@dataclass
class World:
    """Two customers and two agents (plus a supervisor and the first admin),
    with incidents in the states the attacks need."""

    system: System
    client: Driver
    categoria: str
    admin: Account
    supervisor: Account
    a1: Account
    a2: Account
    c1: Account
    c2: Account
    incidents: dict[str, str] = field(default_factory=dict)
    notifications: list[str] = field(default_factory=list)
    staff_notification: str = ""  # one of a1's, in resolucion
    respuesta: str = ""  # a canned reply the supervisor wrote

    # -- accounts ------------------------------------------------------------
    def new_empleado(self, rol: str, categorias: list[str] | None = None, nombre: str = "Empleado") -> Account:
        return self.client.new_empleado(rol, categorias, nombre, admin_token=self.admin.token)

    def wait_known_by_resolucion(self, *empleados: Account) -> None:
        self.client.wait_known_by_resolucion(self.admin, *empleados)

    # -- incidents -----------------------------------------------------------
    def staff_view(self, incidencia_id: str) -> dict:
        return self.client.staff_view(self.admin, incidencia_id)

    def wait_staff_sees(self, incidencia_id: str, estado: str) -> dict:
        return self.client.wait_staff_sees(self.admin, incidencia_id, estado)

    def incident_in(self, estado: str, cliente: Account | None = None, agente: Account | None = None) -> str:
        """A new incident of ``cliente`` (c1) assigned to ``agente`` (a1), in ``estado``."""
        cliente, agente = cliente or self.c1, agente or self.a1
        client = self.client
        incidencia_id = client.new_incidencia(cliente, self.categoria_of(agente))["id"]
        view = self.wait_staff_sees(incidencia_id, "asignada")
        assert view["asignada_a"]["id"] == agente.id, view["asignada_a"]
        if estado in ("en_curso",):
            client.act(agente, "inicio", incidencia_id)
        if estado in ("resuelta", "cerrada", "reabierta"):
            client.act(agente, "resolucion", incidencia_id, {"texto": "Le enviamos otra"})
            client.wait_customer_sees(cliente, incidencia_id, "resuelta")
        if estado == "cerrada":
            response = client.call("POST", "apertura", f"/incidencias/{incidencia_id}/cierre", cliente.token,
                                   json={})
            assert response.status_code == 200, response.text
            self.wait_staff_sees(incidencia_id, "cerrada")
        if estado != "abierta":
            client.wait_customer_sees(cliente, incidencia_id, estado)
        return incidencia_id

    def add_staff_notification(self, empleado: Account) -> str:
        """An unread notification of ``empleado`` in resolucion, written into
        its store as the sweep of the service levels writes one."""
        from common.storage import open_store
        from incidencias_resolucion.repository import OUTBOX, NotificacionEquipoRepository

        notificacion_id = uuid.uuid4().hex
        store = open_store(self.system.storage_url("resolucion"), OUTBOX)
        try:
            added = NotificacionEquipoRepository(store).add({
                "id": notificacion_id, "empleado_id": empleado.id, "incidencia_id": self.incidents["leer"],
                "tipo": "incidencia.sla_en_riesgo", "objetivo": "primera_respuesta",
                "mensaje": "La primera respuesta vence pronto", "creada_en": "2026-11-01T10:00:00.000000Z",
                "leida": False, "clave": f"seguridad:{notificacion_id}",
            })
        finally:
            store.close()
        assert added, notificacion_id
        return notificacion_id

    def categoria_of(self, agente: Account) -> str:
        return f"{self.categoria}-{'a1' if agente is self.a1 else 'a2'}"

    def settled_state(self, incidencia_id: str, cliente: Account | None = None) -> dict:
        """``state_of`` once both replicas hold the same version (earlier
        changes may still be on their way from one to the other)."""
        def settled():
            state = self.state_of(incidencia_id, cliente)
            return state["apertura"]["version"] == state["resolucion"]["version"] and state
        return wait_until(settled, timeout=30, message=f"replicas of {incidencia_id} agree")

    def state_of(self, incidencia_id: str, cliente: Account | None = None) -> dict:
        """What an attack must not change, as both replicas hold it."""
        staff = self.staff_view(incidencia_id)
        mine = self.client.customer_view(cliente or self.c1, incidencia_id)
        keep = ("estado", "version", "asignada_a", "cliente", "prioridad", "categoria", "resolucion",
                "motivo_reapertura", "fusionada_en", "fusionadas", "valoracion")
        return {
            "resolucion": {**{k: staff.get(k) for k in keep}, "comentarios": len(staff["comentarios"]),
                           "etiquetas": staff.get("etiquetas")},
            "apertura": {**{k: mine.get(k) for k in keep}, "comentarios": len(mine["comentarios"]),
                         "cancelacion_solicitada_en": mine.get("cancelacion_solicitada_en")},
        }


def build_world(system: System) -> World:
    client = new_client(system.urls, source="127.0.0.1")
    categoria = f"sec-{uuid.uuid4().hex[:6]}"
    admin = client.admin()
    world = World(
        system=system, client=client, categoria=categoria, admin=admin,
        supervisor=client.new_empleado("supervisor", nombre="Sara", admin_token=admin.token),
        a1=client.new_empleado("agente", [f"{categoria}-a1"], nombre="Alba", admin_token=admin.token),
        a2=client.new_empleado("agente", [f"{categoria}-a2"], nombre="Bruno", admin_token=admin.token),
        c1=client.new_cliente("Carla"), c2=client.new_cliente("Dario"),
    )
    world.wait_known_by_resolucion(world.supervisor, world.a1, world.a2)
    # Incidents: c1's are a1's, c2's are a2's. Each state-changing attack
    # has an incident of its own in the state where the owner's action
    # would succeed, so a refusal cannot be a state conflict in disguise.
    wanted = {
        "leer": "asignada", "tomar": "asignada", "iniciar": "asignada", "resolver": "en_curso",
        "cancelar": "asignada", "cerrar": "resuelta", "reabrir": "resuelta", "cerrada": "cerrada",
        "consultar": "asignada", "valorar": "cerrada",
    }
    for name, estado in wanted.items():
        world.incidents[name] = world.incident_in(estado)
    world.incidents["de_c2"] = world.incident_in("asignada", world.c2, world.a2)

    def notifications():
        response = client.call("GET", "apertura", "/notificaciones", world.c1.token, params={"por_pagina": 100})
        items = response.json()["elementos"] if response.status_code == 200 else []
        return len(items) >= 3 and items
    world.notifications = [n["id"] for n in wait_until(notifications, timeout=30, message="c1's notifications")]
    world.staff_notification = world.add_staff_notification(world.a1)
    written = client.call("POST", "resolucion", "/respuestas", world.supervisor.token,
                          json={"titulo": "Saludo", "texto": "Hola {cliente}, soy {agente}."})
    assert written.status_code == 201, written.text
    world.respuesta = written.json()["id"]
    return world


def signing_key_pem(system: System, issuer: str) -> bytes:
    """The issuer's private key as the running service holds it (KEYS_DIR):
    forging tokens with the real key isolates each claim being attacked."""
    return (Path(system.env["KEYS_DIR"]) / f"{issuer}.pem").read_bytes()


LINK = re.compile(r"https?://[^\s<>\"')]+")


def link_tokens(system: System, address: str, path: str) -> list[str]:
    """The tokens of the links to the portal's ``path`` (``/cuenta/verificar``,
    ``/equipo/invitacion``, ...) mailed to ``address`` so far, oldest first."""
    assert system.mailbox is not None, "the system has no mailbox of its own"
    found = []
    for message in system.mailbox.for_address(address):
        for url in LINK.findall(text_of(message)):
            parts = urlsplit(url)
            if parts.path == path:
                found += parse_qs(parts.query).get("token", [])
    return found


def wait_link_token(system: System, address: str, path: str, count: int = 1) -> str:
    """The newest link token to ``path`` mailed to ``address``, once ``count`` of them have arrived."""
    def arrived() -> list[str] | None:
        found = link_tokens(system, address, path)
        return found if len(found) >= count else None

    return wait_until(arrived, timeout=30, interval=0.05, message=f"link {count} to {path} mailed to {address}")[-1]


def problem(response: httpx.Response) -> dict:
    """The problem+json body of an error answer (fails if it is not one)."""
    assert response.headers.get("content-type", "").startswith("application/problem+json"), (
        response.status_code, response.headers.get("content-type"), response.text[:300])
    return json.loads(response.text)
