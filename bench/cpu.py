"""Where the CPU went during a phase, and what that says about the phase.

``CpuMeter`` splits the machine's CPU (``/proc/stat``) over a phase into the
system under test (each Procfile line's session, and the bare app's), the
load generator (this process's threads, plus an external generator such as
wrk), the local RabbitMQ (``beam.smp``), interrupts, time stolen by the
hypervisor, and everything else: other people's processes. Every phase of
the benchmark records it.

``judge`` reads a phase's CPU: a phase whose load generator had no CPU left
while the server still had some measured the generator, not the server, and
is invalid. ``quietness`` reads all the phases of a run: how much CPU
processes outside the benchmark took while it measured.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Mapping, Protocol

# A generator thread at or above this share of one core has no room left:
# it is the bottleneck unless the server is saturated too.
GENERATOR_LIMIT = 0.85
# Nor has one that was runnable (on a CPU, or waiting in the run queue for
# one) for this share of the phase: it never waited for the server's answers.
# On a machine whose cores are all busy this is what shows a generator that
# could not get the core it needed.
GENERATOR_RUNNABLE_LIMIT = 0.9
# A server using at least this share of the cores it can use is saturated.
SATURATED = 0.9
# The machine is saturated when at least this share of it is busy (stolen time included).
MACHINE_SATURATED_PCT = 95.0
# A run is quiet when no phase saw more CPU than this (cores) taken outside the benchmark.
QUIET_OTHERS_CORES = 0.2

TICKS = os.sysconf("SC_CLK_TCK")


class Measured(Protocol):
    def sessions(self) -> dict[str, int]:
        """Name -> session id of every process tree of the system under test."""


def _stat_fields(path: Path) -> list[str] | None:
    try:
        return path.read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def session_cpu(sids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) of the live processes of each session."""
    totals = {sid: 0 for sid in sids}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(Path(f"/proc/{entry}/stat"))
        if fields is None:
            continue
        sid = int(fields[3])
        if sid in totals:
            totals[sid] += int(fields[11]) + int(fields[12])  # utime, stime
    return {sid: value / TICKS for sid, value in totals.items()}


def broker_cpu() -> dict[int, float]:
    """CPU seconds of each process of the local RabbitMQ (its Erlang VM, ``beam.smp``)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if Path(f"/proc/{entry}/comm").read_text().strip() != "beam.smp":
                continue
        except OSError:
            continue
        fields = _stat_fields(Path(f"/proc/{entry}/stat"))
        if fields is not None:
            found[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    return found


def thread_cpu(pid: int | str = "self") -> dict[int, float]:
    """CPU seconds of each live thread of a process."""
    threads = {}
    base = Path(f"/proc/{pid}/task")
    for entry in os.listdir(base):
        fields = _stat_fields(base / entry / "stat")
        if fields is not None:
            threads[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
    return threads


def thread_runnable(pid: int | str = "self") -> dict[int, float]:
    """Seconds each live thread of a process has been runnable: on a CPU or
    waiting in the run queue for one (``/proc/<pid>/task/<tid>/schedstat``)."""
    threads = {}
    base = Path(f"/proc/{pid}/task")
    try:
        entries = os.listdir(base)
    except OSError:
        return threads
    for entry in entries:
        try:
            on_cpu, waiting = (int(v) for v in (base / entry / "schedstat").read_text().split()[:2])
        except (OSError, ValueError):
            continue
        threads[int(entry)] = (on_cpu + waiting) / 1e9
    return threads


def busiest_runnable(before: dict[int, float], after: dict[int, float], wall: float) -> float:
    """The largest share of ``wall`` a thread was runnable between two
    ``thread_runnable`` readings (a thread new since the first counted whole:
    it was born in between)."""
    if wall <= 0:
        return 0.0
    return max([(value - before.get(tid, 0.0)) / wall for tid, value in after.items()] + [0.0])


def machine_cpu() -> dict[str, float]:
    """Seconds of all cores since boot, by kind, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = (v / TICKS for v in values + [0] * (8 - len(values)))
    return {"processes": user + nice + system, "interrupts": irq + softirq, "steal": steal,
            "total": user + nice + system + idle + iowait + irq + softirq + steal}


class CpuMeter:
    """The CPU of one phase, by where it went (see the module's docstring).

    The load generator is this process (its busiest thread is what limits an
    asyncio generator) plus any external generator whose CPU, and the share
    of its run its busiest thread was runnable, are handed in with
    ``add_generator`` before the block ends."""

    def __init__(self, system: Measured, generator: str = "bench.loadgen"):
        self.system = system
        self.generator = generator
        self.external: list[tuple[float, int, float]] = []
        self.result: dict = {}
        self.seconds: dict[str, float] = {}

    def add_generator(self, cpu_seconds: float, threads: int = 1, runnable: float = 0.0) -> None:
        self.external.append((cpu_seconds, max(threads, 1), runnable))

    def __enter__(self) -> "CpuMeter":
        self.start = (time.monotonic(), session_cpu(list(self.system.sessions().values())),
                      thread_cpu(), machine_cpu(), broker_cpu(), thread_runnable())
        return self

    def __exit__(self, *_exc) -> None:
        wall0, sut0, threads0, machine0, broker0, runnable0 = self.start
        broker1 = broker_cpu()
        # A broker process that is gone was stopped during the phase (its CPU since the start is lost).
        broker_restarted = bool(set(broker0) - set(broker1))
        broker = sum(cpu - broker0.get(pid, 0.0) for pid, cpu in broker1.items())
        machine1 = machine_cpu()
        threads1 = thread_cpu()
        runnable1 = thread_runnable()
        wall = max(time.monotonic() - wall0, 1e-9)
        sessions = self.system.sessions()
        now = session_cpu(list(sessions.values()))
        by_name = {name: now.get(sid, 0.0) - sut0.get(sid, 0.0) for name, sid in sessions.items()}
        sut = sum(by_name.values())
        own = {tid: cpu - threads0.get(tid, 0.0) for tid, cpu in threads1.items()}
        external = sum(seconds for seconds, _, _ in self.external)
        generator = sum(own.values()) + external
        busiest = max([*own.values(), *(seconds / n for seconds, n, _ in self.external), 0.0])
        runnable = max([busiest_runnable(runnable0, runnable1, wall), *(r for _, _, r in self.external)])
        delta = {kind: machine1[kind] - machine0[kind] for kind in machine1}
        busy = delta["processes"] + delta["interrupts"] + delta["steal"]
        self.seconds = {**by_name, "load_generator": generator, "rabbitmq": broker}
        self.result = {
            "wall_s": round(wall, 2),
            "cores": os.cpu_count() or 1,
            "machine_busy_pct": round(100 * busy / max(delta["total"], 1e-9), 1),
            "system_under_test_cores": round(sut / wall, 2),
            "load_generator": self.generator,
            "load_generator_cores": round(generator / wall, 2),
            "load_generator_busiest_thread_cores": round(busiest / wall, 2),
            "load_generator_busiest_thread_runnable": round(min(runnable, 1.0), 2),
            "broker_cores": round(broker / wall, 2),
            "broker_restarted": broker_restarted,
            # Processes' CPU that is none of the above: other people's work on this machine.
            "others_cores": round(max(delta["processes"] - sut - generator - broker, 0.0) / wall, 2),
            "interrupts_cores": round(delta["interrupts"] / wall, 2),
            "steal_cores": round(delta["steal"] / wall, 2),
            "by_process_cores": {name: round(v / wall, 3) for name, v in by_name.items()},
        }


def judge(cpu: Mapping, *, server_cores: float, capacity: float, must_saturate: bool = False) -> dict:
    """What limited a phase, and whether its figures stand.

    ``server_cores`` is the CPU of what the phase measures and ``capacity``
    the cores it could use at most. The phase is invalid when the busiest
    generator thread had no CPU left (``GENERATOR_LIMIT`` of a core, or
    runnable ``GENERATOR_RUNNABLE_LIMIT`` of the time) while the server was
    below saturation; with ``must_saturate`` (a ceiling), also
    when neither the server nor the machine was saturated: a ceiling that
    nothing limited is not a ceiling. A phase during which RabbitMQ was
    restarted (a process of it went away) does not stand either."""
    generator = cpu["load_generator_busiest_thread_cores"]
    runnable = cpu.get("load_generator_busiest_thread_runnable", 0.0)
    server_saturated = server_cores >= SATURATED * capacity
    machine_saturated = cpu["machine_busy_pct"] >= MACHINE_SATURATED_PCT
    generator_bound = (generator >= GENERATOR_LIMIT or runnable >= GENERATOR_RUNNABLE_LIMIT) and not server_saturated
    if cpu.get("broker_restarted"):
        limited_by, valid, why = "RabbitMQ restart", False, "RabbitMQ was restarted during the phase"
    elif generator_bound:
        limited_by, valid = "load generator", False
        why = (f"the generator's busiest thread used {generator} of a core and was runnable "
               f"{100 * runnable:.0f} % of the time, while the server used {server_cores:.2f} of {capacity:g} cores")
    elif server_saturated:
        limited_by, valid, why = "server", True, ""
    elif machine_saturated:
        limited_by, valid, why = "machine CPU", True, ""
    else:
        limited_by, valid = "not CPU", not must_saturate
        why = "" if valid else (f"nothing was saturated (server {server_cores:.2f} of {capacity:g} cores, "
                                f"machine {cpu['machine_busy_pct']} % busy): too few connections")
    return {"load_generator": cpu.get("load_generator"),
            "load_generator_busiest_thread_cores": generator,
            "load_generator_busiest_thread_runnable": runnable,
            "load_generator_cores": cpu["load_generator_cores"],
            "server_cores": round(server_cores, 2), "server_capacity_cores": capacity,
            "broker_cores": cpu.get("broker_cores"), "others_cores": cpu["others_cores"],
            "machine_busy_pct": cpu["machine_busy_pct"],
            "limited_by": limited_by, "valid": valid, "why": why}


def quietness(phases: Mapping[str, Mapping], *, limit: float = QUIET_OTHERS_CORES,
              test_runs: Mapping[str, int] | None = None) -> dict:
    """Whether the machine was quiet while the benchmark measured: the CPU
    taken by processes outside it in each phase (``others_cores``, from
    /proc/stat minus every measured process), stolen time, and the test runs
    (pytest processes) seen at the start and the end."""
    others = {name: cpu["others_cores"] for name, cpu in phases.items()}
    steal = {name: cpu.get("steal_cores", 0.0) for name, cpu in phases.items()}
    worst = max(others.values(), default=0.0)
    worst_steal = max(steal.values(), default=0.0)
    runs = dict(test_runs or {})
    quiet = worst <= limit and worst_steal <= limit and not any(runs.values())
    return {"quiet": quiet, "limit_cores": limit, "others_cores_max": worst, "steal_cores_max": worst_steal,
            "others_cores_by_phase": others, "test_runs_seen": runs,
            "loadavg_now": [round(x, 2) for x in os.getloadavg()]}
