"""The identity services and the common surface, over HTTP against the
processes `make run` starts."""
from __future__ import annotations

import pytest

SERVICES = ["clientes", "apertura", "resolucion", "empleados"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_serves_openapi_docs_health_and_metrics(api, service):
    spec = api.call("GET", service, "/openapi.json")
    assert spec.status_code == 200
    assert spec.json()["openapi"].startswith("3.")
    assert spec.json()["paths"]
    docs = api.call("GET", service, "/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    health = api.call("GET", service, "/salud")
    assert health.status_code == 200
    assert {"almacenamiento", "rabbitmq"} <= set(health.json()["comprobaciones"])
    metrics = api.call("GET", service, "/metrics")
    assert metrics.status_code == 200 and "http_requests_total" in metrics.text


def test_a_customer_registers_logs_in_and_reads_their_profile(api):
    cliente = api.new_cliente("Lucia")
    me = api.call("GET", "clientes", "/clientes/yo", token=cliente.token)
    assert me.status_code == 200
    assert me.json()["email"] == cliente.email
    assert "password" not in me.text and "hash" not in me.text


def test_an_admin_registers_an_employee_who_logs_in(api):
    empleado = api.new_empleado("agente", ["envios"])
    me = api.call("GET", "empleados", "/empleados/yo", token=empleado.token)
    assert me.status_code == 200
    assert me.json()["rol"] == "agente" and me.json()["categorias"] == ["envios"]


def test_a_customer_token_is_refused_by_the_staff_service_and_vice_versa(api):
    cliente = api.new_cliente("Mario")
    empleado = api.new_empleado("agente")
    assert api.call("GET", "resolucion", "/incidencias", token=cliente.token).status_code == 403
    assert api.call("GET", "apertura", "/incidencias", token=empleado.token).status_code == 403
    assert api.call("GET", "apertura", "/incidencias", token=cliente.token).status_code == 200


def test_metrics_count_requests_across_gunicorn_workers(api):
    for _ in range(6):
        api.call("GET", "clientes", "/salud/vivo")
    text = api.call("GET", "clientes", "/metrics").text
    line = next(l for l in text.splitlines()
                if l.startswith("http_requests_total{") and 'endpoint="/salud/vivo"' in l)
    assert float(line.rsplit(" ", 1)[1]) >= 6
