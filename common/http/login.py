"""Password login shared by the two token issuers (clientes, empleados)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable

from flask import request

from common.passwords import verify_password
from common.throttle import LoginThrottle
from common.tokens import TokenIssuer

from .problems import Problem


@dataclass
class Account:
    id: str
    rol: str
    password_hash: str | None
    active: bool
    claims: dict[str, Any] = field(default_factory=dict)


def client_address() -> str:
    """The caller's address. Behind the gateway every request comes from the
    proxy, so the address the proxy appended to X-Forwarded-For is used, but
    only when the direct peer is one gunicorn trusts (FORWARDED_ALLOW_IPS):
    from anyone else the header could be forged to dodge the throttle."""
    peer = request.remote_addr or "unknown"
    trusted = {a.strip() for a in os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1").split(",")}
    forwarded = request.headers.get("X-Forwarded-For", "")
    if forwarded and ("*" in trusted or peer in trusted):
        return forwarded.split(",")[-1].strip() or peer
    return peer


def login(
    email: str, password: str, find: Callable[[str], Account | None],
    throttle: LoginThrottle, issuer: TokenIssuer,
) -> dict[str, Any]:
    """The same 401 whether the email is unknown, the password wrong or the
    account inactive (a dummy hash is verified so the timing matches too);
    429 with Retry-After once too many attempts failed. ``email`` comes
    normalised, as the accounts store it: throttling counts by it."""
    client = client_address()
    wait = throttle.retry_after(email, client)
    if wait:
        raise Problem(429, "Demasiados intentos", "Demasiados intentos fallidos; espere antes de reintentar",
                      slug="demasiados-intentos", headers={"Retry-After": str(wait)})
    account = find(email)
    valid = verify_password(account.password_hash if account else None, password)
    if not (account and valid and account.active):
        throttle.failed(email, client)
        raise Problem(401, "Credenciales incorrectas", "El email o la contraseña no son correctos",
                      slug="credenciales-incorrectas")
    throttle.succeeded(email)
    token = issuer.issue(account.id, account.rol, **account.claims)
    return {"access_token": token, "token_type": "Bearer", "expires_in": issuer.ttl_seconds}
