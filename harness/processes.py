"""The processes a test run leaves running (Linux: read from /proc).

A run marks its environment with ``MARK`` (tests/conftest.py does, before
anything starts), so every process started during the run inherits it: one
that outlived its parent (adopted by init, or started in a session of its
own whose leader is gone) is found by that mark, the others also by their
parent links to the test process. ``stop`` ends what is found.
"""
from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from .polling import wait_until

MARK = "INCIDENCIAS_TEST_RUN"
# Erlang's runtime and port mapper belong to the machine's shared RabbitMQ,
# which a fault test may start again: they outlive the run by design, and so
# do their own children.
SHARED = frozenset({"beam.smp", "epmd"})
PROC = Path("/proc")


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    state: str
    name: str
    command: str

    def __str__(self) -> str:
        return f"pid {self.pid} (parent {self.ppid}): {self.command or self.name}"


def _read(pid: int) -> Process | None:
    try:
        stat = (PROC / str(pid) / "stat").read_text()
        command = (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:  # gone meanwhile
        return None
    name = stat[stat.index("(") + 1:stat.rindex(")")]
    state, ppid = stat[stat.rindex(")") + 2:].split()[:2]
    return Process(pid, int(ppid), state, name, command.strip())


def table() -> dict[int, Process]:
    """Every process of the machine now, by pid."""
    found = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit() and (process := _read(int(entry.name))) is not None:
            found[process.pid] = process
    return found


def _marked(pid: int, mark: str) -> bool:
    try:
        return f"{MARK}={mark}".encode() in (PROC / str(pid) / "environ").read_bytes().split(b"\0")
    except OSError:  # gone, or not ours to read
        return False


def left_behind(root: int, mark: str) -> list[Process]:
    """The live processes below ``root`` or carrying ``mark`` (``root`` and
    its ancestors aside), except the shared broker's."""
    processes = table()

    def lineage(process: Process) -> list[Process]:
        chain, seen = [], set()
        while process is not None and process.pid not in seen:
            chain.append(process)
            seen.add(process.pid)
            process = processes.get(process.ppid)
        return chain

    ancestors = {p.pid for p in lineage(processes[root])} if root in processes else {root}
    found = []
    for process in processes.values():
        if process.pid in ancestors or process.state == "Z":
            continue
        chain = lineage(process)
        if any(p.name in SHARED for p in chain):
            continue
        if any(p.pid == root for p in chain) or _marked(process.pid, mark):
            found.append(process)
    return sorted(found, key=lambda p: p.pid)


def still_running(root: int, mark: str, grace: float = 5.0) -> list[Process]:
    """``left_behind`` once what is on its way out had ``grace`` seconds to
    go (a browser's crash handler exits a moment after the browser)."""
    try:
        wait_until(lambda: not left_behind(root, mark), grace, 0.1, "the run's processes to exit")
    except AssertionError:
        return left_behind(root, mark)
    return []


def stop(processes: list[Process], grace: float = 10.0) -> None:
    """SIGTERM, and SIGKILL to whatever is still there after ``grace`` seconds."""
    def send(signum: int) -> None:
        for process in processes:
            try:
                os.kill(process.pid, signum)
            except ProcessLookupError:
                pass

    def gone() -> bool:
        for process in processes:
            try:  # our own children stay as zombies until reaped
                os.waitpid(process.pid, os.WNOHANG)
            except ChildProcessError:
                pass
        return all((current := _read(p.pid)) is None or current.state == "Z" for p in processes)

    send(signal.SIGTERM)
    try:
        wait_until(gone, grace, 0.1, "the processes left behind to exit")
    except AssertionError:
        send(signal.SIGKILL)
        wait_until(gone, grace, 0.1, "the processes left behind to die")
