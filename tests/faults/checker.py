"""A Jepsen-style checker for fault runs.

It keeps the history of a run (every write attempted and every attempt's
answer, every event the test published straight to the exchange, every
message the tap saw on the exchange), then, once the fault is over, polls
both incident replicas until each incident is in the state the history says
it must reach, and classifies:

- every **write** attempted (an incident opened, a comment, a transition),
  whatever its answers were: *acknowledged* (some attempt was answered 2xx,
  and it is there), *lost* (acknowledged, and it is not there), *refused*
  (no attempt was answered 2xx, and it is not there: fine) or
  *indeterminate* (never acknowledged, an error or no answer, but there
  after all; counted and reported apart). Each write carries a marker of
  its own (see ``load.py``), so a write that got no answer can be found;
- every **incident** a write made (acknowledged or indeterminate) as
  *delivered* (both replicas hold it in the expected state, identical),
  *lost* (a replica lacks it or never reached that state) or *corrupted*
  (a replica went past it: a version or a historial entry more than the
  history explains, or the replicas disagree); an incident either service
  holds that no write made, a second incident for one write, or a comment
  no write made is a *phantom*;
- every **event** (by id) as *delivered* (its consumer's replica holds its
  effect: the snapshot's version or a later one, the comment's id, or the
  effect ``EFFECTS`` names for its tipo) or *lost*; an event whose effect
  the checker cannot judge is *unjudged* (a problem, never "applied" by
  default); a message without a message id, or whose id is not its
  envelope's, is *unidentified*; an event seen more than once on the
  exchange, or published again by the test, is *duplicated*, and
  *harmless* when its incident is delivered with exactly one historial
  entry per version.

Versions make the classification exact: every state change adds one
version and one historial entry, so a duplicate that changed anything
shows as an extra version or entry.

``Report.assert_sound`` raises the class of the one kind of problem found
(``Lost``, ``Corrupted``, ``Phantom``, ``Unidentified``, ``Unjudged``), or
``Unsound`` when there are several: a strict ``xfail`` names the exact one it
expects, so that a timeout of the harness (an ``AssertionError``) or any
other failure cannot pass for it.
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

import httpx

from harness import Account, Driver
from incidencias_dominio import EVENTO_CANCELACION_SOLICITADA

from .load import COMMENT, OPEN, TRANSITION, Write, marked, marker_of, new_marker
from .tap import Seen, Tap

APERTURA_ORIGIN = "incidencias_apertura"
WRITE_CLASSES = ("acknowledged", "lost", "refused", "indeterminate")


class Unsound(AssertionError):
    """The checker's verdict on a run: something acknowledged did not arrive,
    or something is there that should not be. Its subclasses name one kind."""


class Lost(Unsound):
    """An acknowledged write, an incident's state or an event did not arrive."""


class Corrupted(Unsound):
    """A replica went past what the history explains, or the replicas disagree."""


class Phantom(Unsound):
    """Something is there that no write made."""


class Unidentified(Unsound):
    """A message on the exchange without a message id, or with another id than its envelope's."""


class Unjudged(Unsound):
    """An event whose effect the checker does not know how to look for."""


VERDICTS: dict[str, type[Unsound]] = {"lost": Lost, "corrupted": Corrupted, "phantom": Phantom,
                                      "unidentified": Unidentified, "unjudged": Unjudged}


@dataclass(frozen=True)
class Problem:
    kind: str  # a key of VERDICTS
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


def percentile(values: list[float], pct: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 1)


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _cancellation_applied(_message: Seen, view: dict) -> bool:
    return any(entry["a"] == "cancelada" for entry in view["historial"])


# How to see that an event carrying neither a snapshot nor a comment was
# applied, by tipo. An event of a tipo not named here is never counted as applied.
EFFECTS: dict[str, Callable[[Seen, dict], bool]] = {EVENTO_CANCELACION_SOLICITADA: _cancellation_applied}


@dataclass
class Expected:
    estado: str = "asignada"
    version: int = 2


@dataclass
class Injected:
    """An event the test published itself, and what it must (not) change."""

    message_id: str
    tipo: str
    kind: str  # duplicate (same id again) | replay (same content, new id) | poison
    copies: int = 1


@dataclass
class Report:
    scenario: str
    writes: dict[str, list[str]]  # write class -> markers
    incidents: dict[str, list[str]]
    events: dict[str, Any]
    requests: dict[str, Any]
    propagation: dict[str, Any]
    problems: list[Problem]
    extra: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> dict[str, Any]:
        return {
            "writes": {"attempted": sum(len(v) for v in self.writes.values()),
                       **{k: len(self.writes[k]) for k in WRITE_CLASSES}},
            "requests": self.requests,
            "incidents": {k: len(v) for k, v in self.incidents.items()},
            "events": {k: v for k, v in self.events.items() if not k.endswith("_ids")},
            "open_to_assigned_ms": self.propagation,
            **self.extra,
        }

    def assert_sound(self) -> None:
        """Nothing lost, nothing corrupted, no phantom, every message identified
        and judged, every duplicate harmless."""
        if not self.problems:
            return
        kinds = {p.kind for p in self.problems}
        verdict = VERDICTS[next(iter(kinds))] if len(kinds) == 1 else Unsound
        raise verdict(f"{self.scenario}: " + "\n".join(str(p) for p in self.problems[:20]))


class Checker:
    def __init__(self, scenario: str, api: Driver, tap: Tap, clientes: list[Account], staff_token: str,
                 categoria: str):
        self.scenario = scenario
        self.api = api
        self.tap = tap
        self.clientes = clientes
        self.staff_token = staff_token
        self.categoria = categoria
        self.writes: dict[str, Write] = {}  # by marker
        self.expected: dict[str, Expected] = {}
        self.injected: list[Injected] = []

    # -- history ---------------------------------------------------------------
    def add_requests(self, writes: list[Write]) -> None:
        """Writes made elsewhere (a Load), each with its attempts."""
        for write in writes:
            self._add(write)

    def _add(self, write: Write) -> Write:
        known = self.writes.setdefault(write.marker, write)
        if known is not write:
            raise ValueError(f"two writes carry the marker {write.marker}")
        return write

    def expect(self, incidencia_id: str, expected: Expected) -> None:
        self.expected[incidencia_id] = expected

    def inject(self, message_id: str, tipo: str, kind: str, copies: int = 1) -> None:
        self.injected.append(Injected(message_id, tipo, kind, copies))

    # -- writes made through the checker (recorded whatever their answer) ----------
    def open(self, cliente: Account, *, key: str | None = None, **fields: Any) -> httpx.Response:
        """POST /incidencias in the checker's category. With ``key`` (its
        Idempotency-Key and marker) a second call is another attempt of the
        same write, with the same body."""
        marker = key or new_marker()
        write = self.writes.get(marker) or self._add(Write(OPEN, marker, key=key, cliente=cliente))
        fields.setdefault("descripcion", marked("Abierta bajo fallos", marker))
        return self._send(write, lambda: self.api.open_incidencia(cliente, self.categoria, key=key, **fields))

    def comment(self, service: str, incidencia_id: str, token: str, texto: str = "Comentario") -> httpx.Response:
        write = self._add(Write(COMMENT, new_marker(), incidencia_id=incidencia_id))
        return self._send(write, lambda: self.api.call(
            "POST", service, f"/incidencias/{incidencia_id}/comentarios", token=token,
            json={"texto": marked(texto, write.marker)}))

    def transition(self, service: str, incidencia_id: str, action: str, estado: str, token: str,
                   body: dict | None = None) -> httpx.Response:
        """POST /incidencias/{id}/{action}, which takes the incident to ``estado``."""
        write = self._add(Write(TRANSITION, new_marker(), incidencia_id=incidencia_id, estado=estado))
        return self._send(write, lambda: self.api.call(
            "POST", service, f"/incidencias/{incidencia_id}/{action}", token=token, json=body))

    @staticmethod
    def _send(write: Write, call: Callable[[], httpx.Response]) -> httpx.Response:
        started = time.monotonic()
        try:
            response = call()
        except httpx.HTTPError as exc:
            write.record(started, error=exc)
            raise
        write.record(started, response)
        return response

    # -- observation -------------------------------------------------------------
    def _read(self) -> tuple[dict[str, dict], dict[str, dict]]:
        return (self.api.customer_incidencias(self.clientes),
                self.api.staff_incidencias(self.staff_token, self.categoria))

    def _made(self, mine: dict[str, dict], staff: dict[str, dict]) -> dict[str, set[str]]:
        """Each OPEN write's marker -> the incidents either service holds that
        it made (the one its answer named, and any carrying its marker)."""
        carrying: dict[str | None, set[str]] = {}
        for view in (mine, staff):
            for incidencia_id, incidencia in view.items():
                carrying.setdefault(marker_of(incidencia["descripcion"]), set()).add(incidencia_id)
        made = {}
        for write in self.writes.values():
            if write.kind == OPEN:
                answered = {i for i in write.answered_ids if i in mine or i in staff}
                made[write.marker] = answered | carrying.get(write.marker, set())
        return made

    def _scope(self, mine: dict[str, dict], staff: dict[str, dict]) -> set[str]:
        """The incidents that must converge: every one an OPEN write was
        answered with or made, and every one the test named."""
        scope = set(self.expected)
        for write in self.writes.values():
            if write.kind == OPEN:
                scope |= set(write.answered_ids)
        for ids in self._made(mine, staff).values():
            scope |= ids
        return scope

    def _incident_problem(self, incidencia_id: str, mine: dict | None, staff: dict | None) -> Problem | None:
        """None if both replicas hold the incident as expected; else why not."""
        expected = self.expected.get(incidencia_id, Expected())
        for side, view in (("apertura", mine), ("resolucion", staff)):
            if view is None:
                return Problem("lost", f"{incidencia_id} missing in {side}")
            if view["version"] > expected.version or len(view["historial"]) != view["version"]:
                return Problem("corrupted", f"{incidencia_id} in {side} has version {view['version']} and "
                                            f"{len(view['historial'])} historial entries (expected {expected.version})")
            if (view["estado"], view["version"]) != (expected.estado, expected.version):
                return Problem("lost", f"{incidencia_id} in {side} is {view['estado']} v{view['version']}, "
                                       f"expected {expected.estado} v{expected.version}")
        public = sorted(c["id"] for c in staff["comentarios"] if not c.get("interna"))
        if ((mine["estado"], mine["version"], (mine["asignada_a"] or {}).get("id"), mine["historial"],
             sorted(c["id"] for c in mine["comentarios"]))
                != (staff["estado"], staff["version"], (staff["asignada_a"] or {}).get("id"), staff["historial"],
                    public)):
            return Problem("corrupted", f"the replicas of {incidencia_id} disagree")
        return None

    def converge(self, timeout: float = 60.0) -> Report:
        """Poll both replicas until every incident in scope is as expected
        (or the deadline passes), let the outboxes drain, then classify."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                mine, staff = self._read()
                pending = [i for i in self._scope(mine, staff) if self._incident_problem(i, mine.get(i), staff.get(i))]
                if not pending or time.monotonic() > deadline:
                    break
            except Exception:  # noqa: BLE001 - a replica may still be recovering
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.25)  # the polling interval, within the deadline above
        self.api.settle(timeout=max(10.0, deadline - time.monotonic()))
        self.tap.wait_quiet(quiet=1.0, timeout=20.0)
        mine, staff = self._read()
        return self._classify(mine, staff)

    # -- classification ------------------------------------------------------------
    def _classify(self, mine: dict[str, dict], staff: dict[str, dict]) -> Report:
        problems: list[Problem] = []
        writes = self._classify_writes(mine, staff, problems)
        scope = self._scope(mine, staff)
        incidents: dict[str, list[str]] = {"delivered": [], "lost": [], "corrupted": [], "phantom": []}
        for incidencia_id in sorted(scope):
            problem = self._incident_problem(incidencia_id, mine.get(incidencia_id), staff.get(incidencia_id))
            if problem is None:
                incidents["delivered"].append(incidencia_id)
            else:
                incidents[problem.kind].append(incidencia_id)
                problems.append(problem)
        self._find_phantoms(mine, staff, scope, incidents, problems)
        events = self._classify_events(mine, staff, scope, incidents, problems)
        return Report(self.scenario, writes, incidents, events, self._request_figures(),
                      self._propagation(staff, scope), problems)

    def _classify_writes(self, mine: dict[str, dict], staff: dict[str, dict],
                         problems: list[Problem]) -> dict[str, list[str]]:
        classes: dict[str, list[str]] = {k: [] for k in WRITE_CLASSES}
        made = self._made(mine, staff)
        for write in self.writes.values():
            if write.kind == OPEN:
                present = self._open_present(write, made[write.marker], mine, problems)
            elif write.kind == COMMENT:
                present = self._comment_present(write, mine, staff, problems)
            else:
                present = any(entry["a"] == write.estado for view in (mine, staff)
                              for entry in (view.get(write.incidencia_id) or {}).get("historial", []))
            if write.acknowledged:
                verdict = "acknowledged" if present else "lost"
            else:
                verdict = "indeterminate" if present else "refused"
            classes[verdict].append(write.marker)
            if verdict == "lost":
                answers = ", ".join(str(a.status) for a in write.attempts)
                problems.append(Problem("lost", f"{write.kind} {write.marker} ({write.incidencia_id}) was "
                                                f"acknowledged (answers: {answers}) and is not there"))
        return classes

    @staticmethod
    def _open_present(write: Write, made: set[str], mine: dict[str, dict], problems: list[Problem]) -> bool:
        """Whether the incident a POST /incidencias made is in apertura, where it was written."""
        if len(set(write.answered_ids)) > 1:
            problems.append(Problem("phantom", f"{write.marker} was answered with {len(set(write.answered_ids))} "
                                               f"different incidents: {sorted(set(write.answered_ids))}"))
        if write.acknowledged:
            extra = made - {write.incidencia_id}
            present = write.incidencia_id in mine
        else:
            extra = set(sorted(made)[1:])
            present = any(i in mine for i in made)
        for incidencia_id in sorted(extra):
            problems.append(Problem("phantom", f"{incidencia_id} is a second incident made by {write.marker}"))
        return present

    @staticmethod
    def _comment_present(write: Write, mine: dict[str, dict], staff: dict[str, dict],
                         problems: list[Problem]) -> bool:
        present = False
        for side, view in (("apertura", mine), ("resolucion", staff)):
            copies = [c for c in (view.get(write.incidencia_id) or {}).get("comentarios", [])
                      if marker_of(c["texto"]) == write.marker]
            if len(copies) > 1:
                problems.append(Problem("corrupted", f"the comment {write.marker} is in {side} "
                                                     f"{len(copies)} times ({write.incidencia_id})"))
            present = present or bool(copies)
        return present

    def _find_phantoms(self, mine: dict[str, dict], staff: dict[str, dict], scope: set[str],
                       incidents: dict[str, list[str]], problems: list[Problem]) -> None:
        """Incidents in either service that no write made, and comments on
        the incidents in scope that no write made."""
        for side, view in (("apertura", mine), ("resolucion", staff)):
            for incidencia_id in sorted(set(view) - scope):
                incidents["phantom"].append(incidencia_id)
                problems.append(Problem("phantom", f"{incidencia_id} is in {side} but no write made it"))
        markers = {w.marker for w in self.writes.values() if w.kind == COMMENT}
        for side, view in (("apertura", mine), ("resolucion", staff)):
            for incidencia_id in sorted(scope & set(view)):
                for comentario in view[incidencia_id]["comentarios"]:
                    if marker_of(comentario["texto"]) not in markers:
                        problems.append(Problem("phantom", f"comment {comentario['id']} on {incidencia_id} in "
                                                           f"{side} was made by no write"))

    def _classify_events(self, mine, staff, scope: set[str], incidents, problems: list[Problem]) -> dict[str, Any]:
        seen = self.tap.snapshot()
        injected_ids = {i.message_id for i in self.injected}
        replayed_ids = {i.message_id for i in self.injected if i.kind != "duplicate"}
        delivered, lost, unjudged, duplicated, harmful = [], [], [], 0, 0
        by_version: dict[tuple[str, int], set[str]] = {}
        in_scope: list[Seen] = []
        anonymous = self.tap.anonymous_snapshot()
        for message in anonymous:
            envelope = message.envelope or {}
            problems.append(Problem("unidentified", f"a message without a message id on {message.routing_key} "
                                                    f"from {message.origin} (envelope id {envelope.get('id')!r}, "
                                                    f"incident {self._incident_of(message)!r})"))
        for message in seen.values():
            envelope_id = (message.envelope or {}).get("id")
            if message.message_id not in injected_ids and envelope_id != message.message_id:
                problems.append(Problem("unidentified", f"message {message.message_id} on {message.routing_key} "
                                                        f"carries the envelope of event {envelope_id!r}"))
            incidencia_id = self._incident_of(message)
            if incidencia_id not in scope:
                continue
            in_scope.append(message)
            consumer = staff if message.origin == APERTURA_ORIGIN else mine
            applied = self._applied(message, consumer.get(incidencia_id))
            if applied is None:
                unjudged.append(message.message_id)
                problems.append(Problem("unjudged", f"{message.routing_key} {message.message_id} of {incidencia_id} "
                                                    "carries neither a snapshot nor a comment, and EFFECTS names "
                                                    "no effect for it: it is not counted as applied"))
            elif applied:
                delivered.append(message.message_id)
            else:
                lost.append(message.message_id)
                problems.append(Problem("lost", f"event {message.routing_key} {message.message_id} of "
                                                f"{incidencia_id} was not applied"))
            # Extra copies on the exchange (a relay publishing again, or the test
            # publishing the same message again), and the test's replays of an
            # event under a new id: both must change nothing.
            extra_copies = message.copies - 1 + (1 if message.message_id in replayed_ids else 0)
            if extra_copies > 0:
                duplicated += extra_copies
                if incidencia_id not in incidents["delivered"]:
                    harmful += extra_copies
            snapshot = message.snapshot
            if snapshot and message.message_id not in replayed_ids:
                by_version.setdefault((incidencia_id, snapshot.get("version")), set()).add(message.message_id)
        # Every incident in scope published one event per version it reached.
        for incidencia_id in sorted(scope):
            expected = self.expected.get(incidencia_id, Expected())
            for version in range(1, expected.version + 1):
                ids = by_version.get((incidencia_id, version), set())
                if not ids:
                    problems.append(Problem("lost", f"no event on the exchange for {incidencia_id} v{version}"))
                    lost.append(f"{incidencia_id}@v{version}")
                elif len(ids) > 1:
                    problems.append(Problem("corrupted", f"{len(ids)} different events for {incidencia_id} "
                                                         f"v{version}"))
                    harmful += 1
        return {
            "published": len([m for m in in_scope if m.message_id not in replayed_ids]),
            "copies_on_exchange": sum(m.copies for m in in_scope),
            "injected": sum(i.copies for i in self.injected),
            "delivered": len(delivered),
            "lost": len(lost),
            "unjudged": len(unjudged),
            "without_message_id": len(anonymous),
            "duplicated": duplicated,
            "duplicated_harmful": harmful,
            "lost_ids": lost,
        }

    @staticmethod
    def _incident_of(message: Seen) -> str | None:
        snapshot = message.snapshot
        if snapshot is not None:
            return snapshot.get("id")
        datos = (message.envelope or {}).get("datos")
        return datos.get("incidencia_id") if isinstance(datos, dict) else None

    @staticmethod
    def _applied(message: Seen, view: dict | None) -> bool | None:
        """Whether the consumer's replica holds the event's effect; None when
        the checker cannot tell (never counted as applied)."""
        if view is None:
            return False
        snapshot = message.snapshot
        if snapshot is not None:
            return view["version"] >= snapshot.get("version", 0)
        datos = (message.envelope or {}).get("datos") or {}
        comentario = datos.get("comentario") if isinstance(datos.get("comentario"), dict) else None
        if comentario is not None:
            return comentario.get("id") in {c["id"] for c in view["comentarios"]}
        effect = EFFECTS.get(message.routing_key)
        return None if effect is None else effect(message, view)

    def _request_figures(self) -> dict[str, Any]:
        attempts = [a for w in self.writes.values() for a in w.attempts]
        statuses: dict[str, int] = {}
        for attempt in attempts:
            key = str(attempt.status) if attempt.status is not None else "no answer"
            statuses[key] = statuses.get(key, 0) + 1
        latencies = [a.latency for a in attempts if a.status is not None]
        return {
            "made": len(attempts),
            "attempts_by_answer": dict(sorted(statuses.items())),
            "latency_ms": {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99)),
                           "max": ms(max(latencies) if latencies else None)},
        }

    @staticmethod
    def _propagation(staff: dict[str, dict], scope: set[str]) -> dict[str, Any]:
        delays = []
        for incidencia_id in scope:
            view = staff.get(incidencia_id)
            if view and len(view["historial"]) >= 2 and view["historial"][1]["a"] == "asignada":
                delays.append((_instant(view["historial"][1]["en"]) - _instant(view["creada_en"])).total_seconds())
        return {"p50": ms(percentile(delays, 50)), "p99": ms(percentile(delays, 99)),
                "max": ms(max(delays) if delays else None),
                "mean": ms(statistics.fmean(delays) if delays else None)}


def describe(report: Report) -> str:
    return json.dumps({"scenario": report.scenario, **report.figures()}, indent=2, ensure_ascii=False)
