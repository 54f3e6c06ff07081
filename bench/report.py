"""The benchmark's outputs: the stdout table, results.json, the PNG chart and
the results section of docs/benchmarks/README.md (between markers)."""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from .stats import ratio

# The targets of "Keep up with the front door" (each a ratio or a comparison
# within one run), and the earlier one of throughput against the ceiling.
TARGETS = {
    "open_vs_ceiling": 0.5,
    "sustained_vs_accepted": 0.95,            # 1. the pipeline keeps up ...
    "backlog_drain_s": 1.0,                   #    ... and its backlog drains in under this
    "open_load_spread": 1.2,                  # 2. max / min over the open-load levels
    "cpu_per_incident_vs_bare": 10.0,         # 3. CPU per incident (RabbitMQ included) / a bare request's
    "open_to_assigned_p50_ms_at_80": 15.0,    # 4. at 80 % of the sustained rate
    "open_to_assigned_p99_ms_at_80": 60.0,
    "idle_cores": 0.01,                       # 5. the whole system idle
}
REAL_LISTS = ("customer_list", "agent_queue", "staff_waiting", "staff_all")
# The portal's page that wraps each API list, compared with it (time to first byte).
PORTAL_PAGES = {"portal_customer_list": "customer_list", "portal_agent_queue": "agent_queue",
                "portal_live_poll": "customer_list"}
START, END = "<!-- results:start -->", "<!-- results:end -->"
SWEEP_START, SWEEP_END = "<!-- sweep:start -->", "<!-- sweep:end -->"
SEARCH_START, SEARCH_END = "<!-- search:start -->", "<!-- search:end -->"
# Each search, next to the plain list it narrows: the same caller, the same page.
SEARCHES = {"staff_search": "staff_all", "customer_search": "customer_list"}
SEARCH_P99_VS_LIST = 2.0  # the search's p99 at the largest store / the plain list's
# The phases in the order they run, with what each one's server is.
PHASE_NAMES = {"open_load_probe": "open load: rate probe (closed loop)", "idle": "idle (no requests)",
               "ceiling": "ceiling (bare app, saturation)", "open": "POST /incidencias at saturation",
               "broker": "raw pika publish -> consume", "half_load": "half load (propagation)",
               "propagation": "propagation (80 % of sustained)", "cost": "cost (CPU per incident)"}


AFTER_TARGETS = ("machine", "duration_s", "phases", "settings", "setup", "detail")


def propagation(r: dict) -> dict:
    """The propagation phase's detail (``half_load`` in files of before it ran at 80 %)."""
    return r["detail"].get("propagation") or r["detail"]["half_load"]


def _size_key(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def sustained_rps(opened: dict) -> float:
    """Incidents per second that became visible as asignada in apertura
    during the steady saturation run (counted right before and right after
    it, ``bench.run.Bench.saturate``): the one computation of
    ``sustained_assigned_rps`` (``assigned_rps_at_saturation``)."""
    return opened.get("assigned_visible_during_window", 0) / max(opened.get("assigned_counted_over_s") or 0, 1e-9)


def spread(values) -> float | None:
    """max / min of the figures given (None when one is missing or zero)."""
    values = list(values)
    if not values or any(not v for v in values):
        return None
    return round(max(values) / min(values), 2)


def open_load_fields(open_loads: dict | None) -> dict:
    """The open-load levels' headline figures, keyed by the level asked for."""
    if not open_loads:
        return {}
    levels = open_loads["levels"]
    cpu = {k: v["cpu_ms_per_incident_total"] for k, v in levels.items()}
    p99 = {k: v["open_to_assigned"]["p99_ms"] for k, v in levels.items()}
    return {"cpu_ms_per_incident_by_open_load": cpu, "open_to_assigned_p99_ms_by_open_load": p99,
            "open_load_actual": {k: v["open"] for k, v in levels.items()}, "open_load_rps": open_loads["rate"],
            "cpu_ms_per_incident_open_load_spread": spread(cpu.values()),
            "open_to_assigned_p99_open_load_spread": spread(p99.values())}


def targets(r: dict) -> dict:
    """Each target's threshold and whether this run met it (None: not measured)."""
    def at_most(value, limit):
        return None if value is None else value <= limit

    def at_least(value, limit):
        return None if value is None else value >= limit

    sustained, accepted, drain = r.get("sustained_assigned_rps"), r.get("accepted_rps"), r.get("backlog_drain_s")
    keeps_up = None if sustained is None or not accepted else (
        sustained >= TARGETS["sustained_vs_accepted"] * accepted and drain is not None
        and drain < TARGETS["backlog_drain_s"])
    spreads = [r.get("cpu_ms_per_incident_open_load_spread"), r.get("open_to_assigned_p99_open_load_spread")]
    flat = None if "cpu_ms_per_incident_by_open_load" not in r else all(
        s is not None and s <= TARGETS["open_load_spread"] for s in spreads)
    total, bare = r.get("cpu_ms_per_incident_total"), r.get("bare_cpu_ms_per_request")
    p50, p99 = r.get("open_to_assigned_p50_ms_at_80"), r.get("open_to_assigned_p99_ms_at_80")
    return {
        **{f"{name}_{'min' if name.endswith(('ceiling', 'accepted')) else 'max'}": limit
           for name, limit in TARGETS.items()},
        "met": {
            "open_vs_ceiling": at_least(r.get("open_vs_ceiling") or 0, TARGETS["open_vs_ceiling"]),
            "pipeline_keeps_up": keeps_up,
            "flat_in_open_load": flat,
            "cpu_per_incident": (None if total is None or not bare
                                 else total <= TARGETS["cpu_per_incident_vs_bare"] * bare),
            "latency_at_80": None if p50 is None and p99 is None else bool(
                at_most(p50, TARGETS["open_to_assigned_p50_ms_at_80"])
                and at_most(p99, TARGETS["open_to_assigned_p99_ms_at_80"])),
            "idle": at_most(r.get("idle_cores"), TARGETS["idle_cores"]),
        },
    }


def assemble(*, args, machine, storage, ceiling, opened, broker, half, lists, cost, setup, gunicorn, started,
             phases, provenance, profile=None, open_loads=None, idle=None) -> dict:
    hop_p50, hop_p99 = broker["latency"]["p50_ms"], broker["latency"]["p99_ms"]
    floor_p50, floor_p99 = 2 * hop_p50, 2 * hop_p99
    o2a, rv = half["open_to_assigned"], half["resolved_visible"]
    bare_get = {}
    list_fields = {}
    for size, data in lists.items():
        key = _size_key(int(size))
        endpoints = data["endpoints"]
        bare_get[key] = endpoints["bare_get"]
        worst = max(REAL_LISTS, key=lambda n: endpoints[n]["p99_ms"])
        list_fields[f"list_p50_ms_{key}"] = endpoints["customer_list"]["p50_ms"]
        list_fields[f"list_p99_ms_{key}"] = endpoints[worst]["p99_ms"]
        list_fields[f"list_p99_ms_{key}_endpoint"] = worst
        list_fields[f"list_p99_ms_{key}_vs_bare_get"] = ratio(endpoints[worst]["p99_ms"],
                                                              endpoints["bare_get"]["p99_ms"], 1)
        for name in REAL_LISTS:
            list_fields[f"{name}_p99_ms_{key}"] = endpoints[name]["p99_ms"]
        for page in PORTAL_PAGES:
            if page in endpoints:
                list_fields[f"{page}_ttfb_p50_ms_{key}"] = endpoints[page]["p50_ms"]
                list_fields[f"{page}_ttfb_p99_ms_{key}"] = endpoints[page]["p99_ms"]
    assigned_rps = sustained_rps(opened)
    results = {
        "label": args.label or None,
        "provenance": provenance,
        "storage": storage,
        "cpu_count": os.cpu_count(),
        "open_rps": opened["rps"],
        "ceiling_rps": ceiling["rps"],
        "open_vs_ceiling": ratio(opened["rps"], ceiling["rps"]),
        "open_p50_ms": opened["p50_ms"],
        "open_p99_ms": opened["p99_ms"],
        "ceiling_p50_ms": ceiling["p50_ms"],
        "ceiling_p99_ms": ceiling["p99_ms"],
        "open_p99_vs_ceiling": ratio(opened["p99_ms"], ceiling["p99_ms"], 1),
        "accepted_rps": opened.get("accepted_rps"),
        "sustained_assigned_rps": round(assigned_rps, 1),
        "sustained_vs_accepted": ratio(assigned_rps, opened.get("accepted_rps")),
        "backlog_drain_s": opened.get("backlog_drain_s"),
        "propagation_rps": half["achieved_rps"],
        "open_to_assigned_p50_ms_at_80": o2a["p50_ms"],
        "open_to_assigned_p99_ms_at_80": o2a["p99_ms"],
        # The same two figures under their earlier names (``half_load_rps`` is gone:
        # the phase no longer runs at half load).
        "open_to_assigned_p50_ms": o2a["p50_ms"],
        "open_to_assigned_p99_ms": o2a["p99_ms"],
        "resolved_visible_p50_ms": rv["p50_ms"],
        "resolved_visible_p99_ms": rv["p99_ms"],
        "broker_rps": broker["publish_consume_rate"],
        "broker_latency_p50_ms": hop_p50,
        "broker_latency_p99_ms": hop_p99,
        "two_hop_floor_p50_ms": round(floor_p50, 2),
        "two_hop_floor_p99_ms": round(floor_p99, 2),
        "open_to_assigned_p50_vs_floor": ratio(o2a["p50_ms"], floor_p50, 1),
        "open_to_assigned_p99_vs_floor": ratio(o2a["p99_ms"], floor_p99, 1),
        "resolved_visible_p50_vs_floor": ratio(rv["p50_ms"], floor_p50, 1),
        "resolved_visible_p99_vs_floor": ratio(rv["p99_ms"], floor_p99, 1),
        "assigned_rps_at_saturation": round(assigned_rps, 1),  # = sustained_assigned_rps
        "assigned_rps_vs_broker": ratio(assigned_rps, broker["publish_consume_rate"]),
        "cpu_ms_per_incident_total": cost["cpu_ms_per_incident_total"],
        "system_cpu_ms_per_incident": cost["system_cpu_ms_per_incident"],
        "bare_cpu_ms_per_request": cost["bare_cpu_ms_per_request"],
        "cpu_per_incident_vs_bare": ratio(cost["cpu_ms_per_incident_total"], cost["bare_cpu_ms_per_request"], 1),
        "cpu_bound_rps": cost["cpu_bound_rps"],
        **open_load_fields(open_loads),
        "idle_cores": idle["idle_cores"] if idle else None,
        "idle_rabbitmq_cores": idle["rabbitmq_cores"] if idle else None,
        "idle_cores_by_process": idle["by_process_cores"] if idle else None,
        **list_fields,
        "bare_get": bare_get,
        "gunicorn": gunicorn,
        "machine": {**machine, "python": platform.python_version(), "platform": platform.platform()},
        "duration_s": round(time.time() - started),
        "phases": phases,
        "settings": {
            "duration_s": args.duration, "ramp_step_s": args.ramp_step, "levels": args.levels,
            "half_duration_s": args.half_duration, "load_fraction": args.half_fraction, "half_rate": args.half_rate,
            "probe_rate": args.probe_rate, "poll_ms": args.poll_ms, "open_loads": args.open_loads,
            "open_load_agents": args.open_load_agents, "open_load_duration_s": args.open_load_duration,
            "open_load_rate": args.open_load_rate, "open_load_fraction": args.open_load_fraction,
            "idle_s": args.idle_seconds, "drain_deadline_s": args.drain_deadline, "drain_poll_ms": args.drain_poll_ms,
            "customers": args.customers, "agents": args.agents, "list_requests": args.list_requests,
            "quick": bool(args.quick), "smoke": bool(args.smoke), "generator": args.generator,
            "command": "python -m bench " + " ".join(args.argv),
        },
        "setup": setup,
        "detail": {"ceiling": ceiling, "open": opened, "broker": broker, "propagation": half, "cost": cost,
                   "lists": lists, "open_loads": open_loads, "idle": idle},
    }
    # Right after the headline figures, before the gunicorn settings.
    results = {**{k: v for k, v in results.items() if k != "gunicorn" and k not in AFTER_TARGETS},
               "targets": targets(results), **{k: results[k] for k in ("gunicorn", *AFTER_TARGETS)}}
    if profile:
        results["profile"] = profile
    return results


def _fmt(value, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 10 else f"{value:.2f}"
    else:
        text = f"{value:,}"
    return f"{text}{unit}"


def rows(r: dict) -> list[tuple[str, str, str, str]]:
    """(figure, value, ceiling, ratio) rows shared by the table and the README."""
    out = [
        ("open incidents at saturation", _fmt(r["open_rps"], " req/s"), _fmt(r["ceiling_rps"], " req/s"),
         _fmt(r["open_vs_ceiling"])),
        ("  latency p50 at saturation", _fmt(r["open_p50_ms"], " ms"), _fmt(r["ceiling_p50_ms"], " ms"),
         _fmt(ratio(r["open_p50_ms"], r["ceiling_p50_ms"], 1))),
        ("  latency p99 at saturation", _fmt(r["open_p99_ms"], " ms"), _fmt(r["ceiling_p99_ms"], " ms"),
         _fmt(r["open_p99_vs_ceiling"])),
        ("assigned (visible) during saturation", _fmt(r["assigned_rps_at_saturation"], " /s"),
         _fmt(r["broker_rps"], " msg/s"), _fmt(r["assigned_rps_vs_broker"])),
    ]
    if r.get("accepted_rps") is not None:
        out += [
            ("  the same vs accepted (201) at saturation", _fmt(r["sustained_assigned_rps"], " /s"),
             _fmt(r["accepted_rps"], " req/s"), _fmt(r.get("sustained_vs_accepted"))),
            ("  backlog drained after the load stopped", _fmt(r.get("backlog_drain_s"), " s"), "—", "—"),
        ]
    rate = r.get("propagation_rps", r.get("half_load_rps"))
    out += [
        (f"open -> asignada visible p50 @ {_fmt(rate)}/s", _fmt(r["open_to_assigned_p50_ms"], " ms"),
         _fmt(r["two_hop_floor_p50_ms"], " ms"), _fmt(r["open_to_assigned_p50_vs_floor"])),
        ("open -> asignada visible p99", _fmt(r["open_to_assigned_p99_ms"], " ms"),
         _fmt(r["two_hop_floor_p99_ms"], " ms"), _fmt(r["open_to_assigned_p99_vs_floor"])),
        ("resolve -> resuelta visible p50", _fmt(r["resolved_visible_p50_ms"], " ms"),
         _fmt(r["two_hop_floor_p50_ms"], " ms"), _fmt(r["resolved_visible_p50_vs_floor"])),
        ("resolve -> resuelta visible p99", _fmt(r["resolved_visible_p99_ms"], " ms"),
         _fmt(r["two_hop_floor_p99_ms"], " ms"), _fmt(r["resolved_visible_p99_vs_floor"])),
    ]
    out.append(("CPU per incident, the services' processes" if r.get("cpu_ms_per_incident_total") is not None
                else "CPU per incident, end to end", _fmt(r["system_cpu_ms_per_incident"], " ms"),
                _fmt(r["bare_cpu_ms_per_request"], " ms"),
                _fmt(ratio(r["system_cpu_ms_per_incident"], r["bare_cpu_ms_per_request"], 1))))
    if r.get("cpu_ms_per_incident_total") is not None:
        out.append(("CPU per incident, end to end with RabbitMQ", _fmt(r["cpu_ms_per_incident_total"], " ms"),
                    _fmt(r["bare_cpu_ms_per_request"], " ms"), _fmt(r.get("cpu_per_incident_vs_bare"))))
    levels = ((r["detail"].get("open_loads") or {}).get("levels")) or {}
    if levels:
        first = next(iter(levels.values()))
        for data in levels.values():
            out.append((f"CPU per incident with RabbitMQ @ {data['open']:,} open",
                        _fmt(data["cpu_ms_per_incident_total"], " ms"),
                        _fmt(first["cpu_ms_per_incident_total"], " ms") + f" @ {first['open']:,}",
                        _fmt(ratio(data["cpu_ms_per_incident_total"], first["cpu_ms_per_incident_total"]))))
        for data in levels.values():
            v, base = data["open_to_assigned"], first["open_to_assigned"]
            out.append((f"open -> asignada p50/p99 @ {data['open']:,} open",
                        f"{_fmt(v['p50_ms'])}/{_fmt(v['p99_ms'], ' ms')}",
                        f"{_fmt(base['p50_ms'])}/{_fmt(base['p99_ms'], ' ms')} @ {first['open']:,}",
                        _fmt(ratio(v["p99_ms"], base["p99_ms"]))))
    lists = r["detail"]["lists"]
    for size, data in lists.items():
        key = _size_key(int(size))
        bare = data["endpoints"]["bare_get"]
        for name in REAL_LISTS:
            v = data["endpoints"][name]
            out.append((f"{name} p50/p99 @ {int(size):,} stored", f"{_fmt(v['p50_ms'])}/{_fmt(v['p99_ms'], ' ms')}",
                        f"{_fmt(bare['p50_ms'])}/{_fmt(bare['p99_ms'], ' ms')}",
                        _fmt(ratio(v["p99_ms"], bare["p99_ms"], 1))))
        for page, wrapped in PORTAL_PAGES.items():
            if page in data["endpoints"]:
                v, api = data["endpoints"][page], data["endpoints"][wrapped]
                out.append((f"{page} TTFB p50/p99 @ {int(size):,} (vs API)",
                            f"{_fmt(v['p50_ms'])}/{_fmt(v['p99_ms'], ' ms')}",
                            f"{_fmt(api['p50_ms'])}/{_fmt(api['p99_ms'], ' ms')}",
                            _fmt(ratio(v["p99_ms"], api["p99_ms"], 1))))
        del key
    return out


def stamp(r: dict) -> dict:
    """A results file's provenance; for a file written before runs carried
    one, what it said of itself (``recorded`` False)."""
    if r.get("provenance"):
        return {**r["provenance"], "recorded": True}
    return {"commit": r.get("commit"), "code_changed": None, "changed_files": [], "storage": r.get("storage"),
            "date": r.get("measured_at"), "passed": None, "recorded": False}


def stamp_line(r: dict, markdown: bool = True) -> str:
    s = stamp(r)
    code = (lambda text: f"`{text}`") if markdown else str
    bold = (lambda text: f"**{text}**") if markdown else str
    if not s["recorded"]:
        named = f"it names commit {code(s['commit'])} itself" if s["commit"] else "it names no commit"
        return (bold("An earlier run, without provenance") + f": measured {s['date']}, {named}; whether its "
                "working tree differed in code and whether its checks held were not recorded, so its figures "
                "stand for no particular code")
    tree = {False: "no code changes in the working tree",
            True: "the working tree differed in code: " + ", ".join(code(f) for f in s.get("changed_files") or [])
            + (" and maybe more" if len(s.get("changed_files") or []) >= 20 else ""),
            None: "whether the working tree differed in code is unknown"}[s["code_changed"]]
    return (f"Commit {code(s['commit'])} ({tree}), measured {s['date']}, storage {bold(s['storage'])}: "
            + (bold("passed") + " (the run completed and its checks held)" if s["passed"]
               else bold("did not pass") + " (see the warnings): these figures stand for nothing"))


def warnings(r: dict) -> list[str]:
    """Every check of a results file (or a sweep file) that failed, in words."""
    out = [f"configuration {row['config']} does not stand" for row in r.get("sweep", []) if not row.get("valid", True)]
    if r.get("broker_down_during"):
        out.append(f"RabbitMQ went down during {', '.join(r['broker_down_during'])}: figures not comparable")
    for name in r.get("invalid_phases", []):
        out.append(f"phase {phase_label(name)} is invalid: {r['phases'][name]['why']}")
    if r.get("code_changed_during_run"):
        out.append("the code changed while the run went on: it measured no single tree")
    return out


def phase_label(name: str) -> str:
    if name.startswith("lists_"):
        return f"lists, {int(name.removeprefix('lists_')):,} stored"
    if name.startswith("open_load_") and name.removeprefix("open_load_").isdigit():
        return f"open load, level {int(name.removeprefix('open_load_')):,}"
    return PHASE_NAMES.get(name, name)


PHASE_HEAD = ("phase", "load generator", "generator, busiest thread", "its thread runnable", "generator, all",
              "server / can use", "RabbitMQ", "others", "machine busy", "limited by", "valid")


def phase_rows(phases: dict) -> list[tuple[str, ...]]:
    """One row per phase: where the CPU went (cores) and whether the phase stands."""
    out = []
    for name, v in phases.items():
        runnable = v.get("load_generator_busiest_thread_runnable")
        out.append((phase_label(name), v["load_generator"], _fmt(v["load_generator_busiest_thread_cores"]),
                    "—" if runnable is None else f"{100 * runnable:.0f} %", _fmt(v["load_generator_cores"]), f"{_fmt(v['server_cores'])} / {v['server_capacity_cores']:g}",
                    _fmt(v["broker_cores"]), _fmt(v["others_cores"]), f"{v['machine_busy_pct']} %",
                    v["limited_by"], "yes" if v["valid"] else f"NO: {v['why']}"))
    return out


def quiet_line(quiet: dict | None) -> str:
    if not quiet:
        return "whether the machine was quiet was not measured"
    runs = quiet.get("test_runs_seen") or {}
    return (("the machine was quiet" if quiet["quiet"] else "the machine was NOT quiet")
            + f" (the most CPU taken outside the benchmark in one phase: {quiet['others_cores_max']} cores, "
            f"stolen {quiet['steal_cores_max']}, limit {quiet['limit_cores']}; pytest processes "
            + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in runs.items()) + ")")


def table(r: dict) -> str:
    g = r["gunicorn"]
    m = r["machine"]
    head = (f"Incidencias benchmark — storage {r['storage']}, {r['cpu_count']} CPUs, gunicorn "
            f"{g['GUNICORN_WORKER_CLASS']} x{g['WEB_CONCURRENCY']}"
            f"{' x' + g['GUNICORN_THREADS'] + ' threads' if g['GUNICORN_WORKER_CLASS'] == 'gthread' else ''}, "
            f"load average at start {m['loadavg_at_start'][0]}; {quiet_line(m.get('quiet'))}\n"
            + stamp_line(r, markdown=False))
    for warning in warnings(r):
        head += f"\nWARNING: {warning}"
    lines = [head, "", f"{'figure':<44} {'value':>18} {'ceiling':>18} {'ratio':>7}", "-" * 90]
    for figure, value, ceiling, rat in rows(r):
        lines.append(f"{figure:<44} {value:>18} {ceiling:>18} {rat:>7}")
    lines += ["", "ceilings: bare Flask POST/GET under the same gunicorn settings; raw pika publish->consume "
              "(two-hop floor = 2 x one hop, since open->asignada crosses the broker twice); the open-load rows "
              "against the first level", "targets:"]
    lines += [f"  {name}: {'met' if met else 'not measured' if met is None else 'NOT met'} ({figures})"
              for name, figures, met in target_rows(r, markdown=False)]
    b = propagation(r)["breakdown"]
    lines.append("open->asignada breakdown (p50, server clocks): answer after create "
                 f"{b['created_to_answer']['p50_ms']} ms, assigned after create {b['created_to_assigned']['p50_ms']} ms, "
                 f"visible after assigned {b['assigned_to_visible']['p50_ms']} ms")
    lines.append("CPU ms per incident by process: " + _cost_line(r))
    if r["detail"].get("idle"):
        lines.append(_idle_line(r))
    if r.get("phases"):
        lines += ["", "CPU in every phase (cores):", " | ".join(PHASE_HEAD)]
        lines += [" | ".join(row) for row in phase_rows(r["phases"])]
    return "\n".join(lines)


def _cost_line(r: dict) -> str:
    cost = r["detail"]["cost"]["cpu_ms_per_incident"]
    return ", ".join(f"{k} {v}" for k, v in sorted(cost.items(), key=lambda kv: -kv[1]) if v >= 0.01) + \
        f" (the services' own processes alone, at that cost: {r['cpu_bound_rps']} incidents/s on {r['cpu_count']} cores)"


def _cores(value) -> str:
    return "—" if value is None else f"{value:.4f}"


def _idle_line(r: dict) -> str:
    idle = r["detail"]["idle"]
    share = ratio(idle["rabbitmq_cores"], idle["idle_cores"])
    return (f"Idle for {idle['seconds']:g} s (no requests, after the system settled): {_cores(idle['idle_cores'])} "
            f"cores, of which RabbitMQ {_cores(idle['rabbitmq_cores'])}"
            + (f" ({100 * share:.0f} %)" if share is not None else "")
            + f" and the services' processes {_cores(idle['services_cores'])}; by process: "
            + ", ".join(f"{k} {_cores(v)}" for k, v in sorted(idle["by_process_cores"].items(), key=lambda kv: -kv[1])))


def target_rows(r: dict, markdown: bool = True) -> list[tuple[str, str, bool | None]]:
    """(target, this run's figures, met: True/False/None for not measured)
    for the targets of "Keep up with the front door", then the earlier one."""
    met = r["targets"]["met"]
    ge, le = ("≥", "≤") if markdown else (">=", "<=")
    out = [
        ("1. the pipeline keeps up",
         f"{_fmt(r.get('sustained_assigned_rps'))} visible asignada/s of {_fmt(r.get('accepted_rps'))} accepted/s "
         f"at saturation = {_fmt(r.get('sustained_vs_accepted'))} ({ge} {TARGETS['sustained_vs_accepted']}); the "
         f"backlog drained in {_fmt(r.get('backlog_drain_s'), ' s')} (< {TARGETS['backlog_drain_s']:g} s)",
         met.get("pipeline_keeps_up")),
    ]
    levels = ((r["detail"].get("open_loads") or {}).get("levels")) or {}
    out.append((
        "2. flat in open load",
        "CPU per incident " + " / ".join(_fmt(v["cpu_ms_per_incident_total"]) for v in levels.values())
        + f" ms (max/min {_fmt(r.get('cpu_ms_per_incident_open_load_spread'))}), open -> asignada p99 "
        + " / ".join(_fmt(v["open_to_assigned"]["p99_ms"]) for v in levels.values())
        + f" ms (max/min {_fmt(r.get('open_to_assigned_p99_open_load_spread'))}) at "
        + " / ".join(f"{v['open']:,}" for v in levels.values())
        + f" open, {_fmt(r.get('open_load_rps'))} opens/s ({le} {TARGETS['open_load_spread']}x)" if levels
        else "not measured", met.get("flat_in_open_load")))
    out += [
        ("3. CPU per incident",
         f"{_fmt(r.get('cpu_ms_per_incident_total'), ' ms')} end to end, RabbitMQ included = "
         f"{_fmt(r.get('cpu_per_incident_vs_bare'))} x a bare request's {_fmt(r.get('bare_cpu_ms_per_request'), ' ms')}"
         f" ({le} {TARGETS['cpu_per_incident_vs_bare']:g}x)", met.get("cpu_per_incident")),
        ("4. latency at 80 %",
         f"open -> asignada p50 {_fmt(r.get('open_to_assigned_p50_ms_at_80'), ' ms')} "
         f"({le} {TARGETS['open_to_assigned_p50_ms_at_80']:g}), "
         f"p99 {_fmt(r.get('open_to_assigned_p99_ms_at_80'), ' ms')} "
         f"({le} {TARGETS['open_to_assigned_p99_ms_at_80']:g}) at {_fmt(r.get('propagation_rps'))} opens/s",
         met.get("latency_at_80")),
        ("5. idle costs nothing",
         f"{_cores(r.get('idle_cores'))} cores ({le} {TARGETS['idle_cores']:g}), RabbitMQ "
         f"{_cores(r.get('idle_rabbitmq_cores'))} of it", met.get("idle")),
        (f"open {ge} 50 % of the ceiling (earlier)", f"{_fmt(r.get('open_vs_ceiling'))}", met.get("open_vs_ceiling")),
    ]
    return out


SWEEP_HEAD = ("config", "ceiling req/s", "at c", "open req/s", "ratio", "open p50 ms", "open p99 ms", "at c",
              "backlog drained s", "generator, busiest thread (ceiling / open)", "others (cores)", "valid")


def sweep_rows(results: dict) -> list[tuple[str, ...]]:
    out = []
    for row in results["sweep"]:
        phases = row.get("phases") or {}
        generator = " / ".join(_fmt(phases[k]["load_generator_busiest_thread_cores"]) for k in ("ceiling", "open")
                               if k in phases) or "—"
        why = "; ".join(f"{k}: {phases[k]['why']}" for k in row.get("invalid_phases", []))
        if row.get("broker_went_down"):
            why = "; ".join(filter(None, [why, "RabbitMQ went down"]))
        out.append((row["config"], _fmt(row["ceiling_rps"]), _fmt(row.get("ceiling_concurrency")),
                    _fmt(row["open_rps"]), _fmt(row["open_vs_ceiling"]), _fmt(row["open_p50_ms"]),
                    _fmt(row["open_p99_ms"]), _fmt(row["open_concurrency"]), _fmt(row["drain_s"]), generator,
                    _fmt(row["others_cores"]),
                    "not checked" if not phases else "yes" if row["valid"] and not why else f"NO: {why}"))
    return out


def sweep_table(results: dict) -> str:
    lines = [stamp_line(results, markdown=False), quiet_line(results.get("quiet"))]
    lines += [f"WARNING: {warning}" for warning in warnings(results)]
    lines += ["", " | ".join(SWEEP_HEAD)]
    lines += [" | ".join(row) for row in sweep_rows(results)]
    return "\n".join(lines)


def chart(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    d = r["detail"]
    fig, axes = plt.subplots(3, 2, figsize=(13, 13.5))
    g = r["gunicorn"]
    verdict = {True: "", False: " — DID NOT PASS", None: " — no provenance"}[stamp(r)["passed"]]
    fig.suptitle(f"Incidencias — {r['storage']}, {r['cpu_count']} CPUs, gunicorn {g['GUNICORN_WORKER_CLASS']} "
                 f"x{g['WEB_CONCURRENCY']}, {stamp(r)['date']}, commit {stamp(r)['commit']}{verdict}", fontsize=11)

    ax = axes[0][0]
    for key, label, color in (("ceiling", "bare Flask (ceiling)", "tab:gray"), ("open", "POST /incidencias", "tab:blue")):
        ramp = d[key]["ramp"]
        ax.plot([p["concurrency"] for p in ramp], [p["rps"] for p in ramp], "o-", label=label, color=color)
        ax.plot([d[key]["concurrency"]], [d[key]["rps"]], "*", markersize=14, color=color)
    ax.axhline(d["broker"]["publish_consume_rate"], linestyle=":", color="tab:orange",
               label=f"raw pika publish->consume ({d['broker']['publish_consume_rate']:.0f}/s)")
    ax.axhline(r["assigned_rps_at_saturation"], linestyle="--", color="tab:green",
               label=f"assigned & visible during saturation ({r['assigned_rps_at_saturation']:.0f}/s)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent clients (closed loop)")
    ax.set_ylabel("requests / s")
    ax.set_title(f"Throughput vs ceiling: {r['open_rps']:.0f} / {r['ceiling_rps']:.0f} req/s "
                 f"= {r['open_vs_ceiling']:.2f}  (★ = saturation point)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)

    def bars(ax, groups, title, floor=None):
        names = list(groups)
        pcts = ("p50_ms", "p90_ms", "p99_ms")
        width = 0.25
        for i, pct in enumerate(pcts):
            values = [groups[n].get(pct) or 0 for n in names]
            positions = [x + (i - 1) * width for x in range(len(names))]
            ax.bar(positions, values, width, label=pct.replace("_ms", ""))
            for x, v in zip(positions, values):
                ax.text(x, v, f"{v:.1f}", ha="center", va="bottom", fontsize=7)
        if floor:
            for value, label, style in floor:
                ax.axhline(value, linestyle=style, color="black", linewidth=0.8, label=label)
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=8)
        ax.set_ylabel("ms")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3, axis="y")

    bars(axes[0][1], {"bare Flask\n(ceiling)": d["ceiling"], "POST /incidencias": d["open"]},
         "Request latency at saturation")
    h = propagation(r)
    at = h.get("fraction")
    bars(axes[1][0], {"raw pika\none hop": d["broker"]["latency"], "open -> asignada\nvisible": h["open_to_assigned"],
                      "resolve -> resuelta\nvisible": h["resolved_visible"]},
         f"Propagation at {h['achieved_rps']:.0f} opens/s"
         + (f" ({100 * at:.0f} % of sustained)" if at and "propagation" in d else " (pinned)" if h.get("pinned")
            else " (half load)"),
         floor=[(TARGETS[key], f"target {pct} {TARGETS[key]:g} ms", style) for pct, key, style in (
             ("p50", "open_to_assigned_p50_ms_at_80", "--"), ("p99", "open_to_assigned_p99_ms_at_80", ":"))])
    groups = {}
    for size, data in d["lists"].items():
        for name in ("customer_list", "agent_queue", "staff_all"):
            groups[f"{name}\n{int(size) // 1000}k"] = data["endpoints"][name]
    first = next(iter(d["lists"].values()))
    groups["bare GET\n(ceiling)"] = first["endpoints"]["bare_get"]
    bars(axes[1][1], groups, "List endpoints, page 1 of 20, unloaded")
    open_load_panel(axes[2][0], r)
    idle_panel(axes[2][1], r)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def open_load_panel(ax, r: dict) -> None:
    """Cost (CPU ms per incident, RabbitMQ included) as bars and open -> asignada
    p99 as a line, against the open incidents held at each level."""
    levels = ((r["detail"].get("open_loads") or {}).get("levels")) or {}
    if not levels:
        ax.text(0.5, 0.5, "open load not measured in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    data = list(levels.values())
    xs = range(len(data))
    cpu = [v["cpu_ms_per_incident_total"] for v in data]
    ax.bar(xs, cpu, 0.5, color="tab:blue", alpha=0.7, label="CPU ms per incident (RabbitMQ included)")
    for x, v in zip(xs, cpu):
        ax.text(x, v / 2, f"{v:.1f} ms", ha="center", va="center", fontsize=8)
    if r.get("bare_cpu_ms_per_request"):
        limit = TARGETS["cpu_per_incident_vs_bare"] * r["bare_cpu_ms_per_request"]
        ax.axhline(limit, linestyle="--", color="tab:blue", linewidth=0.8,
                   label=f"target {TARGETS['cpu_per_incident_vs_bare']:g} x bare request ({limit:.1f} ms)")
    ax.set_xticks(list(xs))
    ax.set_xticklabels([f"{v['open']:,} open\n(level {v['level']:,})" for v in data], fontsize=8)
    ax.set_ylabel("CPU ms per incident")
    ax.set_ylim(0, max(cpu + [0.0]) * 1.35 or 1)
    right = ax.twinx()
    p99 = [v["open_to_assigned"]["p99_ms"] or 0 for v in data]
    right.plot(list(xs), p99, "o-", color="tab:red", label="open -> asignada p99 (ms)")
    for x, v in zip(xs, p99):
        right.text(x, v, f" {v:.1f}", color="tab:red", fontsize=8, va="bottom")
    right.set_ylabel("open -> asignada p99, ms", color="tab:red")
    right.set_ylim(0, max(p99 + [0.0]) * 1.35 or 1)
    handles = ax.get_legend_handles_labels()
    more = right.get_legend_handles_labels()
    ax.legend(handles[0] + more[0], handles[1] + more[1], fontsize=8, loc="upper left")
    spread_cpu = r.get("cpu_ms_per_incident_open_load_spread")
    spread_p99 = r.get("open_to_assigned_p99_open_load_spread")
    ax.set_title(f"Open load, {r.get('open_load_rps') or 0:.0f} opens/s at every level: max/min CPU "
                 f"{_fmt(spread_cpu)}, p99 {_fmt(spread_p99)} (target {TARGETS['open_load_spread']:g})", fontsize=10)
    ax.grid(alpha=0.3, axis="y")


def idle_panel(ax, r: dict) -> None:
    """The idle system's CPU by process (cores), against the target for the whole
    (``/proc`` counts CPU in ticks of 10 ms: over 60 s, steps of 0.0002 cores)."""
    idle = r["detail"].get("idle")
    if not idle:
        ax.text(0.5, 0.5, "idle not measured in this run", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return
    items = sorted(idle["by_process_cores"].items(), key=lambda kv: -kv[1])
    names = [k for k, _ in items] + ["whole system"]
    values = [v for _, v in items] + [idle["idle_cores"]]
    colors = ["tab:orange" if k == "rabbitmq" else "tab:gray" for k, _ in items] + ["tab:blue"]
    ax.barh(range(len(names)), values, color=colors)
    for y, v in enumerate(values):
        ax.text(v, y, f" {v:.4f}", va="center", fontsize=8)
    ax.axvline(TARGETS["idle_cores"], linestyle="--", color="black", linewidth=0.8,
               label=f"target for the whole system ({TARGETS['idle_cores']:g} cores)")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("cores")
    ax.set_xlim(0, max(values + [TARGETS["idle_cores"]]) * 1.3)
    ax.set_title(f"Idle for {idle['seconds']:g} s: {idle['idle_cores']:.4f} cores, RabbitMQ "
                 f"{idle['rabbitmq_cores']:.4f} of it", fontsize=10)
    ax.legend(fontsize=8, loc="center right")
    ax.grid(alpha=0.3, axis="x")


def _markdown_table(head: tuple[str, ...], body: list[tuple[str, ...]], text: tuple[int, ...] = (0,)) -> list[str]:
    """``text``: the columns aligned left (the others hold figures)."""
    align = ["---" if i in text else "---:" for i in range(len(head))]
    return ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"] + \
        ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body]


def readme_section(r: dict) -> str:
    g = r["gunicorn"]
    m = r["machine"]
    wait = m.get("quiet_wait") or {}
    lines = [
        START,
        "Generated by `python -m bench` from [`results.json`](results.json) (and drawn in "
        "[`chart.png`](chart.png)); do not edit by hand.",
        "",
        stamp_line(r) + ".",
        "",
        f"{r['duration_s']} s, {r['cpu_count']} CPUs, gunicorn `{g['GUNICORN_WORKER_CLASS']}` × "
        f"{g['WEB_CONCURRENCY']} workers per service"
        f"{' × ' + g['GUNICORN_THREADS'] + ' threads' if g['GUNICORN_WORKER_CLASS'] == 'gthread' else ''}"
        + (f", saturation runs driven by {r['phases']['ceiling']['load_generator']}" if r.get("phases") else "")
        + f". Load average {m['loadavg_at_start'][0]} at start"
        + (f" (waited {wait.get('waited_s')} s for no test run and a low load; "
           f"{wait.get('pytest_processes')} pytest processes then)" if wait else "")
        + (f", {m['loadavg_at_end'][0]} at the end" if m.get("loadavg_at_end") else "")
        + f"; {quiet_line(m.get('quiet'))}.",
        "",
    ]
    lines += [f"**Warning: {warning}.**\n" for warning in warnings(r)]
    lines += _markdown_table(("figure", "value", "ceiling", "ratio"),
                             [(f.strip(), v, c, x) for f, v, c, x in rows(r)])
    b = propagation(r)["breakdown"]
    verdict = {True: "**met**", False: "**not met**", None: "not measured"}
    rows_ = target_rows(r)
    lines += [
        "",
        "Targets: " + "; ".join(f"{name.split('. ', 1)[-1]} — {verdict[met]}" for name, _, met in rows_) + ".",
        "",
    ]
    lines += _markdown_table(("target", "this run", "met"),
                             [(name, figures.replace("->", "→"), verdict[met]) for name, figures, met in rows_],
                             text=(0, 1, 2))
    lines += [
        "",
        "Where open → asignada goes (p50 / p99, ms; server timestamps): "
        f"answer after create {b['created_to_answer']['p50_ms']} / {b['created_to_answer']['p99_ms']}, "
        f"assigned in resolucion after create {b['created_to_assigned']['p50_ms']} / {b['created_to_assigned']['p99_ms']}, "
        f"visible to the customer after assigned {b['assigned_to_visible']['p50_ms']} / {b['assigned_to_visible']['p99_ms']}.",
        "",
        "CPU ms per incident, end to end, by process: " + _cost_line(r) + ".",
        "",
    ]
    if r["detail"].get("idle"):
        lines += [_idle_line(r) + ".", ""]
    if r.get("phases"):
        lines += ["CPU in every phase, in cores (`phases` in `results.json`): the load generator's busiest thread "
                  "(and the share of the phase it was runnable: on a CPU or waiting for one) and all of it, the "
                  "server the phase measures against the cores it can use, RabbitMQ, and everything else on the "
                  "machine. A phase whose generator had no CPU left while its server did is invalid, and so is "
                  "a ceiling that saturated nothing.", ""]
        lines += _markdown_table(PHASE_HEAD, phase_rows(r["phases"]), text=(0, 1, 9, 10))
    else:
        lines.append("This run's phases were not checked for a load generator that limited them "
                     "(the check came later).")
    lines.append(END)
    return "\n".join(lines)


def _load_averages(results: dict) -> str:
    parts = [f"{results[key][0]} {when}" for key, when in
             (("loadavg_at_start", "at the start"), ("loadavg_at_end", "at the end")) if results.get(key)]
    return f"; load average {', '.join(parts)}" if parts else ""


def sweep_section(results: dict) -> str:
    lines = [
        SWEEP_START,
        "Generated by `python -m bench --sweep` from [`sweep.json`](sweep.json); do not edit by hand.",
        "",
        stamp_line(results) + ".",
        "",
        (f"Command: `{results['command']}`; saturation runs driven by {results.get('load_generator')}. "
         if results.get("command") else "")
        + f"{results.get('cpu_count')} CPUs; {quiet_line(results.get('quiet'))}"
        + _load_averages(results) + ".",
        "",
    ]
    lines += [f"**Warning: {warning}.**\n" for warning in warnings(results)]
    lines += _markdown_table(SWEEP_HEAD, sweep_rows(results), text=(0, 11))
    lines.append(SWEEP_END)
    return "\n".join(lines)


def _replace_section(readme: Path, start: str, end: str, section: str) -> None:
    if not readme.exists():
        return
    text = readme.read_text()
    if start not in text or end not in text:
        print(f"{readme} has no {start} ... {end} markers: its section was not rewritten")
        return
    before, rest = text.split(start, 1)
    readme.write_text(before + section + rest.split(end, 1)[1])


def write(r: dict, out: Path, rewrite_json: bool = True) -> None:
    """results.json, chart.png and the README's results section, all from ``r``."""
    if rewrite_json:
        (out / "results.json").write_text(json.dumps(r, indent=2, ensure_ascii=False) + "\n")
    try:
        chart(r, out / "chart.png")
    except ImportError:
        print("matplotlib is not installed (pip install -r requirements-bench.txt): no chart this time")
    _replace_section(out / "README.md", START, END, readme_section(r))
    if r.get("profile"):
        from .profile import write_markdown

        write_markdown(r["profile"], out / "profile.md", stamp_line(r) + ".")


def write_sweep(results: dict, out: Path, rewrite_json: bool = True) -> None:
    """sweep.json and the README's sweep section, from ``results``."""
    if rewrite_json:
        (out / "sweep.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _replace_section(out / "README.md", SWEEP_START, SWEEP_END, sweep_section(results))


# -- the searches (``python -m bench --search``) --------------------------------------

def search_results(lists: dict, *, provenance: dict, valid: bool, **rest) -> dict:
    """search.json: each search next to its plain list at each store size,
    and the target (the staff search's p99 at the largest store within
    ``SEARCH_P99_VS_LIST`` of everyone's list)."""
    search = {}
    for size, data in lists.items():
        endpoints = data["endpoints"]
        search[size] = {"stored": data["stored"], **{
            name: {"search": endpoints[name], "list": endpoints[plain],
                   "p99_vs_list": ratio(endpoints[name]["p99_ms"], endpoints[plain]["p99_ms"])}
            for name, plain in SEARCHES.items()}}
    largest = search[max(search, key=int)]["staff_search"]
    target = {"staff_search_p99_vs_staff_all_at_largest": largest["p99_vs_list"], "limit": SEARCH_P99_VS_LIST,
              "met": largest["p99_vs_list"] is not None and largest["p99_vs_list"] <= SEARCH_P99_VS_LIST}
    return {"search": search, "target": target, "valid": valid, **rest, "detail": {"lists": lists},
            "provenance": provenance}


def search_rows(results: dict) -> list[tuple[str, ...]]:
    out = []
    for size, data in results["search"].items():
        for name, v in data.items():
            if name == "stored":
                continue
            out.append((f"{int(size):,}", name, f"{v['search']['total']:,}",
                        f"{_fmt(v['search']['p50_ms'])}/{_fmt(v['search']['p99_ms'], ' ms')}",
                        f"{SEARCHES[name]} {_fmt(v['list']['p50_ms'])}/{_fmt(v['list']['p99_ms'], ' ms')}",
                        _fmt(v["p99_vs_list"])))
    return out


SEARCH_HEAD = ("stored", "search", "found", "search p50/p99", "plain list p50/p99", "p99 vs list")


def search_table(results: dict) -> str:
    lines = [stamp_line(results, markdown=False), " | ".join(SEARCH_HEAD)]
    lines += [" | ".join(row) for row in search_rows(results)]
    t = results["target"]
    lines.append(f"target: staff search p99 at the largest store <= {t['limit']:g} x the plain list's: "
                 f"{_fmt(t['staff_search_p99_vs_staff_all_at_largest'])} ({'met' if t['met'] else 'NOT met'})")
    return "\n".join(lines)


def search_section(results: dict) -> str:
    t = results["target"]
    lines = [
        SEARCH_START,
        "Generated by `python -m bench --search` from [`search.json`](search.json); do not edit by hand.",
        "",
        stamp_line(results) + ".",
        "",
        f"Command: `{results.get('command')}`; {results['machine'].get('cpu_count')} CPUs; "
        f"{quiet_line(results.get('quiet'))}.",
        "",
    ]
    lines += [f"**Warning: {warning}.**\n" for warning in warnings(results)]
    lines += _markdown_table(SEARCH_HEAD, search_rows(results), text=(1,))
    lines += ["", f"Target: the staff search's p99 at the largest store at most {t['limit']:g} × everyone's list: "
              f"**{_fmt(t['staff_search_p99_vs_staff_all_at_largest'])}**, "
              + ("**met**." if t["met"] else "**not met**."), SEARCH_END]
    return "\n".join(lines)


def write_search(results: dict, out: Path, rewrite_json: bool = True) -> None:
    """search.json and the README's search section, from ``results``."""
    if rewrite_json:
        (out / "search.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    _replace_section(out / "README.md", SEARCH_START, SEARCH_END, search_section(results))
