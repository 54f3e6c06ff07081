"""The figures of the last fault run: written by the tests to
``docs/reliability-figures.json``, and rendered into ``docs/reliability.md``
with ``python -m tests.faults.figures`` (it rewrites the table between the
``figures:start``/``figures:end`` markers)."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ROOT / "docs" / "reliability-figures.json"
DOCUMENT = ROOT / "docs" / "reliability.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _rabbitmq_version() -> str | None:
    try:
        out = subprocess.run(["rabbitmqctl", "status", "--formatter", "json"], capture_output=True,
                             text=True, timeout=30).stdout
        return json.loads(out).get("rabbitmq_version")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


class Figures:
    """Scenario figures collected during a session, merged into the file at its end
    (scenarios not run this time keep their previous figures)."""

    def __init__(self, path: Path = FIGURES):
        self.path = path
        self.scenarios: dict[str, dict[str, Any]] = {}

    def record(self, scenario: str, *, test: str, fault: str, figures: dict[str, Any]) -> None:
        self.scenarios[scenario] = {"test": test, "fault": fault, "recorded_at": _now(), **figures}

    def write(self) -> None:
        if not self.scenarios:
            return
        try:
            previous = json.loads(self.path.read_text())
        except (OSError, ValueError):
            previous = {}
        scenarios = {**previous.get("scenarios", {}), **self.scenarios}
        document = {
            "generated_at": _now(),
            "environment": {"rabbitmq": _rabbitmq_version(), "python": platform.python_version(),
                            "storage": "sqlite (mongodb where stated)", "cpus": os.cpu_count()},
            "totals": totals(scenarios),
            "scenarios": dict(sorted(scenarios.items())),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def totals(scenarios: dict[str, dict[str, Any]]) -> dict[str, int]:
    total = {"requests_made": 0, "incidents_acknowledged": 0, "incidents_lost": 0, "events_published": 0,
             "events_injected": 0, "events_delivered": 0, "events_lost": 0, "events_duplicated": 0,
             "events_duplicated_harmful": 0, "events_dead_lettered": 0}
    for figures in scenarios.values():
        if figures.get("known_limit"):
            continue  # a documented limit, shown in its own row, not a guarantee
        requests = figures.get("requests") or {}
        incidents = figures.get("incidents") or {}
        events = figures.get("events") or {}
        total["requests_made"] += requests.get("made", 0)
        total["incidents_acknowledged"] += incidents.get("acknowledged", 0)
        total["incidents_lost"] += incidents.get("lost", 0) + incidents.get("corrupted", 0)
        total["events_published"] += events.get("published", 0)
        total["events_injected"] += events.get("injected", 0)
        total["events_delivered"] += events.get("delivered", 0)
        total["events_lost"] += events.get("lost", 0)
        total["events_duplicated"] += events.get("duplicated", 0)
        total["events_duplicated_harmful"] += events.get("duplicated_harmful", 0)
        total["events_dead_lettered"] += events.get("dead_lettered", 0)
    return total


def _cell(value: Any) -> str:
    return "–" if value is None else str(value)


def render(document: dict[str, Any]) -> str:
    rows = [
        f"Last run: {document.get('generated_at')}, RabbitMQ {document['environment'].get('rabbitmq')}, "
        f"Python {document['environment'].get('python')}, {document['environment'].get('cpus')} CPUs.",
        "",
        "| scenario | requests made | answered 201 | p99 latency (ms) | incidents lost | events published"
        " | injected | delivered | lost | duplicated (harmful) | dead-lettered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, figures in document["scenarios"].items():
        if figures.get("known_limit"):
            name = f"{name} (known limit, not in the total)"
        requests = figures.get("requests") or {}
        incidents = figures.get("incidents") or {}
        events = figures.get("events") or {}
        rows.append(
            f"| {name} | {_cell(requests.get('made'))} | {_cell(requests.get('answered_201'))} | "
            f"{_cell((requests.get('latency_ms') or {}).get('p99'))} | "
            f"{_cell(incidents.get('lost', 0) + incidents.get('corrupted', 0))} | "
            f"{_cell(events.get('published'))} | {_cell(events.get('injected'))} | "
            f"{_cell(events.get('delivered'))} | {_cell(events.get('lost'))} | "
            f"{_cell(events.get('duplicated'))} ({_cell(events.get('duplicated_harmful'))}) | "
            f"{_cell(events.get('dead_lettered', 0))} |")
    t = document["totals"]
    rows.append(
        f"| **total** | {t['requests_made']} | | | {t['incidents_lost']} | {t['events_published']} | "
        f"{t['events_injected']} | {t['events_delivered']} | {t['events_lost']} | "
        f"{t['events_duplicated']} ({t['events_duplicated_harmful']}) | {t['events_dead_lettered']} |")
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
