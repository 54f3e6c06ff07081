"""The figures of the fault suite: ``docs/reliability-figures.json``, and
the table between the ``figures:start``/``figures:end`` markers of
``docs/reliability.md`` rendered from it (``python -m tests.faults.figures``
renders it again from the file).

Each test records its scenario's figures, computed by the checker from what
happened. At the end of a session that passed, and only then, the file is
written again with the scenarios of that session and nothing else: a
scenario that did not run this time is not carried over, and the file says
which tests ran and which were skipped, and why. The file and every entry
name where they come from (``harness.provenance``: commit, whether the code
differed from it, date, storage, passed). A session that failed writes its
figures to ``var/reliability-figures.failed.json``, for diagnosis, and
leaves ``docs/`` alone."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from harness.provenance import now, provenance

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "reliability-figures.json"
FAILED = ROOT / "var" / "reliability-figures.unpublished.json"  # a failed or partial run
DOCUMENT = ROOT / "docs" / "reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"
COMPLETED = ("passed", "xfailed")


def _rabbitmq_version() -> str | None:
    try:
        out = subprocess.run(["rabbitmqctl", "status", "--formatter", "json"], capture_output=True,
                             text=True, timeout=30).stdout
        return json.loads(out).get("rabbitmq_version")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


class Figures:
    """The scenarios recorded during a session, and how each test ended."""

    def __init__(self, path: Path = FIGURES, failed_path: Path = FAILED, document: Path | None = DOCUMENT):
        self.path = path
        self.failed_path = failed_path
        self.document = document
        self.entries: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}  # test node id -> passed | failed | skipped | xfailed
        self.skipped: dict[str, str] = {}  # test node id -> why

    def record(self, scenario: str, *, test: str, fault: str, figures: dict[str, Any], storage: str) -> None:
        known = self.entries.get(scenario)
        if known is not None and known["test"] != test:
            raise ValueError(f"scenario {scenario} recorded by {known['test']} and {test}")
        self.entries[scenario] = {"test": test, "fault": fault, "storage": storage, "recorded_at": now(),
                                  "figures": figures}

    def for_test(self, test: str, storage: str) -> "Recorder":
        return Recorder(self, test, storage)

    def observe(self, report: pytest.TestReport) -> None:
        """One phase's report of a test (``pytest_runtest_logreport``)."""
        nodeid = report.nodeid
        if report.failed:
            self.outcomes[nodeid] = "failed"
        elif self.outcomes.get(nodeid) == "failed":
            return
        elif hasattr(report, "wasxfail") and report.skipped:
            self.outcomes[nodeid] = "xfailed"
        elif report.skipped:
            self.outcomes[nodeid] = "skipped"
            longrepr = report.longrepr
            self.skipped[nodeid] = str(longrepr[2] if isinstance(longrepr, tuple) else longrepr)
        elif report.when == "call" and report.passed:
            self.outcomes[nodeid] = "passed"

    def build(self, session_passed: bool) -> dict[str, Any]:
        storages = sorted({entry["storage"] for entry in self.entries.values()})
        # One look at the tree for the session; each scenario differs only in its outcome and storage.
        origin = provenance(passed=session_passed, storage_used=" + ".join(storages) or None)
        scenarios = {}
        for scenario, entry in sorted(self.entries.items()):
            outcome = self.outcomes.get(entry["test"], "unfinished")
            scenarios[scenario] = {
                "test": entry["test"], "fault": entry["fault"], "outcome": outcome,
                "provenance": {**origin, "passed": session_passed and outcome in COMPLETED,
                               "storage": entry["storage"]},
                "recorded_at": entry["recorded_at"], **entry["figures"]}
        return {
            "about": "Figures of the fault suite (tests/faults), computed by its checker from what happened; "
                     "written only by a session that passed, with only the scenarios of that session; "
                     "see docs/reliability.md",
            "provenance": origin,
            "environment": {"rabbitmq": _rabbitmq_version(), "python": platform.python_version(),
                            "cpus": os.cpu_count()},
            "ran": sorted(n for n, o in self.outcomes.items() if o in COMPLETED),
            "skipped": dict(sorted(self.skipped.items())),
            "failed": sorted(n for n, o in self.outcomes.items() if o == "failed"),
            "totals": totals(scenarios),
            "scenarios": scenarios,
        }

    def write(self, *, session_passed: bool, whole_suite: bool = True) -> Path | None:
        """The file (and the document's table) for a session of the whole
        suite that passed; the file under var/ for one that failed or ran
        only part of the suite (see tests/suite_run.py). Nothing if nothing ran."""
        if not self.entries:
            return None
        data = self.build(session_passed)
        data["whole_suite"] = whole_suite
        published = session_passed and whole_suite
        path = self.path if published else self.failed_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        if published and self.document is not None:
            update_document(path, self.document)
        return path


@dataclass
class Recorder:
    """What a test records its scenario with: its node id, and the storage
    its system ran on (``storage`` names another one for a test that moved
    a service to other storage)."""

    figures: Figures
    test: str
    storage: str

    def record(self, scenario: str, *, fault: str, figures: dict[str, Any], storage: str | None = None) -> None:
        self.figures.record(scenario, test=self.test, fault=fault, figures=figures, storage=storage or self.storage)


def _known_limit(figures: dict[str, Any]) -> bool:
    return bool(figures.get("known_limit"))


def _dead_lettered(figures: dict[str, Any]) -> int:
    """Messages the scenario saw dead-lettered (with its events, or on its own)."""
    return (figures.get("events") or {}).get("dead_lettered", figures.get("dead_lettered", 0))


def totals(scenarios: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Sums over the scenarios, known limits (shown in their own rows) left out."""
    total = {"writes_attempted": 0, "writes_acknowledged": 0, "writes_lost": 0, "writes_refused": 0,
             "writes_indeterminate": 0, "requests_made": 0, "incidents_lost": 0, "incidents_phantom": 0,
             "events_published": 0, "events_injected": 0, "events_delivered": 0, "events_lost": 0,
             "events_unjudged": 0, "events_without_message_id": 0, "events_duplicated": 0,
             "events_duplicated_harmful": 0, "events_dead_lettered": 0,
             "mails_decided": 0, "mails_delivered": 0, "mails_lost": 0, "mails_duplicated": 0, "mails_failed": 0}
    for figures in scenarios.values():
        if _known_limit(figures):
            continue
        writes = figures.get("writes") or {}
        requests = figures.get("requests") or {}
        incidents = figures.get("incidents") or {}
        events = figures.get("events") or {}
        for name in ("attempted", "acknowledged", "lost", "refused", "indeterminate"):
            total[f"writes_{name}"] += writes.get(name, 0)
        total["requests_made"] += requests.get("made", 0)
        total["incidents_lost"] += incidents.get("lost", 0) + incidents.get("corrupted", 0)
        total["incidents_phantom"] += incidents.get("phantom", 0)
        for name in ("published", "injected", "delivered", "lost", "unjudged", "without_message_id", "duplicated",
                     "duplicated_harmful"):
            total[f"events_{name}"] += events.get(name, 0)
        total["events_dead_lettered"] += _dead_lettered(figures)
        for name, value in (figures.get("mails") or {}).items():
            total[f"mails_{name}"] += value
    return total


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def _origin(document: dict[str, Any]) -> str:
    origin = document.get("provenance") or {}
    environment = document.get("environment") or {}
    changed = {True: " (with uncommitted code changes)", False: "", None: " (code changes unknown)"}
    ran, skipped = document.get("ran") or [], document.get("skipped") or {}
    lines = [
        f"Session of {_cell(origin.get('date'))}, commit {_cell(origin.get('commit'))}"
        f"{changed[origin.get('code_changed')]}, storage {_cell(origin.get('storage'))}, "
        f"RabbitMQ {_cell(environment.get('rabbitmq'))}, Python {_cell(environment.get('python'))}, "
        f"{_cell(environment.get('cpus'))} CPUs; passed: {_cell(origin.get('passed'))}.",
        "",
        f"Tests that ran ({len(ran)}): " + (", ".join(f"`{n.rsplit('::', 1)[-1]}`" for n in ran) or "none") + ".",
    ]
    if skipped:
        lines += ["", f"Skipped ({len(skipped)}): " + "; ".join(
            f"`{n.rsplit('::', 1)[-1]}` ({why})" for n, why in skipped.items()) + "."]
    lines += ["", "A scenario that is not in the table did not run in that session."]
    return "\n".join(lines)


def render(document: dict[str, Any]) -> str:
    rows = [
        _origin(document),
        "",
        "| scenario | writes | acknowledged | writes lost | refused | indeterminate | p99 latency (ms) "
        "| incidents not delivered | phantoms | events published | injected | delivered | events lost "
        "| duplicated (harmful) | dead-lettered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in (document.get("scenarios") or {}).items():
        if _known_limit(figures):
            name = f"{name} (known limit, not in the total)"
        writes = figures.get("writes") or {}
        requests = figures.get("requests") or {}
        incidents = figures.get("incidents") or {}
        events = figures.get("events") or {}
        rows.append(
            f"| {name} | {_cell(writes.get('attempted'))} | {_cell(writes.get('acknowledged'))} | "
            f"{_cell(writes.get('lost'))} | {_cell(writes.get('refused'))} | {_cell(writes.get('indeterminate'))} | "
            f"{_cell((requests.get('latency_ms') or {}).get('p99'))} | "
            f"{_cell(incidents.get('lost', 0) + incidents.get('corrupted', 0))} | {_cell(incidents.get('phantom'))} | "
            f"{_cell(events.get('published'))} | {_cell(events.get('injected'))} | "
            f"{_cell(events.get('delivered'))} | {_cell(events.get('lost'))} | "
            f"{_cell(events.get('duplicated'))} ({_cell(events.get('duplicated_harmful'))}) | "
            f"{_dead_lettered(figures)} |")
    t = totals(document.get("scenarios") or {})
    rows.append(
        f"| **total** | {t['writes_attempted']} | {t['writes_acknowledged']} | {t['writes_lost']} | "
        f"{t['writes_refused']} | {t['writes_indeterminate']} | | {t['incidents_lost']} | "
        f"{t['incidents_phantom']} | {t['events_published']} | {t['events_injected']} | "
        f"{t['events_delivered']} | {t['events_lost']} | "
        f"{t['events_duplicated']} ({t['events_duplicated_harmful']}) | {t['events_dead_lettered']} |")
    mailed = {name: f["mails"] for name, f in (document.get("scenarios") or {}).items() if f.get("mails")}
    if mailed:
        rows += ["", "E-mail (decided: mails the system stored to send; duplicated: sent again after an answer "
                     "that never reached the sender; failed: final after a 5xx):", "",
                 "| scenario | decided | delivered | lost | duplicated | failed |", "|---|---:|---:|---:|---:|---:|"]
        for name, mails in mailed.items():
            rows.append(f"| {name} | {mails['decided']} | {mails['delivered']} | {mails['lost']} | "
                        f"{mails['duplicated']} | {mails['failed']} |")
        rows.append(f"| **total** | {t['mails_decided']} | {t['mails_delivered']} | {t['mails_lost']} | "
                    f"{t['mails_duplicated']} | {t['mails_failed']} |")
    return "\n".join(rows)


def update_document(figures: Path = FIGURES, document: Path = DOCUMENT) -> None:
    data = json.loads(figures.read_text())
    text = document.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    if not rest:
        raise SystemExit(f"{document} has no {START} … {END} section")
    document.write_text(f"{head}{START}\n{render(data)}\n{END}{tail}")


if __name__ == "__main__":
    update_document()
    print(f"updated {DOCUMENT.relative_to(ROOT)} from {FIGURES.relative_to(ROOT)}", file=sys.stderr)
