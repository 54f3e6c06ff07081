"""The fault suite's checker (tests/faults/checker.py) and its figures
(tests/faults/figures.py) on histories given by hand: every write is
classified whatever it was answered, a failing history cannot come out as
"nothing lost", and only a session that passed writes figures.

Faked here: the two incident services (``Services``: dictionaries of
incidents as their list endpoints return them) and the tap on the exchange
(``Exchange``: the messages it would have seen). Nothing is started."""
from __future__ import annotations

import json

import httpx
import pytest

from harness import Account
from tests.faults.checker import Checker, Lost, Phantom, Unidentified, Unjudged, Unsound
from tests.faults.figures import Figures
from tests.faults.load import OPEN, Write, marked, new_marker
from tests.faults.tap import Seen

CLIENTE = Account("cliente", "c1", "c@example.com", "x", "token-c")
REQUEST = httpx.Request("POST", "http://127.0.0.1/incidencias")


def incident(incidencia_id: str, marker: str, estado: str = "asignada", version: int = 2) -> dict:
    steps = ["abierta", "asignada", "en_curso", "resuelta", "cerrada"][:version]
    return {"id": incidencia_id, "descripcion": marked("Prueba", marker), "estado": estado, "version": version,
            "asignada_a": {"id": "e1"}, "creada_en": "2026-01-01T00:00:00Z", "comentarios": [],
            "historial": [{"a": a, "en": "2026-01-01T00:00:01Z"} for a in steps]}


def snapshot_event(incidencia: dict, version: int, origin: str) -> Seen:
    event_id = f"{incidencia['id']}-v{version}"
    body = {"id": event_id, "tipo": "incidencia.x", "datos": {"incidencia": {"id": incidencia["id"],
                                                                              "version": version}}}
    return Seen(event_id, "incidencia.x", origin, json.dumps(body).encode())


def events_of(*incidencias: dict) -> list[Seen]:
    """The two events each delivered incident published (opened, assigned)."""
    return [e for i in incidencias for e in (snapshot_event(i, 1, "incidencias_apertura"),
                                             snapshot_event(i, 2, "incidencias_resolucion"))]


class Services:
    """Both incident replicas, as dictionaries of what their lists return."""

    def __init__(self, apertura: dict | None = None, resolucion: dict | None = None):
        self.apertura = apertura or {}
        self.resolucion = resolucion if resolucion is not None else dict(self.apertura)

    def customer_incidencias(self, _clientes):
        return dict(self.apertura)

    def staff_incidencias(self, _token, _categoria):
        return dict(self.resolucion)

    def settle(self, timeout):
        pass


class Exchange:
    """The tap: the messages seen on the exchange, by id, and those without one."""

    def __init__(self, messages: list[Seen] = (), anonymous: list[Seen] = ()):
        self.messages = {m.message_id: m for m in messages}
        self.anonymous = list(anonymous)

    def snapshot(self):
        return dict(self.messages)

    def anonymous_snapshot(self):
        return list(self.anonymous)

    def wait_quiet(self, quiet, timeout):
        pass


def open_write(status: int | None, incidencia_id: str | None = None) -> Write:
    write = Write(OPEN, new_marker(), cliente=CLIENTE)
    write.key = write.marker
    if status is None:
        write.record(0.0, error=httpx.ReadTimeout("timed out"))
    else:
        body = {"id": incidencia_id} if status == 201 else {"status": status}
        write.record(0.0, httpx.Response(status, json=body, request=REQUEST))
    return write


def check(writes: list[Write], services: Services, exchange: Exchange | None = None):
    checker = Checker("unit", services, exchange or Exchange(), [CLIENTE], "token-s", "cat")
    checker.add_requests(writes)
    return checker.converge(timeout=0)


def test_each_write_is_classified_by_its_answer_and_by_what_is_there():
    acknowledged = open_write(201, "i1")
    refused = open_write(503)
    timed_out_but_made = open_write(None)
    refused_but_made = open_write(503)
    there = {"i1": incident("i1", acknowledged.marker), "i3": incident("i3", timed_out_but_made.marker),
             "i4": incident("i4", refused_but_made.marker)}

    report = check([acknowledged, refused, timed_out_but_made, refused_but_made], Services(there),
                   Exchange(events_of(*there.values())))

    assert report.figures()["writes"] == {"attempted": 4, "acknowledged": 1, "lost": 0, "refused": 1,
                                          "indeterminate": 2}
    assert report.figures()["requests"]["attempts_by_answer"] == {"201": 1, "503": 2, "no answer": 1}
    report.assert_sound()  # indeterminate writes are reported apart, not a failure


def test_an_acknowledged_write_that_is_not_there_is_lost_and_the_run_unsound():
    write = open_write(201, "i1")

    report = check([write], Services())

    assert report.figures()["writes"]["lost"] == 1
    with pytest.raises(Unsound):
        report.assert_sound()


def test_a_run_whose_requests_all_failed_cannot_say_nothing_was_lost_by_leaving_them_out():
    # Before: only 201 answers entered the checker, so this history had nothing to check.
    write = open_write(201, "i1")
    write.record(0.0, httpx.Response(503, json={}, request=REQUEST))  # a later attempt failed

    report = check([write], Services())

    assert write.acknowledged and report.figures()["writes"]["lost"] == 1


def test_an_incident_in_resolucion_that_no_write_made_is_a_phantom():
    write = open_write(201, "i1")
    mine = {"i1": incident("i1", write.marker)}
    staff = {**mine, "ghost": incident("ghost", "nobody")}

    report = check([write], Services(mine, staff), Exchange(events_of(*mine.values())))

    assert report.incidents["phantom"] == ["ghost"]
    with pytest.raises(Phantom):
        report.assert_sound()


def test_a_second_incident_for_one_write_is_a_phantom():
    write = open_write(201, "i1")
    there = {"i1": incident("i1", write.marker), "i2": incident("i2", write.marker)}

    report = check([write], Services(there), Exchange(events_of(*there.values())))

    with pytest.raises(Phantom, match="second incident"):
        report.assert_sound()


def test_a_message_without_a_message_id_is_examined_not_ignored():
    write = open_write(201, "i1")
    there = {"i1": incident("i1", write.marker)}
    stray = Seen("", "incidencia.x", "incidencias_apertura", b'{"id": "e9", "datos": {}}')

    report = check([write], Services(there), Exchange(events_of(*there.values()), anonymous=[stray]))

    assert report.events["without_message_id"] == 1
    with pytest.raises(Unidentified):
        report.assert_sound()


def test_an_event_with_neither_snapshot_nor_comment_is_not_counted_as_applied():
    write = open_write(201, "i1")
    there = {"i1": incident("i1", write.marker)}
    body = {"id": "e7", "tipo": "incidencia.otra_cosa", "datos": {"incidencia_id": "i1"}}
    unknown = Seen("e7", "incidencia.otra_cosa", "incidencias_apertura", json.dumps(body).encode())

    report = check([write], Services(there), Exchange([*events_of(*there.values()), unknown]))

    assert report.events["unjudged"] == 1 and report.events["delivered"] == 2
    with pytest.raises(Unjudged):
        report.assert_sound()


def test_the_verdict_names_the_one_kind_of_failure_so_an_xfail_can_expect_exactly_it():
    write = open_write(201, "i1")
    short = {"i1": incident("i1", write.marker, "abierta", 1)}  # never assigned: its event lost
    report = check([write], Services(short), Exchange(events_of(*short.values())[:1]))

    with pytest.raises(Lost):
        report.assert_sound()
    assert not issubclass(Lost, (Phantom, Unidentified, Unjudged))


def entry(figures: Figures, test: str, scenario: str) -> None:
    figures.record(scenario, test=test, fault="f", storage="sqlite",
                   figures={"writes": {"attempted": 1, "acknowledged": 1, "lost": 0, "refused": 0,
                                       "indeterminate": 0}})


def report_of(nodeid: str, when: str, outcome: str, longrepr=None) -> pytest.TestReport:
    return pytest.TestReport(nodeid, ("f", 1, "t"), {}, outcome, longrepr, when)


def test_figures_are_written_only_by_a_session_that_passed_with_only_its_scenarios(tmp_path):
    path, failed = tmp_path / "figures.json", tmp_path / "var" / "failed.json"
    path.write_text(json.dumps({"scenarios": {"from_an_earlier_run": {}}}))
    figures = Figures(path, failed, document=None)
    entry(figures, "t::a", "a")
    for when in ("setup", "call", "teardown"):
        figures.observe(report_of("t::a", when, "passed"))
    figures.observe(report_of("t::b", "setup", "skipped", ("f", 1, "Skipped: no chattr")))

    figures.write(session_passed=True)

    data = json.loads(path.read_text())
    assert list(data["scenarios"]) == ["a"]  # the earlier run's scenario is not carried over
    assert data["ran"] == ["t::a"] and data["skipped"] == {"t::b": "Skipped: no chattr"}
    stamp = data["scenarios"]["a"]["provenance"]
    assert stamp["passed"] is True and stamp["storage"] == "sqlite"
    assert set(stamp) >= {"commit", "code_changed", "date", "storage", "passed"}


def test_a_session_that_failed_leaves_the_published_figures_alone(tmp_path):
    path, failed = tmp_path / "figures.json", tmp_path / "var" / "failed.json"
    figures = Figures(path, failed, document=None)
    entry(figures, "t::a", "a")
    figures.observe(report_of("t::a", "call", "failed"))

    figures.write(session_passed=False)

    assert not path.exists()
    kept = json.loads(failed.read_text())
    assert kept["failed"] == ["t::a"] and kept["scenarios"]["a"]["provenance"]["passed"] is False
