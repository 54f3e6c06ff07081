"""Property-based fuzzing of every service from its own OpenAPI document
(schemathesis, Python API, against the running system).

For every operation, schemathesis generates requests that satisfy the
schema (positive) and requests that violate it (negative), half of them
aimed at real objects (ids of this module's own accounts and incidents),
half at generated ids. Every answer is checked:

- ``not_a_server_error``: never a 5xx;
- ``response_schema_conformance``: the answer matches the documented schema;
- ``content_type_conformance``: its content type is the documented one
  (errors are ``application/problem+json``, and documented so);
- ``negative_data_rejection``: a schema-violating request is refused (4xx);
- ``ignored_auth``: an operation that declares auth refuses the request
  without the token and with a wrong one (schemathesis probes both after
  every success).

Tokens are those of the least privileged role the operation admits, of
accounts made for this module only (the fuzzer renames them, changes their
data, creates accounts and incidents). Hypothesis runs derandomized, so a
run generates the same requests every time; ``max_examples`` keeps the whole
module within a few minutes on two cores.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from harness import Account, new_source_address

pytestmark = [pytest.mark.security, pytest.mark.slow]

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    has_only_additional_properties_in_non_body_parameters,
    ignored_auth,
    negative_data_rejection,
    response_schema_conformance,
)

MAX_EXAMPLES = 50  # per operation and mode
CHECKS = {
    "not_a_server_error": not_a_server_error,
    "response_schema_conformance": response_schema_conformance,
    "content_type_conformance": content_type_conformance,
    "negative_data_rejection": negative_data_rejection,
    "ignored_auth": ignored_auth,
}
# Operations left out, and why.
EXCLUDED = {
    ("clientes", "DELETE", "/clientes/yo"): "erases the account the fuzzer authenticates with "
                                             "(its authorization and effects are in the matrices)",
}


@pytest.fixture(scope="module", autouse=True)
def _hypothesis_left_as_found():
    """The first time schemathesis generates anything it patches some of
    Hypothesis' module globals (buffer sizes, the example printer, ...)
    for speed (schemathesis.generation.hypothesis.setup). The rest of the
    session runs other suites' Hypothesis tests: give them Hypothesis back
    as it was."""
    from hypothesis import core as root_core
    from hypothesis.internal import entropy
    from hypothesis.internal.conjecture import engine
    from hypothesis.strategies._internal import collections, core
    from schemathesis.generation import hypothesis as st_hypothesis

    patched = [(root_core, "RepresentationPrinter"), (root_core, "BUFFER_SIZE"), (engine, "BUFFER_SIZE"),
               (collections, "BUFFER_SIZE"), (core, "is_first_param_referenced_in_function"),
               (entropy, "register_random")]
    missing = object()
    saved = [(owner, name, getattr(owner, name, missing)) for owner, name in patched]
    was_patched = getattr(st_hypothesis.setup, "_is_patched", False)
    yield
    for owner, name, value in saved:
        if value is missing:
            if hasattr(owner, name):
                delattr(owner, name)
        else:
            setattr(owner, name, value)
    st_hypothesis.setup._is_patched = was_patched


class SourceAddressAdapter(HTTPAdapter):
    """requests from one loopback source address (the login throttle counts
    per address; the fuzzer's failed logins must not lock anyone else out)."""

    def __init__(self, address: str):
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        return super().init_poolmanager(*args, **kwargs)


@dataclass
class Fuzzers:
    customer: Account
    agent: Account
    admin: Account
    employee: Account  # what the admin's fuzzed PATCH and baja may hit
    ids: dict[str, list[str]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def fuzzers(world) -> Fuzzers:
    customer = world.client.new_cliente("Fuzz")
    team = Fuzzers(customer, world.new_empleado("agente", [f"{world.categoria}-fuzz"], "Fuzz"),
                   world.new_empleado("admin", nombre="Fuzz"), world.new_empleado("agente", nombre="Blanco"))
    world.wait_known_by_resolucion(team.agent, team.admin, team.employee)
    incidents = [world.client.new_incidencia(customer, f"{world.categoria}-fuzz")["id"] for _ in range(2)]
    for incidencia_id in incidents:
        world.client.wait_customer_sees(customer, incidencia_id, "asignada")
    notifications = world.client.call("GET", "apertura", "/notificaciones", customer.token).json()["elementos"]
    team.ids = {"incidencia_id": incidents, "notificacion_id": [n["id"] for n in notifications][:2],
                "cliente_id": [customer.id], "empleado_id": [team.employee.id], "respuesta_id": [world.respuesta],
                "etiqueta": ["vip"]}
    return team


def _token(team: Fuzzers, service: str, method: str, path: str, security: bool) -> str | None:
    if not security:
        return None
    if (service == "apertura" and not path.startswith("/clientes/")) or path.startswith("/clientes/yo"):
        return team.customer.token
    if service == "clientes" or path.startswith("/empleados/yo"):
        return team.agent.token
    return team.admin.token


@dataclass
class Tally:
    positive: int = 0
    negative: int = 0
    negative_rejected: int = 0
    negative_not_violating: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    failures: dict[str, list[str]] = field(default_factory=dict)

    def fail(self, check: str, label: str, message: str) -> None:
        self.failures.setdefault(check, []).append(f"{label}: {message.strip()[:1500]}")


def _fuzz_operation(operation, base_url: str, token: str | None, session, mode, known: dict[str, list[str]],
                    documented: set[str], tally: Tally, rec) -> None:
    label = operation.label
    fixed = {name: ids for name, ids in known.items() if f"{{{name}}}" in operation.path and ids}
    strategies = [operation.as_strategy(generation_mode=mode)]
    if fixed:
        strategies.append(st.sampled_from([dict(zip(fixed, values)) for values in zip(*fixed.values())]).flatmap(
            lambda params: operation.as_strategy(generation_mode=mode, path_parameters=params)))
    strategy = st.one_of(strategies)

    @settings(max_examples=MAX_EXAMPLES, derandomize=True, database=None, deadline=None, print_blob=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case):
        negated_auth = operation.schema.is_security_param_negated(case)
        headers = {"Authorization": f"Bearer {token}"} if token and not negated_auth else None
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        status = str(response.status_code)
        tally.statuses[status] = tally.statuses.get(status, 0) + 1
        negative = mode == GenerationMode.NEGATIVE
        if negative:
            tally.negative += 1
        else:
            tally.positive += 1
        accepted_negative = False
        for name, check in CHECKS.items():
            if name == "negative_data_rejection" and not negative:
                continue
            if name == "not_a_server_error" and status in documented:
                continue  # a documented 5xx: /salud answers 503 while RabbitMQ is down, as it should
            try:
                case.validate_response(response, checks=[check], headers=headers,
                                       transport_kwargs={"session": session, "base_url": base_url})
            except FailureGroup as exc:
                tally.fail(name, label, str(exc))
                accepted_negative = accepted_negative or name in ("negative_data_rejection", "not_a_server_error")
        if negative and not accepted_negative and (
                has_only_additional_properties_in_non_body_parameters(case) or response.status_code < 400):
            # Nothing left to refuse on the wire (schemathesis' own judgement):
            # only unknown query parameters, which the services ignore (body
            # fields are refused). Counted apart, whatever the answer was.
            tally.negative_not_violating += 1
        elif negative:
            rejected = 400 <= response.status_code < 500 and not accepted_negative
            tally.negative_rejected += rejected
            rec.record(f"{label} negative case", rejected, f"{response.status_code}")

    try:
        run()
    except Unsatisfiable:
        pass  # nothing to violate (an operation without parameters or body)


@pytest.fixture(scope="module")
def session():
    http = requests.Session()
    http.mount("http://", SourceAddressAdapter(new_source_address()))
    yield http
    http.close()


def _load(openapi: dict[str, dict], service: str, url: str):
    document = copy.deepcopy(openapi[service])
    document["servers"] = [{"url": url}]
    return schemathesis.openapi.from_dict(document)


@pytest.mark.parametrize("service", ["clientes", "empleados", "apertura", "resolucion"])
def test_fuzzing_finds_no_server_error_no_schema_violation_and_no_ignored_auth(
        security_system, openapi, fuzzers, session, attacks, service):
    rec = attacks("fuzzing_negative")
    schema = _load(openapi, service, security_system.urls[service])
    tally = Tally()
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (service, operation.method.upper(), operation.path)
        if key in EXCLUDED:
            continue
        operations += 1
        definition = openapi[service]["paths"][operation.path][operation.method.lower()]
        token = _token(fuzzers, service, key[1], key[2], bool(definition.get("security")))
        documented = set(definition.get("responses", {})) - {"default"}
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _fuzz_operation(operation, security_system.urls[service], token, session, mode, fuzzers.ids, documented,
                            tally, rec)
    attacks.figures.extra["fuzzing"] = {
        "service": service, "operations": operations, "max_examples": MAX_EXAMPLES,
        "positive_cases": tally.positive, "negative_cases": tally.negative,
        "negative_rejected": tally.negative_rejected,
        "negative_only_unknown_query_parameters": tally.negative_not_violating,
        "failures": {name: len(found) for name, found in sorted(tally.failures.items())},
        "excluded": {f"{k[1]} {k[2]}": why for k, why in EXCLUDED.items() if k[0] == service},
    }
    assert tally.positive > 0 and tally.negative > 0
    report = "\n\n".join(f"[{name}] {len(found)}x, first:\n{found[0]}" for name, found in tally.failures.items())
    assert not tally.failures, report


@pytest.mark.parametrize("service", ["clientes", "empleados", "apertura", "resolucion"])
def test_every_request_schema_is_usable_by_openapi_tools_as_served(security_system, openapi, service):
    """Generating one request for every operation from the document exactly
    as the service serves it: every pattern is ECMA-262, the dialect OpenAPI
    tools read (a Python-only construct such as ``(?s)`` makes them refuse)."""
    document = copy.deepcopy(openapi[service])
    document["servers"] = [{"url": security_system.urls[service]}]
    schema = schemathesis.openapi.from_dict(document)
    refused = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=1, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate])
        @given(case=operation.as_strategy())
        def draw(case):
            pass

        try:
            draw()
        except Exception as exc:  # noqa: BLE001 - reported below
            refused.append(f"{operation.label}: {type(exc).__name__}: {str(exc)[:200]}")
    assert not refused, "\n".join(refused)
