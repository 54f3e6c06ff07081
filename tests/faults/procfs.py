"""What the kernel says about a process of the system under faults: its
connections to RabbitMQ, where it sleeps, whether it waits for SQLite's
write lock."""
from __future__ import annotations

import os
from pathlib import Path


def amqp_ports(pid: int) -> set[int]:
    """The local ports of ``pid``'s TCP connections to RabbitMQ (port 5672)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == 5672:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


def wchan(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/wchan").read_text().strip()
    except OSError:
        return ""


def waiting_for_sqlite_lock(pid: int) -> bool:
    """Whether a thread of ``pid`` sleeps in SQLite's busy handler (waiting
    for a write lock someone else holds): a request or a message in hand."""
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return False
    for task in tasks:
        try:
            if "nanosleep" in (task / "wchan").read_text():
                return True
        except OSError:
            continue
    return False
