"""Token issuers for the HTTP tests of the two incident services.

The incident services only verify tokens; in production `clientes` and
`empleados` sign them and publish their public keys at
``/.well-known/jwks.json``. Running those two services here would make these
tests depend on their databases and login flows, which are not what is under
test. So this module stands in for them, and only for them:

- two real ``common.tokens.TokenIssuer``s ("clientes" and "empleados",
  audience "incidencias") on freshly generated Ed25519 keys: the tokens are
  signed exactly as the real issuers sign them;
- a tiny ``http.server`` on 127.0.0.1 (random free port, in a thread)
  serving each issuer's JWKS: the services fetch the keys over real HTTP,
  through their own ``PyJWKClient``, as they do in production. It counts the
  fetches so a test can prove the keys really came over the wire.

Nothing in the services is patched or mocked.
"""
from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.tokens import TokenIssuer

AUDIENCE = "incidencias"
TTL_SECONDS = 600


@dataclass
class JwksServer:
    """Serves ``/<issuer>/.well-known/jwks.json`` for each issuer it holds."""

    issuers: dict[str, TokenIssuer]
    fetches: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                name, _, rest = self.path.lstrip("/").partition("/")
                issuer = server.issuers.get(name)
                if issuer is None or rest != ".well-known/jwks.json":
                    self.send_error(404)
                    return
                server.fetches[name] = server.fetches.get(name, 0) + 1
                body = json.dumps(issuer.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass  # keep the test output quiet

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="jwks-server", daemon=True)

    def start(self) -> "JwksServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def url(self, name: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{name}/.well-known/jwks.json"


@dataclass
class Issuers:
    """The two issuers and the server publishing their keys."""

    clientes: TokenIssuer
    empleados: TokenIssuer
    server: JwksServer

    @property
    def clientes_jwks_url(self) -> str:
        return self.server.url("clientes")

    @property
    def empleados_jwks_url(self) -> str:
        return self.server.url("empleados")

    def cliente(self, cliente_id: str = "c1", nombre: str = "Ana Pérez", **claims: Any) -> str:
        return self.clientes.issue(cliente_id, "cliente", nombre=nombre,
                                   email=f"{cliente_id}@example.com", **claims)

    def empleado(self, empleado_id: str = "e1", rol: str = "agente", nombre: str = "Eva Soporte",
                 **claims: Any) -> str:
        return self.empleados.issue(empleado_id, rol, nombre=nombre,
                                    email=f"{empleado_id}@example.com", **claims)

    def bearer_cliente(self, cliente_id: str = "c1", nombre: str = "Ana Pérez") -> dict[str, str]:
        return bearer(self.cliente(cliente_id, nombre))

    def bearer_empleado(self, empleado_id: str = "e1", rol: str = "agente",
                        nombre: str = "Eva Soporte") -> dict[str, str]:
        return bearer(self.empleado(empleado_id, rol, nombre))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def new_issuer(name: str, ttl_seconds: int = TTL_SECONDS, audience: str = AUDIENCE) -> TokenIssuer:
    return TokenIssuer(Ed25519PrivateKey.generate(), name, audience, ttl_seconds)


def start_issuers() -> Issuers:
    clientes, empleados = new_issuer("clientes"), new_issuer("empleados")
    server = JwksServer({"clientes": clientes, "empleados": empleados}).start()
    return Issuers(clientes, empleados, server)


@pytest.fixture(scope="session")
def issuers() -> Iterator[Issuers]:
    """The issuers and their JWKS server, one for the whole run."""
    running = start_issuers()
    yield running
    running.server.stop()


def _unsigned(payload: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def bad_tokens(issuers: Issuers) -> dict[str, str]:
    """Tokens every service must refuse with 401, by why."""
    now = int(time.time())
    good = issuers.cliente()
    head, payload, signature = good.split(".")
    forged_signature = ("A" if signature[0] != "A" else "B") + signature[1:]
    stranger = new_issuer("clientes")  # right name, key nobody published
    return {
        "garbage": "not-a-jwt",
        "tampered signature": f"{head}.{payload}.{forged_signature}",
        "unpublished key": stranger.issue("c1", "cliente", nombre="Ana"),
        "expired": TokenIssuer(issuers.clientes.private_key, "clientes", AUDIENCE, -120).issue("c1", "cliente"),
        "alg none": _unsigned({"sub": "c1", "rol": "cliente", "iss": "clientes", "aud": AUDIENCE,
                               "iat": now, "exp": now + 600}),
        "wrong audience": TokenIssuer(issuers.clientes.private_key, "clientes", "otra-cosa",
                                      TTL_SECONDS).issue("c1", "cliente"),
        "untrusted issuer": new_issuer("intruso").issue("c1", "cliente"),
        "staff role from clientes": issuers.clientes.issue("c1", "admin"),
        "customer role from empleados": issuers.empleados.issue("c1", "cliente"),
    }
