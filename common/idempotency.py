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
it is now and the first status, once the check of who may act on it let it
through (a replay is refused when the request without a key would be); the
same key with another request is ``KeyReused`` (409) and writes nothing. A
creation's retry that meets the first attempt's document before it can be
read is ``KeyInProgress`` (409, retry). The erasure of the person the
requests concern keeps the keys but nothing derived from what was sent
(``without_fingerprints``). A change's key is known to the
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

from tenacity import Retrying, retry_if_result, stop_before_delay, wait_exponential

from common.clock import rfc3339, utc_now
from common.errors import Conflict
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
    a request whose answer is not the document's view (``replayed_answer``).

    A write that decides the replay in the same atomic write (``replayed``
    first) never finds its key here. One that records the key after its
    change, in another write (marking every notification read), may: the
    same request sent twice at once passes the check twice. The record
    already there is then kept, the first answer, and ``request`` told it
    is a replay of it; KeyReused when it records another request."""
    doc = {**carried(previous), **new_doc}
    if request is None:
        return doc
    cutoff = _cutoff()
    live = [r for r in doc.get(FIELD) or () if r.get("at", "") >= cutoff]
    recorded = next((r for r in live if _same_key(r, request)), None)
    if recorded is not None:
        request._matches(recorded)
    else:
        record = {"key": request.key, "scope": request.scope, "fingerprint": request.fingerprint,
                  "status": request.status, "at": _now()}
        if answer is not None:
            record["answer"] = answer
        live.append(record)
    doc[FIELD] = live[-MAX_KEYS:]
    return doc


def carried(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The idempotency fields of a stored document, for a rewrite of it that
    is built from its model (which knows nothing of them)."""
    return {name: doc[name] for name in KEPT_FIELDS if doc and name in doc}


_BARE_RECORD = ("key", "scope", "status", "at")


def without_fingerprints(doc: dict[str, Any] | None) -> dict[str, Any]:
    """``doc`` once the person its requests concern is erased: the keys stay
    (whose, which, when), nothing derived from what was sent or answered
    does (the fingerprints, SHA-256 digests of the bodies, which a short
    text makes guessable; the recorded answers).

    Why keep the keys rather than drop everything: a late retry still meets
    its key and is refused (``KeyReused``: no fingerprint to match) instead
    of being applied a second time, a creation's through the unique index
    and a change's within ``WINDOW``. Dropping the records would turn such
    a retry into a new request: a second comment, a second account. The
    price is that a retry after the erasure is answered 409, not replayed,
    also for the staff's requests on an erased customer's incidents (their
    bodies are about that customer); the client reads the resource instead."""
    if not doc:
        return {}
    kept = {name: value for name, value in doc.items() if name not in (CREATION_FINGERPRINT, FIELD)}
    if FIELD in doc:
        kept[FIELD] = [{name: r[name] for name in _BARE_RECORD if name in r} for r in doc[FIELD] or ()]
    return kept


def fingerprinted(doc: dict[str, Any] | None) -> bool:
    """Whether ``doc`` holds anything ``without_fingerprints`` drops."""
    if not doc:
        return False
    return bool(doc.get(CREATION_FINGERPRINT)) or any(set(r) - set(_BARE_RECORD) for r in doc.get(FIELD) or ())


def forgotten(doc: dict[str, Any] | None) -> dict[str, Any]:
    """The idempotency fields an erased document keeps (``without_fingerprints``),
    for a rewrite of it built from its model."""
    return carried(without_fingerprints(doc))


def creation_fields(request: IdempotentRequest | None) -> dict[str, Any]:
    """What a new document stores of the keyed request creating it (see ``CREATION_INDEX``)."""
    if request is None:
        return {}
    return {CREATION_SCOPE: request.scope, CREATION_KEY: request.key, CREATION_FINGERPRINT: request.fingerprint}


def creation_query(request: IdempotentRequest) -> Query:
    """The document a keyed request created (``creation_fields``)."""
    return Query(equals={CREATION_SCOPE: request.scope, CREATION_KEY: request.key})


IN_PROGRESS_WAIT = 2.0
"""How long (seconds) a creation refused by a unique index waits for the
document that refused it to become readable, before ``KeyInProgress``."""


class KeyInProgress(Conflict):
    """A request with this key is still being written (answered 409 with
    Retry-After, nothing written): the retry came while the first attempt's
    document was not readable yet. 409 is the usual answer to a concurrent
    request with the same Idempotency-Key; sent again, it gets the first
    answer."""

    title, slug = "Petición en curso", "idempotencia-en-curso"

    def __init__(self) -> None:
        super().__init__("Una petición con esa Idempotency-Key está en curso; reintente en unos segundos",
                         headers={"Retry-After": "1"})
        self.errores = [{"campo": "Idempotency-Key", "mensaje": "Una petición con esta clave está en curso",
                         "ubicacion": "cabeceras"}]


def create_once(request: IdempotentRequest | None, insert: Callable[[], T],
                first: Callable[[IdempotentRequest], tuple[T, str | None] | None],
                held: Callable[[DuplicateKeyError], bool] | None = None) -> T:
    """``insert()`` the new document, which carries ``request``'s key under a
    unique index. When an index refuses it, and ``first(request)`` finds the
    document that key created with its fingerprint, that is the answer (a
    retry) or ``KeyReused`` (another request); any other refusal is raised as
    it came (an e-mail already taken, say).

    An index may refuse a document that reads cannot see yet: on MongoDB the
    first attempt's insert binds the unique index as soon as the primary
    has it, while lookups read what a majority has (readConcern majority).
    So a refused keyed insert looks again, with growing pauses, for at most
    ``IN_PROGRESS_WAIT`` seconds, and then answers ``KeyInProgress`` rather
    than a wrong refusal. Which refusals wait: the key's own index, always;
    another index only while ``held(error)`` says no readable document holds
    the refused value (the same request's e-mail, whose index the store may
    name first). Without ``held``, another index's refusal is raised at once."""
    try:
        return insert()
    except DuplicateKeyError as refused:
        if request is None:
            raise
        found = _when_readable(request, first, refused, held)
        resource, fingerprint = found
        request._matches({"fingerprint": fingerprint})
        return resource


def _when_readable(request: IdempotentRequest, first: Callable[[IdempotentRequest], tuple[T, str | None] | None],
                   refused: DuplicateKeyError,
                   held: Callable[[DuplicateKeyError], bool] | None) -> tuple[T, str | None]:
    """``first(request)`` once readable; raises ``refused`` when another
    index refused a value a readable document holds, KeyInProgress when the
    wait is over."""
    own_index = CREATION_KEY in refused.fields

    def look() -> tuple[T, str | None] | None:
        # Whether the value is held is read before the key: a document that
        # is this request's and readable by the first read is by the second.
        held_by_another = not own_index and (held is None or held(refused))
        found = first(request)
        if found is None and held_by_another:
            raise refused
        return found

    found = Retrying(stop=stop_before_delay(IN_PROGRESS_WAIT), wait=wait_exponential(multiplier=0.05, max=0.5),
                     retry=retry_if_result(lambda result: result is None),
                     retry_error_callback=lambda _state: None)(look)
    if found is None:
        raise KeyInProgress()
    return found
