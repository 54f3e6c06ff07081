"""Where a figure comes from. Every file of figures under ``docs/`` (the
reliability, security and benchmark figures) stamps each entry with
``provenance(...)``: the commit that was measured, whether the working tree
differed from it in code (documentation and the figure files themselves do
not count: a run that rewrites them must still be a run of that commit), the
date, the storage the services ran on and whether the run passed.

A figure written by a failing run, or by a tree whose code was not the commit
it names, is therefore visible as such in the file itself."""
from __future__ import annotations

import os
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from .system import MONGO_VARIABLES as SERVICE_MONGO_VARIABLES, SHARED_MONGO_VARIABLES

ROOT = Path(__file__).resolve().parents[1]
# Paths whose changes do not change what was measured.
NOT_CODE = ("docs/", "README.md", "var/")
# The variables that put a service on MongoDB (common/config.py; the launcher's, harness/system.py).
MONGO_VARIABLES = (*SHARED_MONGO_VARIABLES, *SERVICE_MONGO_VARIABLES.values())


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def commit() -> str | None:
    out = _git("rev-parse", "--short=12", "HEAD")
    return out.strip() if out else None


def changed_code() -> list[str] | None:
    """Files whose content differs from HEAD (staged, unstaged or untracked),
    documentation excluded; ``None`` when git cannot tell."""
    out = _git("status", "--porcelain", "--untracked-files=all")
    if out is None:
        return None
    paths = [line[3:].split(" -> ")[-1].strip('"') for line in out.splitlines() if line.strip()]
    return sorted(p for p in paths if not p.startswith(NOT_CODE) and not p.endswith(".md"))


def storage(env: Mapping[str, str] | None = None) -> str:
    """``mongodb`` when any service was given a MongoDB URL, else ``sqlite``."""
    env = os.environ if env is None else env
    return "mongodb" if any(env.get(name) for name in MONGO_VARIABLES) else "sqlite"


def provenance(*, passed: bool, storage_used: str | None = None) -> dict[str, Any]:
    changed = changed_code()
    return {
        "commit": commit(),
        "code_changed": None if changed is None else bool(changed),
        "changed_files": (changed or [])[:20],
        "date": now(),
        "storage": storage_used or storage(),
        "passed": passed,
    }
