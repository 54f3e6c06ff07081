"""Retries without duplicates: what a request sent with an ``Idempotency-Key``
leaves in the document it changes, and how a retry of it is recognised.
Free of any web framework; the HTTP side (the header, the request's
fingerprint, the OpenAPI documentation) is ``common.http.idempotency``.

A write the database applied but whose answer was lost (a cut connection, a
timeout, a 503 after the commit) must be safe to send again. So a keyed
request is recorded **in the same atomic write as the change it protects**,
inside the document it changes (the store writes one document and its
outbox events atomically), never in a collection of its own that a crash
between the two writes would leave behind:

- a change of an existing document (a comment, a transition, a read mark, a
  deactivation) keeps the document's recent keys under ``FIELD``: at most
  ``MAX_KEYS`` records ``{key, scope, fingerprint, status, at}``, those older
  than ``WINDOW`` dropped on every keyed write (``replayed``, ``remember``);
- a creation (an incident, an account) cannot look its key up in a document
  whose id it does not know yet: the new document carries the key in fields
  a unique index covers, so the index refuses the second insert and the
  retry finds the first document by its key (``create_once``). That key
  lives as long as the document does.

A retry with the same key and fingerprint is answered with the resource as
it is now and the first status; the same key with another request is
``KeyReused`` (409) and writes nothing. A change's key is known to the
document it changed only: the same key sent to change another resource is
another request there (each resource keeps its own keys, so no write ever
has to reach a second document). Keys are the caller's own: ``scope``
is the principal's id, ``""`` for anonymous requests, whose key alone (with
the fingerprint) decides.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, TypeVar

from common.errors import Conflict
from common.messaging.envelope import rfc3339, utc_now
from common.storage.base import DuplicateKeyError, Index, Query

_KEY = re.compile(r"[\x21-\x7e]{1,200}")
FIELD = "idempotency_keys"
"""The document field holding the recent keys of the changes made to it."""
WINDOW = timedelta(hours=24)
"""How long a change's key is remembered (the usual retry horizon of clients)."""
MAX_KEYS = 100
"""At most this many keys per document, the newest kept: a bounded document
whatever the traffic (about 40 KB at the longest keys)."""

# Where a new document carries the key of the request that created it.
CREATION_SCOPE, CREATION_KEY, CREATION_FINGERPRINT = "idempotency_scope", "idempotency_key", "idempotency_hash"
CREATION_INDEX = Index((CREATION_SCOPE, CREATION_KEY), unique=True)
"""The unique index a collection created by keyed requests declares (unique
indexes only bind documents whose fields are all strings: unkeyed ones never
collide)."""
KEPT_FIELDS = (FIELD, CREATION_SCOPE, CREATION_KEY, CREATION_FINGERPRINT)
"""What a repository rewriting a document from its model must carry over."""

T = TypeVar("T")


def valid_key(key: str) -> bool:
    """A key is 1 to 200 visible ASCII characters (a UUID, say)."""
    return isinstance(key, str) and _KEY.fullmatch(key) is not None


class KeyReused(Conflict):
    """The key was used already, for another request (answered 409, nothing written)."""

    title, slug = "Clave de idempotencia reutilizada", "idempotencia"

    def __init__(self) -> None:
        super().__init__("Esa Idempotency-Key ya se usó con otra petición")
        self.errores = [{"campo": "Idempotency-Key", "mensaje": "Ya se usó con otra petición",
                         "ubicacion": "cabeceras"}]


@dataclass
class IdempotentRequest:
    """A request sent with an ``Idempotency-Key``: the ``key``, whose it is
    (``scope``), what was asked (``fingerprint``: method, path, caller and
    body) and the ``status`` its success is answered with. The write that
    finds it recorded already sets ``replayed_status``, so the HTTP layer can
    say the answer is a replay."""

    key: str
    scope: str
    fingerprint: str
    status: int = 200
    replayed_status: int | None = None
    replayed_answer: dict[str, Any] | None = None

    @property
    def replayed(self) -> bool:
        return self.replayed_status is not None

    def _matches(self, record: dict[str, Any]) -> None:
        if record.get("fingerprint") != self.fingerprint:
            raise KeyReused()
        self.replayed_status = record.get("status") or self.status
        self.replayed_answer = record.get("answer")


def _now() -> str:
    return rfc3339(utc_now())


def _cutoff() -> str:
    return rfc3339(utc_now() - WINDOW)


def replayed(doc: dict[str, Any], request: IdempotentRequest | None) -> bool:
    """Whether ``doc`` records ``request`` already (a retry: change nothing,
    answer the document as it is). Raises KeyReused when its key was used
    for another request; a key older than ``WINDOW`` is forgotten."""
    if request is None:
        return False
    cutoff = _cutoff()
    for record in doc.get(FIELD) or ():
        if _same_key(record, request) and record.get("at", "") >= cutoff:
            request._matches(record)
            return True
    return False


def _same_key(record: dict[str, Any], request: IdempotentRequest) -> bool:
    return record.get("key") == request.key and record.get("scope") == request.scope


def remember(new_doc: dict[str, Any], previous: dict[str, Any] | None, request: IdempotentRequest | None,
             answer: dict[str, Any] | None = None) -> dict[str, Any]:
    """``new_doc`` (the document a change writes in place of ``previous``)
    with what ``previous`` carried for idempotency and ``new_doc`` lacks, and
    ``request`` recorded among its recent keys (the expired ones dropped, at
    most ``MAX_KEYS``). ``answer``: a small answer to repeat on a replay, for
    a request whose answer is not the document's view (``replayed_answer``)."""
    doc = {**carried(previous), **new_doc}
    if request is None:
        return doc
    cutoff = _cutoff()
    records = [r for r in doc.get(FIELD) or () if r.get("at", "") >= cutoff and not _same_key(r, request)]
    record = {"key": request.key, "scope": request.scope, "fingerprint": request.fingerprint,
              "status": request.status, "at": _now()}
    if answer is not None:
        record["answer"] = answer
    records.append(record)
    doc[FIELD] = records[-MAX_KEYS:]
    return doc


def carried(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The idempotency fields of a stored document, for a rewrite of it that
    is built from its model (which knows nothing of them)."""
    return {name: doc[name] for name in KEPT_FIELDS if doc and name in doc}


def forgotten(doc: dict[str, Any] | None) -> dict[str, Any]:
    """What an erased document keeps of its idempotency fields: only the
    scope and key of the request that created it, nothing derived from what
    was sent. A late retry of that creation still meets the unique index, and
    is refused (``KeyReused``: no fingerprint to match) instead of creating
    the resource a second time."""
    return {name: doc[name] for name in (CREATION_SCOPE, CREATION_KEY) if doc and name in doc}


def creation_fields(request: IdempotentRequest | None) -> dict[str, Any]:
    """What a new document stores of the keyed request creating it (see ``CREATION_INDEX``)."""
    if request is None:
        return {}
    return {CREATION_SCOPE: request.scope, CREATION_KEY: request.key, CREATION_FINGERPRINT: request.fingerprint}


def creation_query(request: IdempotentRequest) -> Query:
    """The document a keyed request created (``creation_fields``)."""
    return Query(equals={CREATION_SCOPE: request.scope, CREATION_KEY: request.key})


def create_once(request: IdempotentRequest | None, insert: Callable[[], T],
                first: Callable[[IdempotentRequest], tuple[T, str | None] | None]) -> T:
    """``insert()`` the new document, which carries ``request``'s key under a
    unique index. When an index refuses it, and ``first(request)`` finds the
    document that key created with its fingerprint, that is the answer (a
    retry) or ``KeyReused`` (another request); any other refusal is raised as
    it came (an e-mail already taken, say)."""
    try:
        return insert()
    except DuplicateKeyError:
        found = first(request) if request is not None else None
        if request is None or found is None:
            raise
        resource, fingerprint = found
        request._matches({"fingerprint": fingerprint})
        return resource
