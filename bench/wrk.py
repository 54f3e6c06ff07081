"""The closed-loop saturation runs driven by ``wrk`` (Debian's ``wrk``
package), when it is installed.

Why a second generator: the two cores of the benchmark machine are shared by
the server and its load generator, so whatever CPU the generator spends per
request is taken from the server. The asyncio generator of ``bench.loadgen``
spends a good part of what a bare Flask request costs; a ceiling measured
with it is partly the generator's ceiling. wrk (C, epoll) spends a small
fraction of that, so the saturation runs (the bare app's and the real
``POST /incidencias``'s: the same generator for both, so their ratio stays
fair) use it. The phases that follow one incident from request to request
(half load, cost, lists) stay on ``bench.loadgen``.

The requests are the ones ``bench.loadgen`` sends: the same headers, the same
body, a customer's token in turn and a fresh ``Idempotency-Key`` each, made
by a small Lua script. The script counts the answers by status and prints
the run's summary as one JSON line. wrk measures a request's latency from
writing it to reading its answer; unlike ``bench.loadgen`` it leaves out the
TCP connect that gunicorn's sync workers (``Connection: close``) make every
request pay, in both runs alike.

The generator's CPU is the wrk process's, read from its resource usage when
it exits (``os.wait4``), and reported per thread: one wrk thread serves all
the connections of a run, and a thread near a full core is a generator that
limits the run. While it runs, its threads' run-queue statistics are read
too: a thread runnable nearly all the time never waited for the server,
whatever share of a core a busy machine gave it (see ``bench.cpu``).
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from .cpu import busiest_runnable, thread_runnable

HOST = "127.0.0.1"

SCRIPT = r"""
local tokens = {%(tokens)s}
local body = %(body)s
local prefix = %(prefix)s
local threads = {}
local counter = 0
local sent = 0
statuses = {}

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

function init(args)
  -- Each wrk run has a fresh Lua state: the run's own nonce keeps the keys of every run apart.
  run = args[1]
end

function request()
  sent = sent + 1
  local headers = {
    ["Connection"] = "keep-alive",
    ["Accept"] = "application/json",
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = prefix .. run .. "-" .. id .. "-" .. sent,
  }
  if #tokens > 0 then
    headers["Authorization"] = "Bearer " .. tokens[(sent %% #tokens) + 1]
  end
  return wrk.format(%(method)s, %(path)s, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counts[#counts + 1] = string.format('"%%d": %%d', status, n)
    end
  end
  local e = summary.errors
  io.write(string.format(
    '\nBENCH-RESULT {"requests": %%d, "duration_us": %%d, "statuses": {%%s}, ' ..
    '"errors": {"connect": %%d, "read": %%d, "write": %%d, "timeout": %%d}, ' ..
    '"p50_us": %%d, "p90_us": %%d, "p99_us": %%d, "max_us": %%d}\n',
    summary.requests, summary.duration, table.concat(counts, ", "),
    e.connect, e.read, e.write, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def available() -> str | None:
    """wrk's path, or None when it is not installed."""
    return shutil.which("wrk")


def version() -> str | None:
    """``wrk <version>``, as ``wrk -v`` names itself (the copyright line left out)."""
    path = available()
    if not path:
        return None
    done = subprocess.run([path, "-v"], capture_output=True, text=True)
    words = (done.stdout or done.stderr).split()
    return " ".join(words[:2]) if words else None


def _lua_string(text: str) -> str:
    """A Lua long-bracket literal holding ``text`` verbatim."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    eq = "=" * level
    return f"[{eq}[{text}]{eq}]"


@dataclass
class WrkRun:
    """A finished wrk run: what it measured and the CPU it spent."""

    requests: int
    window: float
    statuses: dict[int, int]
    errors: int
    latency_ms: dict[str, float | None]
    cpu_seconds: float
    threads: int
    # The largest share of the run one of its threads was runnable (on a CPU or waiting for one).
    runnable: float

    @property
    def ok(self) -> int:
        return sum(n for s, n in self.statuses.items() if 200 <= s < 300)

    @property
    def rate(self) -> float:
        return self.ok / self.window if self.window else 0.0


class Wrk:
    """Closed-loop runs of one request shape against one port."""

    def __init__(self, port: int, method: str, path: str, body: bytes, tokens: list[str],
                 workdir: Path | None = None):
        self.port = port
        self.directory = Path(tempfile.mkdtemp(prefix="bench-wrk-", dir=workdir))
        self.script = self.directory / "request.lua"
        self.script.write_text(SCRIPT % {
            "tokens": ", ".join(_lua_string(t) for t in tokens),
            "body": _lua_string(body.decode()),
            "prefix": _lua_string(f"bench-wrk-{uuid.uuid4().hex[:8]}-"),
            "method": _lua_string(method), "path": _lua_string(path),
        })
        self.path = available()
        if not self.path:
            raise RuntimeError("wrk is not installed (apt-get install wrk)")

    def close(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)

    def run(self, concurrency: int, duration: float, timeout: float = 30.0) -> WrkRun:
        """``concurrency`` connections on one wrk thread for ``duration``
        seconds (whole seconds: wrk's unit). Blocking: call it from a thread."""
        seconds = max(1, math.ceil(duration))
        command = [self.path, "-t1", f"-c{concurrency}", f"-d{seconds}s", f"--timeout={math.ceil(timeout)}s",
                   "-s", str(self.script), f"http://{HOST}:{self.port}/", "--", uuid.uuid4().hex[:12]]
        out = self.directory / "out.txt"
        first = last = None
        with out.open("wb") as stdout:
            process = subprocess.Popen(command, stdout=stdout, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + seconds + timeout + 30
            try:
                while True:
                    pid, status, usage = os.wait4(process.pid, os.WNOHANG)
                    if pid:
                        break
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"wrk did not finish its {seconds} s run")
                    sample = (time.monotonic(), thread_runnable(process.pid))
                    if sample[1]:
                        first, last = first or sample, sample
                    time.sleep(0.1)  # the next reading of its run-queue statistics
            except BaseException:
                process.kill()
                process.wait()
                raise
            process.returncode = os.waitstatus_to_exitcode(status)
        text = out.read_text(errors="replace")
        line = next((ln for ln in text.splitlines() if ln.startswith("BENCH-RESULT ")), None)
        if process.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({process.returncode}): {text[-2000:]}")
        data = json.loads(line.removeprefix("BENCH-RESULT "))
        return WrkRun(
            requests=data["requests"], window=data["duration_us"] / 1e6,
            statuses={int(k): v for k, v in data["statuses"].items()},
            errors=sum(data["errors"].values()),
            latency_ms={"n": data["requests"],
                        **{f"{q}_ms": round(data[f"{q}_us"] / 1000, 2) for q in ("p50", "p90", "p99", "max")}},
            cpu_seconds=usage.ru_utime + usage.ru_stime, threads=1,
            runnable=busiest_runnable(first[1], last[1], last[0] - first[0]) if first else 0.0,
        )
