"""MongoDB adapter (pymongo 4), what production runs.

Durability. Unless the URL says otherwise (``w=``, ``journal=``,
``readConcernLevel=``, ``retryWrites=``, ``retryReads=`` and the timeouts are
honoured as given), a write is acknowledged only once a majority of the
replica set has it in its journal (``w=majority``, ``journal=true``), reads
see only majority-committed data (``readConcernLevel=majority``: the relay
never publishes the event of a write a failover could still roll back), and
a write or read cut by a failover is retried once by the driver
(``retryWrites``/``retryReads``). On a standalone server ``majority`` is the
server itself: see docs/deploy.md for what that gives up.

Pending events live inside the document they describe (``_outbox``), so the
change and its events are one single-document write: atomic on a standalone
server, no replica set or transaction needed. The relay finds documents with
a non-empty ``_outbox`` through an index and removes what the broker
confirmed. A document's backlog is bounded (``outbox_max_bytes``, counted in
``_outbox_bytes``): during a long broker outage a document whose events
reach the bound takes no further write with events (``StorageUnavailable``:
503, and a consumer holds its message) until the relay has published them,
so pending events never push a document towards MongoDB's 16 MiB limit. The
bound was chosen over an outbox collection written in a transaction because
it keeps one code path, and one single-document write per change, on
standalone servers and replica sets alike; what it costs is that one
document, not the service, refuses writes while its backlog is full.

Pending mails live in the document too (``_mails``: each with its
attempts, next attempt, creation instant and last error), with
``_mail_due``, the earliest next attempt of its pending mails, absent when
none is pending: a sparse index on it serves ``due_mails`` and
``claim_due_mails`` (documents in due order, never a collection scan), and
a unique one on ``_mails.id`` finds the document of a mail and keeps a mail
id from being stored twice in a collection (a write handing an id stored
already goes through without it; ids are not checked across collections).
Pending mails count towards the document's backlog bound like events (their
strings plus ``MAIL_EXTRA_BYTES`` for the fields the sender changes), so a
huge mail cannot make a document unstorable: too large for the bound it is
``InvalidData``, else it waits for room as an event does.

A failed mail leaves its document, and its bytes leave the backlog: it is
kept, without its body, as a record of its own in ``_mail_failures`` (id =
mail id; its collection, document, recipient, attempts, error, created and
failed instants), so a recipient whose mails keep failing never fills the
backlog of the document that writes them. The move is two writes (the
record first, then the removal from the document); a sender interrupted
between them leaves the mail pending with its record, and the next claim
that finds it due finishes the move instead of handing it out.

``_mail_due`` stays right when the sender and the service write the same
document at once: a write adding mails lowers it in the same update
(``$min``); the sender changes a mail (claims it, settles it) by reading the
document's mails (the primary's latest state) and updating them, with the
due instant computed from that read, under the condition that ``_mail_ver``
is still what it read (a claim also that each mail's next attempt is), else
it reads again: so of two senders claiming at once, one gets a mail and the
other finds it leased. ``_mail_ver`` counts the changes of the mails only,
not ``_rev``: the service's writes that leave the mails alone never make
the sender read again, and the sender's never make a service's ``replace``
stale.

``replace`` overwrites the document (keys the new version lacks are gone)
with one update pipeline that keeps, and extends, its pending events and
mails: the new fields go in as literals, so no value is ever read as an
operator or a field path. None of the adapter's fields (``_outbox``,
``_outbox_bytes``, ``_mails``, ``_mail_due``, ``_mail_ver``) is ever handed
out with a document.

Counters are documents of ``_counters``: ``_id`` the name, ``value``, and
``ops``, the ids of the last ``COUNTER_OPS_KEPT`` operations applied to it.
Without transactions a write cannot move them in the step that writes its
document, so the document carries them: ``insert``/``replace`` store each
change as a pending operation in the document itself (``_counter_ops``:
``{"id", "name", "delta"}``, a new id per change) in the same
single-document write, so a refused write stores none, exactly as
``_mails`` ride with the document (and ``replace`` keeps the stored
document's pending operations as it keeps its mails). Right after the write
the adapter settles them: each is applied by one update of its counter that
adds the delta and records the id, matching only while the id is not
recorded (an upsert: a duplicate key means the counter exists and holds the
id already, or that another upsert created it first, so the update is tried
once more without upserting); then the operations leave the document.
``adjust_counters`` and ``set_counters`` carry theirs in a document of
``_counter_moves`` of their own, deleted once settled (a set records its id
the same way, so it is applied once too).

A process may die at any point of that:

- before the document write: nothing was stored, nothing moves;
- after it, before or while applying: the operations wait in the document.
  ``counters()`` first finds every pending operation, through a sparse index
  on ``_counter_ops.id`` (one query per collection the store opened or was
  told carries an outbox, and one on ``_counter_moves``), and settles it, so
  a read reflects every write that returned. A write whose settling fails on
  a server error returns all the same, with a warning: its document is
  written, and the next read settles it;
- after applying, before the operations left the document: settling them
  again finds each id recorded in its counter and adds nothing.

Settlers running side by side (a writer and another process's read, two
reads) apply each operation once: the update that applies it is conditional
on its id and atomic on the counter's document. The pending operations are
looked for in every collection the store opened rather than in the ones it
saw carry counter changes: that set would die with a process that died
between the two steps, and the process reading next may have written none.
``delete`` removes a document only once it holds no pending operation
(settling them first), so no write that returned loses its counters.

The bound ``COUNTER_OPS_KEPT`` (N): a counter remembers its last N
operations, so an operation is applied twice only by a settler that read it
while pending and was then held up (a paused process) until N other
operations of that same counter were applied after it. N = 256 leaves that
window at 256 changes of one counter (one employee's load) during a single
update in flight, and keeps a counter's document near 12 KB (32-character
ids), which each change of it rewrites.

What a read may see of a write still running: each counter is a document of
its own, so a write moving two of them (an incident handed from one
employee to another) may show one moved and not yet the other until it
returns; so may ``adjust_counters`` and ``set_counters``, which are all or
nothing in the sense above.

A collection with a full-text index (``CollectionSpec.text``) has MongoDB's
text index over its paths (``TEXT_INDEX``: the weights, the language, case-
and diacritic-insensitive), which the server keeps in the write of each
document: nothing to do beside it. A search asks each word as a quoted
phrase, so that every word must appear, and ranks by ``textScore``.

Errors of the driver and of the server are mapped to the port's: see
``translate``.
"""
from __future__ import annotations

import logging
import re
import uuid
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

from bson.errors import BSONError
from pymongo import ASCENDING, DESCENDING, TEXT, MongoClient
from pymongo.read_concern import ReadConcern
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DuplicateKeyError as MongoDuplicateKeyError,
    OperationFailure,
    PyMongoError,
    WriteConcernError,
)
from pymongo.uri_parser import parse_uri

from .base import (
    MAIL_ERROR_MAX_CHARS,
    MAIL_FAILED,
    MAIL_PENDING,
    Collection,
    CollectionSpec,
    CounterChange,
    DuplicateKeyError,
    InvalidData,
    OutboxItem,
    OutboxMail,
    OutboxMessage,
    PendingMail,
    Query,
    StorageError,
    StorageUnavailable,
    Store,
    counter_names,
    counter_values,
    mail_error,
    mail_instant,
    merge_counters,
    split_counters,
    split_outbox,
    text_index_for,
)
from .text import phrases

log = logging.getLogger(__name__)

OUTBOX_FIELD = "_outbox"
OUTBOX_BYTES = "_outbox_bytes"
OUTBOX_INDEX = "ix_outbox"
# What one document may hold in events waiting for the broker and mails
# waiting for the sender. A document (with its pending events and mails)
# must stay under MongoDB's 16 MiB: this leaves 12 MiB to the document itself.
OUTBOX_MAX_BYTES = 4 * 1024 * 1024
MAILS_FIELD = "_mails"
MAIL_DUE = "_mail_due"
MAIL_VERSION = "_mail_ver"
MAIL_INDEX = "ix_mails"
MAIL_DUE_INDEX = "ix_mail_due"
MAIL_RECIPIENT_INDEX = "ix_mail_recipient"
# Where failed mails are kept, without their bodies (see the module's text).
MAIL_FAILURES = "_mail_failures"
# What a mail counts in the backlog beyond its strings: the longest error kept
# (UTF-8), the attempts, the instant, the state and the field names.
MAIL_EXTRA_BYTES = 4 * MAIL_ERROR_MAX_CHARS + 256
# How often a write of mails is tried again when others keep changing the same ones.
MAIL_CHANGE_TRIES = 20
# Counters (see the module's text): the pending operations a document
# carries, the counters themselves, the carriers of moves with no document.
COUNTER_OPS = "_counter_ops"
COUNTER_OPS_INDEX = "ix_counter_ops"
COUNTERS = "_counters"
COUNTER_MOVES = "_counter_moves"
# How many of its last operations a counter remembers (N in the module's text).
COUNTER_OPS_KEPT = 256
# How often ``delete`` settles a document's counters and tries again.
DELETE_TRIES = 20
# The adapter's fields: never handed out, never set from a document.
HIDDEN_FIELDS = (OUTBOX_FIELD, OUTBOX_BYTES, MAILS_FIELD, MAIL_DUE, MAIL_VERSION, COUNTER_OPS)
_PENDING_OPS = {f"{COUNTER_OPS}.id": {"$exists": True}}
_HIDE = {name: 0 for name in HIDDEN_FIELDS}
# The full-text index (``CollectionSpec.text``): MongoDB allows one text index
# per collection. Its language override names a field no document has, so no
# document's own field ever picks another language (a "language" field would).
TEXT_INDEX = "ix_texto"
TEXT_LANGUAGE_OVERRIDE = "_idioma_del_texto"
# Where a search's answer carries each document's relevance (never handed out).
TEXT_SCORE = "_relevancia"
INDEX_NOT_FOUND = 27  # the server's code for "text index required for $text query", among others
# Where ``ping`` writes to prove the database takes writes.
HEALTH_COLLECTION = "_health"

# Defaults that apply only when the URL does not set the option itself
# (pymongo lets keyword arguments override the URL, so they are left out then).
DURABILITY = {"w": "majority", "journal": True, "readConcernLevel": "majority",
              "retryWrites": True, "retryReads": True}

# Server error codes (src/mongo/base/error_codes.yml) of a database that
# cannot do it now but will: not primary, shutting down or interrupted,
# out of time, out of disk, write concern not satisfied, a cursor lost...,
# and an account the operator has to fix (unauthorized, authentication).
_UNAVAILABLE_CODES = frozenset({
    6, 7, 89, 9001, 202,                 # host unreachable or unknown, network timeouts, socket errors
    91, 11600, 11601, 11602, 279, 355,   # shutting down; interrupted (shutdown, killed, repl state change)
    189, 10107, 13435, 13436, 10058,     # primary stepped down, not (writable) primary
    50, 262, 290,                        # time limits exceeded
    64, 79, 100,                         # write concern timed out, unknown or unsatisfiable now
    24, 46, 112,                         # lock timeout or busy, write conflict
    133, 134,                            # no member for the read preference, majority reads not ready
    43, 175, 237,                        # cursor lost, query plan or cursor killed
    14031,                               # out of disk space
    13, 18,                              # unauthorized, authentication failed
    365, 402, 433, 449, 462,             # temporarily unavailable, overloaded
})
# Codes of a request that no retry makes storable: too large, refused by a
# validator, field names MongoDB cannot take, a pattern with a NUL byte.
_TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
_INVALID_CODES = _TOO_LARGE_CODES | {121, 52, 56, 57, 51091}
_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError", "SystemOverloadedError")
_DRIVER_ERRORS = (PyMongoError, BSONError, OverflowError)
# A top-level field name an update reads as a name: not empty, no leading $, no dot, no NUL.
_SAFE_KEY = re.compile(r"^[^$.\x00][^.\x00]*$")


def translate(exc: BaseException) -> StorageError:
    """The port's error for a driver or server error.

    - ``StorageUnavailable`` (503; a consumer holds its message and retries):
      no server to talk to (``AutoReconnect``, ``NetworkTimeout``,
      ``ServerSelectionTimeoutError``, "not primary" ``NotPrimaryError``),
      ``WriteConcernError`` (the write may be on the primary only: the caller
      retries, idempotently), the codes above or a transient error label, and
      a search while the text index is missing (being built).
    - ``InvalidData`` (422; never retried): ``DocumentTooLarge`` and
      ``InvalidDocument`` raised by the driver before sending, integers BSON
      cannot hold, and the server's refusals of a document as such.
    - ``StorageError`` for anything else: a defect, answered 500 and logged.
    """
    if isinstance(exc, (BSONError, OverflowError)):  # DocumentTooLarge is an InvalidDocument
        return InvalidData(f"mongodb: the document cannot be stored: {exc}")
    if isinstance(exc, ConnectionFailure):
        return StorageUnavailable(f"mongodb: {exc}")
    if isinstance(exc, WriteConcernError):
        return StorageUnavailable(f"mongodb: the write concern was not satisfied (the write may or may not "
                                  f"have been applied): {exc}")
    if isinstance(exc, BulkWriteError):
        details = exc.details or {}
        if details.get("writeConcernErrors"):
            return StorageUnavailable(f"mongodb: the write concern was not satisfied: {exc}")
        codes = {error.get("code") for error in details.get("writeErrors", [])}
        if codes & _UNAVAILABLE_CODES:
            return StorageUnavailable(f"mongodb: {exc}")
        return StorageError(f"mongodb: {exc}")
    if isinstance(exc, PyMongoError):
        if any(exc.has_error_label(label) for label in _TRANSIENT_LABELS):
            return StorageUnavailable(f"mongodb: {exc}")
        code = getattr(exc, "code", None)
        if code in _UNAVAILABLE_CODES:
            return StorageUnavailable(f"mongodb: {exc}")
        if code == INDEX_NOT_FOUND and "text index" in str(exc):
            # A search while the text index is being (re)built by another process.
            return StorageUnavailable(f"mongodb: the text index is not there yet: {exc}")
        if code in _INVALID_CODES:
            return InvalidData(f"mongodb: {exc}")
    return StorageError(f"mongodb: {exc}")


def client_options(url: str, timeout_ms: int = 3000) -> dict[str, Any]:
    """The MongoClient keyword arguments for ``url``: the durability defaults
    and timeouts, each only where the URL does not set that option."""
    given = {name.lower() for name in parse_uri(url).get("options", {})}
    defaults: dict[str, Any] = {
        **DURABILITY,
        "serverSelectionTimeoutMS": timeout_ms,
        "connectTimeoutMS": timeout_ms,
        "socketTimeoutMS": max(timeout_ms * 3, 10000),
        "uuidRepresentation": "standard",
    }
    return {name: value for name, value in defaults.items() if name.lower() not in given}


def _mongo_path(path: str) -> str:
    return "_id" if path == "id" else path


def _lookup(doc: dict[str, Any], path: str) -> Any:
    value: Any = doc
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _event_size(message: dict[str, Any]) -> int:
    """The bytes an event counts for in its document's backlog (its strings,
    UTF-8): the same figure when it is written and when it is removed."""
    return sum(len(str(message.get(key) or "").encode("utf-8"))
               for key in ("id", "routing_key", "body", "correlation_id"))


def _mail_size(mail: dict[str, Any]) -> int:
    """The bytes a mail counts for in its document's backlog: the same
    figure when it is written and when it is removed."""
    return MAIL_EXTRA_BYTES + sum(len(str(mail.get(key) or "").encode("utf-8"))
                                  for key in ("id", "recipient", "body"))


def _new_mail(mail: OutboxMail, now: str) -> dict[str, Any]:
    return {"id": mail.id, "recipient": mail.recipient, "body": mail.body, "attempts": 0,
            "next_attempt_at": now, "created_at": now, "state": MAIL_PENDING, "last_error": None}


def _pending(mail: dict[str, Any]) -> PendingMail:
    return PendingMail(mail["id"], mail["recipient"], mail["body"], mail["attempts"], mail["next_attempt_at"],
                       mail.get("created_at") or mail["next_attempt_at"])


def _due(mails: Iterable[dict[str, Any]]) -> str | None:
    """The earliest next attempt of the pending ``mails`` (``_mail_due``)."""
    return min((m["next_attempt_at"] for m in mails if m.get("state") == MAIL_PENDING), default=None)


def _with_due(update: dict[str, Any], mails: list[dict[str, Any]]) -> dict[str, Any]:
    """``update``, setting ``_mail_due`` for ``mails`` (or removing it)."""
    due = _due(mails)
    if due is None:
        update.setdefault("$unset", {})[MAIL_DUE] = ""
    else:
        update.setdefault("$set", {})[MAIL_DUE] = due
    return update


# A planned change of one document's mails: (update, extra filter, how many mails it changes).
_Change = tuple[dict[str, Any], dict[str, Any], int]


def _removal(mails: list[dict[str, Any]], gone) -> _Change | None:
    """Remove the ``mails`` for which ``gone(mail)``, with their bytes."""
    removed = [m for m in mails if gone(m)]
    if not removed:
        return None
    rest = [m for m in mails if not gone(m)]
    inc = {OUTBOX_BYTES: -sum(_mail_size(m) for m in removed), MAIL_VERSION: 1}
    if not rest:
        return {"$unset": {MAILS_FIELD: "", MAIL_DUE: ""}, "$inc": inc}, {}, len(removed)
    update = {"$pull": {MAILS_FIELD: {"id": {"$in": [m["id"] for m in removed]}}}, "$inc": inc}
    return _with_due(update, rest), {}, len(removed)


def _settlement(mails: list[dict[str, Any]], mail_id: str, changes: dict[str, Any]) -> _Change | None:
    """Set ``changes`` on the pending mail ``mail_id`` (a failed one is final)."""
    target = next((m for m in mails if m.get("id") == mail_id), None)
    if target is None or target.get("state") != MAIL_PENDING:
        return None
    after = [{**m, **changes} if m is target else m for m in mails]
    update = {"$set": {f"{MAILS_FIELD}.$.{name}": value for name, value in changes.items()},
              "$inc": {MAIL_VERSION: 1}}
    return _with_due(update, after), {f"{MAILS_FIELD}.id": mail_id}, 1


def _claim(mails: list[dict[str, Any]], wanted: set[str], now: str,
           lease_until: str) -> tuple[_Change, list[dict[str, Any]]] | None:
    """Lease the mails of ``wanted`` still pending and due at ``now`` in
    ``mails`` (as read): the change (by position, each guarded by its id and
    its next attempt as read) and the mails as they are after it."""
    positions = [i for i, m in enumerate(mails) if m.get("id") in wanted and m.get("state") == MAIL_PENDING
                 and m.get("next_attempt_at", "") <= now]
    if not positions:
        return None
    after = [{**m, "next_attempt_at": lease_until} if i in positions else m for i, m in enumerate(mails)]
    update = {"$set": {f"{MAILS_FIELD}.{i}.next_attempt_at": lease_until for i in positions},
              "$inc": {MAIL_VERSION: 1}}
    condition: dict[str, Any] = {}
    for i in positions:
        condition[f"{MAILS_FIELD}.{i}.id"] = mails[i]["id"]
        condition[f"{MAILS_FIELD}.{i}.next_attempt_at"] = mails[i]["next_attempt_at"]
    return (_with_due(update, after), condition, len(positions)), [after[i] for i in positions]


def _counter_ops(changes: Sequence[CounterChange]) -> list[dict[str, Any]]:
    """The pending operations that carry ``changes``, each with an id of its own."""
    return [{"id": uuid.uuid4().hex, "name": c.name, "delta": c.delta} for c in changes]


def _index_keys(current: dict[str, Any]) -> list[tuple[str, int]] | None:
    try:
        return [(name, int(direction)) for name, direction in current["key"].items()]
    except (TypeError, ValueError, KeyError):
        return None


class MongoStore(Store):
    def __init__(self, url: str, client: MongoClient | None = None, timeout_ms: int = 3000,
                 outbox: Iterable[CollectionSpec] = (), outbox_max_bytes: int = OUTBOX_MAX_BYTES):
        database = parse_uri(url).get("database") or "incidencias"
        self.client = client or MongoClient(url, tz_aware=True, **client_options(url, timeout_ms))
        self.db = self.client[database]
        self._collections: dict[str, MongoCollection] = {}
        self._outbox_specs = tuple(outbox)
        self.outbox_max_bytes = outbox_max_bytes
        self._failures_indexed = False
        self._moves_indexed = False

    def _outbox_collections(self) -> list["MongoCollection"]:
        """The collections whose documents may hold pending events, as the
        service declared them (not merely the ones this process opened)."""
        return [self.collection(spec) for spec in self._outbox_specs]

    def collection(self, spec: CollectionSpec) -> "MongoCollection":
        existing = self._collections.get(spec.name)
        if existing is None:
            existing = MongoCollection(self, spec)
            try:
                existing.ensure_indexes()
            except StorageUnavailable:
                # The server is unreachable right now: the first operation
                # creates the indexes once it answers, so a process that starts
                # during an outage still starts (and answers 503).
                pass
            self._collections[spec.name] = existing
        return existing

    def pending_events(self, limit: int = 100) -> list[OutboxMessage]:
        found: list[OutboxMessage] = []
        try:
            for coll in self._outbox_collections():
                cursor = coll.raw.find(
                    {f"{OUTBOX_FIELD}.id": {"$exists": True}}, {OUTBOX_FIELD: 1}
                ).limit(limit)
                for doc in cursor:
                    found.extend(OutboxMessage.from_dict(m) for m in doc.get(OUTBOX_FIELD, []))
                    if len(found) >= limit:
                        return found
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return found

    def mark_published(self, event_ids: Iterable[str]) -> None:
        ids = set(event_ids)
        if not ids:
            return
        try:
            for coll in self._outbox_collections():
                coll.release(ids)
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    # -- the mail outbox ---------------------------------------------------
    @staticmethod
    def _due_cursor(raw: Any, now: str, limit: int):
        """The documents holding a mail due at ``now``, in due order (``ix_mail_due``)."""
        return raw.find({MAIL_DUE: {"$lte": now}}, {MAILS_FIELD: 1}).sort(MAIL_DUE, ASCENDING).limit(limit)

    def _due(self, now: str, limit: int) -> list[tuple["MongoCollection", Any, PendingMail]]:
        """Per collection, the ``limit`` documents due first (each holds at
        least one due mail), merged in due order: the ``limit`` mails due
        first, each with its collection and document. Driver errors raise."""
        if limit <= 0:
            return []
        found: list[tuple[tuple[Any, ...], tuple[MongoCollection, Any, PendingMail]]] = []
        for n, coll in enumerate(self._outbox_collections()):
            for order, doc in enumerate(self._due_cursor(coll.raw, now, limit)):
                for position, m in enumerate(doc.get(MAILS_FIELD, [])):
                    if m.get("state") == MAIL_PENDING and m["next_attempt_at"] <= now:
                        found.append(((m["next_attempt_at"], n, order, position), (coll, doc["_id"], _pending(m))))
        found.sort(key=lambda item: item[0])
        return [entry for _, entry in found[:limit]]

    def due_mails(self, now: str, limit: int = 50) -> list[PendingMail]:
        try:
            return [pending for _, _, pending in self._due(mail_instant(now), limit)]
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def claim_due_mails(self, now: str, lease_until: str, limit: int = 50) -> list[PendingMail]:
        """The mails ``due_mails`` would give, each leased by a guarded update
        of its document (one per document); a mail another claim leased
        first is left out, so fewer than ``limit`` may come back. A mail with
        a failure record (a move ``mail_failed`` did not finish) leaves its
        document instead. Once some mails are leased, an error claiming the
        rest ends the claim with those (never leased and not handed out)."""
        now, lease_until = mail_instant(now), mail_instant(lease_until)
        claimed: list[PendingMail] = []
        try:
            due = self._due(now, limit)
            if not due:
                return []
            failed = {doc["_id"] for doc in self._failures(latest=True).find(
                {"_id": {"$in": [pending.id for _, _, pending in due]}}, {"_id": 1})}
            documents: dict[tuple[str, Any], tuple[MongoCollection, list[str]]] = {}
            for coll, doc_id, pending in due:
                if pending.id in failed:
                    coll.change_mails({"_id": doc_id}, lambda mails, mail_id=pending.id: _removal(
                        mails, lambda m: m.get("id") == mail_id))
                    continue
                documents.setdefault((coll.spec.name, doc_id), (coll, []))[1].append(pending.id)
            leased: dict[str, PendingMail] = {}
            for (_, doc_id), (coll, mail_ids) in documents.items():
                try:
                    leased.update((m.id, m) for m in coll.claim_mails(doc_id, set(mail_ids), now, lease_until))
                except (StorageError, *_DRIVER_ERRORS) as exc:
                    if not leased:
                        raise
                    log.warning("mongodb: claimed %d mails, then could not claim more (%s)", len(leased), exc)
                    break
            claimed = [leased[pending.id] for _, _, pending in due if pending.id in leased]
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return claimed

    def explain_due_mails(self, now: str, limit: int = 50) -> dict[str, Any]:
        """The server's plan for each collection's read of ``due_mails`` (and ``claim_due_mails``)."""
        plans: dict[str, Any] = {}
        try:
            for coll in self._outbox_collections():
                # The server's explain takes no read concern: asked without one.
                unconcerned = coll.raw.with_options(read_concern=ReadConcern())
                plans[coll.spec.name] = self._due_cursor(unconcerned, mail_instant(now), limit).explain()
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return plans

    def _failures(self, latest: bool = False):
        """The collection of failed mails, its indexes built once per store;
        ``latest``: read the primary's latest state (see ``MongoCollection.latest``)."""
        failures = self.db[MAIL_FAILURES]
        if not self._failures_indexed:
            failures.create_index([("recipient", ASCENDING)], name="ix_recipient")
            failures.create_index([("collection", ASCENDING), ("doc_id", ASCENDING)], name="ix_document")
            self._failures_indexed = True
        return failures.with_options(read_concern=ReadConcern("local")) if latest else failures

    def _settle(self, mail_id: str, plan) -> None:
        try:
            for coll in self._outbox_collections():
                if coll.change_mails({f"{MAILS_FIELD}.id": mail_id}, plan) is not None:
                    return
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def mail_sent(self, mail_id: str) -> None:
        self._settle(mail_id, lambda mails: _removal(mails, lambda m: m.get("id") == mail_id))

    def mail_retry(self, mail_id: str, attempts: int, next_attempt_at: str, error: str) -> None:
        changes = {"attempts": attempts, "next_attempt_at": mail_instant(next_attempt_at),
                   "last_error": mail_error(error)}
        self._settle(mail_id, lambda mails: _settlement(mails, mail_id, changes))

    def mail_failed(self, mail_id: str, attempts: int, error: str) -> None:
        """The failure record first (kept as the first one written, when there
        is one already), then the mail out of its document; a mail gone
        meanwhile (sent, cancelled) takes the record this call wrote with it."""
        def pending(m: dict[str, Any]) -> bool:
            return m.get("id") == mail_id and m.get("state") == MAIL_PENDING

        try:
            for coll in self._outbox_collections():
                doc = coll.latest.find_one({f"{MAILS_FIELD}.id": mail_id}, {MAILS_FIELD: 1})
                if doc is None:
                    continue
                stored = next((m for m in doc.get(MAILS_FIELD, []) if pending(m)), None)
                if stored is None:
                    return
                record = {"_id": mail_id, "collection": coll.spec.name, "doc_id": doc["_id"],
                          "recipient": stored["recipient"], "attempts": attempts, "error": mail_error(error),
                          "created_at": stored.get("created_at"), "failed_at": mail_instant()}
                written = self._failures().update_one({"_id": mail_id}, {"$setOnInsert": record}, upsert=True)
                removed = coll.change_mails({"_id": doc["_id"]}, lambda mails: _removal(mails, pending))
                if not removed and written.upserted_id is not None:
                    self._failures().delete_one({"_id": mail_id, "failed_at": record["failed_at"]})
                return
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def cancel_mails(self, recipient: str) -> int:
        cancelled: set[str] = set()
        removing: list[str] = []  # the ids the last planned removal takes

        def removal(mails: list[dict[str, Any]]) -> _Change | None:
            removing[:] = [m["id"] for m in mails if m.get("recipient") == recipient]
            return _removal(mails, lambda m: m.get("recipient") == recipient)

        try:
            names = [coll.spec.name for coll in self._outbox_collections()]
            for coll in self._outbox_collections():
                holders = [d["_id"] for d in coll.raw.find({f"{MAILS_FIELD}.recipient": recipient}, {"_id": 1})]
                for doc_id in holders:
                    if coll.change_mails({"_id": doc_id}, removal):
                        cancelled.update(removing)
            failures = self._failures()
            failed = [d["_id"] for d in failures.find({"recipient": recipient, "collection": {"$in": names}},
                                                       {"_id": 1})]
            if failed:
                failures.delete_many({"_id": {"$in": failed}})
            cancelled.update(failed)
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return len(cancelled)

    def mail_counts(self) -> dict[str, int]:
        counts = {MAIL_PENDING: 0, MAIL_FAILED: 0}
        try:
            names = []
            for coll in self._outbox_collections():
                names.append(coll.spec.name)
                for row in coll.raw.aggregate([
                    {"$match": {f"{MAILS_FIELD}.id": {"$exists": True}}},
                    {"$unwind": f"${MAILS_FIELD}"},
                    {"$group": {"_id": f"${MAILS_FIELD}.state", "n": {"$sum": 1}}},
                ]):
                    if row["_id"] == MAIL_PENDING:
                        counts[MAIL_PENDING] += row["n"]
            counts[MAIL_FAILED] = self._failures().count_documents({"collection": {"$in": names}})
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return counts

    # -- counters ----------------------------------------------------------
    def counters(self, names: Iterable[str]) -> dict[str, int]:
        """The pending operations settled first (see the module's text), then
        one read of the counters asked for."""
        names = counter_names(names)
        if not names:
            return {}
        values = dict.fromkeys(names, 0)
        try:
            self.settle_counters()
            for doc in self.db[COUNTERS].find({"_id": {"$in": names}}, {"value": 1}):
                values[doc["_id"]] = doc["value"]
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return values

    def adjust_counters(self, changes: Sequence[CounterChange]) -> None:
        changes = merge_counters(changes)
        if changes:
            self._move(_counter_ops(changes))

    def set_counters(self, values: Mapping[str, int]) -> None:
        values = counter_values(values)
        if values:
            self._move([{"id": uuid.uuid4().hex, "name": name, "value": value} for name, value in values.items()])

    def _move(self, ops: list[dict[str, Any]]) -> None:
        """Counter operations with no document: stored together in a carrier
        of their own (one write), then settled."""
        carrier = {"_id": uuid.uuid4().hex, COUNTER_OPS: ops}
        try:
            moves = self._moves()
            moves.insert_one(carrier)
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        self.settle_written(moves, carrier["_id"], ops, carrier=True)

    def _moves(self):
        """The carriers of ``adjust_counters``/``set_counters``, indexed once per store."""
        moves = self.db[COUNTER_MOVES]
        if not self._moves_indexed:
            moves.create_index([(f"{COUNTER_OPS}.id", ASCENDING)], name=COUNTER_OPS_INDEX, sparse=True)
            self._moves_indexed = True
        return moves

    def _counting_collections(self) -> list[tuple[Any, bool]]:
        """Where pending operations may wait, each (collection, whether it
        holds carriers of moves): every collection this store opened or was
        told carries an outbox, and the carriers."""
        self._outbox_collections()
        opened = list(self._collections.values())
        for coll in opened:
            coll._ensure()
        return [(coll.raw, False) for coll in opened] + [(self._moves(), True)]

    def settle_counters(self) -> int:
        """Settle every pending counter operation (left by a write whose
        settling failed or whose process died, or still being settled by a
        write running now); how many documents held some. Driver errors raise."""
        settled = 0
        for raw, carriers in self._counting_collections():
            for doc in raw.find(_PENDING_OPS, {COUNTER_OPS: 1}):
                self.settle(raw, doc["_id"], doc.get(COUNTER_OPS) or [], carrier=carriers)
                settled += 1
        return settled

    def settle(self, raw: Any, doc_id: Any, ops: Sequence[dict[str, Any]], carrier: bool = False) -> None:
        """Apply ``ops`` (pending in document ``doc_id`` of ``raw``), each
        once, then take them out of it (a ``carrier`` of moves goes
        altogether). Safe to run again, and beside another settler. Driver
        errors raise."""
        if not ops:
            return
        for op in ops:
            self._apply(op)
        if carrier:
            raw.delete_one({"_id": doc_id})
            return
        ids = [op["id"] for op in ops]
        emptied = raw.update_one({"_id": doc_id, COUNTER_OPS: {"$size": len(ids)}, f"{COUNTER_OPS}.id": {"$all": ids}},
                                 {"$unset": {COUNTER_OPS: ""}})
        if not emptied.matched_count:  # others were added or taken meanwhile
            raw.update_one({"_id": doc_id, f"{COUNTER_OPS}.id": {"$in": ids}},
                           {"$pull": {COUNTER_OPS: {"id": {"$in": ids}}}})

    def _apply(self, op: dict[str, Any]) -> None:
        """One operation on its counter, unless the counter recorded its id."""
        where = {"_id": op["name"], "ops": {"$ne": op["id"]}}
        change = {"$inc": {"value": op["delta"]}} if "delta" in op else {"$set": {"value": op["value"]}}
        update = {**change, "$push": {"ops": {"$each": [op["id"]], "$slice": -COUNTER_OPS_KEPT}}}
        counters = self.db[COUNTERS]
        try:
            counters.update_one(where, update, upsert=True)
        except MongoDuplicateKeyError:
            # The counter exists now: it holds the id (nothing to do, and
            # nothing matches), or another upsert created it first.
            counters.update_one(where, update)

    def settle_written(self, raw: Any, doc_id: Any, ops: Sequence[dict[str, Any]], carrier: bool = False) -> None:
        """Settle the operations a write just stored. The write is done
        whatever happens here: a server error leaves them pending for the
        next ``counters()``, with a warning."""
        try:
            self.settle(raw, doc_id, ops, carrier)
        except _DRIVER_ERRORS as exc:
            log.warning("mongodb: %d counter changes of %s/%s are left pending (%s); the next read of the "
                        "counters applies them", len(ops), raw.name, doc_id, exc)

    def explain_counters(self, names: Sequence[str]) -> dict[str, Any]:
        """The server's plans for the reads of ``counters(names)``: the search
        for pending operations in each collection, and the counters' read."""
        plans: dict[str, Any] = {}
        try:
            for raw, _ in self._counting_collections():
                # The server's explain takes no read concern: asked without one.
                unconcerned = raw.with_options(read_concern=ReadConcern())
                plans[raw.name] = unconcerned.find(_PENDING_OPS, {COUNTER_OPS: 1}).explain()
            counters = self.db[COUNTERS].with_options(read_concern=ReadConcern())
            plans[COUNTERS] = counters.find({"_id": {"$in": list(names)}}, {"value": 1}).explain()
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        return plans

    def ping(self) -> None:
        """A write with the store's write concern: it fails unless the
        primary answers, a majority takes it, the disk has room and the
        account may write (a ``ping`` command proves none of that)."""
        try:
            self.db[HEALTH_COLLECTION].update_one(
                {"_id": "ping"}, {"$set": {"at": datetime.now(timezone.utc)}}, upsert=True)
        except _DRIVER_ERRORS as exc:
            translated = translate(exc)
            raise (translated if isinstance(translated, StorageUnavailable)
                   else StorageUnavailable(str(translated))) from exc

    def close(self) -> None:
        self.client.close()


class MongoCollection(Collection):
    def __init__(self, store: MongoStore, spec: CollectionSpec):
        self.store = store
        self.spec = spec
        self.raw = store.db[spec.name]
        # What a read-then-conditional-write reads: the primary's latest state
        # (the condition is checked against it), not the majority-committed one,
        # which may trail it and would send the write round in circles.
        self.latest = self.raw.with_options(read_concern=ReadConcern("local"))
        self._indexes_ready = False

    def _ensure(self) -> None:
        if not self._indexes_ready:
            self.ensure_indexes()

    # -- indexes -----------------------------------------------------------
    def declared_indexes(self) -> dict[str, tuple[list[tuple[str, int]], dict[str, Any]]]:
        """Index name -> (keys, options), as this collection declares them."""
        declared = {
            OUTBOX_INDEX: ([(f"{OUTBOX_FIELD}.id", ASCENDING)], {"sparse": True}),
            MAIL_INDEX: ([(f"{MAILS_FIELD}.id", ASCENDING)], {"unique": True, "sparse": True}),
            MAIL_DUE_INDEX: ([(MAIL_DUE, ASCENDING)], {"sparse": True}),
            MAIL_RECIPIENT_INDEX: ([(f"{MAILS_FIELD}.recipient", ASCENDING)], {"sparse": True}),
            COUNTER_OPS_INDEX: ([(f"{COUNTER_OPS}.id", ASCENDING)], {"sparse": True}),
        }
        for index in self.spec.indexes:
            keys = [(_mongo_path(path), direction) for path, direction in index.keys]
            options: dict[str, Any] = {}
            if index.unique:
                options = {"unique": True,
                           "partialFilterExpression": {_mongo_path(f): {"$type": "string"} for f in index.fields}}
            declared[index.name] = (keys, options)
        return declared

    @staticmethod
    def _same(current: dict[str, Any] | None, keys: list[tuple[str, int]], options: dict[str, Any]) -> bool:
        if current is None or _index_keys(current) != keys:
            return False
        return (bool(current.get("unique")) == bool(options.get("unique"))
                and bool(current.get("sparse")) == bool(options.get("sparse"))
                and current.get("partialFilterExpression") == options.get("partialFilterExpression"))

    def ensure_indexes(self) -> None:
        """The declared indexes, as declared. One whose declaration changed
        since it was built (other keys, directions, options) is dropped and
        built again under its name; one that cannot be built (a unique index
        the stored documents violate) is reported in one line and the
        collection is used without it, as it is when an index is no longer
        declared: a start-up never fails for good over an index. Only an
        unreachable server raises (``StorageUnavailable``: the next operation
        tries again)."""
        declared = self.declared_indexes()
        try:
            present = {ix["name"]: ix for ix in self.raw.list_indexes()}
            for name, (keys, options) in declared.items():
                if not self._same(present.get(name), keys, options):
                    self._build(name, keys, options, present.get(name))
            self._ensure_text_index(present.get(TEXT_INDEX))
        except _DRIVER_ERRORS as exc:
            translated = translate(exc)
            if isinstance(translated, StorageUnavailable):
                raise translated from exc
            log.error("mongodb: the indexes of %s could not be checked (%s); the collection is used as it is",
                      self.spec.name, exc)
            self._indexes_ready = True
            return
        undeclared = sorted(name for name in present
                            if name.startswith("ix_") and name not in declared and name != TEXT_INDEX)
        if undeclared:
            log.warning("mongodb: indexes of %s no longer declared: %s (drop them once no older version runs)",
                        self.spec.name, ", ".join(undeclared))
        self._indexes_ready = True

    def text_index_options(self) -> dict[str, Any] | None:
        """What the text index is built with (None: no text index declared)."""
        if self.spec.text is None:
            return None
        return {"weights": dict(self.spec.text.fields), "default_language": self.spec.text.language,
                "language_override": TEXT_LANGUAGE_OVERRIDE}

    def _ensure_text_index(self, current: dict[str, Any] | None) -> None:
        """The text index as declared: built when missing, rebuilt when its
        paths, weights or language changed. A collection opened without one
        (a tool counting documents) leaves it as it is. Building it over many
        documents takes a while; MongoDB builds without blocking writes
        (4.2+)."""
        wanted = self.text_index_options()
        if wanted is None:
            return
        if current is not None and all(current.get(k) == v for k, v in wanted.items()):
            return
        if current is not None:
            self.raw.drop_index(TEXT_INDEX)
        self.raw.create_index([(path, TEXT) for path in self.spec.text.paths], name=TEXT_INDEX, **wanted)
        if current is not None:
            log.warning("mongodb: the text index of %s changed; rebuilt it (was %s)", self.spec.name,
                        {k: current.get(k) for k in wanted})

    def _violations(self, fields: tuple[str, ...]) -> bool:
        """Whether two stored documents share the values a unique index on
        ``fields`` would constrain (all strings, as its partial filter says)."""
        group = {f"k{n}": f"${_mongo_path(f)}" for n, f in enumerate(fields)}
        found = self.raw.aggregate([
            {"$match": {_mongo_path(f): {"$type": "string"} for f in fields}},
            {"$group": {"_id": group, "n": {"$sum": 1}}},
            {"$match": {"n": {"$gt": 1}}},
            {"$limit": 1},
        ])
        return any(True for _ in found)

    def _build(self, name: str, keys: list[tuple[str, int]], options: dict[str, Any],
               current: dict[str, Any] | None) -> None:
        unique_fields = next((i.fields for i in self.spec.indexes if i.name == name and i.unique), None)
        if current is not None and unique_fields and self._violations(unique_fields):
            log.error("mongodb: index %s of %s cannot be built as declared (unique, and stored documents share "
                      "values of %s); it stays as it was until they are fixed", name, self.spec.name,
                      ", ".join(unique_fields))
            return
        try:
            if current is not None:
                try:
                    self.raw.drop_index(name)
                except OperationFailure as exc:
                    if exc.code != INDEX_NOT_FOUND:  # IndexNotFound: another process dropped it first
                        raise
            self.raw.create_index(keys, name=name, **options)
        except OperationFailure as exc:
            translated = translate(exc)
            if isinstance(translated, StorageUnavailable):
                raise translated from exc
            again = {ix["name"]: ix for ix in self.raw.list_indexes()}.get(name)
            if self._same(again, keys, options):
                return  # another process of the service built it meanwhile
            log.error("mongodb: index %s of %s cannot be built as declared (%s); the collection is used "
                      "without it until that is fixed", name, self.spec.name, exc)
            return
        if current is not None:
            log.warning("mongodb: index %s of %s changed; rebuilt it (was %s, now %s)",
                        name, self.spec.name, dict(current.get("key", {})), dict(keys))

    # -- documents ---------------------------------------------------------
    def _duplicate(self, exc: MongoDuplicateKeyError, doc: dict[str, Any]) -> DuplicateKeyError:
        """Name the index that refused ``doc``: from the server's ``keyPattern``
        when it says, else by looking for the document that holds the value."""
        pattern = set((exc.details or {}).get("keyPattern") or {})
        unique = [i for i in self.spec.indexes if i.unique]
        for index in unique:
            if pattern == {_mongo_path(f) for f in index.fields}:
                return DuplicateKeyError(index.fields)
        if pattern == {"_id"}:
            return DuplicateKeyError(("id",))
        for index in unique:
            values = {_mongo_path(f): _lookup(doc, f) for f in index.fields}
            if all(isinstance(v, str) for v in values.values()) and self.raw.find_one(
                {**{k: {"$eq": v} for k, v in values.items()}, "_id": {"$ne": doc["id"]}}, {"_id": 1}
            ):
                return DuplicateKeyError(index.fields)
        return DuplicateKeyError(("id",))

    @staticmethod
    def _out(doc: dict[str, Any] | None) -> dict[str, Any] | None:
        if doc is None:
            return None
        for name in HIDDEN_FIELDS:
            doc.pop(name, None)
        doc.pop(TEXT_SCORE, None)
        doc["id"] = doc.pop("_id")
        return doc

    @staticmethod
    def _fields(doc: dict[str, Any]) -> dict[str, Any]:
        """The document's own fields. ``replace`` sets each by name, where a
        dot or a leading ``$`` would mean a path or an operator: such names
        are refused."""
        fields = {k: v for k, v in doc.items() if k not in ("id", "_rev", "_id", *HIDDEN_FIELDS)}
        bad = [k for k in fields if not isinstance(k, str) or not _SAFE_KEY.match(k)]
        if bad:
            raise InvalidData(f"mongodb: field names must not be empty, start with $ or hold a dot: {bad[:5]!r}")
        return fields

    def _check_outbox(self, events: Sequence[OutboxMessage], mails: Sequence[OutboxMail]) -> None:
        """Refuse events and mails the relay and the sender would never read
        (this collection was not declared to carry an outbox,
        ``open_store(url, outbox=...)``) or that no backlog could take."""
        if not events and not mails:
            return
        if self.spec.name not in {s.name for s in self.store._outbox_specs}:
            raise StorageError(f"mongodb: {'events' if events else 'mails'} written into {self.spec.name!r}, which "
                               "this store was not told carries an outbox; they would never be sent")
        size = self._outbox_size(events, [_new_mail(m, "") for m in mails])
        if size > self.store.outbox_max_bytes:
            raise InvalidData(f"mongodb: the events and mails of one write ({size} bytes) exceed what a document "
                              f"may hold pending ({self.store.outbox_max_bytes} bytes)")

    @staticmethod
    def _outbox_size(events: Sequence[OutboxMessage], mails: Sequence[dict[str, Any]]) -> int:
        return sum(_event_size(e.to_dict()) for e in events) + sum(_mail_size(m) for m in mails)

    def _mail_ids_stored(self, mails: Sequence[dict[str, Any]], in_doc: str | None = None) -> set[str]:
        """Which of ``mails`` this collection holds already (in ``in_doc`` only, when given)."""
        ids = [m["id"] for m in mails]
        where: dict[str, Any] = {f"{MAILS_FIELD}.id": {"$in": ids}}
        if in_doc is not None:
            where["_id"] = in_doc
        return {m.get("id") for doc in self.latest.find(where, {f"{MAILS_FIELD}.id": 1})
                for m in doc.get(MAILS_FIELD, [])} & set(ids)

    def _mail_duplicate(self, exc: MongoDuplicateKeyError, mails: Sequence[dict[str, Any]]) -> bool:
        """Whether ``ix_mails`` refused the write: the server says so (then
        the write is tried again, without the mails stored meanwhile, if any),
        or, when it does not name the index, one of ``mails`` is stored."""
        if not mails:
            return False
        pattern = set((exc.details or {}).get("keyPattern") or {})
        if pattern:
            return pattern == {f"{MAILS_FIELD}.id"}
        return bool(self._mail_ids_stored(mails))

    def insert(self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()) -> dict[str, Any]:
        items, changes = split_counters(events)
        events, outbox_mails = split_outbox(items)
        self._check_outbox(events, outbox_mails)
        self._ensure()
        fields = self._fields(doc)
        now = mail_instant()
        mails = [_new_mail(m, now) for m in outbox_mails]
        ops = _counter_ops(changes)
        for _ in range(MAIL_CHANGE_TRIES):
            stored = {"_id": doc["id"], **fields, "_rev": 1}
            if events:
                stored[OUTBOX_FIELD] = [e.to_dict() for e in events]
            if ops:
                stored[COUNTER_OPS] = ops
            if mails:
                stored[MAILS_FIELD] = mails
                stored[MAIL_DUE] = _due(mails)
                stored[MAIL_VERSION] = 1
            size = self._outbox_size(events, mails)
            if size:
                stored[OUTBOX_BYTES] = size
            try:
                try:
                    self.raw.insert_one(stored)
                except MongoDuplicateKeyError as exc:
                    # A mail another document holds already: stored once, the write goes through without it.
                    if self._mail_duplicate(exc, mails):
                        mails = [m for m in mails if m["id"] not in self._mail_ids_stored(mails)]
                        continue
                    raise self._duplicate(exc, doc) from exc
            except _DRIVER_ERRORS as exc:
                raise translate(exc) from exc
            self.store.settle_written(self.raw, doc["id"], ops)
            return {**doc, "_rev": 1}
        raise self._mails_unsettled()

    def replace(self, doc: dict[str, Any], events: Sequence[OutboxItem] = ()) -> dict[str, Any] | None:
        items, changes = split_counters(events)
        events, outbox_mails = split_outbox(items)
        self._check_outbox(events, outbox_mails)
        self._ensure()
        rev = doc.get("_rev")
        # Keep only the id and the adapter's fields, then set every field of
        # the new version (as a literal) and the events, mails and counter
        # operations added now.
        fields: dict[str, Any] = {name: {"$literal": value} for name, value in self._fields(doc).items()}
        fields["_rev"] = rev + 1
        now = mail_instant()
        mails = [_new_mail(m, now) for m in outbox_mails]
        ops = _counter_ops(changes)
        for _ in range(MAIL_CHANGE_TRIES):
            new = dict(fields)
            match: dict[str, Any] = {"_id": doc["id"], "_rev": rev}
            if events:
                new[OUTBOX_FIELD] = {"$concatArrays": [{"$ifNull": [f"${OUTBOX_FIELD}", []]},
                                                       {"$literal": [e.to_dict() for e in events]}]}
            if ops:
                new[COUNTER_OPS] = {"$concatArrays": [{"$ifNull": [f"${COUNTER_OPS}", []]}, {"$literal": ops}]}
            if mails:
                new[MAILS_FIELD] = {"$concatArrays": [{"$ifNull": [f"${MAILS_FIELD}", []]}, {"$literal": mails}]}
                new[MAIL_DUE] = {"$min": [f"${MAIL_DUE}", {"$literal": _due(mails)}]}
                new[MAIL_VERSION] = {"$add": [{"$ifNull": [f"${MAIL_VERSION}", 0]}, 1]}
                match[f"{MAILS_FIELD}.id"] = {"$nin": [m["id"] for m in mails]}
            size = self._outbox_size(events, mails)
            if size:
                new[OUTBOX_BYTES] = {"$add": [{"$ifNull": [f"${OUTBOX_BYTES}", 0]}, size]}
                match["$or"] = [{OUTBOX_BYTES: {"$exists": False}},
                                {OUTBOX_BYTES: {"$lte": self.store.outbox_max_bytes - size}}]
            pipeline = [{"$project": {name: 1 for name in HIDDEN_FIELDS}}, {"$set": new}]
            try:
                try:
                    result = self.raw.update_one(match, pipeline)
                except MongoDuplicateKeyError as exc:
                    if self._mail_duplicate(exc, mails):
                        mails = [m for m in mails if m["id"] not in self._mail_ids_stored(mails)]
                        continue
                    raise self._duplicate(exc, doc) from exc
                if result.matched_count == 1:
                    self.store.settle_written(self.raw, doc["id"], ops)
                    return {**doc, "_rev": rev + 1}
                # Why nothing matched: a newer revision, a mail the document holds already, or a full backlog.
                current = self.latest.find_one({"_id": doc["id"]}, {"_rev": 1, OUTBOX_BYTES: 1})
                if current is None or current.get("_rev") != rev:
                    return None
                held = self._mail_ids_stored(mails, in_doc=doc["id"]) if mails else set()
                if held:
                    mails = [m for m in mails if m["id"] not in held]
                    continue
                if not size:
                    return None
                raise StorageUnavailable(
                    f"mongodb: {current.get(OUTBOX_BYTES, 0)} bytes of events and mails of {self.spec.name}/"
                    f"{doc['id']} are waiting for the broker or the mail server; the document takes {size} more "
                    "once they are sent")
            except _DRIVER_ERRORS as exc:
                if isinstance(exc, OperationFailure) and exc.code in _TOO_LARGE_CODES:
                    # Too large only with the events and mails pending in it: it fits once they are sent.
                    waiting = self.raw.find_one({"_id": doc["id"], OUTBOX_BYTES: {"$gt": 0}}, {OUTBOX_BYTES: 1})
                    if waiting is not None:
                        raise StorageUnavailable(
                            f"mongodb: {self.spec.name}/{doc['id']} would exceed MongoDB's document size with the "
                            f"{waiting[OUTBOX_BYTES]} bytes of events and mails it holds to send; retry once they "
                            "are sent") from exc
                raise translate(exc) from exc
        raise self._mails_unsettled()

    def _mails_unsettled(self) -> StorageUnavailable:
        return StorageUnavailable(f"mongodb: the mails of a document of {self.spec.name} changed "
                                  f"{MAIL_CHANGE_TRIES} times in a row while being written; try again")

    def change_mails(self, where: dict[str, Any], plan) -> int | None:
        """Change the mails of the document ``where`` finds: ``plan(mails)``
        gives the update for the mails as read (or None: nothing to do), which
        is applied only while ``_mail_ver`` is what was read, else the mails
        are read again. None when no document matches; else how many mails
        the change touched."""
        for _ in range(MAIL_CHANGE_TRIES):
            doc = self.latest.find_one(where, {MAILS_FIELD: 1, MAIL_VERSION: 1})
            if doc is None:
                return None
            planned = plan(doc.get(MAILS_FIELD, []))
            if planned is None:
                return 0
            update, condition, changed = planned
            guard = {"_id": doc["_id"], MAIL_VERSION: doc.get(MAIL_VERSION), **condition}
            if self.raw.update_one(guard, update).matched_count == 1:
                return changed
        raise self._mails_unsettled()

    def claim_mails(self, doc_id: Any, mail_ids: set[str], now: str, lease_until: str) -> list[PendingMail]:
        """Lease the mails ``mail_ids`` of document ``doc_id`` that are still
        pending and due at ``now``, in one guarded update (``change_mails``:
        read again when another sender or the service changed its mails
        first); the ones leased, as stored after it."""
        leased: list[dict[str, Any]] = []

        def plan(mails: list[dict[str, Any]]) -> _Change | None:
            planned = _claim(mails, mail_ids, now, lease_until)
            leased[:] = planned[1] if planned else []
            return planned[0] if planned else None

        if not self.change_mails({"_id": doc_id}, plan):
            return []
        return [_pending(m) for m in leased]

    def release(self, event_ids: set[str]) -> None:
        """Remove the published ``event_ids`` from the documents that hold them,
        with their bytes from the backlog. One update per document; a document
        whose events are all published loses its outbox fields altogether.
        Each update names the events it removes, so relays running side by
        side (several worker processes) never count a removal twice."""
        for doc in self.raw.find({f"{OUTBOX_FIELD}.id": {"$in": list(event_ids)}}, {OUTBOX_FIELD: 1}):
            pending = doc.get(OUTBOX_FIELD, [])
            done = [m for m in pending if m.get("id") in event_ids]
            if not done:
                continue
            ids = [m["id"] for m in done]
            if len(done) == len(pending):
                # The backlog goes too, unless mails still count in it.
                emptied = self.raw.update_one(
                    {"_id": doc["_id"], OUTBOX_FIELD: {"$size": len(ids)}, f"{OUTBOX_FIELD}.id": {"$all": ids},
                     MAILS_FIELD: {"$exists": False}},
                    {"$unset": {OUTBOX_FIELD: "", OUTBOX_BYTES: ""}})
                if emptied.matched_count:
                    continue
            pulled = self.raw.update_one(
                {"_id": doc["_id"], f"{OUTBOX_FIELD}.id": {"$all": ids}},
                {"$pull": {OUTBOX_FIELD: {"id": {"$in": ids}}},
                 "$inc": {OUTBOX_BYTES: -sum(_event_size(m) for m in done)}})
            if pulled.matched_count:
                continue
            for message in done:  # another relay took some of them meanwhile: one by one
                self.raw.update_one({"_id": doc["_id"], f"{OUTBOX_FIELD}.id": message["id"]},
                                    {"$pull": {OUTBOX_FIELD: {"id": message["id"]}},
                                     "$inc": {OUTBOX_BYTES: -_event_size(message)}})

    def get(self, doc_id: str) -> dict[str, Any] | None:
        self._ensure()
        try:
            return self._out(self.raw.find_one({"_id": doc_id}, _HIDE))
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def _filter(self, query: Query) -> dict[str, Any]:
        conditions: list[dict[str, Any]] = []
        for path, value in query.equals.items():
            conditions.append({_mongo_path(path): {"$eq": value}})
        for path, values in query.any_of.items():
            conditions.append({_mongo_path(path): {"$in": list(values)}})
        for path, value in query.contains.items():
            conditions.append({_mongo_path(path): {"$elemMatch": {"$eq": value}}})
        for path, bound in query.less_than.items():
            conditions.append({_mongo_path(path): {"$lt": bound}})
        for path, bound in query.at_least.items():
            conditions.append({_mongo_path(path): {"$gte": bound}})
        if query.search:
            paths, text = query.search
            pattern = {"$regex": re.escape(text), "$options": "i"}
            conditions.append({"$or": [{_mongo_path(p): pattern} for p in paths]})
        found: dict[str, Any] = {}
        index = text_index_for(self.spec, query)
        if index is not None:
            # Phrases, so that a document must hold every word (MongoDB ORs bare terms).
            found["$text"] = {"$search": phrases(query.text), "$language": index.language,
                              "$caseSensitive": False, "$diacriticSensitive": False}
        if len(conditions) == 1 and not found:
            return conditions[0]
        if conditions:
            found["$and"] = conditions
        return found

    def _cursor(self, query: Query, skip: int = 0, limit: int | None = None, raw: Any = None):
        projection = _HIDE
        if query.ranked:
            projection = {**_HIDE, TEXT_SCORE: {"$meta": "textScore"}}
            sort = [(TEXT_SCORE, {"$meta": "textScore"}), ("_id", ASCENDING)]
        else:
            sort = [(_mongo_path(p), DESCENDING if d < 0 else ASCENDING) for p, d in query.order]
        raw = self.raw if raw is None else raw
        cursor = raw.find(self._filter(query), projection).sort(sort).skip(skip)
        return cursor.limit(limit) if limit is not None else cursor

    def find(self, query: Query, skip: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
        self._ensure()
        try:
            return [self._out(doc) for doc in self._cursor(query, skip, limit)]
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def explain(self, query: Query, skip: int = 0, limit: int | None = None) -> dict[str, Any]:
        """The server's plan for ``find(query, skip, limit)`` (``explain``):
        what an operator, or a test, reads to see whether an index serves a
        list's filter and sort."""
        self._ensure()
        try:
            # The server's explain takes no read concern: asked without one.
            return self._cursor(query, skip, limit, self.raw.with_options(read_concern=ReadConcern())).explain()
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def count(self, query: Query) -> int:
        self._ensure()
        try:
            return self.raw.count_documents(self._filter(query))
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc

    def delete(self, doc_id: str) -> bool:
        """The document's failed mails first: a delete cut between the two
        writes leaves a document without them, never records without it.
        A document still carrying counter operations is deleted only once
        they are settled: the writes that stored them returned."""
        self._ensure()
        try:
            self.store._failures().delete_many({"collection": self.spec.name, "doc_id": doc_id})
            for _ in range(DELETE_TRIES):
                if self.raw.delete_one({"_id": doc_id, f"{COUNTER_OPS}.id": {"$exists": False}}).deleted_count:
                    return True
                pending = self.latest.find_one({"_id": doc_id}, {COUNTER_OPS: 1})
                if pending is None:
                    return False
                self.store.settle(self.raw, doc_id, pending.get(COUNTER_OPS) or [])
        except _DRIVER_ERRORS as exc:
            raise translate(exc) from exc
        raise StorageUnavailable(f"mongodb: {self.spec.name}/{doc_id} took new counter changes "
                                 f"{DELETE_TRIES} times in a row while being deleted; try again")
