"""What a client generated from each running service's ``/openapi.json``
is named after: every operation's ``operationId`` (its function) and the
document's title (its package). Read from the served documents, as a
generator reads them; the fixed account routes beside ``/{id}`` are asked
over real HTTP."""
from __future__ import annotations

import re

import httpx
import pytest

SERVICES = ["clientes", "empleados", "apertura", "resolucion"]
VERB_LIKE = re.compile(r"^[a-z]+(?:[A-Z][a-z]+)*$")
METHODS = {"get", "put", "post", "patch", "delete"}


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_verb_like_operation_id_unique_in_its_document(openapi, service):
    operations = {f"{method.upper()} {path}": operation.get("operationId")
                  for path, methods in openapi[service]["paths"].items()
                  for method, operation in methods.items() if method in METHODS}
    unnamed = sorted(name for name, operation_id in operations.items() if not operation_id)
    assert unnamed == []
    badly_named = sorted(i for i in operations.values() if not VERB_LIKE.match(i))
    assert badly_named == []
    ids = list(operations.values())
    assert sorted({i for i in ids if ids.count(i) > 1}) == []


@pytest.mark.parametrize("service", SERVICES)
def test_the_title_is_ascii_so_the_generated_package_installs(openapi, service):
    assert openapi[service]["info"]["title"] == {
        "clientes": "Incidencias clientes", "empleados": "Incidencias empleados",
        "apertura": "Incidencias apertura", "resolucion": "Incidencias resolucion"}[service]


@pytest.mark.parametrize("service,path", [("clientes", "/clientes/login"), ("empleados", "/empleados/login")])
def test_a_login_route_is_not_taken_for_an_account_id(security_system, service, path):
    url = security_system.urls[service] + path
    got = httpx.get(url, timeout=10)
    assert (got.status_code, got.headers["content-type"], _methods(got)) == (
        405, "application/problem+json", {"POST", "OPTIONS"})
    assert _methods(httpx.options(url, timeout=10)) == {"POST", "OPTIONS"}


def _methods(response: httpx.Response) -> set[str]:
    """The methods of an ``Allow`` header (Werkzeug lists them in no set order)."""
    return {method.strip() for method in response.headers["allow"].split(",")}
