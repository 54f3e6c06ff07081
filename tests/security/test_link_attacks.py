"""The links mailed to an account's owner (verify the e-mail, reset the
password, confirm a new e-mail, accept an invitation), attacked on both
account services.

Every token that is not the live link of that purpose of that account (a
wrong or altered secret, another account's id, a used, replaced or other
purpose link, another service's link, a session token, over-long, NUL and
other hostile strings) gets the one same 400 ``enlace-no-valido`` problem,
or 422 naming ``token`` for what is no token at all (empty, over 200
characters, not a string); never a 500. None of it spends the real link,
which works afterwards, once; redeeming it voids the links it must. The
mails a customer may ask for themself are throttled per account.

Real tokens come from the mails the running system sends to its own SMTP
server (``system.mailbox``), taken out of the links as their owner would
follow them.
"""
from __future__ import annotations

import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from harness import Driver

from .world import World, link_tokens, new_client, problem, wait_link_token

pytestmark = [pytest.mark.security, pytest.mark.slow]

# The portal pages the mails link to.
VERIFY, RESET, CONFIRM = "/cuenta/verificar", "/cuenta/restablecer", "/cuenta/confirmar-email"
INVITE, STAFF_RESET = "/equipo/invitacion", "/equipo/restablecer"
NEW_PASSWORD = "Nueva-clave-segura-2026"
MAX_TOKEN = 200  # cuentas.schemas: the longest token a link body takes
LINK_REFUSED = {"type": "urn:incidencias:problema:enlace-no-valido", "title": "Enlace no válido", "status": 400,
                "detail": "El enlace no es válido o ha caducado",
                "errores": [{"campo": "token", "mensaje": "El enlace no es válido o ha caducado",
                             "ubicacion": "cuerpo"}]}


@dataclass(frozen=True)
class Endpoint:
    service: str
    path: str
    purpose: str  # of the link it redeems
    success: int
    with_password: bool
    voids: tuple[str, ...]  # the account's other links that redeeming it voids


ENDPOINTS = {
    "clientes verificacion": Endpoint(
        "clientes", "/clientes/verificacion", "verificacion", 200, False, ()),
    "clientes restablecimiento": Endpoint(
        "clientes", "/clientes/password/restablecimiento", "restablecimiento", 204, True,
        ("verificacion", "cambio_email")),
    "clientes cambio_email": Endpoint(
        "clientes", "/clientes/email/confirmacion", "cambio_email", 200, False, ("verificacion", "restablecimiento")),
    "empleados invitacion": Endpoint(
        "empleados", "/empleados/invitacion/aceptacion", "invitacion", 200, True, ("restablecimiento",)),
    "empleados restablecimiento": Endpoint(
        "empleados", "/empleados/password/restablecimiento", "restablecimiento", 204, True, ("invitacion",)),
}
# Where each purpose's link is redeemed, per service.
REDEEMED_AT = {(e.service, e.purpose): e for e in ENDPOINTS.values()}


@dataclass
class Linked:
    """An account with a live link of each purpose it can have, taken from
    its mails, and the reset link the live one replaced."""

    id: str
    tokens: dict[str, str]
    replaced: dict[str, str] = field(default_factory=dict)


def _reset_links(client: Driver, world: World, service: str, email: str, page: str) -> tuple[str, str]:
    """(the first, the live) reset link of two asked for in a row: the second replaces the first."""
    for n in (1, 2):
        response = client.call("POST", service, f"/{service}/password/solicitud", json={"email": email})
        assert response.status_code == 202, response.text
        wait_link_token(world.system, email, page, count=n)
    first, live = link_tokens(world.system, email, page)[-2:]
    return first, live


def customer_with_links(world: World, client: Driver) -> Linked:
    """A customer with a live verification, reset and e-mail change link."""
    cliente = world.client.new_cliente("Enlaces")
    tokens = {"verificacion": wait_link_token(world.system, cliente.email, VERIFY)}
    replaced, tokens["restablecimiento"] = _reset_links(client, world, "clientes", cliente.email, RESET)
    nuevo = f"nuevo.{uuid.uuid4().hex[:10]}@example.com"
    response = client.call("PATCH", "clientes", "/clientes/yo", cliente.token, json={"email": nuevo})
    assert response.status_code == 200 and response.json()["email_pendiente"] == nuevo, response.text
    tokens["cambio_email"] = wait_link_token(world.system, nuevo, CONFIRM)
    return Linked(cliente.id, tokens, {"restablecimiento": replaced})


def employee_with_links(world: World, client: Driver) -> Linked:
    """An invited employee (no password yet) with a live invitation and reset link."""
    email = f"invitada.{uuid.uuid4().hex[:10]}@example.com"
    response = client.call("POST", "empleados", "/empleados", world.admin.token, json={
        "nombre": "Invitada", "apellidos": "Enlaces", "email": email, "rol": "agente"})
    assert response.status_code == 201 and response.json()["invitacion_pendiente"] is True, response.text
    tokens = {"invitacion": wait_link_token(world.system, email, INVITE)}
    replaced, tokens["restablecimiento"] = _reset_links(client, world, "empleados", email, STAFF_RESET)
    return Linked(response.json()["id"], tokens, {"restablecimiento": replaced})


def with_links(world: World, client: Driver, service: str) -> Linked:
    return customer_with_links(world, client) if service == "clientes" else employee_with_links(world, client)


@pytest.fixture(scope="module")
def bystanders(world) -> dict[str, Linked]:
    """Per service, an account whose links the attacks borrow and never redeem."""
    client = new_client(world.system.urls)
    try:
        return {service: with_links(world, client, service) for service in ("clientes", "empleados")}
    finally:
        client.close()


def _redeem(client: Driver, endpoint: Endpoint, token: Any, **kwargs):
    body = {"token": token, **({"password": NEW_PASSWORD} if endpoint.with_password else {})}
    return client.call("POST", endpoint.service, endpoint.path, json=body, **kwargs)


def hostile_tokens(own: Linked, other: Linked, foreign: Linked, purpose: str, session: str) -> dict[str, Any]:
    """Tokens for ``own``'s link of ``purpose`` that must all be refused:
    ``other`` is another account of the same service, ``foreign`` one of the
    other service, ``session`` a session token (a JWT)."""
    live = own.tokens[purpose]
    cuenta_id, secret = live.split(".", 1)
    changed = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    tokens: dict[str, Any] = {
        "a random secret of the right shape": f"{cuenta_id}.{secrets.token_urlsafe(32)}",
        "the secret with its last character changed": f"{cuenta_id}.{changed}",
        "the secret one character short": live[:-1],
        "the secret and one more character": f"{live}A",
        "the secret alone": secret,
        "the account id alone": cuenta_id,
        "the account id and the dot": f"{cuenta_id}.",
        "the dot and the secret": f".{secret}",
        "another account's id with this secret": f"{other.id}.{secret}",
        "another account's id and a secret of the right shape": f"{other.id}.{secrets.token_urlsafe(32)}",
        "an unknown id with this secret": f"{'0' * 32}.{secret}",
        "an expiry appended (expired an hour ago)": f"{live}.{int(time.time()) - 3600}",
        "the dot percent-encoded": f"{cuenta_id}%2E{secret}",
        "surrounding spaces": f" {live} ",
        "a trailing newline": f"{live}\n",
        "a right-to-left override in front": f"\u202e{live}",
        "a link of the other service's account": next(iter(foreign.tokens.values())),
        "a session token (JWT)": session,
        # Over-long: at the limit it is judged as a token, beyond it refused as a field.
        "the right shape, exactly the longest taken": f"{cuenta_id}.{'A' * (MAX_TOKEN - len(cuenta_id) - 1)}",
        "this link padded one past the longest taken": live + "A" * (MAX_TOKEN + 1 - len(live)),
        "ten thousand characters": f"{cuenta_id}.{'A' * 10_000}",
        # NUL anywhere.
        "NUL": "\u0000",
        "NUL after the id": f"{cuenta_id}\u0000.{secret}",
        "NUL instead of the dot": f"{cuenta_id}\u0000{secret}",
        "NUL at the end": f"{live}\u0000",
        "NUL in front": f"\u0000{live}",
        # Hostile strings.
        "empty": "",
        "a space": " ",
        "a lone dot": ".",
        "two dots": "..",
        "path traversal": "../../etc/passwd.x",
        "SQL": "' OR '1'='1.x",
        "a MongoDB operator as the id": "$ne.x",
        "an operator as text": '{"$ne": null}',
        "wildcards": "*.*",
        "a non-ASCII letter as the id": "ñandú.x",
        "full-width digits as the id": "\uff10\uff11\uff12.x",
        "Arabic-Indic digits as the id": "\u0661\u0662\u0663.x",
        # Not strings at all.
        "a number": 12345,
        "null": None,
        "true": True,
        "the link in a list": [live],
        "an operator": {"$ne": None},
        "the link in an object": {"token": live},
    }
    if cuenta_id.upper() != cuenta_id:
        tokens["the id in upper case"] = f"{cuenta_id.upper()}.{secret}"
    for name, token in own.tokens.items():
        if name != purpose:
            tokens[f"the account's live {name} link"] = token
    if purpose in own.replaced:
        tokens[f"the {purpose} link the live one replaced"] = own.replaced[purpose]
    return tokens


def expected_status(token: Any) -> int:
    """422 for what the body's schema refuses (not a string, empty, too long), 400 for any other."""
    return 400 if isinstance(token, str) and 1 <= len(token) <= MAX_TOKEN else 422


def judge(rec, name: str, response, status: int) -> bytes | None:
    """Record one attack: refused with the exact link refusal (its body
    returned), or with 422 naming ``token`` and nothing else."""
    if response.status_code != status or not response.headers.get("content-type", "").startswith(
            "application/problem+json"):
        rec.record(name, False, f"{response.status_code} {response.text[:300]}")
        return None
    body = problem(response)
    if status == 400:
        rec.record(name, body == LINK_REFUSED, response.text[:300])
        return response.content
    rec.record(name, {e["campo"] for e in body["errores"]} == {"token"}, response.text[:300])
    return None


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_every_token_but_the_live_link_gets_the_same_refusal_and_spends_nothing(world, client, bystanders,
                                                                                 attacks, name):
    rec = attacks("links")
    endpoint = ENDPOINTS[name]
    own = with_links(world, client, endpoint.service)
    other = bystanders[endpoint.service]
    foreign = bystanders["empleados" if endpoint.service == "clientes" else "clientes"]
    session = world.c1.token if endpoint.service == "clientes" else world.admin.token
    label = f"{endpoint.service}{endpoint.path}"
    refusals = set()
    for attack, token in hostile_tokens(own, other, foreign, endpoint.purpose, session).items():
        body = judge(rec, f"{label}: {attack}", _redeem(client, endpoint, token), expected_status(token))
        if body is not None:
            refusals.add(body)
    rec.record(f"{label}: one answer for every bad link", len(refusals) == 1, f"{len(refusals)} different answers")
    # The owner's link still works after all that, and only once.
    live = own.tokens[endpoint.purpose]
    response = _redeem(client, endpoint, live)
    assert response.status_code == endpoint.success, (label, response.status_code, response.text)
    judge(rec, f"{label}: the link used again", _redeem(client, endpoint, live), 400)
    judge(rec, f"{label}: the link used again under a new Idempotency-Key",
          _redeem(client, endpoint, live, headers={"Idempotency-Key": uuid.uuid4().hex}), 400)
    for voided in endpoint.voids:
        judge(rec, f"{label}: the account's {voided} link once it was used",
              _redeem(client, REDEEMED_AT[(endpoint.service, voided)], own.tokens[voided]), 400)
    rec.check()


RACERS = 6


@pytest.mark.parametrize("name", sorted(ENDPOINTS))
def test_a_link_redeemed_by_several_requests_at_once_works_once(world, security_system, bystanders, attacks, name):
    """The same live link sent by several clients at the same instant (each
    its own connection, released together): one request redeems it, every
    other gets the plain link refusal, never a conflict or a 500."""
    rec = attacks("links")
    endpoint = ENDPOINTS[name]
    setup = new_client(security_system.urls)
    own = with_links(world, setup, endpoint.service)
    setup.close()
    live = own.tokens[endpoint.purpose]
    clients = [new_client(security_system.urls) for _ in range(RACERS)]
    start, answers = threading.Barrier(RACERS), [None] * RACERS

    def race(n: int) -> None:
        start.wait()
        answers[n] = _redeem(clients[n], endpoint, live)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for client in clients:
        client.close()
    label = f"{endpoint.service}{endpoint.path}"
    winners = [a for a in answers if a.status_code == endpoint.success]
    rec.record(f"{label}: {RACERS} requests at once, one redeems the link", len(winners) == 1,
               str(sorted(a.status_code for a in answers)))
    for n, answer in enumerate(a for a in answers if a.status_code != endpoint.success):
        judge(rec, f"{label}: request {n + 1} that lost the race", answer, 400)
    rec.check()


def test_a_customer_asking_for_mails_is_throttled_per_account(world, security_system, attacks):
    """The verification mail (the registration's counts) and the mail that
    confirms a new e-mail (to any address the customer names): one a
    minute, from any address; a refused request voids nothing."""
    rec = attacks("links")
    cliente = world.client.new_cliente("Insistente")
    first = wait_link_token(world.system, cliente.email, VERIFY)
    for n, client in enumerate((new_client(security_system.urls), new_client(security_system.urls)), 1):
        response = client.call("POST", "clientes", "/clientes/yo/verificacion/reenvio", cliente.token, json={})
        if rec.expect(f"verification mail asked again within the minute (address {n})", response, 429):
            assert problem(response)["type"].endswith("demasiados-envios")
            assert 0 < int(response.headers["Retry-After"]) <= 60, response.headers["Retry-After"]
        client.close()
    changes = [f"cambio{n}.{uuid.uuid4().hex[:8]}@example.com" for n in (1, 2)]
    response = world.client.call("PATCH", "clientes", "/clientes/yo", cliente.token, json={"email": changes[0]})
    assert response.status_code == 200, response.text
    response = world.client.call("PATCH", "clientes", "/clientes/yo", cliente.token, json={"email": changes[1]})
    if rec.expect("a second e-mail change within the minute", response, 429):
        assert 0 < int(response.headers["Retry-After"]) <= 60, response.headers["Retry-After"]
    me = world.client.call("GET", "clientes", "/clientes/yo", cliente.token).json()
    rec.record("the refused change left the first one pending", me["email_pendiente"] == changes[0],
               str(me["email_pendiente"]))
    response = world.client.call("POST", "clientes", "/clientes/verificacion", json={"token": first})
    assert response.status_code == 200 and response.json() == {"email_verificado": True}, response.text
    rec.check()
