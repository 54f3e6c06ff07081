"""The API contract as the shop's developers meet it: a Python client
generated from each service's live ``/openapi.json`` with
openapi-python-client, installed with pip into an environment of its own,
then the README's tour written against those clients only
(``tests/client/tour.py``), type-checked with ``mypy --strict`` and run
against the whole system (the session's ``system``: four services under
gunicorn with their workers, the real RabbitMQ, SQLite; MongoDB when
``MONGO_URL`` is set).

Nothing is faked. The scratch environment gets the generated packages and
what they need (httpx, attrs, python-dateutil) from the package index;
openapi-python-client and mypy are this project's own development
dependencies.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from harness import ADMIN_EMAIL, ADMIN_PASSWORD

pytestmark = pytest.mark.slow

TOUR = Path(__file__).with_name("tour.py")
SERVICES = ("clientes", "apertura", "resolucion", "empleados")
BIN = Path(sys.executable).parent
# Answer fields the server really sends only sometimes (``metadata={"sometimes": True}``):
# the readiness report's details. Every other field of every answer is required.
SOMETIMES = {("Health", "comprobaciones"), ("Check", "detalle"), ("Check", "tipo"), ("Check", "eventos_pendientes"),
             # A bulk result's refusal is a problem document: its fields are named
             # for a validation problem only, and where each was sent when known.
             ("ProblemaLote", "errores"), ("FieldError", "ubicacion")}


def run(*command: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=timeout)


@pytest.fixture(scope="module")
def documents(system) -> dict[str, dict]:
    return {name: httpx.get(f"{system.urls[name]}/openapi.json", timeout=10).raise_for_status().json()
            for name in SERVICES}


@pytest.fixture(scope="module")
def clients(documents, tmp_path_factory) -> Path:
    """The scratch environment with the four generated clients installed;
    its Python."""
    root = tmp_path_factory.mktemp("clients")
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}  # the generator runs ruff
    packages = []
    for name, document in documents.items():
        path = root / f"{name}.json"
        path.write_text(json.dumps(document))
        generated = run(BIN / "openapi-python-client", "generate", "--path", path, "--meta", "setup",
                        "--output-path", root / name, env=env, cwd=root)
        assert generated.returncode == 0, generated.stdout + generated.stderr
        assert "Warning" not in generated.stdout, f"{name}: {generated.stdout}"
        packages.append(root / name)
    created = run(sys.executable, "-m", "venv", root / "venv")
    assert created.returncode == 0, created.stderr
    python = root / "venv" / "bin" / "python"
    installed = run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *packages,
                    timeout=600)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


def _answer_schemas(document: dict) -> set[str]:
    """The component schemas a success answer of ``document`` can hold."""
    schemas = document["components"]["schemas"]
    found: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/") and ref.rsplit("/", 1)[1] not in found:
                found.add(ref.rsplit("/", 1)[1])
                visit(schemas[ref.rsplit("/", 1)[1]])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for operations in document["paths"].values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue  # the path's own parameters
            for status, response in operation.get("responses", {}).items():
                if str(status).startswith("2"):
                    visit(response)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_field_of_every_answer_is_required_but_the_few_sent_only_sometimes(documents, service):
    document = documents[service]
    optional = set()
    for name in _answer_schemas(document):
        schema = document["components"]["schemas"][name]
        optional |= {(name, field) for field in schema.get("properties", {})
                     if field not in schema.get("required", [])}
    assert optional == {entry for entry in SOMETIMES if entry[0] in _answer_schemas(document)}


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if isinstance(operation, dict):
                yield path, method, operation


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_documents_each_status_it_can_get_with_its_problem_and_headers(documents, service):
    for path, method, operation in _operations(documents[service]):
        responses = operation["responses"]
        storage = set() if operation["operationId"] in WITHOUT_STORAGE else {"503"}
        expected = storage | ({"401", "403"} if operation.get("security") else set()) \
            | ({"400", "413", "415"} if "requestBody" in operation else set()) | ({"404"} if "{" in path else set())
        assert expected <= set(responses), f"{method.upper()} {path} lacks {sorted(expected - set(responses))}"
        for status, response in responses.items():
            if "$ref" in response or not status.startswith(("4", "5")):
                continue
            content = response["content"]
            if "application/problem+json" in content:
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}
                if status in ("429", "503"):
                    assert response["headers"]["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
        if operation["operationId"] in CREATIONS:
            assert "Location" in responses["201"]["headers"]
        if operation["operationId"] in WITHOUT_STORAGE - {"comprobarDisponibilidad"}:
            assert "503" not in responses, f"{method.upper()} {path} reads no storage"


WITHOUT_STORAGE = {"comprobarVida", "comprobarDisponibilidad", "leerMetricas", "obtenerClaves"}
"""Operations that read no storage, or (readiness) answer its outage with their own report."""
CREATIONS = {
    "abrirIncidencia": {"verIncidencia", "comentarIncidencia", "cerrarIncidencia", "reabrirIncidencia",
                        "cancelarIncidencia"},
    "registrarCliente": {"verCliente"},
    "crearEmpleado": {"verEmpleado", "actualizarEmpleado", "darDeBajaEmpleado"},
}


@pytest.mark.parametrize("service", SERVICES)
def test_a_created_resource_links_to_the_operations_on_it_by_its_id(documents, service):
    by_name = {operation["operationId"]: (path, operation) for path, _, operation in _operations(documents[service])}
    for name, (path, operation) in by_name.items():
        for status, response in operation["responses"].items():
            for link in response.get("links", {}).values():
                target_path, target = by_name[link["operationId"]]
                [(parameter, value)] = link["parameters"].items()
                assert f"{{{parameter}}}" in target_path
                assert value == ("$response.body#/id" if status == "201" else f"$request.path.{parameter}")
        if name in CREATIONS:
            assert set(operation["responses"]["201"]["links"]) == CREATIONS[name]


@pytest.mark.parametrize("service", SERVICES)
def test_every_generated_client_installs_and_imports(clients, service):
    imported = run(clients, "-c", f"import incidencias_{service}_client.models")
    assert imported.returncode == 0, imported.stderr


def test_the_tour_type_checks_under_mypy_strict(clients):
    checked = run(BIN / "mypy", "--strict", "--no-incremental", "--python-executable", clients, TOUR)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("Success: no issues found in 1 source file")


def test_the_tour_runs_green_against_the_system_through_the_clients_only(system, clients):
    env = {**os.environ, **{f"{name.upper()}_URL": system.urls[name] for name in SERVICES},
           "ADMIN_EMAIL": ADMIN_EMAIL, "ADMIN_PASSWORD": ADMIN_PASSWORD}
    toured = run(clients, TOUR, env=env, timeout=180)
    assert toured.returncode == 0, toured.stdout + toured.stderr
    assert toured.stdout.splitlines()[-1] == "tour completed"
