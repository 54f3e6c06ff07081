"""End-to-end fixtures: the four services under gunicorn with their workers,
the real RabbitMQ, SQLite storage in a temporary directory; driven over HTTP."""
from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.system import ADMIN_EMAIL, ADMIN_PASSWORD, System


@pytest.fixture(scope="session")
def system(tmp_path_factory):
    instance = System.prepare(tmp_path_factory.mktemp("system"))
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        instance.delete_broker_objects()


class Api:
    """An HTTP client per service, with helpers to make accounts."""

    def __init__(self, system: System):
        self.system = system
        self.http = httpx.Client(timeout=15)

    def url(self, service: str, path: str) -> str:
        return f"{self.system.urls[service]}{path}"

    def call(self, method: str, service: str, path: str, token: str | None = None, **kwargs) -> httpx.Response:
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.url(service, path), headers=headers, **kwargs)

    def new_cliente(self, nombre: str = "Ana") -> dict:
        email = f"{nombre.lower()}.{uuid.uuid4().hex[:8]}@example.com"
        password = "Cliente-pass-2026"
        created = self.call("POST", "clientes", "/clientes", json={
            "nombre": nombre, "apellidos": "Pruebas", "email": email, "password": password})
        assert created.status_code == 201, created.text
        token = self.call("POST", "clientes", "/clientes/login", json={"email": email, "password": password})
        assert token.status_code == 200, token.text
        return {**created.json(), "password": password, "token": token.json()["access_token"]}

    def admin_token(self) -> str:
        response = self.call("POST", "empleados", "/empleados/login",
                             json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        return response.json()["access_token"]

    def new_empleado(self, rol: str = "agente", categorias: list[str] | None = None, nombre: str = "Eva") -> dict:
        email = f"{nombre.lower()}.{uuid.uuid4().hex[:8]}@example.com"
        password = "Empleado-pass-2026"
        created = self.call("POST", "empleados", "/empleados", token=self.admin_token(), json={
            "nombre": nombre, "apellidos": "Soporte", "email": email, "password": password,
            "rol": rol, "categorias": categorias or []})
        assert created.status_code == 201, created.text
        token = self.call("POST", "empleados", "/empleados/login", json={"email": email, "password": password})
        assert token.status_code == 200, token.text
        return {**created.json(), "password": password, "token": token.json()["access_token"]}


@pytest.fixture
def api(system):
    client = Api(system)
    yield client
    client.http.close()
