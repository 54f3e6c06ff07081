"""JWTs signed with Ed25519 (EdDSA) by the issuing service only.

The issuer keeps its private key (from ``JWT_PRIVATE_KEY``, or generated on
first start into ``KEYS_DIR`` for local runs) and publishes the public half as
a JWKS. Everyone else only verifies, with the algorithm pinned and ``exp``,
``iat``, ``aud``, ``iss`` and ``sub`` required.
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import jwt
from cachetools import TLRUCache
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from jwt.algorithms import OKPAlgorithm

ALGORITHM = "EdDSA"
LEEWAY_SECONDS = 30


class InvalidToken(Exception):
    """The token must be refused (401); the message says why, for logs only."""


class IssuerUnreachable(Exception):
    """The issuer's public keys could not be fetched (503)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(public_key: Ed25519PublicKey) -> dict[str, Any]:
    jwk = OKPAlgorithm.to_jwk(public_key, as_dict=True)
    thumbprint = json.dumps({"crv": jwk["crv"], "kty": jwk["kty"], "x": jwk["x"]}, separators=(",", ":"))
    return {**jwk, "kid": _b64(hashlib.sha256(thumbprint.encode()).digest()), "alg": ALGORITHM, "use": "sig"}


def load_private_key(pem: str | bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem.encode() if isinstance(pem, str) else pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("the signing key must be an Ed25519 private key (openssl genpkey -algorithm ed25519)")
    return key


def load_or_create_key(keys_dir: Path, name: str) -> Ed25519PrivateKey:
    """Read ``keys_dir/name.pem`` or create it atomically: concurrent workers
    racing on the first start all end up with the same key."""
    path = keys_dir / f"{name}.pem"
    if not path.exists():
        keys_dir.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        fd, tmp = tempfile.mkstemp(dir=keys_dir, prefix=f".{name}.")
        try:
            os.write(fd, pem)
            os.fchmod(fd, 0o600)
            os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    return load_private_key(path.read_bytes())


def signing_key(private_key_pem: str | None, keys_dir: Path, name: str) -> Ed25519PrivateKey:
    """The issuer's key: from configuration (production), else from ``keys_dir``."""
    if private_key_pem:
        return load_private_key(private_key_pem)
    return load_or_create_key(keys_dir, name)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's subject and role."""

    id: str
    rol: str
    issuer: str
    nombre: str | None = None
    email: str | None = None
    claims: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


class TokenIssuer:
    def __init__(self, private_key: Ed25519PrivateKey, issuer: str, audience: str, ttl_seconds: int):
        self.private_key = private_key
        self.issuer = issuer
        self.audience = audience
        self.ttl_seconds = ttl_seconds
        self.jwk = public_jwk(private_key.public_key())

    def issue(self, subject: str, rol: str, **claims: Any) -> str:
        now = int(time.time())
        payload = {
            **claims, "sub": subject, "rol": rol, "iss": self.issuer, "aud": self.audience,
            "iat": now, "nbf": now, "exp": now + self.ttl_seconds, "jti": os.urandom(12).hex(),
        }
        return jwt.encode(payload, self.private_key, algorithm=ALGORITHM, headers={"kid": self.jwk["kid"]})

    def jwks(self) -> dict[str, Any]:
        return {"keys": [self.jwk]}


KeyLookup = Callable[[str], Any]


@dataclass
class TrustedIssuer:
    """An issuer whose tokens this service accepts, and the roles it may grant."""

    name: str
    roles: frozenset[str]
    key_for: KeyLookup  # kid -> public key

    @classmethod
    def local(cls, issuer: TokenIssuer, roles: Iterable[str]) -> "TrustedIssuer":
        public = issuer.private_key.public_key()
        kid = issuer.jwk["kid"]

        def key_for(token_kid: str):
            if token_kid != kid:
                raise InvalidToken("unknown key id")
            return public

        return cls(issuer.issuer, frozenset(roles), key_for)

    @classmethod
    def remote(cls, name: str, jwks_url: str, roles: Iterable[str], timeout: float = 3.0) -> "TrustedIssuer":
        client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=timeout)

        def key_for(token_kid: str):
            try:
                return client.get_signing_key(token_kid).key
            except (jwt.PyJWKClientConnectionError, jwt.PyJWKSetError, ValueError) as exc:
                # Unreachable, or answering something that is not a key set.
                raise IssuerUnreachable(f"cannot use {jwks_url}: {exc}") from exc
            except jwt.PyJWKClientError as exc:
                raise InvalidToken(str(exc)) from exc

        return cls(name, frozenset(roles), key_for)


class TokenVerifier:
    """Checks tokens; a token that passed is remembered until it expires.

    A client sends the same token on every request, and checking its Ed25519
    signature and claims costs more than the rest of a small request's
    authorization. The cache holds only tokens that verified, keyed by the
    exact token, and drops each at its ``exp`` (plus the leeway the check
    allows), so an entry never outlives what verifying again would accept.
    Whether the account still counts (deleted, deactivated, demoted) is not
    cached: the service asks its own data on every request. (A key an issuer
    withdraws from its JWKS stops new tokens at once; tokens already seen
    signed with it last until they expire, as with PyJWT's key cache.)"""

    def __init__(self, audience: str, issuers: Iterable[TrustedIssuer], cache_size: int = 4096,
                 clock: Callable[[], float] = time.time):
        self.audience = audience
        self.issuers = {i.name: i for i in issuers}
        self._verified: TLRUCache[str, tuple[Principal, float]] | None = (
            TLRUCache(cache_size, ttu=lambda _token, entry, _now: entry[1], timer=clock)
            if cache_size > 0 else None)
        self._lock = threading.Lock()

    def verify(self, token: str) -> Principal:
        if self._verified is None:
            return self._verify(token)
        with self._lock:
            entry = self._verified.get(token)
        if entry is not None:
            return entry[0]
        principal = self._verify(token)
        with self._lock:
            self._verified[token] = (principal, float(principal.claims["exp"]) + LEEWAY_SECONDS)
        return principal

    def _verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken(f"algorithm {header.get('alg')!r} not accepted")
        claimed = unverified.get("iss")
        issuer = self.issuers.get(claimed) if isinstance(claimed, str) else None
        if issuer is None:
            raise InvalidToken("untrusted issuer")
        key = issuer.key_for(str(header.get("kid", "")))
        try:
            claims = jwt.decode(
                token, key, algorithms=[ALGORITHM], audience=self.audience, issuer=issuer.name,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from exc
        rol = claims.get("rol")
        if not isinstance(rol, str) or rol not in issuer.roles:
            raise InvalidToken(f"issuer {issuer.name} may not grant role {rol!r}")
        return Principal(claims["sub"], rol, issuer.name, claims.get("nombre"), claims.get("email"), claims)
