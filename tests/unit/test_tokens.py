"""Token issuing and verification (``common.tokens``), called directly.

What stands in for what: the "empleados" issuer is a ``TokenIssuer`` on a
freshly generated Ed25519 key whose JWKS is served by a tiny ``http.server``
thread on 127.0.0.1 (random free port), so ``TrustedIssuer.remote`` fetches
the keys over real HTTP exactly as in production. Forged tokens are built
by hand (base64 + HMAC/Ed25519) because PyJWT refuses to produce most of
them. Nothing in ``common.tokens`` is patched.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import multiprocessing
import stat
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.tokens import (
    ALGORITHM,
    InvalidToken,
    IssuerUnreachable,
    Principal,
    TokenIssuer,
    TokenVerifier,
    TrustedIssuer,
    load_or_create_key,
    load_private_key,
    public_jwk,
)
from tests.helpers import free_port

AUDIENCE = "incidencias"


class JwksServer:
    """Serves one issuer's JWKS at ``/jwks.json`` and counts the fetches."""

    def __init__(self, issuer: TokenIssuer):
        self.issuer = issuer
        self.fetches = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                server.fetches += 1
                body = json.dumps(server.issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def new_issuer(name: str, ttl: int = 600, audience: str = AUDIENCE) -> TokenIssuer:
    return TokenIssuer(Ed25519PrivateKey.generate(), name, audience, ttl)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(data: dict[str, Any]) -> str:
    return b64(json.dumps(data).encode())


def claims(iss: str, sub: str = "u1", rol: str = "cliente", **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": sub, "rol": rol, "iss": iss, "aud": AUDIENCE, "iat": now, "nbf": now,
            "exp": now + 600, **extra}


def signed(issuer: TokenIssuer, payload: dict[str, Any], kid: str | None = None) -> str:
    """A token signed with ``issuer``'s real key but with any payload."""
    return jwt.encode(payload, issuer.private_key, algorithm=ALGORITHM,
                      headers={"kid": kid if kid is not None else issuer.jwk["kid"]})


def hs256(payload: dict[str, Any], secret: bytes, kid: str) -> str:
    head = b64json({"alg": "HS256", "typ": "JWT", "kid": kid})
    body = b64json(payload)
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(signature)}"


@pytest.fixture(scope="module")
def clientes() -> TokenIssuer:
    return new_issuer("clientes")


@pytest.fixture(scope="module")
def empleados() -> TokenIssuer:
    return new_issuer("empleados")


@pytest.fixture(scope="module")
def jwks_server(empleados):
    server = JwksServer(empleados)
    yield server
    server.stop()


@pytest.fixture
def verifier(clientes, jwks_server) -> TokenVerifier:
    """How a service that issues customer tokens verifies: its own key
    locally, the employees' keys from the empleados JWKS over HTTP."""
    return TokenVerifier(AUDIENCE, [
        TrustedIssuer.local(clientes, ["cliente"]),
        TrustedIssuer.remote("empleados", jwks_server.url, ["agente", "supervisor", "admin"]),
    ])


# -- issuing -----------------------------------------------------------------

def test_issued_token_carries_the_required_claims(clientes):
    before = int(time.time())
    token = clientes.issue("c1", "cliente", nombre="Ana", email="ana@example.com")
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == clientes.jwk["kid"]
    payload = jwt.decode(token, clientes.private_key.public_key(), algorithms=["EdDSA"], audience=AUDIENCE)
    assert payload["sub"] == "c1" and payload["rol"] == "cliente"
    assert payload["iss"] == "clientes" and payload["aud"] == AUDIENCE
    assert payload["exp"] - payload["iat"] == 600
    assert before <= payload["iat"] <= int(time.time())
    assert payload["nombre"] == "Ana"
    assert clientes.issue("c1", "cliente") != clientes.issue("c1", "cliente")  # unique jti


def test_extra_claims_cannot_override_the_protected_ones(clientes):
    token = clientes.issue("c1", "cliente", sub="c2", iss="empleados", aud="otra", exp=9999999999)
    payload = jwt.decode(token, options={"verify_signature": False})
    assert (payload["sub"], payload["iss"], payload["aud"]) == ("c1", "clientes", AUDIENCE)
    assert payload["exp"] < 9999999999


def test_jwks_publishes_only_the_public_ed25519_key(clientes):
    jwks = clientes.jwks()
    assert len(jwks["keys"]) == 1
    key = jwks["keys"][0]
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519"
    assert key["alg"] == "EdDSA" and key["use"] == "sig"
    assert "d" not in key
    raw_public = clientes.private_key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert key["x"] == b64(raw_public)
    # kid is the RFC 7638 thumbprint of the required members, in lexicographic order
    canonical = json.dumps({"crv": "Ed25519", "kty": "OKP", "x": key["x"]}, separators=(",", ":"))
    assert key["kid"] == b64(hashlib.sha256(canonical.encode()).digest())
    assert public_jwk(clientes.private_key.public_key()) == key


# -- keys --------------------------------------------------------------------

def test_load_private_key_accepts_ed25519_pem_and_refuses_other_keys():
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    for form in (pem, pem.decode()):
        assert load_private_key(form).public_key().public_bytes_raw() == key.public_key().public_bytes_raw()
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(ValueError, match="Ed25519"):
        load_private_key(ec_pem)


def test_load_or_create_key_creates_a_private_file_once(tmp_path):
    keys_dir = tmp_path / "claves"
    first = load_or_create_key(keys_dir, "clientes")
    path = keys_dir / "clientes.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    second = load_or_create_key(keys_dir, "clientes")
    assert first.public_key().public_bytes_raw() == second.public_key().public_bytes_raw()
    assert sorted(p.name for p in keys_dir.iterdir()) == ["clientes.pem"]  # no temp files left


def test_load_or_create_key_racing_threads_agree(tmp_path):
    for round_ in range(5):
        keys_dir = tmp_path / f"r{round_}"
        barrier = threading.Barrier(8)
        results: list[bytes] = []

        def worker():
            barrier.wait()
            results.append(load_or_create_key(keys_dir, "svc").public_key().public_bytes_raw())

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(results) == 8 and len(set(results)) == 1
        assert sorted(p.name for p in keys_dir.iterdir()) == ["svc.pem"]


def _key_in_child(keys_dir, barrier, queue) -> None:
    barrier.wait()
    queue.put(load_or_create_key(keys_dir, "svc").public_key().public_bytes_raw())


def test_load_or_create_key_racing_processes_agree(tmp_path):
    """Gunicorn workers start together and race on the first key."""
    context = multiprocessing.get_context("fork")
    for round_ in range(3):
        keys_dir = tmp_path / f"r{round_}"
        barrier, queue = context.Barrier(4), context.Queue()
        processes = [context.Process(target=_key_in_child, args=(keys_dir, barrier, queue)) for _ in range(4)]
        try:
            for process in processes:
                process.start()
            keys = [queue.get(timeout=30) for _ in processes]
            for process in processes:
                process.join(timeout=30)
                assert process.exitcode == 0
        finally:  # one that died leaves the others waiting at the barrier
            for process in processes:
                if process.is_alive():
                    process.kill()
                    process.join(timeout=10)
        assert len(set(keys)) == 1
        assert load_or_create_key(keys_dir, "svc").public_key().public_bytes_raw() == keys[0]


# -- verifying -----------------------------------------------------------------

def test_customer_token_verifies_to_its_principal(verifier, clientes):
    principal = verifier.verify(clientes.issue("c1", "cliente", nombre="Ana", email="ana@example.com"))
    assert principal == Principal("c1", "cliente", "clientes", "Ana", "ana@example.com")
    assert principal.claims["aud"] == AUDIENCE


def test_staff_token_verifies_with_keys_fetched_over_http_and_cached(verifier, empleados, jwks_server):
    before = jwks_server.fetches
    for rol in ("agente", "supervisor", "admin"):
        principal = verifier.verify(empleados.issue("e1", rol))
        assert (principal.id, principal.rol, principal.issuer) == ("e1", rol, "empleados")
    assert jwks_server.fetches == before + 1  # fetched once, then cached


class CountingIssuer:
    """A local TrustedIssuer whose key lookups are counted: each lookup is one
    full verification (signature and claims)."""

    def __init__(self, issuer: TokenIssuer):
        self.trusted = TrustedIssuer.local(issuer, ["cliente"])
        self.lookups = 0

    def __call__(self, kid: str):
        self.lookups += 1
        return self.trusted.key_for(kid)


def test_a_verified_token_is_remembered_until_it_expires(clientes):
    counting = CountingIssuer(clientes)
    now = [time.time()]
    verifier = TokenVerifier(AUDIENCE, [TrustedIssuer("clientes", frozenset({"cliente"}), counting)],
                             clock=lambda: now[0])
    token = clientes.issue("c1", "cliente")
    exp = jwt.decode(token, options={"verify_signature": False})["exp"]
    first = verifier.verify(token)
    assert verifier.verify(token) == first and counting.lookups == 1
    now[0] = exp + 29  # still within the leeway a fresh check allows
    assert verifier.verify(token) == first and counting.lookups == 1
    now[0] = exp + 31  # past it: checked again (and valid by the real clock)
    assert verifier.verify(token) == first and counting.lookups == 2


def test_refused_tokens_are_never_remembered(clientes):
    counting = CountingIssuer(clientes)
    verifier = TokenVerifier(AUDIENCE, [TrustedIssuer("clientes", frozenset({"cliente"}), counting)])
    expired = signed(clientes, claims("clientes", exp=int(time.time()) - 120))
    for _ in range(2):
        with pytest.raises(InvalidToken):
            verifier.verify(expired)
    assert counting.lookups == 2


def test_the_cache_is_bounded(clientes):
    verifier = TokenVerifier(AUDIENCE, [TrustedIssuer.local(clientes, ["cliente"])], cache_size=3)
    for n in range(10):
        verifier.verify(clientes.issue(f"c{n}", "cliente"))
    assert len(verifier._verified) == 3


def test_leeway_tolerates_small_clock_skew(verifier, clientes):
    now = int(time.time())
    assert verifier.verify(signed(clientes, claims("clientes", exp=now - 10))).id == "u1"
    assert verifier.verify(signed(clientes, claims("clientes", nbf=now + 10))).id == "u1"


def _bad_tokens(clientes: TokenIssuer, empleados: TokenIssuer) -> dict[str, str]:
    now = int(time.time())
    good = clientes.issue("c1", "cliente")
    head, payload, signature = good.split(".")
    raw_public = clientes.private_key.public_key().public_bytes_raw()
    pem_public = clientes.private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    forged_payload = b64json({**jwt.decode(good, options={"verify_signature": False}), "sub": "c2"})
    without = {name: {k: v for k, v in claims("clientes").items() if k != name}
               for name in ("exp", "sub", "iat", "aud")}
    return {
        "alg none": f"{b64json({'alg': 'none', 'typ': 'JWT'})}.{b64json(claims('clientes'))}.",
        "alg none with kid": f"{b64json({'alg': 'none', 'kid': clientes.jwk['kid']})}.{b64json(claims('clientes'))}.",
        "HS256 keyed with the raw public key": hs256(claims("clientes"), raw_public, clientes.jwk["kid"]),
        "HS256 keyed with the public PEM": hs256(claims("clientes"), pem_public, clientes.jwk["kid"]),
        "expired": signed(clientes, claims("clientes", exp=now - 120, iat=now - 800, nbf=now - 800)),
        "not yet valid": signed(clientes, claims("clientes", nbf=now + 120)),
        "wrong audience": signed(clientes, claims("clientes", aud="otra-api")),
        "clientes key claiming iss empleados": signed(clientes, claims("empleados", rol="admin")),
        "untrusted issuer": signed(new_issuer("intruso"), claims("intruso")),
        "customer role minted by empleados": empleados.issue("c1", "cliente"),
        "staff role minted by clientes": clientes.issue("c1", "admin"),
        "no role": signed(clientes, {k: v for k, v in claims("clientes").items() if k != "rol"}),
        "role as a list": signed(clientes, claims("clientes", rol=["cliente"])),
        "role as an object": signed(clientes, claims("clientes", rol={"rol": "cliente"})),
        "tampered payload": f"{head}.{forged_payload}.{signature}",
        "tampered signature": f"{head}.{payload}.{('A' if signature[0] != 'A' else 'B') + signature[1:]}",
        "unknown kid": signed(clientes, claims("clientes"), kid="otra-clave"),
        "no kid": jwt.encode(claims("clientes"), clientes.private_key, algorithm=ALGORITHM),
        "right kid, unpublished key": signed(new_issuer("clientes"), claims("clientes"), kid=clientes.jwk["kid"]),
        "unknown kid at a remote issuer": signed(empleados, claims("empleados", rol="admin"), kid="otra-clave"),
        "missing exp": signed(clientes, without["exp"]),
        "missing sub": signed(clientes, without["sub"]),
        "missing iat": signed(clientes, without["iat"]),
        "missing aud": signed(clientes, without["aud"]),
        "empty": "",
        "garbage": "not-a-jwt",
        "three garbage parts": "a.b.c",
        "dots": "....",
        "payload not an object": f"{head}.{b64(b'[1, 2]')}.{signature}",
        "header not an object": f"{b64(json.dumps('EdDSA').encode())}.{payload}.{signature}",
    }


BAD_TOKEN_NAMES = list(_bad_tokens(new_issuer("clientes"), new_issuer("empleados")))


@pytest.mark.parametrize("name", BAD_TOKEN_NAMES)
def test_bad_tokens_are_refused(verifier, clientes, empleados, name):
    token = _bad_tokens(clientes, empleados)[name]
    with pytest.raises(InvalidToken):
        verifier.verify(token)


@pytest.mark.parametrize("iss", [["clientes"], {"clientes": 1}, 7, None])
def test_non_string_issuer_is_refused(verifier, clientes, iss):
    """The unverified iss is looked up in a dict: a list or object must not raise TypeError."""
    head, _payload, signature = clientes.issue("c1", "cliente").split(".")
    forged = f"{head}.{b64json({**claims('clientes'), 'iss': iss})}.{signature}"
    with pytest.raises(InvalidToken):
        verifier.verify(forged)


def test_unreachable_jwks_is_issuer_unreachable_not_invalid(clientes):
    empleados = new_issuer("empleados")
    dead_url = f"http://127.0.0.1:{free_port()}/jwks.json"
    verifier = TokenVerifier(AUDIENCE, [TrustedIssuer.remote("empleados", dead_url, ["admin"], timeout=2)])
    with pytest.raises(IssuerUnreachable):
        verifier.verify(empleados.issue("e1", "admin"))


def test_verifier_rejects_a_token_for_another_audience_even_from_a_trusted_key(clientes):
    other_audience = TokenIssuer(clientes.private_key, "clientes", "otra-api", 600)
    verifier = TokenVerifier(AUDIENCE, [TrustedIssuer.local(clientes, ["cliente"])])
    with pytest.raises(InvalidToken):
        verifier.verify(other_audience.issue("c1", "cliente"))
    assert TokenVerifier("otra-api", [TrustedIssuer.local(clientes, ["cliente"])]).verify(
        other_audience.issue("c1", "cliente")).id == "c1"
