"""The figures the security suite publishes: attacks tried, rejected and
accepted, per category.

Each test records its attacks under its own node id. At the end of a run
of the whole suite that passed, ``docs/security-figures.json`` is written again with the entries
of the tests that ran this time, and only those: an entry is never carried
over from an earlier run. The file and every entry name where they come from
(``harness.provenance``: commit, whether the code differed from it, date,
storage, passed). A run that failed writes nothing, so a figure in the file
was always produced by a passing run. The table between the markers in
``docs/security.md`` is written again from that file.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.provenance import provenance

ROOT = Path(__file__).resolve().parents[2]
FIGURES_PATH = ROOT / "docs" / "security-figures.json"
DOC_PATH = ROOT / "docs" / "security.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"

CATEGORIES = {
    "object_level": "Object-level authorization (another owner's id)",
    "function_level": "Function-level authorization (endpoint × role)",
    "mass_assignment": "Mass assignment",
    "operator_injection": "Operator and search injection",
    "hostile_ids": "Hostile ids in paths",
    "oversized_bodies": "Oversized bodies",
    "deep_nesting": "Deep nesting and unparseable JSON",
    "page_sizes": "Huge and invalid page sizes",
    "periods": "Hostile and out-of-range periods",
    "unicode": "Unicode edge cases",
    "headers": "Hostile headers",
    "csv_formulas": "Spreadsheet formulas in the CSV report",
    "tokens": "Forged, stale and misplaced tokens",
    "login": "Login and password reset requests: enumeration and throttling",
    "links": "Account links: wrong, used and misplaced tokens, and mail throttles",
    "fuzzing_negative": "Fuzzing: schema-violating requests (schemathesis)",
}


@dataclass
class Attempt:
    category: str
    name: str
    rejected: bool
    known_bug: str | None = None


@dataclass
class TestFigures:
    attempts: list[Attempt] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    passed: bool = True

    def summary(self, origin: dict[str, Any]) -> dict[str, Any]:
        """``origin``: the run's provenance, computed once (one look at the tree)."""
        by_category: dict[str, dict[str, Any]] = {}
        for attempt in self.attempts:
            entry = by_category.setdefault(attempt.category, {"tried": 0, "rejected": 0, "accepted": []})
            entry["tried"] += 1
            if attempt.rejected:
                entry["rejected"] += 1
            else:
                entry["accepted"].append({"attack": attempt.name, "known_bug": attempt.known_bug})
        for entry in by_category.values():
            entry["accepted"] = sorted(entry["accepted"], key=lambda a: a["attack"])
        return {"provenance": {**origin, "passed": self.passed}, "categories": by_category,
                **({"extra": self.extra} if self.extra else {})}


class Recorder:
    """Collects every test's attempts during a run."""

    def __init__(self) -> None:
        self.tests: dict[str, TestFigures] = {}

    def for_test(self, nodeid: str) -> TestFigures:
        return self.tests.setdefault(nodeid, TestFigures())

    def failed(self, nodeid: str) -> None:
        self.for_test(nodeid).passed = False

    def write(self, versions: dict[str, str], *, session_passed: bool, whole_suite: bool) -> None:
        """Only a passing run of the whole suite publishes (tests/suite_run.py)."""
        if not self.tests or not session_passed or not whole_suite:
            return
        origin = provenance(passed=True)
        tests = {nodeid: figures.summary(origin) for nodeid, figures in self.tests.items()
                 if figures.attempts or figures.extra}
        data = {
            "about": "Attacks the security suite (tests/security) sent to the running system, by category; "
                     "written by a passing run of the suite, see docs/security.md",
            "provenance": origin,
            "tools": versions,
            "totals": _totals(tests),
            "tests": dict(sorted(tests.items())),
        }
        FIGURES_PATH.write_text(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")
        _render_into_doc(data)


def _totals(tests: dict[str, Any]) -> dict[str, Any]:
    totals: dict[str, dict[str, Any]] = {}
    for summary in tests.values():
        for category, entry in summary["categories"].items():
            total = totals.setdefault(category, {"tried": 0, "rejected": 0, "accepted": 0, "accepted_known_bugs": []})
            total["tried"] += entry["tried"]
            total["rejected"] += entry["rejected"]
            total["accepted"] += len(entry["accepted"])
            for accepted in entry["accepted"]:
                if accepted["known_bug"] and accepted["known_bug"] not in total["accepted_known_bugs"]:
                    total["accepted_known_bugs"].append(accepted["known_bug"])
    ordered = {c: totals[c] for c in CATEGORIES if c in totals}
    ordered.update({c: v for c, v in sorted(totals.items()) if c not in ordered})
    for total in ordered.values():
        total["accepted_known_bugs"].sort()
    return ordered


def _render_into_doc(data: dict[str, Any]) -> None:
    if not DOC_PATH.exists():
        return
    text = DOC_PATH.read_text()
    if START not in text or END not in text:
        return
    origin = data["provenance"]
    lines = ["", f"Run of commit `{origin['commit']}`"
                 f"{' with uncommitted code changes' if origin['code_changed'] else ''}, {origin['date']}, "
                 f"storage {origin['storage']}, {len(data['tests'])} tests, passed.", "",
             "| category | attacks tried | rejected | accepted | accepted because of |",
             "|---|---:|---:|---:|---|"]
    all_tried = all_rejected = all_accepted = 0
    for category, total in data["totals"].items():
        bugs = "; ".join(total["accepted_known_bugs"]) or "—"
        lines.append(f"| {CATEGORIES.get(category, category)} | {total['tried']} | {total['rejected']} | "
                     f"{total['accepted']} | {bugs} |")
        all_tried += total["tried"]
        all_rejected += total["rejected"]
        all_accepted += total["accepted"]
    lines.append(f"| **all** | **{all_tried}** | **{all_rejected}** | **{all_accepted}** | |")
    fuzz = [s.get("extra", {}).get("fuzzing") for s in data["tests"].values()]
    fuzz = [f for f in fuzz if f]
    if fuzz:
        lines += ["", "Fuzzing runs (schemathesis, from each service's own `/openapi.json`):", "",
                  "| service | operations | valid-data cases | schema-violating cases | refused (4xx) | "
                  "only unknown query parameters (ignored by design) | 5xx | schema violations | "
                  "accepted invalid data | auth not enforced |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for f in sorted(fuzz, key=lambda f: f["service"]):
            lines.append(
                f"| {f['service']} | {f['operations']} | {f['positive_cases']} | {f['negative_cases']} | "
                f"{f['negative_rejected']} | {f.get('negative_only_unknown_query_parameters', 0)} | "
                f"{f['failures'].get('not_a_server_error', 0)} | "
                f"{f['failures'].get('response_schema_conformance', 0)} | "
                f"{f['failures'].get('negative_data_rejection', 0)} | {f['failures'].get('ignored_auth', 0)} |")
    lines.append("")
    block = START + "\n".join(lines) + END
    updated = re.sub(re.escape(START) + r".*?" + re.escape(END), lambda _m: block, text, flags=re.S)
    if updated != text:
        DOC_PATH.write_text(updated)
