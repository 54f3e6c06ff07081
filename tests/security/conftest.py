"""Fixtures of the security suite: the whole system started once per run
(every process of Procfile.dev, the real RabbitMQ, SQLite storage in a
temporary directory, or a MongoDB database per service when ``MONGO_URL`` or
the ``*_MONGO_URL`` variables are set: see harness/system.py), the people and incidents the attacks need, and the
recorder of the published figures."""
from __future__ import annotations

import importlib.metadata
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest

from harness import Driver, System
from tests.suite_run import SuiteRun

from .figures import Attempt, Recorder, TestFigures
from .world import PROXY_ADDRESS, World, build_world, new_client, problem

_RECORDER = Recorder()
_RUN = SuiteRun(Path(__file__).parent)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "security: attacks on the running system (authorization, hostile input, tokens, fuzzing)")


def pytest_deselected(items) -> None:
    _RUN.deselect(items)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _RUN.finish(session)


def pytest_unconfigure(config: pytest.Config) -> None:
    # After every sessionfinish hook: the check for processes left behind can still fail the run.
    versions = {}
    for package in ("schemathesis", "hypothesis"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            pass
    _RECORDER.write(versions, session_passed=_RUN.passed(), whole_suite=_RUN.whole(config))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed:
        _RECORDER.failed(report.nodeid)


@pytest.fixture(scope="session")
def security_system(tmp_path_factory) -> Iterator[System]:
    # Started again on other ports if another process took one of them
    # between choosing and binding it (a busy machine).
    instance = System.launch(tmp_path_factory.mktemp("security"), attempts=2,
                             FORWARDED_ALLOW_IPS=f"127.0.0.1,{PROXY_ADDRESS}")
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.fixture(scope="session")
def world(security_system) -> Iterator[World]:
    try:
        built = build_world(security_system)
    except AssertionError as exc:
        logs = "\n".join(f"--- {name}\n{security_system.tail(name, 8)}" for name in security_system.logs)
        raise AssertionError(f"{exc}\nlast lines of the system's logs:\n{logs}") from exc
    yield built
    built.client.close()


@pytest.fixture
def client(security_system) -> Iterator[Driver]:
    """A client with a loopback source address of its own."""
    instance = new_client(security_system.urls)
    yield instance
    instance.close()


@pytest.fixture(scope="session")
def openapi(security_system) -> dict[str, dict]:
    """Each service's OpenAPI document, as the running service serves it."""
    documents = {}
    for service, url in security_system.urls.items():
        response = httpx.get(f"{url}/openapi.json", timeout=10)
        assert response.status_code == 200, response.text
        documents[service] = response.json()
    return documents


class Attacks:
    """Sends nothing itself: judges and records each attack of one test, and
    fails the test at the end with every accepted attack listed at once."""

    def __init__(self, figures: TestFigures, category: str):
        self.figures = figures
        self.category = category
        self.accepted: list[str] = []

    def record(self, name: str, rejected: bool, detail: str = "", *, category: str | None = None,
               known_bug: str | None = None) -> bool:
        self.figures.attempts.append(Attempt(category or self.category, name, rejected, known_bug))
        if not rejected:
            self.accepted.append(f"{name}: {detail}" if detail else name)
        return rejected

    def expect(self, name: str, response: httpx.Response, statuses: int | tuple[int, ...], *,
               category: str | None = None, known_bug: str | None = None, problem_body: bool = True) -> bool:
        """Rejected means answered with one of ``statuses``, as problem+json."""
        statuses = (statuses,) if isinstance(statuses, int) else statuses
        ok = response.status_code in statuses
        if ok and problem_body:
            try:
                problem(response)
            except AssertionError:
                ok = False
        return self.record(name, ok, f"{response.status_code} {response.text[:300]}", category=category,
                           known_bug=known_bug)

    def check(self) -> None:
        assert not self.accepted, f"{len(self.accepted)} attack(s) not rejected:\n" + "\n".join(self.accepted)


@pytest.fixture
def attacks(request) -> Any:
    """``attacks(category)`` gives the recorder of this test's attacks."""
    figures = _RECORDER.for_test(request.node.nodeid)

    def make(category: str) -> Attacks:
        return Attacks(figures, category)

    make.figures = figures  # type: ignore[attr-defined]
    return make
