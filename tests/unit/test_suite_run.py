"""When a suite may publish its figures (tests/suite_run.py). pytest's
config and session are faked with the few attributes the rule reads."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.suite_run import SuiteRun

ROOT = Path(__file__).resolve().parents[2]
SUITE = ROOT / "tests" / "faults"


def config(*args: str, keyword: str = "") -> SimpleNamespace:
    return SimpleNamespace(option=SimpleNamespace(keyword=keyword), args=list(args),
                           invocation_params=SimpleNamespace(dir=ROOT))


def finished(status: pytest.ExitCode) -> SuiteRun:
    run = SuiteRun(SUITE)
    run.finish(SimpleNamespace(exitstatus=status))
    return run


def test_a_passing_run_of_the_suite_or_of_a_folder_above_it_publishes():
    assert finished(pytest.ExitCode.OK).publishable(config("tests/faults"))
    assert finished(pytest.ExitCode.OK).publishable(config("tests"))


@pytest.mark.parametrize("args, keyword", [
    (("tests/faults/test_broker_faults.py",), ""),
    (("tests/faults/test_broker_faults.py::test_x",), ""),
    (("tests/faults",), "broker"),
    (("tests/unit",), ""),
])
def test_part_of_the_suite_does_not_publish(args, keyword):
    assert not finished(pytest.ExitCode.OK).publishable(config(*args, keyword=keyword))


def test_deselected_tests_of_the_suite_stop_it_publishing_and_others_do_not():
    run = finished(pytest.ExitCode.OK)
    run.deselect([SimpleNamespace(path=ROOT / "tests" / "unit" / "test_x.py")])
    assert run.publishable(config("tests"))
    run.deselect([SimpleNamespace(path=SUITE / "test_broker_faults.py")])
    assert not run.publishable(config("tests"))


def test_a_failed_run_or_one_that_never_finished_does_not_publish():
    assert not finished(pytest.ExitCode.TESTS_FAILED).publishable(config("tests/faults"))
    assert not SuiteRun(SUITE).publishable(config("tests/faults"))
