"""The ``Idempotency-Key`` header of the operations declared
``operation(..., idempotent=True)``: read and validated here (400 naming the
header), turned into the ``common.idempotency.IdempotentRequest`` the use
case hands to its write, and documented in OpenAPI (the header, the 400 and
the 409). What the key leaves in the document it protects, and the replay
decision made inside that same atomic write, are ``common.idempotency``.

The fingerprint is what makes "the same request": the method, the path (with
its ids), the caller and the body as the schema loaded it (so two spellings
of one request are one), canonical JSON hashed with SHA-256. Fields the
schema declares ``load_only`` (passwords: never answered) are left out: a
fast hash of a body holding a password would let anyone who reads the
database guess that password at hash speed, past its argon2 hash. A use case
that takes such a secret checks it on a replay itself (the account services
check the password against the stored hash).
"""
from __future__ import annotations

import hashlib
import json
from functools import wraps
from typing import Any, Callable

import marshmallow as ma
from flask import g, request

from common.idempotency import WINDOW, IdempotentRequest, valid_key

from .problems import Problem

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
"""Set to ``true`` on an answer that repeats the first one."""
_HOURS = int(WINDOW.total_seconds() // 3600)
PARAMETER = {
    "in": "header", "name": HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[\\x21-\\x7e]+$"},
    "description": ("A key of your own (1 to 200 visible ASCII characters, a UUID say) that makes the "
                    "request safe to retry: the same key with the same request is answered as the first "
                    "time, with the resource as it is now and the header `Idempotent-Replayed: true`, and "
                    "changes nothing again; the same key with another request to the same resource is "
                    f"refused (409). Keys are the caller's own; a change's key is remembered {_HOURS} hours "
                    "by the resource it changed, a creation's as long as what it created."),
}
BAD_KEY = "Idempotency-Key not valid (1 to 200 visible ASCII characters)"
KEY_REUSED = ("Idempotency-Key already used for another request, or a request with it still in progress "
              "(send it again after Retry-After)")


def fingerprint(method: str, path: str, scope: str, body: Any) -> str:
    """SHA-256 of the request as canonical JSON (keys sorted, no spaces)."""
    canonical = json.dumps({"method": method.upper(), "path": path, "principal": scope, "body": body},
                           sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def read_key() -> str | None:
    """The request's key, None when it has none; 400 when it is not valid."""
    key = request.headers.get(HEADER)
    if key is not None and not valid_key(key):
        raise Problem(400, "Cabecera no válida", f"{HEADER}: de 1 a 200 caracteres ASCII visibles",
                      slug="validacion", errores=[{"campo": HEADER, "mensaje": "No válida",
                                                   "ubicacion": "cabeceras"}])
    return key


def secret_fields(body: type[ma.Schema] | None) -> frozenset[str]:
    """The fields of ``body`` never answered back (``load_only``), left out of the fingerprint."""
    if body is None:
        return frozenset()
    return frozenset(name for name, f in body().fields.items() if f.load_only)


def documented(refusals: dict[int, str]) -> dict[int, str]:
    """``refusals`` with the 400 of a bad key and the 409 of a reused one."""
    merged = dict(refusals)
    merged[400] = f"{merged[400]}; or {BAD_KEY}" if 400 in merged else BAD_KEY
    merged[409] = f"{merged[409]}; or {KEY_REUSED}" if 409 in merged else KEY_REUSED
    return merged


def keyed(view: Callable, status: int, secrets: frozenset[str]) -> Callable:
    """Wrap ``view`` (placed between the body's parsing and the answer's
    shaping): it gets ``idempotency``, the ``IdempotentRequest`` or None,
    and a replayed answer gets the first status and ``Idempotent-Replayed``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        key = read_key()
        idempotency = None
        if key is not None:
            principal = g.get("principal")
            scope = principal.id if principal is not None else ""
            data = args[0] if args and isinstance(args[0], dict) else {}
            body = {k: v for k, v in data.items() if k not in secrets}
            idempotency = IdempotentRequest(key, scope, fingerprint(request.method, request.path, scope, body),
                                            status)
        response = view(*args, idempotency=idempotency, **kwargs)
        if idempotency is not None and idempotency.replayed:
            response.status_code = idempotency.replayed_status
            response.headers[REPLAYED_HEADER] = "true"
        return response

    return wrapper
