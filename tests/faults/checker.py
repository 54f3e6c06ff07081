"""A Jepsen-style checker for fault runs.

It keeps the history of a run (every request and its answers, every
incident id answered 201, every event the test published straight to the
exchange, every message the tap saw on the exchange), then, once the fault
is over, polls both incident replicas until each incident is in the state
the history says it must reach, and classifies:

- an **incident** (an acknowledged write) as *delivered* (both replicas
  hold it in the expected state, identical), *lost* (a replica lacks it or
  never reached that state) or *corrupted* (a replica went past it: a
  version or a historial entry more than the history explains, or the
  replicas disagree); an incident a customer sees that no 201 acknowledged
  is a *phantom*;
- an **event** (by id) as *delivered* (its consumer's replica holds its
  effect: the snapshot's version or a later one, the comment's id) or
  *lost*; an event seen more than once on the exchange, or published again
  by the test, is *duplicated*, and *harmless* when its incident is
  delivered with exactly one historial entry per version.

Versions make the classification exact: every state change adds one
version and one historial entry, so a duplicate that changed anything
shows as an extra version or entry.
"""
from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness import Account, Driver

from .load import Request
from .tap import Seen, Tap

APERTURA_ORIGIN = "incidencias_apertura"


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
    incidents: dict[str, list[str]]
    events: dict[str, Any]
    requests: dict[str, Any]
    propagation: dict[str, Any]
    problems: list[str]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return len(self.incidents["lost"]) + len(self.events["lost_ids"])

    def figures(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "incidents": {k: len(v) for k, v in self.incidents.items()},
            "events": {k: v for k, v in self.events.items() if not k.endswith("_ids")},
            "open_to_assigned_ms": self.propagation,
            **self.extra,
        }

    def assert_sound(self) -> None:
        """Nothing lost, nothing corrupted, no phantom, every duplicate harmless."""
        assert not self.problems, f"{self.scenario}: " + "\n".join(self.problems[:20])


class Checker:
    def __init__(self, scenario: str, api: Driver, tap: Tap, clientes: list[Account], staff_token: str,
                 categoria: str):
        self.scenario = scenario
        self.api = api
        self.tap = tap
        self.clientes = clientes
        self.staff_token = staff_token
        self.categoria = categoria
        self.acknowledged: dict[str, str | None] = {}  # incident id -> idempotency key
        self.expected: dict[str, Expected] = {}
        self.requests: list[Request] = []
        self.injected: list[Injected] = []
        self.extra_requests = 0

    # -- history ---------------------------------------------------------------
    def acknowledge(self, incidencia_id: str, key: str | None = None, expected: Expected | None = None) -> None:
        self.acknowledged[incidencia_id] = key
        if expected is not None:
            self.expected[incidencia_id] = expected

    def expect(self, incidencia_id: str, expected: Expected) -> None:
        self.expected[incidencia_id] = expected

    def add_requests(self, requests: list[Request]) -> None:
        self.requests.extend(requests)
        for request in requests:
            if request.answered:
                self.acknowledge(request.incidencia_id, request.key)

    def inject(self, message_id: str, tipo: str, kind: str, copies: int = 1) -> None:
        self.injected.append(Injected(message_id, tipo, kind, copies))

    # -- observation -------------------------------------------------------------
    def _read(self) -> tuple[dict[str, dict], dict[str, dict]]:
        return (self.api.customer_incidencias(self.clientes),
                self.api.staff_incidencias(self.staff_token, self.categoria))

    def _incident_problem(self, incidencia_id: str, mine: dict | None, staff: dict | None) -> str | None:
        """None if both replicas hold the incident as expected; else why not."""
        expected = self.expected.get(incidencia_id, Expected())
        for side, view in (("apertura", mine), ("resolucion", staff)):
            if view is None:
                return f"lost: {incidencia_id} missing in {side}"
            if view["version"] > expected.version or len(view["historial"]) != view["version"]:
                return (f"corrupted: {incidencia_id} in {side} has version {view['version']} and "
                        f"{len(view['historial'])} historial entries (expected {expected.version})")
            if (view["estado"], view["version"]) != (expected.estado, expected.version):
                return (f"lost: {incidencia_id} in {side} is {view['estado']} v{view['version']}, "
                        f"expected {expected.estado} v{expected.version}")
        public = sorted(c["id"] for c in staff["comentarios"] if not c.get("interna"))
        if ((mine["estado"], mine["version"], (mine["asignada_a"] or {}).get("id"), mine["historial"],
             sorted(c["id"] for c in mine["comentarios"]))
                != (staff["estado"], staff["version"], (staff["asignada_a"] or {}).get("id"), staff["historial"],
                    public)):
            return f"corrupted: the replicas of {incidencia_id} disagree"
        return None

    def converge(self, timeout: float = 60.0) -> Report:
        """Poll both replicas until every acknowledged incident is as expected
        (or the deadline passes), let the outboxes drain, then classify."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                mine, staff = self._read()
                pending = {i: self._incident_problem(i, mine.get(i), staff.get(i)) for i in self.acknowledged}
                if not any(pending.values()) or time.monotonic() > deadline:
                    break
            except Exception:  # noqa: BLE001 - a replica may still be recovering
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.25)
        self.api.settle(timeout=max(10.0, deadline - time.monotonic()))
        self.tap.wait_quiet(quiet=1.0, timeout=20.0)
        mine, staff = self._read()
        return self._classify(mine, staff)

    # -- classification ------------------------------------------------------------
    def _classify(self, mine: dict[str, dict], staff: dict[str, dict]) -> Report:
        problems: list[str] = []
        incidents: dict[str, list[str]] = {"acknowledged": list(self.acknowledged), "delivered": [], "lost": [],
                                           "corrupted": [], "phantom": []}
        for incidencia_id in self.acknowledged:
            problem = self._incident_problem(incidencia_id, mine.get(incidencia_id), staff.get(incidencia_id))
            if problem is None:
                incidents["delivered"].append(incidencia_id)
            else:
                incidents["corrupted" if problem.startswith("corrupted") else "lost"].append(incidencia_id)
                problems.append(problem)
        for incidencia_id in sorted(set(mine) - set(self.acknowledged)):
            incidents["phantom"].append(incidencia_id)
            problems.append(f"phantom: {incidencia_id} exists but no request was answered with it")

        events = self._classify_events(mine, staff, incidents, problems)
        return Report(self.scenario, incidents, events, self._request_figures(), self._propagation(staff),
                      problems)

    def _classify_events(self, mine, staff, incidents, problems) -> dict[str, Any]:
        seen = self.tap.snapshot()
        replayed_ids = {i.message_id for i in self.injected if i.kind != "duplicate"}
        scope = set(self.acknowledged)
        delivered, lost, duplicated, harmful = [], [], 0, 0
        by_version: dict[tuple[str, int], set[str]] = {}
        in_scope: list[Seen] = []
        for message in seen.values():
            incidencia_id = self._incident_of(message)
            if incidencia_id not in scope:
                continue
            in_scope.append(message)
            consumer = staff if message.origin == APERTURA_ORIGIN else mine
            if self._applied(message, consumer.get(incidencia_id)):
                delivered.append(message.message_id)
            else:
                lost.append(message.message_id)
                problems.append(f"lost event: {message.routing_key} {message.message_id} of {incidencia_id}")
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
        # Every acknowledged incident published one event per version it reached.
        for incidencia_id in self.acknowledged:
            expected = self.expected.get(incidencia_id, Expected())
            for version in range(1, expected.version + 1):
                ids = by_version.get((incidencia_id, version), set())
                if not ids:
                    problems.append(f"lost event: no event on the exchange for {incidencia_id} v{version}")
                    lost.append(f"{incidencia_id}@v{version}")
                elif len(ids) > 1:
                    problems.append(f"corrupted: {len(ids)} different events for {incidencia_id} v{version}")
                    harmful += 1
        return {
            "published": len([m for m in in_scope if m.message_id not in replayed_ids]),
            "copies_on_exchange": sum(m.copies for m in in_scope),
            "injected": sum(i.copies for i in self.injected),
            "delivered": len(delivered),
            "lost": len(lost),
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
    def _applied(message: Seen, view: dict | None) -> bool:
        if view is None:
            return False
        snapshot = message.snapshot
        if snapshot is not None:
            return view["version"] >= snapshot.get("version", 0)
        datos = (message.envelope or {}).get("datos") or {}
        comentario = datos.get("comentario") if isinstance(datos.get("comentario"), dict) else None
        if comentario is not None:
            return comentario.get("id") in {c["id"] for c in view["comentarios"]}
        return True  # a request (cancellation) whose effect the expected state already checks

    def _request_figures(self) -> dict[str, Any]:
        attempts = [a for r in self.requests for a in r.attempts]
        statuses: dict[str, int] = {}
        for attempt in attempts:
            key = str(attempt.status) if attempt.status is not None else "no answer"
            statuses[key] = statuses.get(key, 0) + 1
        latencies = [a.latency for a in attempts if a.status is not None]
        return {
            "made": len(attempts) + self.extra_requests,
            "incidents_requested": len(self.requests),
            "answered_201": sum(1 for r in self.requests if r.answered),
            "attempts_by_answer": statuses,
            "latency_ms": {"p50": ms(percentile(latencies, 50)), "p99": ms(percentile(latencies, 99)),
                           "max": ms(max(latencies) if latencies else None)},
        }

    def _propagation(self, staff: dict[str, dict]) -> dict[str, Any]:
        delays = []
        for incidencia_id in self.acknowledged:
            view = staff.get(incidencia_id)
            if view and len(view["historial"]) >= 2 and view["historial"][1]["a"] == "asignada":
                delays.append((_instant(view["historial"][1]["en"]) - _instant(view["creada_en"])).total_seconds())
        return {"p50": ms(percentile(delays, 50)), "p99": ms(percentile(delays, 99)),
                "max": ms(max(delays) if delays else None),
                "mean": ms(statistics.fmean(delays) if delays else None)}


def describe(report: Report) -> str:
    return json.dumps({"scenario": report.scenario, **report.figures()}, indent=2, ensure_ascii=False)
