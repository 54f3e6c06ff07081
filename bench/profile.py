"""py-spy recordings of the system under load, and their top-frames summary.

For each target process (a gunicorn master with its workers, or a worker
process), two non-blocking py-spy recorders run at once: one writes a
flame graph (``profile-<name>.svg``), the other the raw collapsed stacks
(in a temporary directory) from which
``profile.md`` lists the functions with the most samples, inclusive and
self, and a breakdown by layer.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import subprocess
import sys
from collections import Counter
from pathlib import Path

LAYERS = (  # first match wins, checked from the leaf frame upwards
    ("argon2", "password hashing (argon2)"),
    ("jwt/", "JWT verification (PyJWT)"),
    ("cryptography/", "JWT verification (PyJWT)"),
    ("common/tokens.py", "JWT verification (PyJWT)"),
    ("sqlite", "SQLite"),
    ("common/storage/", "SQLite"),
    ("pika/", "pika / RabbitMQ"),
    ("marshmallow/", "marshmallow (schemas)"),
    ("apispec/", "marshmallow (schemas)"),
    ("flask_smorest/", "flask-smorest / webargs"),
    ("webargs/", "flask-smorest / webargs"),
    ("prometheus_client/", "prometheus metrics"),
    ("common/http/metrics.py", "prometheus metrics"),
    ("logging/", "logging"),
    ("pythonjsonlogger/", "logging"),
    ("json/", "json"),
    ("incidencias_dominio/", "domain model"),
    ("werkzeug/", "werkzeug / flask"),
    ("flask/", "werkzeug / flask"),
    ("gunicorn/", "gunicorn"),
)


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(found).exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    return found


class Recording:
    def __init__(self, processes: dict[str, list[subprocess.Popen]], raw: Path, seconds: float):
        self.processes, self.raw, self.seconds = processes, raw, seconds

    def finish(self) -> dict:
        summaries = {}
        for name, procs in self.processes.items():
            for proc in procs:
                try:
                    proc.wait(self.seconds + 60)
                except subprocess.TimeoutExpired:
                    proc.terminate()
            raw = self.raw / f"profile-{name}.txt"
            if raw.exists():
                summaries[name] = summarize(raw.read_text())
        shutil.rmtree(self.raw, ignore_errors=True)
        return summaries


def record(targets: dict[str, int], seconds: float, out: Path, subprocesses: bool = True,
           rate: int = 200) -> Recording:
    out.mkdir(parents=True, exist_ok=True)
    raw = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    exe = py_spy()
    processes = {}
    for name, pid in targets.items():
        common = [exe, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", str(rate),
                  "--nonblocking"] + (["--subprocesses"] if subprocesses else [])
        processes[name] = [
            subprocess.Popen(common + ["--format", "flamegraph", "-o", str(out / f"profile-{name}.svg")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
            subprocess.Popen(common + ["--format", "raw", "-o", str(raw / f"profile-{name}.txt")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL),
        ]
    return Recording(processes, raw, seconds)


_FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frame(text: str) -> tuple[str, str]:
    match = _FRAME.match(text.strip())
    if not match:
        return text.strip(), ""
    path = match.group("file")
    short = re.sub(r"^.*?/(site-packages|lib/python3\.\d+)/", "", path)
    short = re.sub(r"^.*/work/[^/]+/", "", short)
    return match.group("func"), short


def summarize(raw: str, top: int = 60) -> dict:
    inclusive: Counter = Counter()
    own: Counter = Counter()
    layers: Counter = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_frame(f) for f in stack.split(";")]
        frames = [f for f in frames if f[1]]  # drop process/thread headers
        if not frames:
            continue
        total += n
        for key in set(frames):
            inclusive[f"{key[0]} ({key[1]})"] += n
        leaf = frames[-1]
        own[f"{leaf[0]} ({leaf[1]})"] += n
        for func, path in reversed(frames):
            layer = next((label for marker, label in LAYERS if marker in path), None)
            if layer:
                layers[layer] += n
                break
        else:
            layers["other"] += n

    def pct(counter: Counter) -> list[tuple[str, float]]:
        return [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []

    return {"samples": total, "inclusive": pct(inclusive), "self": pct(own), "layers": pct(layers)}


def _trunk(frame: str) -> bool:
    return any(marker in frame for marker in ("(threading.py)", "(gunicorn/arbiter.py)", "(gunicorn/app/",
                                              "<module> (gunicorn)", "Worker.init_process"))


def write_markdown(summaries: dict, path: Path, origin: str) -> None:
    """``origin``: the provenance line of the run the profiles come from."""
    lines = ["# Profiles (py-spy, CPU samples, idle threads excluded)", "",
             "From the run of [`results.json`](results.json) (its `profile`): " + origin, "",
             "Written by `python -m bench --profile` after the measured phases: `open` is the apertura gunicorn",
             "(master and workers) during a saturation run, the others are recorded during a half-load run.",
             "Two py-spy recorders per target take CPU themselves, so the figures of the profiling pass are",
             "not reported; only the shares below are. The flame graphs are the `profile-*.svg` beside this file",
             "(open them in a browser: they are interactive). Layers are assigned from the leaf frame upwards;",
             "samples in gunicorn's socket `write` and `close_graceful` include time spent runnable but waiting",
             "for a CPU that other processes of the system hold.", ""]
    for name, s in summaries.items():
        lines += [f"## {name} ({s['samples']} samples)", "", "By layer (leaf-most frame that belongs to a layer):", "",
                  "| layer | % of samples |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in s["layers"]]
        lines += ["", "Top frames, inclusive (below the common trunk of gunicorn, Flask and thread frames):", "",
                  "| function (file) | % |", "|---|---:|"]
        lines += [f"| `{k}` | {v} |" for k, v in s["inclusive"] if v < 90 and not _trunk(k)][:25]
        lines += ["", "Top frames, self:", "", "| function (file) | % |", "|---|---:|"]
        lines += [f"| `{k}` | {v} |" for k, v in s["self"][:15]]
        lines.append("")
    path.write_text("\n".join(lines))
