"""Tokens against the whole running system: every protected endpoint of
every service, with tokens forged, stale or carried to the wrong place.

Forgeries are made with the real issuers' keys (read from the running
system's KEYS_DIR) so that each one differs from a valid token in exactly
the claim or header being attacked; a token that only fails because its key
is unknown would prove nothing about the claim.
"""
from __future__ import annotations

import base64
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.tokens import public_jwk
from harness import wait_until

from .world import new_client, problem, signing_key_pem, wait_link_token
from .permissions import PERMISSIONS, path_parameters

pytestmark = [pytest.mark.security, pytest.mark.slow]

AUDIENCE = "incidencias"
PROTECTED = sorted(k for k, roles in PERMISSIONS.items() if roles is not None)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data) -> str:
    return b64(json.dumps(data).encode())


class Forge:
    """Tokens signed like the running issuers sign them, with one thing changed."""

    def __init__(self, system):
        self.keys = {name: serialization.load_pem_private_key(signing_key_pem(system, name), None)
                     for name in ("clientes", "empleados")}
        self.kids = {name: public_jwk(key.public_key())["kid"] for name, key in self.keys.items()}

    def claims(self, issuer: str, subject: str, role: str, **changes) -> dict:
        """Claims as the issuer writes them; a change to ``...`` removes the claim."""
        now = int(time.time())
        claims = {"sub": subject, "rol": role, "iss": issuer, "aud": AUDIENCE, "iat": now, "nbf": now,
                  "exp": now + 600, "jti": uuid.uuid4().hex, "nombre": "Forjado"}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not ...}

    def sign(self, issuer: str, claims: dict, key=None, **headers) -> str:
        """Signed by hand, so that claims no library would write (a list as
        ``iss``) can be sent; a header set to ``...`` is left out."""
        header = {"alg": "EdDSA", "typ": "JWT", "kid": self.kids[issuer], **headers}
        header = {k: v for k, v in header.items() if v is not ...}
        signing_input = f"{b64json(header)}.{b64json(claims)}"
        return f"{signing_input}.{b64((key or self.keys[issuer]).sign(signing_input.encode()))}"

    def hs256(self, claims: dict, secret: bytes, issuer: str) -> str:
        head = b64json({"alg": "HS256", "typ": "JWT", "kid": self.kids[issuer]})
        body = b64json(claims)
        import hashlib
        import hmac

        signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        return f"{head}.{body}.{b64(signature)}"


def forged_tokens(forge: Forge, world) -> dict[str, str]:
    """Tokens no endpoint may accept, each for the role that would otherwise
    be allowed there (see _token_for)."""
    tokens: dict[str, dict[str, str]] = {}
    stranger = Ed25519PrivateKey.generate()
    for issuer, sub, rol in (("clientes", world.c1.id, "cliente"), ("empleados", world.admin.id, "admin")):
        c = lambda **kw: forge.claims(issuer, sub, rol, **kw)  # noqa: E731
        public = forge.keys[issuer].public_key()
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        now = int(time.time())
        valid = forge.sign(issuer, c())
        head, payload, signature = valid.split(".")
        other = forge.sign(issuer, c(sub="someone-else"))
        tokens[issuer] = {
            "alg none": f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(c())}.",
            "alg None with the real kid": f"{b64json({'alg': 'None', 'kid': forge.kids[issuer]})}.{b64json(c())}.",
            "alg none with the real signature": f"{b64json({'alg': 'none'})}.{payload}.{signature}",
            "HS256 keyed with the raw public key": forge.hs256(c(), raw, issuer),
            "HS256 keyed with the public PEM": forge.hs256(c(), pem, issuer),
            "HS256 keyed with the JWK x": forge.hs256(c(), public_jwk(public)["x"].encode(), issuer),
            "HS256 keyed with an empty secret": forge.hs256(c(), b"", issuer),
            "alg EdDSA spelled eddsa": f"{b64json({'alg': 'eddsa', 'kid': forge.kids[issuer]})}.{payload}.{signature}",
            "expired (beyond the leeway)": forge.sign(issuer, c(exp=now - 120, iat=now - 800, nbf=now - 800)),
            "not yet valid (nbf)": forge.sign(issuer, c(nbf=now + 300)),
            "issued in the future (iat)": forge.sign(issuer, c(iat=now + 3600, nbf=...)),
            "wrong audience": forge.sign(issuer, c(aud="otra-api")),
            "audience list without ours": forge.sign(issuer, c(aud=["otra-api", "tercera"])),
            "no audience": forge.sign(issuer, c(aud=...)),
            "no expiry": forge.sign(issuer, c(exp=...)),
            "no subject": forge.sign(issuer, c(sub=...)),
            "subject not a string": forge.sign(issuer, c(sub=12345)),
            "wrong issuer name": forge.sign(issuer, c(iss="intruso")),
            "issuer as a list": forge.sign(issuer, c(iss=[issuer])),
            "role in upper case": forge.sign(issuer, c(rol=rol.upper())),
            "no role": forge.sign(issuer, c(rol=...)),
            "tampered payload (another subject)": f"{head}.{other.split('.')[1]}.{signature}",
            "tampered signature": f"{head}.{payload}.{('A' if signature[0] != 'A' else 'B') + signature[1:]}",
            "truncated signature": f"{head}.{payload}.{signature[:20]}",
            "no signature": f"{head}.{payload}.",
            "another token's signature": f"{head}.{payload}.{other.split('.')[2]}",
            "unpublished key, real kid": forge.sign(issuer, c(), key=stranger),
            "unpublished key, embedded jwk": forge.sign(issuer, c(), key=stranger, kid=...,
                                                         jwk=public_jwk(stranger.public_key())),
            "unpublished key, jku to elsewhere": forge.sign(issuer, c(), key=stranger,
                                                             jku="http://127.0.0.1:9/jwks.json"),
            "kid path traversal": forge.sign(issuer, c(), kid="../../../../dev/null"),
            "kid injection": forge.sign(issuer, c(), kid="x' OR '1'='1"),
            "no kid": forge.sign(issuer, c(), kid=...),
            "critical header we do not know": forge.sign(issuer, c(), crit=["exp"]),
        }
    cross = {
        "clientes key claiming to be empleados (admin)": forge.sign(
            "clientes", forge.claims("empleados", world.admin.id, "admin")),
        "empleados key claiming to be clientes": forge.sign(
            "empleados", forge.claims("clientes", world.c1.id, "cliente")),
        "clientes key granting admin": forge.sign("clientes", forge.claims("clientes", world.c1.id, "admin")),
        "empleados key granting cliente": forge.sign("empleados", forge.claims("empleados", world.c1.id, "cliente")),
    }
    return {**{f"{i}: {n}": t for i, group in tokens.items() for n, t in group.items()}, **cross}


def _fill(path: str, world) -> str:
    values = {"cliente_id": world.c1.id, "empleado_id": world.a1.id, "incidencia_id": world.incidents["leer"],
              "notificacion_id": world.notifications[0], "respuesta_id": world.respuesta,
              "etiqueta": "vip"}
    for name in path_parameters(path):
        path = path.replace("{" + name + "}", values[name])
    return path


def _send(client, world, key, token, headers=None):
    service, method, path = key
    body = {"json": {"__sonda__": True}} if method in ("POST", "PATCH") else {}
    all_headers = dict(headers or {})
    if token is not None:
        all_headers["Authorization"] = f"Bearer {token}"
    return client.call(method, service, _fill(path, world), headers=all_headers, **body)


@pytest.fixture(scope="module")
def forge(security_system):
    return Forge(security_system)


def test_a_forged_issuer_token_is_accepted_when_nothing_is_wrong_with_it(world, client, forge):
    """The control: the forge signs exactly like the issuers, so every
    refusal below is about the one thing each token changes."""
    customer = forge.sign("clientes", forge.claims("clientes", world.c1.id, "cliente"))
    staff = forge.sign("empleados", forge.claims("empleados", world.admin.id, "admin"))
    assert client.call("GET", "apertura", "/incidencias", customer).status_code == 200
    assert client.call("GET", "clientes", "/clientes/yo", customer).status_code == 200
    assert client.call("GET", "resolucion", "/incidencias", staff).status_code == 200
    assert client.call("GET", "empleados", "/empleados/yo", staff).status_code == 200


@pytest.mark.parametrize("key", PROTECTED, ids=lambda k: " ".join(k))
def test_forged_tokens_are_401_on_every_protected_endpoint(world, client, forge, attacks, key):
    rec = attacks("tokens")
    for name, token in forged_tokens(forge, world).items():
        response = _send(client, world, key, token)
        if rec.expect(f"{name} on {key[1]} {key[0]}{key[2]}", response, 401):
            assert problem(response)["type"].endswith("no-autenticado")
    rec.check()


def test_a_signed_token_whose_role_is_not_a_string_is_401_not_500(world, client, forge, attacks):
    rec = attacks("tokens")
    for issuer, sub, rol in (("clientes", world.c1.id, "cliente"), ("empleados", world.admin.id, "admin")):
        for shape in ([rol], {"rol": rol}):
            token = forge.sign(issuer, forge.claims(issuer, sub, shape))
            for key in PROTECTED:
                response = _send(client, world, key, token)
                rec.expect(f"{issuer}: role {type(shape).__name__} on {key[1]} {key[0]}{key[2]}", response, 401)
    rec.check()


def test_malformed_and_misplaced_credentials_are_401(world, client, attacks):
    rec = attacks("tokens")
    good = world.c1.token
    headers = {
        "scheme only": {"Authorization": "Bearer"},
        "Basic scheme": {"Authorization": "Basic " + base64.b64encode(b"carla:Cliente-pass-2026").decode()},
        "Token scheme with a valid token": {"Authorization": f"Token {good}"},
        "two tokens": {"Authorization": f"Bearer {good} {good}"},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "three garbage parts": {"Authorization": "Bearer a.b.c"},
        "valid token in a cookie": {"Cookie": f"access_token={good}; token={good}"},
        "valid token in X-Access-Token": {"X-Access-Token": good},
    }
    for name, extra in headers.items():
        response = client.call("GET", "apertura", "/incidencias", headers=extra)
        rec.expect(f"{name} on apertura", response, 401)
    response = client.call("GET", "apertura", "/incidencias", params={"access_token": good, "token": good})
    rec.expect("valid token in the query string", response, 401)
    rec.check()


@pytest.mark.parametrize("key", PROTECTED, ids=lambda k: " ".join(k))
def test_valid_tokens_of_the_other_kind_are_refused(world, client, attacks, key):
    """A customer's token on a staff endpoint and a staff token on a
    customer endpoint: 403 where the token is trusted, 401 in empleados,
    which trusts no customer token at all."""
    rec = attacks("tokens")
    allowed = PERMISSIONS[key]
    if "cliente" not in allowed:
        expected = 401 if key[0] == "empleados" else 403
        rec.expect(f"customer token on {key[1]} {key[0]}{key[2]}", _send(client, world, key, world.c1.token),
                   expected)
    if not set(allowed) & {"agente", "supervisor", "admin"}:
        for actor in (world.a1, world.admin):
            rec.expect(f"{actor.rol} token on {key[1]} {key[0]}{key[2]}", _send(client, world, key, actor.token),
                       403)
    rec.check()


def test_a_deleted_customers_token_stops_working_everywhere(world, client, attacks):
    rec = attacks("tokens")
    gone = world.client.new_cliente("Saliente")
    incidencia_id = world.client.new_incidencia(gone, world.categoria_of(world.a1))["id"]
    assert client.call("GET", "apertura", f"/incidencias/{incidencia_id}", gone.token).status_code == 200
    assert client.call("DELETE", "clientes", "/clientes/yo", gone.token).status_code == 204
    rec.expect("deleted customer's token on clientes", client.call("GET", "clientes", "/clientes/yo", gone.token), 401)
    # apertura learns it from cliente.eliminado: within moments, then for good.
    wait_until(lambda: client.call("GET", "apertura", "/incidencias", gone.token).status_code == 401, timeout=30,
               message="apertura refuses the deleted customer's token")
    for method, path, body in [("GET", "/incidencias", None), ("GET", f"/incidencias/{incidencia_id}", None),
                               ("POST", "/incidencias", {"titulo": "t", "descripcion": "d",
                                                         "producto": {"referencia": "r", "nombre": "n"}}),
                               ("POST", f"/incidencias/{incidencia_id}/comentarios", {"texto": "sigo aquí"}),
                               ("GET", "/notificaciones", None)]:
        response = client.call(method, "apertura", path, gone.token, **({"json": body} if body else {}))
        rec.expect(f"deleted customer's token on apertura {method} {path.split('/')[1]}", response, 401)
    rec.expect("deleted customer logs in", client.call("POST", "clientes", "/clientes/login", json={
        "email": gone.email, "password": gone.password}), 401)
    rec.check()


def _deactivate(world, client, empleado):
    response = client.call("POST", "empleados", f"/empleados/{empleado.id}/baja", world.admin.token, json={})
    assert response.status_code == 200 and response.json()["activo"] is False, response.text


def test_a_deactivated_employees_token_stops_working_where_incidents_and_accounts_live(world, client, attacks):
    rec = attacks("tokens")
    leaving = world.new_empleado("supervisor", nombre="Saliente")
    assert client.call("GET", "resolucion", "/incidencias", leaving.token).status_code == 200
    _deactivate(world, client, leaving)
    rec.expect("deactivated employee's token on empleados",
               client.call("GET", "empleados", "/empleados/yo", leaving.token), 401)
    wait_until(lambda: client.call("GET", "resolucion", "/incidencias", leaving.token).status_code == 401,
               timeout=30, message="resolucion refuses the deactivated employee's token")
    for method, path, body in [("GET", "/estadisticas", None),
                               ("GET", f"/incidencias/{world.incidents['leer']}", None),
                               ("POST", f"/incidencias/{world.incidents['leer']}/comentarios", {"texto": "x"})]:
        response = client.call(method, "resolucion", path, leaving.token, **({"json": body} if body else {}))
        rec.expect(f"deactivated employee's token on resolucion {method} {path}", response, 401)
    rec.expect("deactivated employee logs in", client.call("POST", "empleados", "/empleados/login", json={
        "email": leaving.email, "password": leaving.password}), 401)
    rec.check()


def test_a_deactivated_employee_cannot_read_customer_data(world, client, attacks):
    rec = attacks("tokens")
    leaving = world.new_empleado("agente", nombre="Despedido")
    _deactivate(world, client, leaving)
    # Give the system every chance: once resolucion has applied the event.
    wait_until(lambda: client.call("GET", "resolucion", "/incidencias", leaving.token).status_code == 401,
               timeout=30)
    for path in ("/clientes", f"/clientes/{world.c1.id}"):
        response = client.call("GET", "clientes", path, leaving.token)
        rec.expect(f"deactivated employee's token on clientes GET {path.replace(world.c1.id, '{id}')}", response,
                   401)
    rec.check()


def test_a_demoted_supervisors_token_loses_the_old_role_everywhere(world, client, attacks):
    rec = attacks("tokens")
    demoted = world.new_empleado("supervisor", nombre="Degradado")
    response = client.call("PATCH", "empleados", f"/empleados/{demoted.id}", world.admin.token,
                           json={"rol": "agente"})
    assert response.status_code == 200 and response.json()["rol"] == "agente"
    rec.expect("demoted supervisor's old token on empleados",
               client.call("GET", "empleados", "/empleados", demoted.token), 401)
    # Wait until resolucion's replica knows the new role.
    wait_until(lambda: any(e["id"] == demoted.id and e["rol"] == "agente" for e in client.call(
        "GET", "resolucion", "/estadisticas", world.admin.token).json()["carga_por_empleado"]), timeout=30,
        message="resolucion knows the new role")
    target = world.incident_in("asignada")
    before = world.settled_state(target)
    response = client.call("POST", "resolucion", f"/incidencias/{target}/asignacion", demoted.token,
                           json={"empleado_id": world.a2.id})
    rec.expect("demoted supervisor's old token reassigns another agent's incident", response, 401)
    rec.record("the incident stays with its agent", world.state_of(target)["resolucion"] == before["resolucion"])
    rec.check()


RESET_PAGE = {"clientes": "/cuenta/restablecer", "empleados": "/equipo/restablecer"}
NEW_PASSWORD = "Nueva-clave-segura-2026"
# Where each issuer's tokens are verified: the issuer itself at once, the
# others once the account's event has reached their replica.
SESSION_READS = {
    "clientes": [("clientes", "/clientes/yo"), ("apertura", "/incidencias"), ("apertura", "/notificaciones")],
    "empleados": [("empleados", "/empleados/yo"), ("resolucion", "/incidencias"), ("resolucion", "/estadisticas"),
                  ("clientes", "/clientes")],
}


@pytest.mark.parametrize("issuer", ["clientes", "empleados"])
def test_a_password_reset_ends_every_session_opened_before_it_everywhere(world, security_system, forge, attacks,
                                                                         issuer):
    """A session token issued a minute before the owner resets the password
    through the mailed link (forged with the issuer's key only to date it
    back): refused by the issuer at once, and by every other service that
    verifies it as soon as the account's event reaches it."""
    rec = attacks("tokens")
    client = new_client(security_system.urls)
    if issuer == "clientes":
        account = world.client.new_cliente("Restablece")
    else:
        account = world.new_empleado("agente", nombre="Restablece")
    now = int(time.time())
    before = forge.sign(issuer, forge.claims(issuer, account.id, account.rol, iat=now - 60, nbf=now - 60))
    reads = SESSION_READS[issuer]

    def answers(status: int, service: str, path: str) -> None:
        wait_until(lambda: client.call("GET", service, path, before).status_code == status, timeout=30,
                   message=f"{service} {path} answers {status} to the session opened before the reset")

    for service, path in reads:  # the control: it was a good token
        answers(200, service, path)
    response = client.call("POST", issuer, f"/{issuer}/password/solicitud", json={"email": account.email})
    assert response.status_code == 202, response.text
    token = wait_link_token(security_system, account.email, RESET_PAGE[issuer])
    response = client.call("POST", issuer, f"/{issuer}/password/restablecimiento",
                           json={"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 204, response.text
    service, path = reads[0]
    rec.expect(f"{issuer}: the session before the reset on {service} at once",
               client.call("GET", service, path, before), 401)
    for service, path in reads[1:]:
        answers(401, service, path)
        rec.expect(f"{issuer}: the session before the reset on {service} {path}",
                   client.call("GET", service, path, before), 401)
    rec.expect(f"{issuer}: the old password", client.call(
        "POST", issuer, f"/{issuer}/login", json={"email": account.email, "password": account.password}), 401)
    fresh = client.login(issuer, account.email, NEW_PASSWORD)
    for service, path in reads:
        assert client.call("GET", service, path, fresh).status_code == 200, (service, path)
    client.close()
    rec.check()


def test_tokens_are_not_accepted_by_the_jwks_or_login_endpoints_as_a_bypass(world, client, attacks):
    """Public endpoints stay public and give nothing more with a token."""
    rec = attacks("tokens")
    for service in ("clientes", "empleados"):
        keys = client.call("GET", service, "/.well-known/jwks.json", world.admin.token).json()["keys"]
        rec.record(f"{service} JWKS holds only public keys", all(set(k) <= {"kty", "crv", "x", "kid", "alg", "use"}
                                                                   for k in keys), str(keys))
    rec.check()
