"""Browser fixtures: the whole system started as `make run` starts it (every
line of Procfile.dev through harness/: the portal and the four services under
gunicorn, their workers, the real RabbitMQ, SQLite in a temporary
directory), and Debian's Chromium driven headless by Playwright.

- ``system``: one system for the whole tier (package scope). Tests that need
  a system nobody else touches (exact queue contents, statistics, an API
  stopped on purpose) take ``own_system``, started for that test alone.
- ``api``: the harness's HTTP driver of ``system``'s four APIs, for setting up
  people and incidents that a test is not about, and for reading what the
  APIs hold to compare it with what the pages show.
- ``contexts``: ``contexts(...)`` opens a browser context (its own cookies:
  one person) on the portal; all of them are closed after the test. A page
  that reports a Content-Security-Policy violation or an uncaught script
  error fails the test; a failed test leaves a screenshot and the HTML of
  every open page in its temporary directory.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterator

import pytest

os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")

from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright  # noqa: E402

from harness import ADMIN_EMAIL, ADMIN_PASSWORD, Account, Driver, System  # noqa: E402

from .pages import CHROMIUM, LOCALE, PORTAL_CATEGORIAS, TIMEZONE, WIDE, launch_chromium  # noqa: E402

expect.set_options(timeout=10_000)
ACTION_TIMEOUT_MS = 10_000
NAVIGATION_TIMEOUT_MS = 20_000


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def start_system(workdir: Path) -> System:
    instance = System.launch(workdir)
    if not getattr(instance, "portal_url", ""):
        instance.dispose()
        pytest.fail("harness.System does not start the portal (no portal_url)")
    return instance


@pytest.fixture(scope="package")
def system(tmp_path_factory) -> Iterator[System]:
    instance = start_system(tmp_path_factory.mktemp("browser-system"))
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.fixture
def own_system(tmp_path_factory) -> Iterator[System]:
    """A system for one test alone."""
    instance = start_system(tmp_path_factory.mktemp("own-system"))
    try:
        yield instance
    finally:
        instance.dispose()


@pytest.fixture
def api(system) -> Iterator[Driver]:
    with Driver(system.urls, patience=20) as driver:
        yield driver


@pytest.fixture(scope="package")
def admin(system) -> Account:
    with Driver(system.urls) as driver:
        return driver.admin()


@pytest.fixture(scope="package")
def generalista(system, admin) -> Account:
    """An agent without categories, there from the start: incidents of a
    category nobody specialises in go to them, never to another test's
    specialist (the assignment policy prefers generalists)."""
    with Driver(system.urls) as driver:
        agente = driver.new_empleado("agente", [], nombre="Gema", apellidos="General",
                                     admin_token=admin.token)
        driver.wait_known_by_resolucion(admin, agente)
        return agente


@pytest.fixture(scope="package")
def _categorias_libres() -> list[str]:
    return list(PORTAL_CATEGORIAS)


@pytest.fixture
def categoria_propia(_categorias_libres, generalista) -> str:
    """One of the portal's categories that no other test of ``system`` uses:
    an agent made for it is the only one who gets its incidents."""
    if not _categorias_libres:
        pytest.fail("every category of the portal is taken by another test: use own_system")
    return _categorias_libres.pop(0)


# -- the browser ----------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (make test-browser does it)")
    with sync_playwright() as playwright:
        instance = launch_chromium(playwright)
        try:
            yield instance
        finally:
            instance.close()


class PageProblems:
    """What the pages of a test reported that no page should: CSP violations
    and uncaught script errors."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def watch(self, page: Page) -> None:
        page.on("pageerror", lambda exc: self.found.append(f"{page.url}: uncaught {exc}"))
        page.on("console", lambda msg: self.found.append(f"{page.url}: {msg.text}")
                if msg.type == "error" and "Content Security Policy" in msg.text else None)


@pytest.fixture
def contexts(browser, system, request, tmp_path) -> Iterator[Callable[..., BrowserContext]]:
    """``contexts(viewport=WIDE, javascript=True, storage_state=None, base_url=system's portal)``."""
    made: list[BrowserContext] = []
    problems = PageProblems()

    def new(*, viewport: dict | None = None, javascript: bool = True, storage_state=None,
            base_url: str | None = None) -> BrowserContext:
        context = browser.new_context(
            base_url=base_url or system.portal_url, viewport=viewport or WIDE, locale=LOCALE, timezone_id=TIMEZONE,
            java_script_enabled=javascript, storage_state=storage_state)
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        context.set_default_navigation_timeout(NAVIGATION_TIMEOUT_MS)
        context.on("page", problems.watch)
        made.append(context)
        return context

    yield new
    failed = any(getattr(request.node, f"report_{when}", None) is not None
                 and getattr(request.node, f"report_{when}").failed for when in ("setup", "call"))
    if failed:
        keep_evidence(made, tmp_path)
    for context in made:
        context.close()
    if problems.found and not failed:
        pytest.fail("the pages reported:\n" + "\n".join(problems.found))


def keep_evidence(made: list[BrowserContext], directory: Path) -> None:
    for c, context in enumerate(made):
        for p, page in enumerate(context.pages):
            stem = directory / f"context{c}-page{p}"
            try:
                page.screenshot(path=f"{stem}.png", full_page=True)
                stem.with_suffix(".html").write_text(page.content())
            except Exception as exc:  # noqa: BLE001 - evidence is best effort
                stem.with_suffix(".txt").write_text(f"{page.url}: {exc}")
    print(f"screenshots and HTML of the open pages: {directory}")


@pytest.fixture
def page(contexts) -> Page:
    """A page in a context of its own, JavaScript on, wide viewport."""
    return contexts().new_page()


@pytest.fixture
def admin_page(contexts) -> Page:
    """The first admin, signed in to the team console."""
    from .pages import sign_in

    page = contexts().new_page()
    sign_in(page, ADMIN_EMAIL, ADMIN_PASSWORD, equipo=True)
    return page
