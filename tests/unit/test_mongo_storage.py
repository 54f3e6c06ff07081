"""The MongoDB adapter's choices that need no server: the durability
defaults it gives the driver (and leaves to the URL), and how each error of
the driver or the server becomes the port's error, at the adapter's door and
beyond it (a consumer holds or dead-letters, the HTTP layer answers).

Faked here: the server. ``FailingCollection`` stands in for a pymongo
collection and raises the driver's own exception classes, built as pymongo
builds them from a server reply; the consumer is given a recording channel
instead of a RabbitMQ one. The same adapter against mongomock and a real
server is tests/contract's.
"""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from bson.errors import InvalidDocument
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    DocumentTooLarge,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteConcernError,
    WriteError,
    WTimeoutError,
)

from common.messaging import Topology, make_event
from common.messaging.consumer import Consumer
from common.storage import (
    CollectionSpec,
    InvalidData,
    OutboxMessage,
    Query,
    StorageError,
    StorageUnavailable,
)
from common.storage.mongo import DURABILITY, MAIL_FAILURES, MongoStore, client_options, translate

SPEC = CollectionSpec("docs")


# -- durability ------------------------------------------------------------------
def test_durability_defaults_when_the_url_says_nothing():
    options = client_options("mongodb://db.example:27017/incidencias")
    assert {k: options[k] for k in DURABILITY} == {
        "w": "majority", "journal": True, "readConcernLevel": "majority", "retryWrites": True, "retryReads": True}


def test_the_url_wins_over_every_default():
    url = ("mongodb://db.example/incidencias?w=1&journal=false&readConcernLevel=local&retryWrites=false"
           "&retryReads=false&serverSelectionTimeoutMS=100&socketTimeoutMS=200&connectTimeoutMS=300")
    options = client_options(url)
    for name in (*DURABILITY, "serverSelectionTimeoutMS", "socketTimeoutMS", "connectTimeoutMS"):
        assert name not in options


@pytest.mark.parametrize("url, write_concern, read_concern", [
    ("mongodb://127.0.0.1:9/x", {"w": "majority", "j": True}, "majority"),
    ("mongodb://127.0.0.1:9/x?w=1&journal=false", {"w": 1, "j": False}, "majority"),
    ("mongodb://127.0.0.1:9/x?readConcernLevel=local&w=majority", {"w": "majority", "j": True}, "local"),
])
def test_the_client_the_store_builds_carries_them(url, write_concern, read_concern):
    store = MongoStore(url)  # pymongo connects lazily: no server is needed to build it
    try:
        assert store.client.write_concern.document == write_concern
        assert store.client.read_concern.level == read_concern
        assert store.client.options.retry_writes is True
        assert store.db.name == "x"
    finally:
        store.close()


# -- the mapping ------------------------------------------------------------------
def operation_failure(code: int, message: str = "failed", labels: tuple[str, ...] = ()) -> OperationFailure:
    return OperationFailure(message, code, {"ok": 0, "code": code, "errmsg": message, "errorLabels": list(labels)})


UNAVAILABLE = {
    "no server (server selection timed out)": ServerSelectionTimeoutError("no servers found"),
    "connection lost": AutoReconnect("connection reset"),
    "network timeout": NetworkTimeout("timed out"),
    "not primary": NotPrimaryError("not primary", {"code": 10107, "errmsg": "not primary"}),
    "write concern error": WriteConcernError("waiting for replication timed out", 64, {}),
    "write concern timeout": WTimeoutError("waiting for replication timed out", 64, {}),
    "interrupted at shutdown": operation_failure(11600, "interrupted at shutdown"),
    "interrupted": operation_failure(11601, "operation was interrupted"),
    "interrupted by a replica set state change": operation_failure(11602, "operation was interrupted"),
    "shutting down": operation_failure(91, "The server is in quiesce mode and will shut down"),
    "primary stepped down": operation_failure(189, "primary stepped down"),
    "not primary, no secondary ok": operation_failure(13435, "not primary and secondaryOk=false"),
    "time limit": ExecutionTimeout("operation exceeded time limit", 50, {}),
    "out of disk space": operation_failure(14031, "Can't take a write lock while out of disk space"),
    "write conflict": operation_failure(112, "WriteConflict"),
    "a transient label": operation_failure(424242, "whatever", ("RetryableWriteError",)),
    "a bulk write's write concern": BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64}]}),
    "unauthorized": operation_failure(13, "not authorized on incidencias to execute command"),
    "a search while the text index is being built": operation_failure(27, "text index required for $text query"),
}
INVALID = {
    "document too large (driver)": DocumentTooLarge("BSON document too large (17000000 bytes)"),
    "unencodable value (driver)": InvalidDocument("cannot encode object: {1, 2}, of type: <class 'set'>"),
    "an integer beyond 8 bytes (driver)": OverflowError("MongoDB can only handle up to 8-byte ints"),
    "document after update too large": WriteError("Resulting document after update is larger than 16777216",
                                                  10334, {}),
    "document after update too large (older servers)": WriteError("Resulting document after update is larger",
                                                                  17419, {}),
    "a validator refused it": WriteError("Document failed validation", 121, {}),
    "a pattern with a NUL byte": operation_failure(51091, "Regular expression cannot contain an embedded null byte"),
}


@pytest.mark.parametrize("name", list(UNAVAILABLE))
def test_what_will_pass_is_unavailable(name):
    assert isinstance(translate(UNAVAILABLE[name]), StorageUnavailable)


@pytest.mark.parametrize("name", list(INVALID))
def test_what_no_retry_fixes_is_invalid_data(name):
    translated = translate(INVALID[name])
    assert isinstance(translated, InvalidData) and not isinstance(translated, StorageUnavailable)


def test_anything_else_is_a_plain_storage_error():
    translated = translate(operation_failure(9, "FailedToParse: unknown operator"))
    assert type(translated) is StorageError
    assert type(translate(operation_failure(27, "index not found with name [ix_x]"))) is StorageError


# -- at the adapter's door -----------------------------------------------------------
class FailingCollection:
    """A pymongo collection that raises ``error`` from every call but index listing."""

    def __init__(self, error: BaseException):
        self.error = error

    def list_indexes(self):
        return iter([])

    def create_index(self, *_args, **_kwargs):
        return "ix"

    def __getattr__(self, _name):
        def fail(*_args, **_kwargs):
            raise self.error
        return fail


def failing_store(error: BaseException) -> MongoStore:
    import mongomock

    store = MongoStore("mongodb://localhost/test", client=mongomock.MongoClient(), outbox=(SPEC,))
    collection = store.collection(SPEC)
    collection.raw = collection.latest = FailingCollection(error)
    store.db = {SPEC.name: collection.raw, "_health": FailingCollection(error),
                MAIL_FAILURES: FailingCollection(error)}
    return store


OPERATIONS = {
    "insert": lambda s: s.collection(SPEC).insert({"id": "d1"}, [OutboxMessage("e1", "x.y", "{}")]),
    "replace": lambda s: s.collection(SPEC).replace({"id": "d1", "_rev": 1}, [OutboxMessage("e2", "x.y", "{}")]),
    "get": lambda s: s.collection(SPEC).get("d1"),
    "find": lambda s: s.collection(SPEC).find(Query(sort=(("a", 1),))),
    "count": lambda s: s.collection(SPEC).count(Query()),
    "delete": lambda s: s.collection(SPEC).delete("d1"),
    "pending events": lambda s: s.pending_events(),
    "mark published": lambda s: s.mark_published(["e1"]),
    "claim due mails": lambda s: s.claim_due_mails("2030-01-01T00:00:00Z", "2030-01-01T00:05:00Z"),
    "mail sent": lambda s: s.mail_sent("m1"),
    "mail retry": lambda s: s.mail_retry("m1", 1, "2030-01-01T00:05:00Z", "451"),
    "mail failed": lambda s: s.mail_failed("m1", 1, "550"),
    "cancel mails": lambda s: s.cancel_mails("c1"),
    "mail counts": lambda s: s.mail_counts(),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
@pytest.mark.parametrize("error, expected", [
    (NotPrimaryError("not primary", {"code": 10107}), StorageUnavailable),
    (operation_failure(11602, "interrupted"), StorageUnavailable),
    (WriteConcernError("waiting for replication timed out", 64, {}), StorageUnavailable),
    (NetworkTimeout("timed out"), StorageUnavailable),
    (DocumentTooLarge("BSON document too large"), InvalidData),
], ids=["not-primary", "interrupted", "write-concern", "network-timeout", "too-large"])
def test_every_operation_raises_the_ports_errors(operation, error, expected):
    with pytest.raises(expected):
        OPERATIONS[operation](failing_store(error))


def test_readiness_fails_unless_a_write_goes_through():
    for error in (NotPrimaryError("not primary", {"code": 10107}), operation_failure(13, "not authorized"),
                  WriteConcernError("waiting for replication timed out", 64, {})):
        with pytest.raises(StorageUnavailable):
            failing_store(error).ping()


def test_field_names_an_update_would_misread_are_refused():
    import mongomock

    store = MongoStore("mongodb://localhost/test", client=mongomock.MongoClient())
    for bad in ({"id": "d1", "a.b": 1}, {"id": "d1", "$set": 1}, {"id": "d1", "": 1}):
        with pytest.raises(InvalidData):
            store.collection(SPEC).insert(bad)
    assert store.collection(SPEC).get("d1") is None


# -- beyond it: a consumer -------------------------------------------------------------
class RecordingChannel:
    def __init__(self):
        self.acked, self.nacked, self.published = [], [], []

    def basic_ack(self, tag, multiple=False):
        self.acked.append(tag)

    def basic_nack(self, tag, requeue):
        self.nacked.append(tag)

    def basic_publish(self, exchange, routing_key, body, properties):
        self.published.append((exchange, routing_key, properties.headers))


def deliver(handler) -> tuple[Consumer, RecordingChannel]:
    consumer = Consumer(amqp_url="amqp://127.0.0.1:1/", topology=Topology("unit"), service="svc", name="q",
                        handlers={"x.y": handler}, max_backoff=0.01)
    consumer._connection = SimpleNamespace(sleep=lambda _seconds: None)
    channel = RecordingChannel()
    event = make_event("x.y", {"n": 1}, "test")
    properties = SimpleNamespace(headers={}, content_type="application/json", message_id=event.id,
                                 correlation_id=None, type=None)
    consumer._deliver(channel, channel, SimpleNamespace(delivery_tag=7, routing_key="x.y"), properties,
                      event.to_json().encode())
    consumer._send_acks(channel)  # what the consume loop does once no other message waits
    return consumer, channel


def test_a_consumer_holds_an_event_while_the_database_is_unavailable_then_applies_it():
    failures = [StorageUnavailable("mongodb: not primary"), StorageUnavailable("mongodb: interrupted")]

    def handler(_event):
        if failures:
            raise failures.pop(0)

    consumer, channel = deliver(handler)
    assert channel.acked == [7] and channel.nacked == [] and channel.published == []
    assert consumer.handled == 1 and consumer.dead_lettered == 0


def test_a_consumer_dead_letters_at_once_what_the_database_can_never_take():
    def handler(_event):
        raise InvalidData("mongodb: the document cannot be stored: BSON document too large")

    consumer, channel = deliver(handler)
    assert channel.acked == [7] and channel.nacked == []
    [(exchange, _key, headers)] = channel.published
    assert exchange == "unit.dlx" and "too large" in headers["x-error"]
    assert consumer.dead_lettered == 1



class TooLargeCollection(FailingCollection):
    """The server refusing the update's result as larger than 16 MiB; ``holds``
    is what the document holds for the broker."""

    def __init__(self, holds: int):
        super().__init__(WriteError("Resulting document after update is larger than 16777216", 10334, {}))
        self.holds = holds

    def find_one(self, *_args, **_kwargs):
        return {"_id": "d1", "_outbox_bytes": self.holds} if self.holds else None


@pytest.mark.parametrize("holds, expected", [(3 * 1024 * 1024, StorageUnavailable), (0, InvalidData)])
def test_too_large_with_events_waiting_is_unavailable_and_without_them_invalid(holds, expected):
    store = failing_store(TooLargeCollection(holds).error)
    store.collection(SPEC).raw = TooLargeCollection(holds)
    with pytest.raises(expected):
        store.collection(SPEC).replace({"id": "d1", "_rev": 3, "texto": "x" * 100})
