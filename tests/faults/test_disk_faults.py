"""A service's data directory fills up while customers keep opening
incidents. apertura (its web server and its worker) runs on a small file
system of its own (a tmpfs the test mounts, root only), which the test fills
to the last byte, holds full, then frees. While it cannot write, apertura
refuses writes with 503 problem+json (never a 500), holds the events it
must apply, and neither its web workers nor its worker crash (a worker
started on the full disk starts and stays up); nothing it
acknowledged is lost, nothing it refused is there, and once there is space
again it takes writes and applies what it held, without a restart."""
from __future__ import annotations

import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from harness import new_categoria, wait_until

from .checker import Expected
from .disk import CannotMount, filled, free_bytes, small_filesystem
from .load import Load
from .test_storage_faults import assert_problem_503, assigned_incident, readiness, staff_starts

pytestmark = [pytest.mark.slow, pytest.mark.faults]

SIZE = "16m"  # apertura's whole data directory; its database takes about a megabyte here
FULL = 10.0  # seconds the disk stays full once a write was refused
RATE = 6.0  # incidents opened per second, steady
APERTURA = ("apertura", "apertura_worker")
DATABASE_FILES = ("", "-wal", "-shm")  # an SQLite database in WAL mode


@pytest.fixture
def data_disk(tmp_path) -> Iterator[Path]:
    try:
        with small_filesystem(tmp_path / "disk", SIZE) as mountpoint:
            yield mountpoint
    except CannotMount as exc:
        pytest.skip(f"a full disk needs a small file system the test can mount: {exc}")


def copy_database(name: str, source: Path, target: Path) -> None:
    """Service ``name``'s database (and its WAL) from one data directory to
    another, with its processes stopped; a WAL the source does not have is
    removed from the target (SQLite would replay it)."""
    for suffix in DATABASE_FILES:
        origin, copy = source / f"{name}{suffix}", target / f"{name}{suffix}"
        if origin.exists():
            shutil.copy2(origin, copy)
        else:
            copy.unlink(missing_ok=True)


@contextmanager
def running_on(world, directory: Path) -> Iterator[None]:
    """apertura's processes on ``directory`` as their data directory, with
    their database moved there, for the block; moved back afterwards."""
    system = world.system
    database = system.db_path("apertura")
    for name in APERTURA:
        system.stop(name)
    copy_database(database.name, database.parent, directory)
    try:
        system.start(list(APERTURA), env={"DATA_DIR": str(directory)})
        yield
    finally:
        for name in APERTURA:
            if name in system.processes:
                system.stop(name)
        copy_database(database.name, directory, database.parent)
        system.start(list(APERTURA))


def test_a_full_data_directory_refuses_writes_with_503_and_loses_nothing(world, tap, data_disk, figures, alive):
    clientes = world.clientes(3)
    categoria = new_categoria("faults")
    checker = world.checker("data_directory_full", tap, clientes, categoria)
    with running_on(world, data_disk):
        master = world.system.pid("apertura")
        held = assigned_incident(world, checker, clientes[0])
        checker.expect(held, Expected("en_curso", 3))
        load = Load(world.api, clientes, categoria, rate=RATE, duration=120, max_requests=int(RATE * 120)).start()
        try:
            time.sleep(3)  # load before the fault
            with filled(data_disk):
                assert free_bytes(data_disk) == 0
                # The pages SQLite had already allocated may take a few writes more; then writes are refused.
                refused = wait_until(lambda: (r := checker.open(clientes[1])).status_code == 503 and r, timeout=60,
                                     interval=0.2, message="a write refused on the full disk")
                full_at = time.monotonic()
                assert_problem_503(refused)
                # An event apertura must apply arrives meanwhile: it is held, not dead-lettered.
                staff_starts(world, checker, clientes[0], held)
                # A worker that starts on the full disk (its store, its outbox relay
                # and doorbell, its consumers) starts and stays up.
                world.system.restart("apertura_worker", env={"DATA_DIR": str(data_disk)}, wait=False)
                time.sleep(FULL)  # hold the fault its full length
                world.system.check_alive()
                assert_problem_503(checker.open(clientes[1]))
                assert world.system.pid("apertura") == master
                freed_at = time.monotonic()
            # Space again: writes are taken without a restart.
            wait_until(lambda: checker.open(clientes[2]).status_code == 201, timeout=30, interval=0.2,
                       message="a write accepted once space is freed")
            recovery_s = time.monotonic() - freed_at
            time.sleep(3)  # load after the fault
        finally:
            load.stop()
            writes = load.join()
        checker.add_requests(writes)
        report = checker.converge(timeout=90)
        assert readiness(world).status_code == 200
        assert world.system.pid("apertura") == master  # recovered, not restarted
    answers: dict[str, int] = {}
    for write in writes:
        for attempt in write.attempts:
            answers[str(attempt.status)] = answers.get(str(attempt.status), 0) + 1
    figures.record("data_directory_full",
                   fault=f"apertura's data directory (a {SIZE} tmpfs) filled to the last byte for "
                         f"{FULL:.0f} s after the first refused write, under {RATE:.0f} incidents/s, then freed",
                   figures={**report.figures(), "full_s": round(freed_at - full_at, 1),
                            "recovery_s": round(recovery_s, 1), "load_answers": answers})
    report.assert_sound()
    # Every answer was a success or a 503 (never a 500, never none), and the fault was real.
    assert set(answers) <= {"201", "503"} and answers.get("503") and answers.get("201"), answers
    # A refused write was not made after all.
    assert report.figures()["writes"]["indeterminate"] == 0, report.figures()["writes"]
