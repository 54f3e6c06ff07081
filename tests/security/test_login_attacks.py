"""Login and the password reset request on both token issuers: nothing
tells an attacker whether an email has an account (the same status, body,
headers and, for the login, timing for an unknown email, a wrong password,
a closed or invited account), and guessing and flooding are throttled per
account and per client address, also behind the gateway.

Each test sends from loopback addresses of its own, so the allowance it
spends is nobody else's.
"""
from __future__ import annotations

import time
import uuid

import pytest

from harness import Driver

from .world import PROXY_ADDRESS, new_client, problem, wait_link_token

pytestmark = [pytest.mark.security, pytest.mark.slow]

MAX_FAILURES = 5        # Settings.login_max_failures
PER_ADDRESS = 4 * MAX_FAILURES  # common/throttle.py: the wider allowance per client address
WINDOW = 300            # Settings.login_window_seconds
VOLATILE_HEADERS = {"date", "x-correlation-id"}


def _login(client: Driver, service: str, email: str, password: str, **kwargs):
    return client.call("POST", service, f"/{service}/login", json={"email": email, "password": password}, **kwargs)


def _accounts(world, service: str):
    """(a live account, a closed one) of the issuer."""
    client = world.client
    if service == "clientes":
        live, closed = world.client.new_cliente("Viva"), world.client.new_cliente("Cerrada")
        assert client.call("DELETE", "clientes", "/clientes/yo", closed.token).status_code == 204
    else:
        live, closed = world.new_empleado("agente", nombre="Viva"), world.new_empleado("agente", nombre="Cerrada")
        response = client.call("POST", "empleados", f"/empleados/{closed.id}/baja", world.admin.token, json={})
        assert response.status_code == 200
    return live, closed


def _invited(world) -> str:
    """The email of an employee invited (no password) and not yet accepted."""
    email = f"invitado.{uuid.uuid4().hex[:10]}@example.com"
    response = world.client.call("POST", "empleados", "/empleados", world.admin.token, json={
        "nombre": "Invitado", "apellidos": "Pendiente", "email": email, "rol": "agente"})
    assert response.status_code == 201 and response.json()["invitacion_pendiente"] is True, response.text
    return email


def _shape(response) -> tuple:
    headers = tuple(sorted((k.lower(), v) for k, v in response.headers.items() if k.lower() not in VOLATILE_HEADERS))
    return response.status_code, response.content, headers


@pytest.mark.parametrize("service", ["clientes", "empleados"])
def test_unknown_email_wrong_password_and_closed_account_look_the_same(world, security_system, attacks, service):
    rec = attacks("login")
    live, closed = _accounts(world, service)
    other, _ = _accounts(world, service)
    cases = {  # four tries each: under the allowance of five failures per account
        "unknown email": lambda: (f"nadie.{uuid.uuid4().hex[:8]}@example.com", "Alguna-clave-2026"),
        "wrong password": lambda: (live.email, "No-es-la-clave-2026"),
        "closed account, right password": lambda: (closed.email, closed.password),
        "wrong password, email in other case": lambda: (other.email.upper(), "No-es-la-clave-2026"),
    }
    if service == "empleados":  # an invitation not accepted yet: no password opens it
        invited = _invited(world)
        cases["invited account, no password chosen yet"] = lambda: (invited, "Alguna-clave-2026")
    # Each case from an address of its own (under every allowance), the
    # cases taken in turn so that a burst of load on the machine slows them
    # all alike.
    clients = {name: new_client(security_system.urls) for name in cases}
    shapes, durations, last = {}, {name: [] for name in cases}, None
    for _ in range(4):
        for name, make in cases.items():
            email, password = make()
            started = time.perf_counter()
            response = _login(clients[name], service, email, password)
            durations[name].append(time.perf_counter() - started)
            shapes.setdefault(name, set()).add(_shape(response))
            last = response
            rec.expect(f"{service} login: {name}", response, 401)
    for client in clients.values():
        client.close()
    distinct = {shape for group in shapes.values() for shape in group}
    rec.record(f"{service}: one answer for every failure", len(distinct) == 1,
               f"{len(distinct)} different answers")
    # A password hash is verified in every case (a dummy one for unknown
    # emails): no case may be several times faster than another. The
    # quickest of each case's tries is the one least disturbed by load; a
    # path that skipped the hash would be some twenty times faster.
    quickest = {name: min(times) for name, times in durations.items()}
    rec.record(f"{service}: the same time for every failure",
               min(quickest.values()) >= 0.25 * max(quickest.values()),
               f"{ {k: round(v * 1000) for k, v in quickest.items()} } ms (quickest of 4)")
    assert problem(last)["type"].endswith("credenciales-incorrectas")
    rec.check()


@pytest.mark.parametrize("service", ["clientes", "empleados"])
def test_guessing_one_account_is_throttled_even_with_the_right_password(world, security_system, attacks, service):
    rec = attacks("login")
    live, _closed = _accounts(world, service)
    attacker = new_client(security_system.urls)
    for _ in range(MAX_FAILURES):
        assert _login(attacker, service, live.email, "No-es-la-clave-2026").status_code == 401
    blocked = _login(attacker, service, live.email, "Otra-vez-mal-2026")
    if rec.expect(f"{service}: guess {MAX_FAILURES + 1} on one account", blocked, 429):
        retry = int(blocked.headers["Retry-After"])
        assert 0 < retry <= WINDOW + 1
    rec.expect(f"{service}: the right password while throttled",
               _login(attacker, service, live.email, live.password), 429)
    # From anywhere: the account is what is throttled, not only the address.
    elsewhere = new_client(security_system.urls)
    rec.expect(f"{service}: the right password from another address while throttled",
               _login(elsewhere, service, live.email, live.password), 429)
    rec.expect(f"{service}: the email in upper case while throttled",
               _login(elsewhere, service, live.email.upper(), live.password), 429)
    # Other accounts are not affected.
    other = world.client.new_cliente("Otra") if service == "clientes" else world.new_empleado("agente", nombre="Otra")
    assert _login(new_client(security_system.urls), service, other.email, other.password).status_code == 200
    rec.check()


@pytest.mark.parametrize("service", ["clientes", "empleados"])
def test_spraying_many_accounts_from_one_address_is_throttled(world, security_system, attacks, service):
    rec = attacks("login")
    live, _closed = _accounts(world, service)
    sprayer = new_client(security_system.urls)
    for n in range(PER_ADDRESS):
        email = f"spray{n}.{uuid.uuid4().hex[:6]}@example.com"
        assert _login(sprayer, service, email, "Alguna-clave-2026").status_code == 401
    rec.expect(f"{service}: spray attempt {PER_ADDRESS + 1}",
               _login(sprayer, service, f"otra.{uuid.uuid4().hex[:6]}@example.com", "Alguna-clave-2026"), 429)
    rec.expect(f"{service}: a real account from the spraying address",
               _login(sprayer, service, live.email, live.password), 429)
    # Forging X-Forwarded-For does not help: only the proxy may say who the client is.
    for forged in ("203.0.113.7", "203.0.113.8, 198.51.100.1", PROXY_ADDRESS):
        rec.expect(f"{service}: spraying on with X-Forwarded-For: {forged}",
                   _login(sprayer, service, f"otra.{uuid.uuid4().hex[:6]}@example.com", "Alguna-clave-2026",
                          headers={"X-Forwarded-For": forged, "X-Real-IP": forged.split(",")[0]}), 429)
    # Everybody else still logs in.
    assert _login(new_client(security_system.urls), service, live.email, live.password).status_code == 200
    rec.check()


@pytest.mark.parametrize("service", ["clientes", "empleados"])
def test_behind_the_gateway_the_throttle_counts_the_real_client(world, security_system, attacks, service):
    """Behind nginx every request comes from the proxy's address, which
    appends the real client's to X-Forwarded-For: one client's failures
    must not lock everybody out, and a client cannot pick its own address."""
    rec = attacks("login")
    live, _closed = _accounts(world, service)
    proxy = new_client(security_system.urls, source=PROXY_ADDRESS)
    attacker, bystander = "198.51.100.23", "198.51.100.99"
    for n in range(PER_ADDRESS):
        response = _login(proxy, service, f"gw{n}.{uuid.uuid4().hex[:6]}@example.com", "Alguna-clave-2026",
                          headers={"X-Forwarded-For": attacker})
        assert response.status_code == 401
    rec.expect(f"{service}: the attacker behind the gateway, once more",
               _login(proxy, service, f"gw.{uuid.uuid4().hex[:6]}@example.com", "Alguna-clave-2026",
                      headers={"X-Forwarded-For": attacker}), 429)
    # The attacker prepends a fake address; the proxy appends the real one.
    rec.expect(f"{service}: the attacker forging an address in front",
               _login(proxy, service, f"gw.{uuid.uuid4().hex[:6]}@example.com", "Alguna-clave-2026",
                      headers={"X-Forwarded-For": f"{bystander}, {attacker}"}), 429)
    ok = _login(proxy, service, live.email, live.password, headers={"X-Forwarded-For": bystander})
    rec.record(f"{service}: another client behind the same gateway still logs in", ok.status_code == 200,
               f"{ok.status_code}")
    rec.check()


# -- the password reset request ------------------------------------------------------

RESET_PAGE = {"clientes": "/cuenta/restablecer", "empleados": "/equipo/restablecer"}
RESETS_PER_HOUR = 3  # cuentas.services.LIMITES_RESTABLECIMIENTO: more are answered alike, and mail nothing


def _ask_reset(client: Driver, service: str, email: str, **kwargs):
    return client.call("POST", service, f"/{service}/password/solicitud", json={"email": email}, **kwargs)


@pytest.mark.parametrize("service", ["clientes", "empleados"])
def test_the_reset_request_answers_alike_whether_or_not_the_email_has_an_account(world, security_system,
                                                                               attacks, service):
    rec = attacks("login")
    live, closed = _accounts(world, service)
    other, _ = _accounts(world, service)
    cases = {  # four tries each, the last beyond the account's allowance of mails
        "unknown email": lambda: f"nadie.{uuid.uuid4().hex[:8]}@example.com",
        "an account's email": lambda: live.email,
        "an account's email in other case": lambda: other.email.upper(),
        "a closed account's email": lambda: closed.email,
    }
    if service == "empleados":
        invited = _invited(world)
        cases["an invited account's email"] = lambda: invited
    clients = {name: new_client(security_system.urls) for name in cases}
    shapes = {}
    for _ in range(RESETS_PER_HOUR + 1):
        for name, email in cases.items():
            response = _ask_reset(clients[name], service, email())
            shapes.setdefault(name, set()).add(_shape(response))
            rec.expect(f"{service} reset request: {name}", response, 202, problem_body=False)
    for client in clients.values():
        client.close()
    distinct = {shape for group in shapes.values() for shape in group}
    rec.record(f"{service}: one answer for every reset request", len(distinct) == 1,
               f"{len(distinct)} different answers: {sorted({s[:2] for s in distinct})[:3]}")
    # The answers were alike, the effects were not: the accounts got their links.
    for email in (live.email, other.email):
        wait_link_token(security_system, email, RESET_PAGE[service], count=RESETS_PER_HOUR)
    rec.check()


@pytest.mark.parametrize("service", ["clientes", "empleados"])
def test_flooding_reset_requests_from_one_address_is_throttled(world, security_system, attacks, service):
    """Reset requests mail someone: one address may send as many as it may
    fail logins (within the login window), then 429 with Retry-After, the
    same for an email with an account; nobody else is held back, and the
    address can still log in."""
    rec = attacks("login")
    live, _closed = _accounts(world, service)
    flooder = new_client(security_system.urls)
    for n in range(PER_ADDRESS):
        response = _ask_reset(flooder, service, f"flood{n}.{uuid.uuid4().hex[:6]}@example.com")
        assert response.status_code == 202, response.text
    blocked = _ask_reset(flooder, service, f"otra.{uuid.uuid4().hex[:6]}@example.com")
    if rec.expect(f"{service}: reset request {PER_ADDRESS + 1} from one address", blocked, 429):
        assert problem(blocked)["type"].endswith("demasiadas-solicitudes")
        assert 0 < int(blocked.headers["Retry-After"]) <= WINDOW + 1, blocked.headers["Retry-After"]
    known = _ask_reset(flooder, service, live.email)
    rec.record(f"{service}: the same 429 for an email with an account",
               known.status_code == 429 and known.content == blocked.content, f"{known.status_code} {known.text}")
    for forged in ("203.0.113.7", PROXY_ADDRESS):
        rec.expect(f"{service}: flooding on with X-Forwarded-For: {forged}",
                   _ask_reset(flooder, service, f"otra.{uuid.uuid4().hex[:6]}@example.com",
                              headers={"X-Forwarded-For": forged, "X-Real-IP": forged}), 429)
    assert _ask_reset(new_client(security_system.urls), service, live.email).status_code == 202
    assert _login(flooder, service, live.email, live.password).status_code == 200
    rec.check()
