"""Dead letters are not a grave: list, inspect and replay what a service's
consumers dead-lettered, and watch their depth.

A consumer sends a message to its queue's ``<queue>.dlq`` when it can never
be processed (the reason in ``x-error``), and the quorum queue does so
itself after too many failed deliveries (``x-death`` reason
``delivery_limit``), which includes good events held through several lost
connections. Replaying puts a message back on the queue it came from,
through the default exchange (only that consumer gets it again, not every
queue bound to its routing key), confirmed, and only then removes it from
the dead-letter queue. That is safe: consumers skip event ids they applied
and apply snapshots by version, so an event applied meanwhile changes
nothing, and a crash between the confirm and the removal replays it twice,
harmlessly. A message that still cannot be processed goes back to the
dead-letter queue with its new reason.

Inspecting takes messages without acknowledging them and gives them back
with one ``basic.nack`` (requeue), not by closing the channel. RabbitMQ 3.x
counts either in the message's ``x-delivery-count``; the dead-letter queues
are declared without a delivery limit, so nothing is lost by looking (a
replay sends the message without that header). RabbitMQ 4 gives every quorum
queue a default limit of 20 and the ``.dlq`` queues have no dead-letter
exchange, so a message returned 20 times would be dropped; 4.0 to 4.2 count
every return, 4.3 and later only a look cut short (a lost connection), not
the nack. Declaring the ``.dlq`` queues with ``x-delivery-limit`` -1 is no
fix: 3.x reads a negative limit as 0, and an existing queue redeclared with
another argument is refused (PRECONDITION_FAILED). So on RabbitMQ 4 the
operators set a policy with ``delivery-limit`` -1 on them (docs/reliability.md),
and the command warns when it talks to a 4.x broker.

Every broker call is bounded: opening the connection by ``timeout`` (socket,
handshake, a blocked connection), each call on it by a heartbeat of about
``timeout`` seconds (pika checks it while it waits for a reply, so a broker
gone silent, say a blackholed network path, fails the call after two check
intervals, about 2 × (heartbeat + 5) s, instead of never), and the depth
check the worker and ``/metrics`` run by ``timeout`` in all.

The ``dead_letter_messages`` gauge of ``/metrics`` is in common/http/metrics.py.

Operators: ``python -m common.messaging.dead_letters list|show|replay
--service <package>`` with the service's own environment (``AMQP_URL``,
``EXCHANGE``); see docs/reliability.md.
"""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
import sys
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Collection, Iterable, Iterator, TypeVar

import pika
from pika.exceptions import AMQPError, ChannelClosedByBroker, UnroutableError

from common.threads import in_daemon_thread

from .broker import BrokerUnavailable, Topology, connect, redact

log = logging.getLogger(__name__)

# What the broker and the consumer add when they dead-letter a message; a
# replayed message goes out without them, as it first did (with ``x-replays``).
_DEATH_HEADERS = ("x-death", "x-first-death-", "x-last-death-", "x-delivery-count")
_CONSUMER_HEADERS = ("x-error", "x-original-routing-key", "x-original-queue", "x-dead-lettered-at")
REPLAYS_HEADER = "x-replays"
NOT_FOUND = 404
DEFAULT_DELIVERY_LIMIT_SINCE = 4  # the first RabbitMQ major version that limits every quorum queue's deliveries
T = TypeVar("T")


def consumer_names(service: str) -> tuple[str, ...]:
    """The consumers the worker of ``service`` (its package) runs, each with its
    own queue: the keys of ``<service>.events.CONSUMERS`` (there, not in the
    worker module, so that the web process need not import its worker); none
    for a service that consumes nothing."""
    try:
        events = importlib.import_module(f"{service}.events")
    except ModuleNotFoundError as exc:
        if exc.name not in (service, f"{service}.events"):
            raise
        return ()
    return tuple(getattr(events, "CONSUMERS", {}))


def server_major_version(connection: pika.BlockingConnection) -> int | None:
    """The major version of the RabbitMQ at the other end (its ``version``
    server property), None if it does not say. BlockingConnection does not
    expose the server properties, so they are read from the connection it wraps."""
    properties = getattr(getattr(connection, "_impl", None), "server_properties", None) or {}
    version = _text(properties.get("version")) or ""
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _instant(value: Any) -> str | None:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return _text(value)


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message, as an operator reads it."""

    queue: str  # the dead-letter queue that holds it
    source: str  # the queue it was dead-lettered from, where a replay sends it
    properties: pika.BasicProperties
    body: bytes

    @classmethod
    def of(cls, queue: str, properties: pika.BasicProperties, body: bytes) -> "DeadLetter":
        return cls(queue, Topology.dead_letter_source(queue), properties, body)

    @property
    def headers(self) -> dict[str, Any]:
        return dict(self.properties.headers or {})

    @property
    def _death(self) -> dict[str, Any]:
        deaths = self.headers.get("x-death")
        return deaths[0] if isinstance(deaths, list) and deaths and isinstance(deaths[0], dict) else {}

    @property
    def envelope(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    @property
    def message_id(self) -> str | None:
        return self.properties.message_id or _text((self.envelope or {}).get("id"))

    @property
    def tipo(self) -> str | None:
        return _text((self.envelope or {}).get("tipo"))

    @property
    def routing_key(self) -> str | None:
        keys = self._death.get("routing-keys")
        return (_text(self.headers.get("x-original-routing-key"))
                or (_text(keys[0]) if isinstance(keys, list) and keys else None)
                or self.properties.type)

    @property
    def reason(self) -> str:
        """The consumer's reason (``x-error``), else the broker's (``delivery_limit``, ``rejected``...)."""
        return _text(self.headers.get("x-error")) or _text(self._death.get("reason")) or "unknown"

    @property
    def dead_lettered_at(self) -> str | None:
        return _instant(self.headers.get("x-dead-lettered-at") or self._death.get("time"))

    @property
    def replays(self) -> int:
        value = self.headers.get(REPLAYS_HEADER)
        return value if isinstance(value, int) and not isinstance(value, bool) else 0

    def summary(self) -> dict[str, Any]:
        return {"id": self.message_id, "tipo": self.tipo, "routing_key": self.routing_key, "reason": self.reason,
                "dead_lettered_at": self.dead_lettered_at, "replays": self.replays, "queue": self.source}

    def details(self) -> dict[str, Any]:
        """Everything about it, JSON-ready: the summary, its headers and its body."""
        envelope = self.envelope
        return {**self.summary(), "dead_letter_queue": self.queue,
                "correlation_id": self.properties.correlation_id, "app_id": self.properties.app_id,
                "headers": json.loads(json.dumps(self.headers, default=_instant)),
                "body": envelope if envelope is not None else self.body.decode("utf-8", "replace")}

    def replay_properties(self) -> pika.BasicProperties:
        """Its properties as first published, plus how many times it was replayed."""
        headers = {k: v for k, v in self.headers.items()
                   if not k.startswith(_DEATH_HEADERS) and k not in _CONSUMER_HEADERS}
        headers[REPLAYS_HEADER] = self.replays + 1
        p = self.properties
        return pika.BasicProperties(
            content_type=p.content_type, content_encoding=p.content_encoding, headers=headers,
            delivery_mode=pika.DeliveryMode.Persistent, correlation_id=p.correlation_id, message_id=p.message_id,
            timestamp=p.timestamp, type=p.type, app_id=p.app_id)


@dataclass
class Replayed:
    """What a replay did: the messages sent back to their queue, and those kept
    in the dead-letter queue because their queue no longer exists."""

    replayed: list[DeadLetter] = field(default_factory=list)
    kept: list[DeadLetter] = field(default_factory=list)

    @property
    def ids(self) -> list[str | None]:
        return [d.message_id for d in self.replayed]


class DeadLetters:
    """The dead-letter queues of some consumer queues, on one broker. Every
    call opens its own short connection (nothing is held between calls)."""

    def __init__(self, amqp_url: str, queues: Iterable[str], name: str = "dead-letters", timeout: float = 5.0):
        self.amqp_url = amqp_url
        self.queues = list(queues)
        self.name = name
        self.timeout = timeout
        self.server_version: int | None = None  # the broker's major version, once a connection told it

    @classmethod
    def of_service(cls, amqp_url: str, exchange: str, service: str, consumers: Iterable[str] | None = None,
                   timeout: float = 5.0) -> "DeadLetters":
        """A service's consumers' dead letters (all of them, or only ``consumers``)."""
        topology = Topology(exchange)
        names = consumer_names(service) if consumers is None else tuple(consumers)
        return cls(amqp_url, [topology.queue_name(service, c) for c in names], name=f"{service}.dead-letters",
                   timeout=timeout)

    @property
    def dead_letter_queues(self) -> list[str]:
        return [Topology.dead_letter_queue(q) for q in self.queues]

    @property
    def heartbeat(self) -> int:
        """The heartbeat of every connection (whole seconds, at least 1): what
        bounds a call on a broker that went silent."""
        return max(1, math.ceil(self.timeout))

    @contextmanager
    def _connection(self) -> Iterator[pika.BlockingConnection]:
        connection = connect(self.amqp_url, self.name, heartbeat=self.heartbeat, timeout=self.timeout)
        self.server_version = server_major_version(connection)
        try:
            yield connection
        finally:
            if connection.is_open:
                try:
                    connection.close()
                except AMQPError:
                    pass

    @staticmethod
    def _depth(connection: pika.BlockingConnection, queue: str) -> int | None:
        """Messages ready in ``queue`` (a passive declare: nothing is created);
        None when it does not exist (its worker never ran)."""
        channel = connection.channel()
        try:
            return channel.queue_declare(queue, passive=True).method.message_count
        except ChannelClosedByBroker as exc:
            if exc.reply_code == NOT_FOUND:
                return None
            raise
        finally:
            if channel.is_open:
                channel.close()

    def depths(self) -> dict[str, int | None]:
        """Each dead-letter queue's number of messages (None: no such queue);
        BrokerUnavailable if the broker has not answered within ``timeout``."""
        return self._within(self.timeout, self._read_depths)

    def _read_depths(self) -> dict[str, int | None]:
        with self._connection() as connection:
            return {dlq: self._depth(connection, dlq) for dlq in self.dead_letter_queues}

    def _within(self, seconds: float, call: Callable[[], T]) -> T:
        """``call()``'s answer, or BrokerUnavailable once ``seconds`` have
        passed without one. It runs in a thread of its own, with its own
        connection; left behind, that thread ends when the heartbeat gives up
        on the silent broker (it then closes its socket)."""
        answer = in_daemon_thread(call, name=f"{self.name} check")
        done, _ = futures.wait([answer], timeout=seconds)
        if not done:
            raise BrokerUnavailable(f"RabbitMQ at {redact(self.amqp_url)} did not answer within {seconds:g}s")
        return answer.result()

    def _selected(self, queue: str | None) -> list[str]:
        if queue is None:
            return self.dead_letter_queues
        dlq = queue if queue in self.dead_letter_queues else Topology.dead_letter_queue(queue)
        if dlq not in self.dead_letter_queues:
            raise ValueError(f"{queue!r} is none of {', '.join(self.queues) or 'no queue'}")
        return [dlq]

    @staticmethod
    def _take(channel, dlq: str, depth: int) -> Iterator[tuple[Any, DeadLetter]]:
        """Up to ``depth`` messages of ``dlq``, unacknowledged (bounded by the
        depth read first: a replayed message that comes back is not seen twice).
        Each stays unacknowledged until ``_give_back``, so the next one taken is
        the next in the queue."""
        for _ in range(depth):
            method, properties, body = channel.basic_get(dlq, auto_ack=False)
            if method is None:
                return
            yield method, DeadLetter.of(dlq, properties, body)

    @staticmethod
    def _give_back(channel, last_unacked: int | None) -> None:
        """Return to the queue, in one nack, every message taken on ``channel``
        and not acknowledged, up to the delivery tag ``last_unacked`` (the
        broker refuses a tag already acknowledged). An explicit return, which
        RabbitMQ 4.3 and later do not count as a failed delivery, unlike a
        closed channel."""
        if last_unacked is not None:
            channel.basic_nack(last_unacked, multiple=True, requeue=True)

    def browse(self, limit: int = 100, queue: str | None = None) -> list[DeadLetter]:
        """Up to ``limit`` messages of each dead-letter queue, left where they are."""
        found: list[DeadLetter] = []
        with self._connection() as connection:
            for dlq in self._selected(queue):
                depth = self._depth(connection, dlq)
                if not depth:
                    continue
                channel = connection.channel()
                try:
                    taken = list(self._take(channel, dlq, min(depth, limit)))
                    self._give_back(channel, taken[-1][0].delivery_tag if taken else None)
                    found += [dead for _method, dead in taken]
                finally:
                    if channel.is_open:
                        channel.close()  # anything still taken goes back to the queue
        return found

    def find(self, message_id: str, queue: str | None = None) -> DeadLetter | None:
        for dead in self.browse(limit=sys.maxsize, queue=queue):
            if dead.message_id == message_id:
                return dead
        return None

    def replay(self, message_ids: Collection[str] | None = None, queue: str | None = None) -> Replayed:
        """Send back to its queue every dead letter (``message_ids`` None) or
        those with these ids; each is removed from the dead-letter queue once
        the broker confirmed it on its queue."""
        wanted = None if message_ids is None else set(message_ids)
        result = Replayed()
        with self._connection() as connection:
            for dlq in self._selected(queue):
                depth = self._depth(connection, dlq)
                if not depth:
                    continue
                channel = connection.channel()
                channel.confirm_delivery()
                unacked = None  # the last message taken and kept (all of them go back in one nack)
                try:
                    for method, dead in self._take(channel, dlq, depth):
                        if wanted is not None and dead.message_id not in wanted:
                            unacked = method.delivery_tag
                            continue  # not asked for: given back below
                        try:
                            channel.basic_publish("", dead.source, dead.body, dead.replay_properties(),
                                                  mandatory=True)
                        except UnroutableError:
                            log.error("dead letter %s kept: its queue %s does not exist", dead.message_id,
                                      dead.source)
                            result.kept.append(dead)
                            unacked = method.delivery_tag
                            continue
                        channel.basic_ack(method.delivery_tag)
                        result.replayed.append(dead)
                        log.info("replayed dead letter %s (%s) to %s", dead.message_id, dead.tipo, dead.source)
                        if wanted is not None and wanted <= set(result.ids):
                            break
                    self._give_back(channel, unacked)  # those kept or not asked for
                finally:
                    if channel.is_open:
                        channel.close()
                if wanted is not None and wanted <= set(result.ids):
                    break
        return result


class DeadLetterWatch:
    """A worker's periodic look at its dead-letter queues: one warning line for
    each that is not empty. One short connection per look (``Periodic``
    calls it every ``DEAD_LETTER_CHECK_INTERVAL`` seconds, 60 by default),
    so an idle worker stays idle."""

    def __init__(self, dead_letters: DeadLetters, service: str):
        self.dead_letters = dead_letters
        self.service = service

    def __call__(self) -> dict[str, int | None]:
        try:
            depths = self.dead_letters.depths()
        except (BrokerUnavailable, AMQPError, OSError) as exc:
            log.info("dead-letter check skipped, broker unavailable: %s", exc)
            return {}
        for dlq, depth in depths.items():
            if depth:
                log.warning("dead-letter queue %s holds %d message(s); inspect and replay them with "
                            "`python -m common.messaging.dead_letters list --service %s`",
                            dlq, depth, self.service, extra={"queue": dlq, "dead_letters": depth})
        return depths


# -- the operators' command ----------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m common.messaging.dead_letters",
        description="List, inspect and replay a service's dead-lettered messages. The broker and exchange "
                    "come from the service's environment (AMQP_URL or CLOUDAMQP_URL, EXCHANGE).")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=text, description=text)
        sub.add_argument("--service", required=True, help="the service's package, e.g. incidencias_resolucion")
        sub.add_argument("--consumer", action="append",
                         help="only this consumer's queue (repeatable; default: every consumer of the service)")
        sub.add_argument("--exchange", help="the exchange (default: EXCHANGE, else incidencias)")
        return sub

    listing = command("list", "the depth of each dead-letter queue and a line per message")
    listing.add_argument("--limit", type=int, default=100, help="messages shown per queue (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON document instead of text")
    show = command("show", "one dead-lettered message: its reason, headers and body")
    show.add_argument("message_id")
    replay = command("replay", "send dead-lettered messages back to their queue (consumers are idempotent)")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("message_ids", nargs="*", default=[], metavar="MESSAGE_ID")
    which.add_argument("--all", action="store_true", help="every message of the selected queues")
    return parser


def delivery_limit_warning(dead_letters: DeadLetters) -> str | None:
    """What an operator must know on RabbitMQ 4, where the ``.dlq`` queues'
    messages would be dropped after 20 returns unless a policy lifts the limit."""
    version = dead_letters.server_version
    if version is None or version < DEFAULT_DELIVERY_LIMIT_SINCE:
        return None
    return (f"warning: RabbitMQ {version}.x limits every quorum queue to 20 deliveries by default, and a .dlq has "
            f"no dead-letter exchange: a message returned more often (by looks at it before 4.3, by lost "
            f"connections) is dropped. Unless a policy sets delivery-limit -1 on "
            f"{', '.join(dead_letters.dead_letter_queues)}, set one: see docs/reliability.md, "
            f"'On RabbitMQ 4 the .dlqs need a policy'.")


def main(argv: list[str] | None = None, out=None) -> int:
    from common.config import Settings

    out = out or sys.stdout
    args = _parser().parse_args(argv)
    if args.command == "replay" and not args.all and not args.message_ids:
        _parser().error("name the MESSAGE_IDs to replay, or --all")
    settings = Settings(service_name=args.service)
    dead_letters = DeadLetters.of_service(settings.amqp_url, args.exchange or settings.exchange, args.service,
                                          args.consumer)
    if not dead_letters.queues:
        print(f"{args.service} consumes no queue (name one with --consumer)", file=sys.stderr)
        return 2
    try:
        return _run(args, dead_letters, out)
    except BrokerUnavailable as exc:
        print(str(exc), file=sys.stderr)
        return 3
    finally:
        warning = delivery_limit_warning(dead_letters)
        if warning:
            print(warning, file=sys.stderr)


def _run(args: argparse.Namespace, dead_letters: DeadLetters, out) -> int:
    if args.command == "list":
        depths = dead_letters.depths()
        messages = dead_letters.browse(limit=args.limit)
        if args.json:
            json.dump({"queues": depths, "messages": [m.summary() for m in messages]}, out, indent=2,
                      ensure_ascii=False)
            out.write("\n")
            return 0
        for dlq, depth in depths.items():
            print(f"{dlq}: {'no such queue' if depth is None else f'{depth} message(s)'}", file=out)
            for m in (m for m in messages if m.queue == dlq):
                print(f"  {m.message_id}  {m.tipo or m.routing_key}  {m.dead_lettered_at or '-'}  "
                      f"replays={m.replays}  {m.reason}", file=out)
        return 0
    if args.command == "show":
        found = dead_letters.find(args.message_id)
        if found is None:
            print(f"no dead letter {args.message_id} in {', '.join(dead_letters.dead_letter_queues)}",
                  file=sys.stderr)
            return 1
        json.dump(found.details(), out, indent=2, ensure_ascii=False)
        out.write("\n")
        return 0
    result = dead_letters.replay(None if args.all else args.message_ids)
    for m in result.replayed:
        print(f"replayed {m.message_id} ({m.tipo or m.routing_key}) to {m.source}", file=out)
    for m in result.kept:
        print(f"kept {m.message_id}: its queue {m.source} does not exist", file=out)
    missing = [] if args.all else sorted(
        set(args.message_ids) - set(result.ids) - {m.message_id for m in result.kept})
    for message_id in missing:
        print(f"not found: {message_id}", file=sys.stderr)
    print(f"{len(result.replayed)} replayed, {len(result.kept)} kept, {len(missing)} not found", file=out)
    return 1 if result.kept or missing else 0


if __name__ == "__main__":
    sys.exit(main())
