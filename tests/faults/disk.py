"""A small file system a test can fill: a tmpfs of a given size mounted on a
directory (root only), and a file that takes every byte left on it."""
from __future__ import annotations

import errno
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

CHUNK = 1 << 20


class CannotMount(RuntimeError):
    """No small file system can be mounted here (not root, no mount, no permission)."""


@contextmanager
def small_filesystem(mountpoint: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` (``mount -o size=``, e.g. ``8m``) on ``mountpoint``
    for the duration of the block, unmounted in ``finally``."""
    if os.geteuid() != 0:
        raise CannotMount("mounting a file system needs root")
    if shutil.which("mount") is None or shutil.which("umount") is None:
        raise CannotMount("mount(8) and umount(8) are not installed")
    mountpoint.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mountpoint)],
                          capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise CannotMount(f"mount -t tmpfs failed: {done.stderr.strip() or done.stdout.strip()}")
    try:
        yield mountpoint
    finally:
        unmount(mountpoint)


def unmount(mountpoint: Path, timeout: float = 10.0) -> None:
    """``umount``, retried while something still has a file open there; lazily at the end."""
    deadline = time.monotonic() + timeout
    while True:
        done = subprocess.run(["umount", str(mountpoint)], capture_output=True, text=True, timeout=30)
        if done.returncode == 0:
            return
        if time.monotonic() >= deadline:
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True, timeout=30)
            return
        time.sleep(0.2)  # a process that was just stopped may still be closing its files


def free_bytes(path: Path) -> int:
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


@contextmanager
def filled(directory: Path) -> Iterator[Path]:
    """A file in ``directory`` that takes all the space left, until the block ends."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (CHUNK, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:  # this size no longer fits: try a smaller one
                    raise
    finally:
        os.close(fd)
    try:
        yield filler
    finally:
        filler.unlink(missing_ok=True)
