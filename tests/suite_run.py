"""Whether a run of a suite may publish its figures in ``docs/``.

The fault and security suites write the figures ``docs/`` shows. Only a run
of the *whole* suite that *passed* may: a run of one test, of ``-k`` or with
tests deselected would replace every figure with a few of them, and a run
that failed must never look like one that passed. The outcome is read once
pytest has finished everything, including the check that no process was
left behind (``tests/conftest.py``), which can still fail the run: so the
suites write in ``pytest_unconfigure``, after every ``pytest_sessionfinish``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import pytest


class SuiteRun:
    def __init__(self, directory: Path):
        self.directory = directory.resolve()
        self.deselected = 0
        self.session: pytest.Session | None = None

    def _inside(self, path: Path) -> bool:
        return path.resolve().is_relative_to(self.directory)

    def deselect(self, items: Iterable[pytest.Item]) -> None:
        """``pytest_deselected``: tests of this suite left out of the run."""
        self.deselected += sum(1 for item in items if self._inside(Path(str(item.path))))

    def finish(self, session: pytest.Session) -> None:
        """``pytest_sessionfinish``: the session whose final outcome to read."""
        self.session = session

    def passed(self) -> bool:
        return self.session is not None and self.session.exitstatus == pytest.ExitCode.OK

    def whole(self, config: pytest.Config) -> bool:
        """Every test of the suite was selected: no ``-k``, no node ids or
        files narrower than the suite's directory, nothing deselected."""
        if config.option.keyword or self.deselected:
            return False
        root = Path(str(config.invocation_params.dir))
        for arg in config.args:
            if "::" in arg:
                return False
            path = (root / arg).resolve()
            if path != self.directory and not self.directory.is_relative_to(path):
                return False
        return True

    def publishable(self, config: pytest.Config) -> bool:
        return self.passed() and self.whole(config)
