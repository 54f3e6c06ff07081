"""The benchmark's checks of its own phases (``bench.cpu``) and the labels of
what it renders (``bench.report``): a phase limited by its load generator, or
a ceiling that saturated nothing, does not stand; a results file without
provenance says so. Pure: the CPU figures are given, nothing is measured."""
from __future__ import annotations

from bench.cpu import GENERATOR_LIMIT, busiest_runnable, judge, quietness
from bench.report import stamp_line, sweep_rows, warnings
from bench.wrk import _lua_string


def cpu(*, generator: float, busy: float = 80.0, others: float = 0.0, steal: float = 0.0,
        runnable: float | None = None) -> dict:
    return {"load_generator": "gen", "load_generator_busiest_thread_cores": generator,
            "load_generator_busiest_thread_runnable": generator if runnable is None else runnable,
            "load_generator_cores": generator, "broker_cores": 0.0, "others_cores": others,
            "steal_cores": steal, "machine_busy_pct": busy, "cores": 2}


def test_a_generator_without_cpu_left_beside_an_unsaturated_server_makes_the_phase_invalid():
    verdict = judge(cpu(generator=0.9, busy=85.0), server_cores=0.94, capacity=2, must_saturate=True)

    assert verdict["valid"] is False
    assert verdict["limited_by"] == "load generator"
    assert "0.9 of a core" in verdict["why"]


def test_a_busy_generator_beside_a_saturated_server_still_measured_the_server():
    verdict = judge(cpu(generator=0.95, busy=100.0), server_cores=1.85, capacity=2, must_saturate=True)

    assert verdict["valid"] is True
    assert verdict["limited_by"] == "server"


def test_a_generator_that_was_always_runnable_on_a_full_machine_was_the_bottleneck():
    # A busy machine gave it only 0.6 of a core, but it never waited for the server's answers.
    verdict = judge(cpu(generator=0.6, runnable=0.95, busy=100.0), server_cores=1.2, capacity=2, must_saturate=True)

    assert verdict["valid"] is False
    assert verdict["limited_by"] == "load generator"
    assert "runnable 95 %" in verdict["why"]


def test_the_runnable_share_of_a_thread_born_between_two_readings_counts_whole():
    assert busiest_runnable({1: 10.0}, {1: 10.5, 2: 0.9}, wall=1.0) == 0.9
    assert busiest_runnable({1: 10.0}, {1: 10.5}, wall=0.0) == 0.0


def test_a_ceiling_on_a_machine_with_no_cpu_left_is_limited_by_the_machine():
    verdict = judge(cpu(generator=0.2, busy=99.0), server_cores=1.6, capacity=2, must_saturate=True)

    assert verdict["valid"] is True
    assert verdict["limited_by"] == "machine CPU"


def test_a_ceiling_that_saturated_nothing_is_not_a_ceiling():
    verdict = judge(cpu(generator=0.3, busy=60.0), server_cores=1.0, capacity=2, must_saturate=True)

    assert verdict["valid"] is False
    assert verdict["limited_by"] == "not CPU"
    assert "too few connections" in verdict["why"]


def test_a_phase_that_need_not_saturate_stands_when_its_generator_had_room():
    verdict = judge(cpu(generator=0.3, busy=60.0), server_cores=1.0, capacity=2)

    assert verdict["valid"] is True
    assert verdict["limited_by"] == "not CPU"


def test_the_generator_limit_is_reached_at_its_threshold():
    verdict = judge(cpu(generator=GENERATOR_LIMIT, busy=70.0), server_cores=0.5, capacity=2)

    assert verdict["valid"] is False


def test_a_run_is_quiet_only_when_no_phase_saw_other_work_and_no_test_run_was_going_on():
    phases = {"ceiling": cpu(generator=0.1, others=0.05), "open": cpu(generator=0.1, others=0.1)}

    assert quietness(phases, limit=0.2, test_runs={"at_start": 0, "at_end": 0})["quiet"] is True
    busy = {**phases, "cost": cpu(generator=0.1, others=0.6)}
    noisy = quietness(busy, limit=0.2, test_runs={"at_start": 0, "at_end": 0})
    assert noisy["quiet"] is False
    assert noisy["others_cores_max"] == 0.6
    assert quietness(phases, limit=0.2, test_runs={"at_start": 1, "at_end": 0})["quiet"] is False
    assert quietness({"open": cpu(generator=0.1, steal=0.5)}, limit=0.2, test_runs={})["quiet"] is False


def test_a_results_file_without_provenance_is_labelled_an_earlier_run():
    line = stamp_line({"commit": "417f0fc+changes", "measured_at": "2026-11-28T11:16:51+00:00"})

    assert line.startswith("**An earlier run, without provenance**")
    assert "`417f0fc+changes`" in line


def test_a_run_that_did_not_pass_says_so_with_its_commit_and_changed_files():
    stamp = {"commit": "0123456789ab", "code_changed": True, "changed_files": ["bench/run.py"],
             "date": "2026-12-01T23:00:00Z", "storage": "sqlite", "passed": False}
    line = stamp_line({"provenance": stamp})

    assert "Commit `0123456789ab`" in line
    assert "`bench/run.py`" in line
    assert "**did not pass**" in line


def test_every_failed_check_is_a_warning():
    verdict = judge(cpu(generator=0.9), server_cores=0.5, capacity=2)
    results = {"broker_down_during": ["half load"], "invalid_phases": ["ceiling"], "phases": {"ceiling": verdict},
               "code_changed_during_run": True}

    found = warnings(results)

    assert len(found) == 3
    assert found[0].startswith("RabbitMQ went down during half load")
    assert found[1].startswith("phase ceiling (bare app, saturation) is invalid")
    assert found[2].startswith("the code changed while the run went on")


def test_a_sweep_row_whose_phases_were_not_judged_is_not_shown_as_valid():
    row = {"config": "sync:2", "ceiling_rps": 2004.1, "open_rps": 196.5, "open_vs_ceiling": 0.1, "open_p50_ms": 8.6,
           "open_p99_ms": 37.44, "open_concurrency": 2, "drain_s": 0.3, "others_cores": 0.95, "valid": True}

    assert sweep_rows({"sweep": [row]})[0][-1] == "not checked"


def test_a_lua_literal_holds_any_text_verbatim():
    assert _lua_string('{"a": "]]"}') == '[=[{"a": "]]"}]=]'
    assert _lua_string("plain") == "[[plain]]"


def test_a_phase_during_which_rabbitmq_was_restarted_does_not_stand():
    restarted = {**cpu(generator=0.1, busy=100.0), "broker_restarted": True}

    verdict = judge(restarted, server_cores=1.9, capacity=2)

    assert verdict["valid"] is False
    assert verdict["why"] == "RabbitMQ was restarted during the phase"
